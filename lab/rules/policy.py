"""On-prem routing policy: the tunnels a device builds, AS-path prepending, local-preference and summaries.

Policy is BGP's: without it the fields mean nothing and are refused rather than silently ignored.
"""

from __future__ import annotations

from collections.abc import Iterator
from ipaddress import IPv4Network

from lab.errors import Problem
from lab.model import Device, LabFile, Site
from lab.rules.addresses import address_plan
from lab.topology import FLOOD_NET, gateway_names
from lab.topology.policy import offered_to_azure


def routing_policy(lab: LabFile) -> Iterator[Problem]:
    gw = lab.vpn_gateway
    bgp_on = gw.bgp and gw.type == "route-based"
    for s_idx, site in enumerate(lab.onprem.sites):
        for d_idx, device in enumerate(site.devices):
            path = f"onprem.sites[{s_idx}].devices[{d_idx}]"
            yield from _tunnels(lab, device, path, bgp_on)
            if bgp_on:
                yield from _advertise(site, device, path)
        yield from _summaries(lab, site, s_idx, bgp_on)


def _advertise(site: Site, device: Device, path: str) -> Iterator[Problem]:
    """What a device may filter towards Azure: what it would advertise there, the site's prefixes that no
    summary covers and the summaries."""
    offered = offered_to_azure(site)
    for i, prefix in enumerate(device.advertise or []):
        if prefix in offered:
            continue
        covered = next((s for s in site.summaries if prefix.subnet_of(s)), None)
        if covered is not None:
            why = f"goes to Azure as part of summary {covered} (advertise {covered})"
        else:
            names = ", ".join(str(p) for p in offered)
            why = f"is not one of the prefixes the device advertises (use one of {names})"
        yield Problem(f"{path}.advertise[{i}]", f"{prefix} {why}")


def _needs_bgp(path: str) -> Problem:
    return Problem(path, "is BGP routing policy, and this gateway routes statically (remove it, or use BGP)")


def _tunnels(lab: LabFile, device: Device, path: str, bgp_on: bool) -> Iterator[Problem]:
    if not bgp_on:
        if device.as_path_prepend:
            yield _needs_bgp(f"{path}.as_path_prepend")
        if device.local_preference is not None:
            yield _needs_bgp(f"{path}.local_preference")
        if device.advertise is not None:
            yield _needs_bgp(f"{path}.advertise")
    if device.tunnels is None:
        return
    if lab.vpn_gateway.mode == "active-standby":
        yield Problem(
            f"{path}.tunnels",
            "an active-standby gateway has one public IP, so a device builds one tunnel to it (remove tunnels)",
        )
        return
    if not bgp_on:
        yield Problem(
            f"{path}.tunnels",
            "static routing sends the VNet's traffic through both instances (remove tunnels, or use BGP)",
        )
        return
    names = gateway_names(lab)
    seen: set[str] = set()
    for t_idx, tunnel in enumerate(device.tunnels):
        where = f"{path}.tunnels[{t_idx}]"
        if tunnel.instance not in names:
            yield Problem(f"{where}.instance", f"'{tunnel.instance}' is not an instance (use {' or '.join(names)})")
        elif tunnel.instance in seen:
            yield Problem(f"{where}.instance", f"'{tunnel.instance}' is listed twice (list each instance once)")
        seen.add(tunnel.instance)


def _summaries(lab: LabFile, site: Site, s_idx: int, bgp_on: bool) -> Iterator[Problem]:
    plan = [(what, net) for what, net in address_plan(lab) if not what.startswith(f"site {site.name}'s ")]
    plan += [(f"pools.{f} {getattr(lab.pools, f)}", getattr(lab.pools, f)) for f in ("azure_public", "onprem_public")]
    placed: list[tuple[int, IPv4Network]] = []
    for i, summary in enumerate(site.summaries):
        path = f"onprem.sites[{s_idx}].summaries[{i}]"
        if not bgp_on:
            yield _needs_bgp(path)
            continue
        clash = next((what for what, net in plan if net.overlaps(summary)), None)
        other = next((f"summaries[{j}] {s}" for j, s in placed if s.overlaps(summary)), None)
        if clash is not None:
            yield Problem(path, f"{summary} overlaps {clash} (summarise this site's prefixes only)")
        elif summary.overlaps(FLOOD_NET):
            yield Problem(
                path, f"{summary} overlaps {FLOOD_NET}, which the lab keeps for the prefix-flood failure (use another)"
            )
        elif other is not None:
            yield Problem(path, f"{summary} overlaps {other} (a site's summaries must be disjoint)")
        elif not any(p.subnet_of(summary) and p.prefixlen > summary.prefixlen for p in site.prefixes):
            yield Problem(
                path,
                f"{summary} summarises none of the site's prefixes (it must cover a longer one: widen it or remove it)",
            )
        else:
            placed.append((i, summary))
