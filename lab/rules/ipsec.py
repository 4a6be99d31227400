"""IPsec connections (a device's `psk`, `dpd_timeout_s`, `use_policy_based_traffic_selectors`): Azure's
limits, and what the lab's IPsec needs. No message ever repeats a key."""

from __future__ import annotations

from collections.abc import Iterator

from lab.errors import Problem
from lab.ipsec.dpd import check_override
from lab.ipsec.psk import check_psk
from lab.model import LabFile


def connections(lab: LabFile) -> Iterator[Problem]:
    policy_based = lab.vpn_gateway.type == "policy-based"
    bgp = lab.vpn_gateway.bgp and not policy_based
    for s_idx, site in enumerate(lab.onprem.sites):
        for d_idx, device in enumerate(site.devices):
            path = f"onprem.sites[{s_idx}].devices[{d_idx}]"
            if device.psk is not None:
                problem = check_psk(device.psk.get_secret_value(), f"{path}.psk")
                if problem is not None:
                    yield problem
            if device.dpd_timeout_s is not None:
                problem = check_override(device.dpd_timeout_s, f"{path}.dpd_timeout_s")
                if problem is not None:
                    yield problem
            if device.use_policy_based_traffic_selectors and policy_based:
                yield Problem(
                    f"{path}.use_policy_based_traffic_selectors",
                    "a policy-based gateway always uses traffic selectors (remove it)",
                )
            elif device.use_policy_based_traffic_selectors and bgp:
                yield Problem(
                    f"{path}.use_policy_based_traffic_selectors",
                    "traffic selectors leave no room for BGP between the BGP IPs (set vpn_gateway.bgp: false)",
                )
        selectors = policy_based or any(d.use_policy_based_traffic_selectors for d in site.devices)
        if lab.tunnels.kind == "ipsec" and selectors:
            yield from _anchorable(lab, s_idx)


def _anchorable(lab: LabFile, s_idx: int) -> Iterator[Problem]:
    """A selector's endpoint holds the selector's last address (kernel-libipsec needs one inside each local
    selector): a /32 has no address to spare."""
    for p_idx, prefix in enumerate(lab.onprem.sites[s_idx].prefixes):
        if prefix.prefixlen == 32:
            yield Problem(
                f"onprem.sites[{s_idx}].prefixes[{p_idx}]",
                f"{prefix} is a single address, which the lab's IPsec cannot use as a traffic selector "
                "(use a /31 or shorter, or tunnel kind vxlan)",
            )
