"""Property tests over generated lab files.

1. Any data at all (valid labs, valid labs with a few fields broken, random nested junk) ends in a
   `LabError` whose every line names the file, or in a topology - never in another exception; and
   a lab the rules let through builds into a sound topology (see `assert_sound`).
2. A lab built only from valid choices passes the rules and builds into a sound topology: interface
   names of at most 15 characters, one owner per address (except the addresses an active/standby
   pair shares), one VXLAN id per tunnel, veth ends that point at each other.
"""

from __future__ import annotations

import copy
from collections import Counter
from ipaddress import IPv4Address, IPv4Network
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lab.errors import LabError
from lab.topology import SPEAKER_NET, Topology
from tests.helpers import topology_of

SOURCE = "gen.yaml"
MAX_IFNAME = 15  # Linux's IFNAMSIZ - 1

PROPERTY = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _run(data: Any) -> Topology:
    return topology_of(data, "gen")


def assert_sound(topo: Topology) -> None:
    """What Linux needs: short unique interface names, one owner per address, one VNI per tunnel."""
    owners: Counter[IPv4Address] = Counter()
    shared: dict[IPv4Address, set[str]] = {}
    for node in topo.nodes.values():
        names = [i.name for i in node.interfaces]
        assert len(names) == len(set(names)), f"{node.name}: interface names repeat: {names}"
        for iface in node.interfaces:
            assert len(iface.name) <= MAX_IFNAME, f"{node.name}: interface name {iface.name!r} too long"
            # every speaker node holds the same router<->speaker pair on its lo, in its own namespace
            owners.update(a.ip for a in iface.addresses if a.ip not in SPEAKER_NET)
            for a in iface.shared_addresses:
                shared.setdefault(a.ip, set()).add(node.name)
            if iface.kind == "veth":
                assert iface.peer_node is not None and iface.peer_ifname is not None
                back = topo.nodes[iface.peer_node].interface(iface.peer_ifname)
                assert (back.peer_node, back.peer_ifname) == (node.name, iface.name)
    dupes = [ip for ip, n in owners.items() if n > 1]
    assert not dupes, f"addresses held twice: {dupes}"
    both = set(shared) & set(owners)
    assert not both, f"shared addresses also held alone: {both}"
    for ip, holders in shared.items():  # only the two instances of an active/standby gateway share
        assert all(topo.nodes[h].role == "gateway" for h in holders), f"{ip} shared by {holders}"

    device_vnis = [i.vni for n in topo.by_role("vpn") for i in n.interfaces if i.kind == "vxlan"]
    assert len(device_vnis) == len(set(device_vnis)), f"VXLAN ids repeat on the on-prem side: {device_vnis}"
    for gw in topo.by_role("gateway"):
        vnis = [i.vni for i in gw.interfaces if i.kind == "vxlan"]
        assert len(vnis) == len(set(vnis)), f"{gw.name}: VXLAN ids repeat: {vnis}"
        assert set(vnis) <= set(device_vnis), f"{gw.name}: a tunnel with no on-prem end"
    pairs = [(t.device, t.gateway) for t in topo.tunnels]
    assert len(pairs) == len(set(pairs)), "a device has two tunnels to the same instance"


# -- valid labs --------------------------------------------------------------------------------------

SITE_NAMES = ["s1", "s2", "hq", "dc-a", "br", "lab7"]
DEVICE_NAMES = ["edge", "fw", "vpn9", "r1", "asa-2"]
GATEWAY_NAMES = ["az-a", "az-b", "vpngw", "ins1", "west"]  # never gw0/gw1: those are the defaults
ONPREM_ASNS = [65010, 65020, 64512, 65514, 65521, 65534, 65100, 4200000001]  # usable private ASNs
GATEWAY_ASNS = [65515, 65000, 64600, 4200000000]


def _maybe(draw: st.DrawFn, value: Any) -> Any:
    return value if draw(st.booleans()) else None


