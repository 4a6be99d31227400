"""Dead-peer detection: when charon declares a silent peer dead, and which settings reach a target time.

IKEv2 (measured, ../shared/reference/ipsec.md §4): a DPD request goes out every `dpd_delay` - traffic does
not postpone it, as kernel-libipsec cannot tell charon when ESP was last used (query_policy: not
supported) - then is retransmitted after timeout·base^n for n = 0..tries; the DPD action runs when the
last wait ends. So the peer is declared dead between Σwaits and dpd_delay + Σwaits after it fell silent,
depending on where in the dpd_delay period that happened. `dpd_timeout` is IKEv1
only: an R-U-THERE every `dpd_delay`, dead when nothing came back for `dpd_timeout`, checked at each
`dpd_delay` tick (measured: 5 s / 20 s -> 16.9 s after the peer fell silent, 20 s after its last answer).
Retransmit settings are charon-wide; with one charon per tunnel end they are per tunnel.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

from lab.errors import Problem

IkeVersion = Literal[1, 2]

# Azure: "DPD timeout" per connection, 45 s by default, 9-3600 s (vpn-gateway-vpn-faq.md).
AZURE_DPD_DEFAULT_S = 45
AZURE_DPD_RANGE_S = (9, 3600)
RETRANSMIT_BASE = 1.5
MAX_TRIES = 3
# Shortest first retransmit wait we render: below it a busy 2-core machine can lose a peer that is alive.
MIN_FIRST_WAIT_S = 0.4


@dataclass(frozen=True)
class Retransmit:
    """charon.retransmit_timeout / _tries / _base (jitter and limit left at their defaults, 0 and none)."""

    timeout: float
    tries: int
    base: float

    def waits(self) -> list[float]:
        """The wait after the request and after each retransmit."""
        return [self.timeout * self.base**n for n in range(self.tries + 1)]

    def total(self) -> float:
        return sum(self.waits())


STRONGSWAN_DEFAULT = Retransmit(4.0, 5, 1.8)  # 165 s of retransmits: far beyond any Azure DPD timeout


@dataclass(frozen=True)
class Dpd:
    version: IkeVersion
    delay: int  # dpd_delay (s)
    timeout: int | None  # dpd_timeout (s), IKEv1 only
    retransmit: Retransmit

    def detection_window(self) -> tuple[float, float]:
        """Earliest and latest time from the peer falling silent to the DPD action (restart)."""
        if self.version == 1:
            assert self.timeout is not None
            # Dead at the first dpd_delay tick at least dpd_timeout after the last answer, and the last
            # answer came up to one dpd_delay before the peer fell silent.
            last = math.ceil(self.timeout / self.delay) * self.delay
            return float(last - self.delay), float(last)
        total = self.retransmit.total()
        return total, self.delay + total

    def detection_s(self) -> float:
        """The latest detection time: what a scenario's outage should be near."""
        return self.detection_window()[1]

    def reconnect_gap_s(self) -> float:
        """Longest wait between two attempts of a restarting charon: once the peer is back, the tunnel is
        up again at most this long after (plus one exchange)."""
        return max(self.retransmit.waits())


def for_target(target_s: float, version: IkeVersion) -> Dpd:
    """Settings whose worst-case detection is `target_s` (Azure's DPD timeout semantics: dead after that
    long without an answer). A third goes to dpd_delay, the rest to up to three retransmits."""
    if target_s <= 0:
        raise ValueError(f"DPD target must be positive, not {target_s}")
    delay = max(1, round(target_s / 3))
    if version == 1:
        timeout = max(delay, round(target_s))
        delay = _largest_divisor_at_most(timeout, delay)
        return Dpd(1, delay, timeout, _retransmit_for(target_s - delay))
    return Dpd(2, delay, None, _retransmit_for(target_s - delay))


def _retransmit_for(budget_s: float) -> Retransmit:
    """The most retransmits (at most MAX_TRIES) whose waits sum to budget_s with a first wait of at least
    MIN_FIRST_WAIT_S; a single wait of the whole budget when even one retransmit would be too quick."""
    budget_s = max(budget_s, MIN_FIRST_WAIT_S)
    for tries in range(MAX_TRIES, 0, -1):
        first = budget_s / sum(RETRANSMIT_BASE**n for n in range(tries + 1))
        if first >= MIN_FIRST_WAIT_S:
            return Retransmit(round(first, 3), tries, RETRANSMIT_BASE)
    return Retransmit(round(budget_s, 3), 0, RETRANSMIT_BASE)


def _largest_divisor_at_most(n: int, limit: int) -> int:
    """dpd_delay for IKEv1: a divisor of dpd_timeout, so that a tick falls exactly on the timeout."""
    return max(d for d in range(1, max(1, limit) + 1) if n % d == 0)


def target_for(profile_s: float, override_s: int | None) -> float:
    """The DPD target of a connection: its own `dpd_timeout_s` when given, else its timing profile's
    (lab.profiles.Timing.dpd_s)."""
    return float(override_s) if override_s is not None else profile_s


def check_override(value: int, path: str) -> Problem | None:
    """A per-connection DPD timeout must be inside Azure's range."""
    low, high = AZURE_DPD_RANGE_S
    if not low <= value <= high:
        return Problem(path, f"{value} s is outside Azure's DPD timeout range (use {low}-{high} s)")
    return None
