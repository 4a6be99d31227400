"""Data-plane path attribution: which transit element (and which of its interfaces) carried a probe.

Not inferred from routes: every `gateway` and `msee` node gets an nftables table of its own
(`inet gwlab_probe`) whose forward-hook chain, for UDP probes (destination port in the probe range):

* rewrites the IP DSCP to a code unique per (element, interface): on a gateway the tunnel the
  packet came in on (on-prem -> Azure, `iifname t-<device>`) or goes out on (Azure -> on-prem,
  `oifname t-<device>`); on an MSEE the link to the customer edge, in or out. The receiver reads the
  TOS byte (IP_RECVTOS) and `Codebook.label` turns it back into "gw0/t-s1-vpn0" or "msee0". The DSCP
  sits in the inner IP header, which VXLAN and ESP carry untouched (VXLAN copies nothing out of it by
  default and decapsulation only merges ECN bits; ESP encrypts it), and ECN bits are left as they are.
* counts packets per destination port (= per flow) in named counters, read with `nft -j list counters`.

The chain hooks forward at priority 300, after the usual filter chains (priority 0): a packet that
a failure injection drops in forward with nftables is neither counted nor marked. A packet that
crosses two marking elements keeps the last mark; the counters see both.
"""

from __future__ import annotations

import contextlib
import json
import subprocess
from collections import Counter
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from controller.oracle import Failures
from lab.errors import GwlabError
from lab.runtime.running import RunningLab
from lab.topology import TUNNEL_KINDS, Topology

TABLE = "gwlab_probe"
FAMILY = "inet"
CHAIN = "probe"
PRIORITY = 300
TRANSIT_ROLES = ("gateway", "msee")
MAX_CODE = 63  # six DSCP bits; 0 means "not marked"
TUNNEL_SEP = "~"  # in a tunnel's name ("v2-gw0~gw0"): a VNet-to-VNet tunnel's path label


@dataclass(frozen=True)
class Mark:
    element: str  # node name
    interface: str  # the interface that identifies the path through it
    code: int  # DSCP value, 1..63
    label: str  # "gw0/t-s1-vpn0", or "msee0" for an MSEE with a single customer link


@dataclass
class Codebook:
    ports: tuple[int, int]  # probe destination ports, inclusive
    marks: list[Mark] = field(default_factory=list)

    @property
    def elements(self) -> list[str]:
        return sorted({m.element for m in self.marks})

    def by_code(self) -> dict[int, Mark]:
        return {m.code: m for m in self.marks}

    def label(self, tos: int) -> str:
        """The path label of a received TOS byte; "" if unmarked or not a code of this book."""
        mark = self.by_code().get(tos >> 2)
        return mark.label if mark is not None else ""

    def tos(self, label: str) -> int:
        for m in self.marks:
            if m.label == label:
                return m.code << 2
        raise KeyError(label)

    def marks_of(self, element: str) -> list[Mark]:
        return [m for m in self.marks if m.element == element]

    def ruleset(self, element: str) -> str:
        """The nft script for one element: (re)creates the table atomically."""
        return ruleset(element, self.marks_of(element), self.ports)


def transit_interfaces(topo: Topology, element: str) -> list[str]:
    """The interfaces of a transit element that identify a path: gateway tunnels, MSEE customer links."""
    node = topo.nodes[element]
    if node.role == "gateway":
        between = {t.gateway_ifname for t in topo.tunnels if t.between_vnets and t.gateway == element}
        between |= {t.device_ifname for t in topo.tunnels if t.between_vnets and t.device == element}
        return sorted(i.name for i in node.interfaces if i.kind in TUNNEL_KINDS and i.name not in between)
    if node.role == "msee":
        return sorted(
            i.name
            for i in node.interfaces
            if i.kind == "veth" and i.peer_node is not None and topo.nodes[i.peer_node].role == "ce"
        )
    return []


def crosses(topo: Topology, label: str, failed: Failures) -> bool:
    """Did a probe marked `label` ("gw0/t-s1-vpn0", "msee0") cross one of the failed elements: the
    transit node, the tunnel or link it names, the node at that link's far end, or its uplink?"""
    if TUNNEL_SEP in label:  # a VNet-to-VNet tunnel: its two instances, or itself
        near, _, far = label.partition(TUNNEL_SEP)
        return near in failed.nodes or far in failed.nodes or label in failed.tunnels
    element, _, ifname = label.partition("/")
    node = topo.nodes.get(element)
    if node is None:
        return False
    if element in failed.nodes:
        return True
    names = transit_interfaces(topo, element)
    ifname = ifname or (names[0] if len(names) == 1 else "")
    if node.role == "gateway":
        tunnel = next((t for t in topo.tunnels if t.gateway == element and t.gateway_ifname == ifname), None)
        if tunnel is None:
            return False
        device = tunnel.device
        return device in failed.nodes or f"{device}~{element}" in failed.tunnels or failed.link_down(device, "inet")
    peer = next((i.peer_node for i in node.interfaces if i.name == ifname), None)
    return peer is not None and (peer in failed.nodes or failed.link_down(peer, element))