def _put(target: dict[str, Any], key: str, value: Any) -> None:
    if value is not None:
        target[key] = value


@st.composite
def valid_labs(draw: st.DrawFn) -> dict[str, Any]:
    """A lab file (as parsed YAML) that Azure's rules accept; every optional field sometimes given."""
    k = draw(st.one_of(st.just(1), st.integers(1, 99)))  # VNet 10.k.0.0/16; device BGP IPs in 10.200/16
    has_er = draw(st.booleans())
    policy = not has_er and draw(st.integers(0, 4)) == 0
    lab: dict[str, Any] = {}
    _put(lab, "name", _maybe(draw, draw(st.sampled_from(["lab", "gen-lab", "a1", "x" * 16]))))
    _put(lab, "description", _maybe(draw, draw(st.text(max_size=20))))
    _put(lab, "profile", _maybe(draw, draw(st.sampled_from(["fast", "realistic"]))))
    timers: dict[str, Any] = {}
    for key, lo, hi in (
        ("keepalive", 1, 60),
        ("hold", 3, 180),
        ("er_keepalive", 1, 60),
        ("er_hold", 3, 180),
        ("bfd_interval_ms", 10, 1000),
        ("bfd_multiplier", 2, 10),
        ("connect_retry", 1, 30),
    ):
        _put(timers, key, _maybe(draw, draw(st.integers(lo, hi))))
    if timers:
        lab["timers"] = timers
    kind = draw(st.sampled_from([None, "ipsec", "vxlan"]))
    if kind is not None:
        lab["tunnels"] = {"kind": kind}
    zones = draw(st.lists(st.sampled_from([1, 2, 3]), unique=True, max_size=3))
    write_empty: bool = draw(st.booleans())
    if zones or write_empty:
        lab["zones"] = zones

    # VNet
    vnet: dict[str, Any] = {"address_space": [f"10.{k}.0.0/16"]}
    if draw(st.booleans()):
        vnet["address_space"].append(f"10.{k + 100}.0.0/{draw(st.integers(16, 29))}")
    vnet["gateway_subnet"] = f"10.{k}.255.0/{draw(st.sampled_from([26, 27] if has_er else [26, 27, 28, 29]))}"
    if draw(st.booleans()):
        third = draw(st.integers(0, 254))
        vnet["vm_subnet"] = f"10.{k}.{third}.0/24"
        _put(vnet, "vm_ip", _maybe(draw, f"10.{k}.{third}.{draw(st.integers(4, 254))}"))
    lab["vnet"] = vnet

    # VPN gateway
    mode = "active-standby" if policy else draw(st.sampled_from(["active-active", "active-standby"]))
    gw: dict[str, Any] = {}
    if policy:
        gw.update(type="policy-based", bgp=False)
    else:
        _put(gw, "type", _maybe(draw, "route-based"))
        _put(gw, "bgp", _maybe(draw, draw(st.booleans())))
    _put(gw, "mode", mode if mode == "active-active" or draw(st.booleans()) else None)
    gw_asn = 65515 if has_er else draw(st.sampled_from(GATEWAY_ASNS))
    if gw_asn != 65515 or draw(st.booleans()):
        gw["asn"] = gw_asn
    count = draw(st.sampled_from([0, 2] if mode == "active-active" else [0, 1, 2]))
    names = draw(st.lists(st.sampled_from(GATEWAY_NAMES), min_size=2, max_size=2, unique=True))
    # Derived instance IPs are .10 and .11 of the Azure pool (a /28 at the smallest): explicit ones are
    # the pool's other free hosts, or addresses in a /24 of their own.
    in_pool = st.sampled_from(["203.0.113.12", "203.0.113.13", "203.0.113.14"])
    own_net = st.builds("20.30.{}.{}".format, st.integers(0, 9), st.integers(2, 254))
    publics = draw(st.lists(st.one_of(in_pool, own_net), min_size=2, max_size=2, unique=True))
    apipas = draw(st.lists(st.integers(2, 254), min_size=2, max_size=2, unique=True))
    instances = []
    for i in range(count):
        inst: dict[str, Any] = {}
        _put(inst, "name", _maybe(draw, names[i]))
        _put(inst, "zone", _maybe(draw, draw(st.sampled_from(zones))) if zones else None)
        if i == 0 or mode == "active-active":  # active/standby: one public IP and one APIPA address
            _put(inst, "public_ip", _maybe(draw, publics[i]))
            _put(inst, "apipa_bgp_ip", _maybe(draw, f"169.254.{21 + i}.{apipas[i]}"))
        instances.append(inst)
    if instances:
        gw["instances"] = instances
    if gw:
        lab["vpn_gateway"] = gw
    bgp_on = not policy and gw.get("bgp", True) is True
    instance_names = [(instances[i].get("name") if i < len(instances) else None) or f"gw{i}" for i in range(2)]

    # on-prem
    n_sites = 1 if policy else draw(st.integers(1, 3))
    site_names = draw(st.lists(st.sampled_from(SITE_NAMES), min_size=n_sites, max_size=n_sites, unique=True))
    asns = draw(
        st.lists(
            st.sampled_from([a for a in ONPREM_ASNS if a != gw_asn]), min_size=n_sites, max_size=n_sites, unique=True
        )
    )
    # Derived device IPs are .10 onwards of the on-prem pool (a /26 at the smallest): explicit ones above.
    public_hosts = iter(draw(st.lists(st.integers(20, 62), min_size=6, max_size=6, unique=True)))
    sites = []
    static = policy or gw.get("bgp") is False
    for s in range(n_sites):
        selectors = not policy and static and draw(st.booleans())
        # IPsec selectors need an address of each prefix to spare (lab.rules.ipsec): no /32 then.
        longest = 31 if kind != "vxlan" and (policy or selectors) else 32
        lan_length = draw(st.integers(22, 30))
        prefixes = [f"192.168.{s * 16}.0/{lan_length}"]
        prefixes += [f"172.2{s}.{j}.0/{draw(st.integers(24, longest))}" for j in range(draw(st.integers(0, 2)))]
        site: dict[str, Any] = {"name": site_names[s], "asn": asns[s], "prefixes": prefixes}
        summary = f"192.168.{s * 16}.0/{lan_length - 1}" if bgp_on and draw(st.booleans()) else None
        _put(site, "summaries", [summary] if summary else None)
        n_dev = 1 if policy else draw(st.integers(1, 2))
        dev_names = draw(st.lists(st.sampled_from(DEVICE_NAMES), min_size=n_dev, max_size=n_dev, unique=True))
        devices = []
        for d in range(n_dev):
            dev: dict[str, Any] = {}
            _put(dev, "name", _maybe(draw, dev_names[d]))
            _put(
                dev,
                "public_ip",
                _maybe(
                    draw,
                    draw(
                        st.sampled_from(
                            [f"198.51.100.{next(public_hosts)}", f"20.{40 + s}.{d}.{draw(st.integers(2, 254))}"]
                        )
                    ),
                ),
            )
            _put(
                dev, "bgp_ip", _maybe(draw, draw(st.sampled_from([f"10.200.{s}.{d + 1}", f"169.254.{30 + s}.{d + 1}"])))
            )
            if bgp_on:  # routing policy
                _put(dev, "as_path_prepend", _maybe(draw, draw(st.integers(0, 10))))
                _put(dev, "local_preference", _maybe(draw, draw(st.integers(0, 1000))))
                if mode == "active-active" and draw(st.booleans()):
                    chosen = draw(st.lists(st.sampled_from(instance_names), min_size=1, max_size=2, unique=True))
                    dev["tunnels"] = [
                        n
                        if draw(st.booleans())
                        else {"instance": n, "as_path_prepend": draw(st.integers(0, 10)), "local_preference": 150}
                        for n in chosen
                    ]
                if summary is not None and draw(st.booleans()):
                    dev["advertise"] = [summary]
            _put(
                dev,
                "psk",
                _maybe(
                    draw, draw(st.text(st.characters(min_codepoint=33, max_codepoint=126), min_size=8, max_size=128))
                ),
            )
            _put(dev, "dpd_timeout_s", _maybe(draw, draw(st.integers(9, 3600))))
            _put(dev, "use_policy_based_traffic_selectors", True if selectors else None)
            devices.append(dev)
        if devices != [{}] or draw(st.booleans()):
            site["devices"] = devices
        sites.append(site)
    lab["onprem"] = {"sites": sites}

    if has_er:
        er: dict[str, Any] = {}
        _put(er, "site", _maybe(draw, draw(st.sampled_from(site_names))))
        _put(er, "bfd", _maybe(draw, draw(st.booleans())))
        _put(er, "weight", _maybe(draw, draw(st.integers(0, 32000))))
        _put(er, "local_preference", _maybe(draw, draw(st.integers(0, 1000))))
        thirds = draw(st.lists(st.integers(1, 100), min_size=2, max_size=2, unique=True))
        _put(er, "primary_subnet", _maybe(draw, f"172.16.{thirds[0]}.0/30"))
        _put(er, "secondary_subnet", _maybe(draw, f"172.16.{thirds[1]}.4/30"))
        lab["expressroute"] = er

    if draw(st.booleans()):
        pools: dict[str, Any] = {}
        _put(pools, "loopback", _maybe(draw, f"172.30.0.0/{draw(st.integers(16, 24))}"))
        _put(pools, "p2p", _maybe(draw, f"172.31.0.0/{draw(st.integers(16, 24))}"))
        _put(pools, "azure_public", _maybe(draw, f"203.0.113.0/{draw(st.integers(24, 28))}"))
        _put(pools, "onprem_public", _maybe(draw, f"198.51.100.0/{draw(st.integers(24, 26))}"))
        lab["pools"] = pools
    return lab


