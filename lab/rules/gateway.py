"""The VPN gateway: its type and mode, its instances (count, public IPs, zones, APIPA addresses)."""

from __future__ import annotations

from collections.abc import Iterator

from lab.errors import Problem
from lab.model import APIPA_AZURE, LabFile
from lab.topology import gateway_apipa_ips


def gateway_type(lab: LabFile) -> Iterator[Problem]:
    gw = lab.vpn_gateway
    if gw.type != "policy-based":
        return
    if gw.bgp:
        yield Problem("vpn_gateway.bgp", "a policy-based gateway has no BGP (set bgp: false or type: route-based)")
    if gw.mode == "active-active":
        yield Problem(
            "vpn_gateway.mode",
            "a policy-based gateway cannot be active-active (use mode: active-standby or type: route-based)",
        )
    if lab.expressroute is not None:
        yield Problem(
            "expressroute",
            "ExpressRoute coexistence needs a route-based VPN gateway (set vpn_gateway.type: route-based)",
        )
    tunnels = sum(len(s.devices) for s in lab.onprem.sites)
    if tunnels > 1:
        yield Problem(
            "onprem.sites",
            f"a policy-based gateway has one tunnel, this lab asks for {tunnels} "
            "(keep one site with one device, or use type: route-based)",
        )


def gateway_instances(lab: LabFile) -> Iterator[Problem]:
    gw = lab.vpn_gateway
    n = len(gw.instances)
    if n > 2:
        yield Problem("vpn_gateway.instances", f"a gateway has two instances, not {n} (list at most two)")
    if gw.mode == "active-active" and n == 1:
        yield Problem(
            "vpn_gateway.instances",
            "active-active needs two instances, each with its own public IP "
            "(add a second instance or use mode: active-standby)",
        )
    if gw.mode == "active-standby" and n >= 2 and gw.instances[1].public_ip is not None:
        yield Problem(
            "vpn_gateway.instances[1].public_ip",
            "an active-standby gateway has one public IP, held by the active instance (remove this one)",
        )
    if gw.mode == "active-standby" and n >= 2 and gw.instances[1].apipa_bgp_ip is not None:
        yield Problem(
            "vpn_gateway.instances[1].apipa_bgp_ip",
            "an active-standby gateway has one APIPA BGP address, held by the active instance (remove this one)",
        )
    for i, inst in enumerate(gw.instances[:2]):
        if inst.zone is not None and inst.zone not in lab.zones:
            missing = (
                f"is not in the lab's zones {lab.zones} (add it to zones)"
                if lab.zones
                else "needs the lab's zones listed (add zones: [1, 2, 3])"
            )
            yield Problem(f"vpn_gateway.instances[{i}].zone", f"zone {inst.zone} {missing}")
        if inst.apipa_bgp_ip is not None and not APIPA_AZURE[0] <= inst.apipa_bgp_ip <= APIPA_AZURE[1]:
            yield Problem(
                f"vpn_gateway.instances[{i}].apipa_bgp_ip",
                f"{inst.apipa_bgp_ip} is outside Azure's APIPA range "
                f"(use an address in {APIPA_AZURE[0]}-{APIPA_AZURE[1]})",
            )
    if gw.mode == "active-active":
        # Compare what each instance really gets: its own address or the lab's default for it.
        first, second = gateway_apipa_ips(lab)
        if first == second and n >= 2 and gw.instances[1].apipa_bgp_ip is not None:
            yield Problem(
                "vpn_gateway.instances[1].apipa_bgp_ip",
                f"{second} is already used by instance 0 (each instance needs its own)",
            )
        elif first == second:
            yield Problem(
                "vpn_gateway.instances[0].apipa_bgp_ip",
                f"{first} is instance 1's default APIPA address (each instance needs its own: "
                "pick another or give instance 1 its own)",
            )


def zones(lab: LabFile) -> Iterator[Problem]:
    if len(set(lab.zones)) != len(lab.zones):
        yield Problem("zones", "lists a zone twice (list each once, e.g. [1, 2, 3])")