def build_codebook(topo: Topology, ports: tuple[int, int]) -> Codebook:
    """Codes 1, 2, ... in a stable order: elements by name, their interfaces by name."""
    lo, hi = ports
    if not 0 < lo <= hi < 65536:
        raise ValueError(f"bad probe port range {ports}")
    book = Codebook(ports)
    code = 0
    for name in sorted(n.name for n in topo.nodes.values() if n.role in TRANSIT_ROLES):
        ifaces = transit_interfaces(topo, name)
        single = topo.nodes[name].role == "msee" and len(ifaces) == 1
        for ifname in ifaces:
            code = _next_code(code)
            book.marks.append(Mark(name, ifname, code, name if single else f"{name}/{ifname}"))
    # A VNet-to-VNet tunnel: one code at both its instances, labelled by its name, which names both (a
    # packet from on-prem to a remote VNet crosses two instances, and a packet keeps one mark). Their
    # rules come after the others in each chain: the tunnel's mark is the one that stays. A remote end
    # serving two tunnels (to an active/standby gateway's one IP) cannot tell them apart: only the lab
    # gateway's end marks those.
    between = sorted((t for t in topo.tunnels if t.between_vnets), key=lambda t: t.name)
    served = Counter((t.device, t.device_ifname) for t in between)
    for t in between:
        code = _next_code(code)
        book.marks.append(Mark(t.gateway, t.gateway_ifname, code, t.name))
        if served[(t.device, t.device_ifname)] == 1:
            book.marks.append(Mark(t.device, t.device_ifname, code, t.name))
    return book


def _next_code(code: int) -> int:
    if code >= MAX_CODE:
        raise GwlabError(f"more than {MAX_CODE} (element, interface) paths: DSCP cannot tell them apart")
    return code + 1


def counter_name(port: int) -> str:
    return f"p{port}"


def ruleset(element: str, marks: Iterable[Mark], ports: tuple[int, int]) -> str:
    lo, hi = ports
    span = f"{lo}-{hi}" if hi > lo else str(lo)
    lines = [f"table {FAMILY} {TABLE} {{}}", f"delete table {FAMILY} {TABLE}", f"table {FAMILY} {TABLE} {{"]
    lines += [f"  counter {counter_name(p)} {{ }}" for p in range(lo, hi + 1)]
    lines += [f"  chain {CHAIN} {{", f"    type filter hook forward priority {PRIORITY}; policy accept;"]
    for m in marks:
        assert m.element == element
        # in on the interface (towards Azure) or out on it (towards on-prem): the same code; the
        # flow's direction tells which one it was.
        lines.append(f'    meta l4proto udp udp dport {span} iifname "{m.interface}" ip dscp set {m.code}')
        lines.append(f'    meta l4proto udp udp dport {span} oifname "{m.interface}" ip dscp set {m.code}')
    mapping = ", ".join(f'{p} : "{counter_name(p)}"' for p in range(lo, hi + 1))
    lines.append(f"    meta l4proto udp udp dport {span} counter name udp dport map {{ {mapping} }}")
    lines += ["  }", "}", ""]
    return "\n".join(lines)


def install(lab: RunningLab, ports: tuple[int, int]) -> Codebook:
    """Install marking and counting on every transit element; counters start at zero."""
    book = build_codebook(lab.topo, ports)

    def one(element: str) -> str | None:
        res = lab.run(element, ["nft", "-f", "-"], input=book.ruleset(element), timeout=10)
        return None if res.returncode == 0 else f"{element}: {res.stderr.strip()}"

    with ThreadPoolExecutor(max_workers=8) as pool:
        errors = [e for e in pool.map(one, book.elements) if e]
    if errors:
        remove(lab)
        raise GwlabError("cannot install probe attribution rules: " + "; ".join(errors))
    return book


def parse_counters(text: str) -> dict[int, int]:
    """`nft -j list counters table ...` output -> {port: packets}."""
    out: dict[int, int] = {}
    for item in json.loads(text).get("nftables", []):
        counter = item.get("counter")
        if counter and counter.get("table") == TABLE and str(counter.get("name", "")).startswith("p"):
            try:
                out[int(counter["name"][1:])] = int(counter.get("packets", 0))
            except ValueError:
                continue
    return out


def read_counters(lab: RunningLab, codebook: Codebook) -> dict[int, dict[str, int]]:
    """{probe port: {element: packets}} with every element whose counter is non-zero.

    An element whose table cannot be read (namespace gone, container stopped) is left out rather than
    failing the read.
    """

    def one(element: str) -> tuple[str, dict[int, int]]:
        try:
            res = lab.run(element, ["nft", "-j", "list", "counters", "table", FAMILY, TABLE], timeout=10)
        except (OSError, subprocess.SubprocessError, GwlabError):  # GwlabError: a crashed container's
            return element, {}
        if res.returncode != 0:
            return element, {}
        return element, parse_counters(res.stdout)

    lo, hi = codebook.ports
    result: dict[int, dict[str, int]] = {p: {} for p in range(lo, hi + 1)}
    with ThreadPoolExecutor(max_workers=8) as pool:
        for element, counts in pool.map(one, codebook.elements):
            for port, packets in counts.items():
                if packets and port in result:
                    result[port][element] = packets
    return result


def remove(lab: RunningLab) -> None:
    """Delete the table from every transit element (absent tables are fine)."""
    elements = [n.name for n in lab.topo.nodes.values() if n.role in TRANSIT_ROLES]

    script = f"table {FAMILY} {TABLE} {{}}\ndelete table {FAMILY} {TABLE}\n"

    def one(element: str) -> None:
        with contextlib.suppress(OSError, subprocess.SubprocessError, GwlabError):
            lab.run(element, ["nft", "-f", "-"], input=script, timeout=10)

    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(one, elements))
