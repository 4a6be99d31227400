"""Node names: unique, within Linux's interface-name limit, and clear of the names the lab takes itself.

The names are the builder's (`lab.topology.naming`), not spelled again here.
"""

from __future__ import annotations

from collections.abc import Iterator

from lab.errors import Problem
from lab.model import MAX_NODE_NAME, LabFile
from lab.topology.naming import (
    CE_COUNT,
    SITE_NODE_SUFFIXES,
    ce_name,
    core_name,
    device_name,
    device_node_names,
    er_site_index,
    fixed_names,
    gateway_names,
    host_name,
    p2s_client_names,
    site_node_names,
)


def node_names(lab: LabFile) -> list[tuple[str, str, tuple[str, object]]]:
    """Every node the lab derives: (node name, field path that sets it, owner), in build order."""
    out: list[tuple[str, str, tuple[str, object]]] = []
    for i, name in enumerate(gateway_names(lab)):
        out.append((name, f"vpn_gateway.instances[{i}].name", ("gateway", None)))
    er_index = er_site_index(lab)
    devices = device_node_names(lab)
    for s_idx, site in enumerate(lab.onprem.sites):
        owner = ("site", site.name)  # two sites of the same name are reported once, as such
        path = f"onprem.sites[{s_idx}].name"
        out += [(core_name(site.name), path, owner), (host_name(site.name), path, owner)]
        for d_idx, node in enumerate(devices[s_idx]):
            out.append((node, f"onprem.sites[{s_idx}].devices[{d_idx}].name", owner))
        if er_index == s_idx:
            out += [(ce_name(site.name, k), path, owner) for k in range(CE_COUNT)]
    out += [(name, "vpn_gateway.p2s.clients", ("p2s", None)) for name in p2s_client_names(lab)]
    return out


def names(lab: LabFile) -> Iterator[Problem]:
    if len(set(gateway_names(lab))) < 2:
        yield Problem("vpn_gateway.instances[1].name", "both instances have the same name (rename one)")
    reserved = fixed_names()
    for i, name in enumerate(gateway_names(lab)):
        if name in reserved:
            yield Problem(f"vpn_gateway.instances[{i}].name", f"'{name}' is a name the lab uses (rename it)")
    devices = device_node_names(lab)
    site_names: set[str] = set()
    for s_idx, site in enumerate(lab.onprem.sites):
        if site.name in site_names:
            yield Problem(f"onprem.sites[{s_idx}].name", f"'{site.name}' names two sites (rename one)")
        site_names.add(site.name)
        longest = max([*site_node_names(site.name), *devices[s_idx]], key=len)
        if len(longest) > MAX_NODE_NAME:
            yield Problem(
                f"onprem.sites[{s_idx}].name",
                f"node name '{longest}' is longer than {MAX_NODE_NAME} characters (shorten the site or device name)",
            )
        dev_names: set[str] = set()
        for d_idx, dev in enumerate(site.devices):
            node = devices[s_idx][d_idx]
            name = device_name(d_idx, dev.name)
            if node in dev_names:
                yield Problem(
                    f"onprem.sites[{s_idx}].devices[{d_idx}].name",
                    f"'{name}' names two devices of this site (rename one)",
                )
            dev_names.add(node)
            if dev.name in SITE_NODE_SUFFIXES:
                yield Problem(
                    f"onprem.sites[{s_idx}].devices[{d_idx}].name",
                    f"'{dev.name}' is a name the lab uses for the site's other nodes (rename it)",
                )
    # Node names built from different fields can still meet: site "a" device "b-core" and site "a-b",
    # or a gateway called "s1-core". Clashes already reported above (same site, both gateways) are skipped.
    seen: dict[str, tuple[str, tuple[str, object]]] = {}
    for name, path, owner in node_names(lab):
        if name not in seen:
            seen[name] = (path, owner)
            continue
        first_path, first_owner = seen[name]
        if owner != first_owner:
            yield Problem(path, f"node name '{name}' is already used by {first_path} (rename one)")


def device_count(lab: LabFile) -> Iterator[Problem]:
    for i, site in enumerate(lab.onprem.sites):
        if not 1 <= len(site.devices) <= 2:
            yield Problem(f"onprem.sites[{i}].devices", f"a site has one or two VPN devices, not {len(site.devices)}")