# -- anything --------------------------------------------------------------------------------------

RESERVED_ASNS = [8074, 8075, 12076, 23456, 64496, 64511, 65515, 65516, 65517, 65520, 65535, 65551]
WORDS = [
    "route-based",
    "policy-based",
    "active-active",
    "active-standby",
    "fast",
    "realistic",
    "s1",
    "gw0",
    "vnet",
    "lo",
    "core",
    "s1-core",
    "a-b",
    "UPPER",
    "",
    "x" * 20,
]
FIELDS = [
    "name",
    "asn",
    "prefixes",
    "devices",
    "sites",
    "instances",
    "zone",
    "zones",
    "mode",
    "type",
    "bgp",
    "public_ip",
    "bgp_ip",
    "apipa_bgp_ip",
    "address_space",
    "gateway_subnet",
    "vm_subnet",
    "vm_ip",
    "site",
    "primary_subnet",
    "secondary_subnet",
    "loopback",
    "p2p",
    "tunnels",
    "instance",
    "as_path_prepend",
    "local_preference",
    "summaries",
    "advertise",
    "typo",
]
# Addresses and prefixes the lab itself uses or derives (for k = 1), to provoke clashes.
NEAR_ADDRESSES = [
    "0.0.0.0",
    "255.255.255.255",
    "127.0.0.2",
    "169.254.21.1",
    "169.254.22.1",
    "10.1.0.4",
    "10.1.255.4",
    "10.1.255.5",
    "10.1.255.6",
    "172.30.0.1",
    "172.31.0.1",
    "172.16.0.1",
    "172.16.0.2",
    "192.168.0.1",
    "192.168.0.2",
    "203.0.113.1",
    "203.0.113.10",
    "203.0.113.11",
    "198.51.100.10",
    "198.51.100.11",
    "20.30.0.1",
    "10.200.0.1",
]
NEAR_PREFIXES = [
    "10.1.0.0/16",
    "10.1.255.0/27",
    "10.1.255.0/28",
    "10.1.255.0/30",
    "0.0.0.0/0",
    "10.0.0.0/8",
    "10.1.0.0/24",
    "192.168.0.0/24",
    "192.168.0.0/16",
    "172.16.0.0/30",
    "172.16.0.4/30",
    "172.16.0.0/29",
    "172.30.0.0/16",
    "172.31.0.0/24",
    "203.0.113.0/28",
    "203.0.113.0/24",
    "198.51.100.0/26",
    "224.0.0.0/4",
    "169.254.0.0/16",
    "127.0.0.0/8",
    "20.30.0.0/24",
]

