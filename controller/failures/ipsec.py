"""An IPsec tunnel `<device>~<gateway>` failed the ways IKE can fail.

Modes:
- down: IKE takes the tunnel down (the Azure end deletes its IKE_SA): both VTIs lose carrier at once,
  the routes and (bgp fast-convergence) the sessions over them go at once.
- blackhole: a broken path on the internet, everything between the two public IPs silently dropped;
  only dead-peer detection tells (or the hold timer, when it is the shorter).
- psk-mismatch: the device's key no longer matches (a typo on the device, rekeyed): IKE never comes up
  again, charon's log says "MAC mismatched" / "AUTHENTICATION_FAILED" (IKEv1: the Main Mode fails).
- selector-mismatch (traffic selectors only: policy-based, or use_policy_based_traffic_selectors): the
  device proposes another local prefix: IKE comes up, no CHILD_SA (TS_UNACCEPTABLE / INVALID_ID).
Restoring puts the right key and selectors back and the Azure end initiates again.
"""

from __future__ import annotations

from ipaddress import IPv4Network
from typing import ClassVar

from controller.failures.base import Detection, silent_tunnel_detection
from controller.failures.link import TABLE, TunnelFailure
from lab.errors import GwlabError
from lab.runtime import nodeops, tunnelops
from lab.topology import Tunnel


def blackhole_rules(peer: str) -> str:
    """Drop the tunnel's IKE and ESP-in-UDP between the device's endpoints and the instance's public IP,
    where the device router forwards them (after DNAT in, before SNAT out)."""
    ports = "{ 500, 4500 }"
    return (
        f"table inet {TABLE}\ndelete table inet {TABLE}\ntable inet {TABLE} {{\n"
        f"  chain tunnel {{ type filter hook forward priority -500; "
        f"ip daddr {peer} udp dport {ports} drop; ip saddr {peer} udp sport {ports} drop; }}\n}}\n"
    )


def wrong_selectors(tunnel: Tunnel) -> list[IPv4Network]:
    """The device's local selectors as a typo makes them: the first prefix's nearest sibling that is none
    of the connection's prefixes (so that no CHILD_SA can match)."""
    assert tunnel.ipsec is not None and tunnel.ipsec.onprem_ts
    taken = tunnel.ipsec.onprem_ts + tunnel.ipsec.azure_ts
    first = tunnel.ipsec.onprem_ts[0]
    for k in range(1, 2**first.prefixlen):
        for sign in (1, -1):
            start = int(first.network_address) + sign * k * first.num_addresses
            if 0 <= start < 2**32:
                candidate = IPv4Network((start, first.prefixlen))
                if not any(candidate.overlaps(p) for p in taken):
                    return [candidate]
    raise GwlabError(f"{tunnel.name}: no prefix left to mistype the selectors with")


class IpsecTunnelFailure(TunnelFailure):
    kind = "ipsec-tunnel"
    modes: ClassVar[tuple[str, ...]] = ("down", "blackhole", "psk-mismatch")

    def detection(self) -> Detection:
        if self.mode == "blackhole":
            return silent_tunnel_detection(self.lab.topo, [self.tunnel()])
        mechanism = {"down": "ike-delete", "psk-mismatch": "ike-auth", "selector-mismatch": "ike-selectors"}
        return Detection(mechanism[self.mode], 0.0)

    def inject(self) -> None:
        tunnel = self.tunnel()
        if self.mode == "down":
            tunnelops.terminate(self.lab, tunnel)
        elif self.mode == "blackhole":
            gateway = self.lab.node(tunnel.gateway)
            nodeops.nft(self.lab, tunnel.device, blackhole_rules(str(gateway.address_on("inet"))))
        elif self.mode == "psk-mismatch":
            tunnelops.rekey_with(self.lab, tunnel, variant="mismatch")
        else:
            tunnelops.rekey_with(self.lab, tunnel, onprem_ts=wrong_selectors(tunnel))

    def restore(self) -> None:
        tunnel = self.tunnel()
        if self.mode == "down":
            tunnelops.reinitiate(self.lab, tunnel, tunnel.ends()[1])
        elif self.mode == "blackhole":
            nodeops.nft_delete_table(self.lab, tunnel.device, "inet", TABLE)  # the initiator's restart comes back
        else:
            tunnelops.rekey_with(self.lab, tunnel)


class IpsecSelectorTunnelFailure(IpsecTunnelFailure):
    """A tunnel with traffic selectors: it can also fail by them."""

    kind = "ipsec-selector-tunnel"
    modes = (*IpsecTunnelFailure.modes, "selector-mismatch")
