"""Timing profiles: `realistic` reproduces Azure's documented timers, `fast` scales them down."""

from __future__ import annotations

from dataclasses import dataclass, replace

from lab.ipsec.dpd import AZURE_DPD_DEFAULT_S
from lab.model import Timers


@dataclass(frozen=True)
class Timing:
    profile: str
    keepalive: int  # VPN BGP keepalive (s)
    hold: int  # VPN BGP hold time (s)
    er_keepalive: int  # ExpressRoute BGP keepalive (s)
    er_hold: int
    connect_retry: int  # BGP connect-retry (s)
    bfd_interval_ms: int  # ExpressRoute BFD transmit/receive interval
    bfd_multiplier: int
    failover_planned_s: float  # active/standby takeover after planned maintenance
    failover_unplanned_s: float  # ... and after an unplanned instance loss
    # IPsec dead-peer detection: a silent peer is declared dead at most this long after it fell silent.
    # Azure: 45 s by default, shorter than BGP's 180 s hold, so DPD is what detects a silent tunnel;
    # fast keeps that order (2 s < 3 s). A connection's own `dpd_timeout_s` overrides it.
    dpd_s: float

    @property
    def bfd_detect_ms(self) -> int:
        return self.bfd_interval_ms * self.bfd_multiplier


PROFILES: dict[str, Timing] = {
    # Azure: VPN 60/180 fixed; ExpressRoute 60/180 typical; BFD 300 ms x 3; active/standby
    # back within 10-15 s planned, 1-3 min unplanned (vpn-gateway-highlyavailable.md).
    "realistic": Timing("realistic", 60, 180, 60, 180, 5, 300, 3, 12.0, 90.0, float(AZURE_DPD_DEFAULT_S)),
    # Seconds instead of minutes, for tests and classes. Every report says which profile ran.
    "fast": Timing("fast", 1, 3, 1, 3, 1, 100, 3, 1.0, 3.0, 2.0),
}


def resolve(profile: str, overrides: Timers) -> Timing:
    """The profile's timers with the lab file's explicit `timers` on top."""
    base = PROFILES[profile]
    changed = {k: v for k, v in overrides.model_dump().items() if v is not None}
    if not changed:
        return base
    return replace(base, profile=f"{profile}+custom", **changed)