any_asns = st.one_of(st.sampled_from([0, 4294967296, *RESERVED_ASNS]), st.integers(-5, 2**32 + 5))
valid_addresses = st.one_of(st.sampled_from(NEAR_ADDRESSES), st.ip_addresses(v=4).map(str))
any_addresses = st.one_of(valid_addresses, st.sampled_from(["1.2.3", "300.1.1.1", "::1", "10.0.0.0/8"]))
valid_prefixes = st.one_of(
    st.sampled_from(NEAR_PREFIXES),
    st.builds(lambda a, n: str(IPv4Network(f"{a}/{n}", strict=False)), st.ip_addresses(v=4), st.integers(0, 32)),
)
any_prefixes = st.one_of(
    valid_prefixes,
    st.builds("{}/{}".format, st.ip_addresses(v=4), st.integers(0, 33)),  # host bits set, or a bad length
    st.sampled_from(["10.1.0.0", "10.1.0.0/", "/24", "lan/24"]),
)
names = st.one_of(
    st.sampled_from(
        [
            "s1",
            "s2",
            "gw0",
            "gw1",
            "vnet",
            "lo",
            "gws",
            "core",
            "ce0",
            "vpn1",
            "a",
            "a-b",
            "b-core",
            "a-b-host",
            "s1-core",
            "x" * 12,
        ]
    ),
    st.from_regex(r"[a-z][a-z0-9]{0,5}(-[a-z0-9]{1,3})?", fullmatch=True),
)
scalars = st.one_of(
    any_asns,
    any_addresses,
    any_prefixes,
    st.sampled_from(WORDS),
    st.none(),
    st.booleans(),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=6),
)
anything = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3),
        st.dictionaries(st.one_of(st.sampled_from(FIELDS), st.text(max_size=4)), inner, max_size=3),
    ),
    max_leaves=8,
)

# Values of the right shape for a field, often wrong in meaning: they get past the model to the rules.
SHAPED: dict[str, st.SearchStrategy[Any]] = {
    "asn": st.one_of(st.sampled_from(RESERVED_ASNS), st.integers(1, 2**32 - 1)),
    "msee_asn": st.one_of(st.just(12076), st.integers(1, 2**32 - 1)),
    "name": names,
    "site": names,
    "zone": st.integers(1, 3),
    "zones": st.lists(st.integers(1, 3), max_size=4),
    "mode": st.sampled_from(["active-active", "active-standby"]),
    "type": st.sampled_from(["route-based", "policy-based"]),
    "bgp": st.booleans(),
    "bfd": st.booleans(),
    "public_ip": valid_addresses,
    "bgp_ip": valid_addresses,
    "vm_ip": valid_addresses,
    "apipa_bgp_ip": st.builds("169.254.{}.{}".format, st.integers(19, 24), st.integers(0, 255)),
    "instance": st.sampled_from(["gw0", "gw1", "gw2", "az-a"]),
    "as_path_prepend": st.integers(-1, 11),
    "local_preference": st.integers(-1, 2**32),
    **dict.fromkeys(
        [
            "gateway_subnet",
            "vm_subnet",
            "primary_subnet",
            "secondary_subnet",
            "loopback",
            "p2p",
            "azure_public",
            "onprem_public",
        ],
        valid_prefixes,
    ),
}
# ... and for an element of a list field.
ELEMENT: dict[str, st.SearchStrategy[Any]] = {
    "address_space": valid_prefixes,
    "prefixes": valid_prefixes,
    "zones": st.integers(1, 3),
    "instances": st.fixed_dictionaries(
        {},
        optional={
            "name": names,
            "zone": st.integers(1, 3),
            "public_ip": valid_addresses,
            "apipa_bgp_ip": SHAPED["apipa_bgp_ip"],
        },
    ),
    "devices": st.fixed_dictionaries(
        {},
        optional={
            "name": names,
            "public_ip": valid_addresses,
            "bgp_ip": valid_addresses,
            "tunnels": st.lists(st.sampled_from(["gw0", "gw1", "az-a"]), min_size=1, max_size=3),
        },
    ),
    "tunnels": st.one_of(st.sampled_from(["gw0", "gw1", "east"]), st.fixed_dictionaries({"instance": names})),
    "summaries": valid_prefixes,
    "advertise": valid_prefixes,
    "sites": st.fixed_dictionaries(
        {"name": names, "asn": SHAPED["asn"], "prefixes": st.lists(valid_prefixes, min_size=1, max_size=2)}
    ),
}
SHAPED.update({field: st.lists(element, min_size=1, max_size=3) for field, element in ELEMENT.items()})
UNSHAPED = st.one_of(any_asns, any_addresses, any_prefixes, st.sampled_from(WORDS))


def _slots(node: Any, out: list[tuple[Any, Any]]) -> list[tuple[Any, Any]]:
    """Every (container, key) pair in a nested structure of dicts and lists."""
    items = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else []
    for key, value in items:
        out.append((node, key))
        _slots(value, out)
    return out


def _field_of(node: Any, target: Any) -> str:
    """The name of the dict field holding the list `target` ("" if none)."""
    items = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else []
    for key, value in items:
        if value is target:
            return key if isinstance(key, str) else ""
        found = _field_of(value, target)
        if found:
            return found
    return ""


@st.composite
def broken_labs(draw: st.DrawFn) -> dict[str, Any]:
    """A valid lab with one to four fields replaced, removed, added or duplicated."""
    lab = copy.deepcopy(draw(valid_labs()))
    for _ in range(draw(st.integers(1, 4))):
        container, key = draw(st.sampled_from(_slots(lab, [])))
        action = draw(st.sampled_from(["replace", "shaped", "shaped", "shaped", "delete", "add", "copy"]))
        if action == "replace":
            container[key] = draw(anything)
        elif action == "shaped":
            shapes, field = (SHAPED, key) if isinstance(key, str) else (ELEMENT, _field_of(lab, container))
            container[key] = draw(shapes.get(field, UNSHAPED))
        elif action == "delete":
            del container[key]
        elif action == "add" and isinstance(container, dict):
            container[draw(st.sampled_from(FIELDS))] = draw(anything)
        elif action == "copy" and isinstance(container, list):
            container.append(copy.deepcopy(container[key]))
    return lab


# -- the properties ----------------------------------------------------------------------------------


@PROPERTY
@given(st.one_of(broken_labs(), broken_labs(), valid_labs(), anything))
def test_any_lab_builds_or_fails_with_lab_error(data: Any) -> None:
    try:
        topo = _run(data)
    except LabError as exc:
        assert exc.problems, "a LabError must carry at least one problem"
        for line in exc.lines():
            assert line.startswith(f"{SOURCE}: "), line
            assert "\n" not in line, line
    else:  # what the rules let through must build into something Linux can hold
        assert_sound(topo)


@PROPERTY
@given(valid_labs())
def test_valid_lab_builds_a_sound_topology(data: dict[str, Any]) -> None:
    try:
        topo = _run(data)
    except LabError as exc:  # the generator makes only valid choices: a rule that refuses one is wrong
        raise AssertionError("valid lab refused:\n" + "\n".join(exc.lines())) from None
    assert_sound(topo)
