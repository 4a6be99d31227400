"""A small world of namespaces for the real IPsec tests, made and removed by the tests themselves.

    r (on-prem router, 198.51.100.10) --wan0/vti0-- rt (tunnel endpoint, /run/netns)
    g (Azure instance, 203.0.113.10)  --wan0/vti0-- gt (tunnel endpoint, a "container": /proc/<pid>/ns/net)
                                      --wanp/vtip-- gp (point-to-site endpoint)
    g2 (its standby, takes 203.0.113.10 over) --wan0/vti0-- gt2
    c (point-to-site client, 192.0.2.10)
    r, g, c --pub-- inet (the internet router); g and g2 share inet's bridge "bra" (203.0.113.0/24)

LANs are stand-ins on lo: on-prem 192.168.10.1, the VNet's VM 10.1.0.4.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
from dataclasses import dataclass, field
from ipaddress import IPv4Address, IPv4Interface, IPv4Network

from pyroute2 import IPRoute, netns

from lab.poll import poll
from lab.runtime.ipsec import endpoint
from lab.runtime.nsenter import call_in, preexec, write_sysctls
from lab.runtime.processes import stop

ONPREM_PUBLIC = IPv4Address("198.51.100.10")
AZURE_PUBLIC = IPv4Address("203.0.113.10")
CLIENT_PUBLIC = IPv4Address("192.0.2.10")
ONPREM_LAN = IPv4Network("192.168.10.0/24")
ONPREM_HOST = IPv4Address("192.168.10.1")
VNET = IPv4Network("10.1.0.0/16")
VNET_VM = IPv4Address("10.1.0.4")
P2S_POOL = IPv4Network("172.16.201.0/29")
ONPREM_VTI, AZURE_VTI = IPv4Address("169.254.21.1"), IPv4Address("169.254.21.2")
ENDPOINT_WAN = {
    "rt": IPv4Interface("100.64.0.2/30"),
    "gt": IPv4Interface("100.64.0.6/30"),
    "gp": IPv4Interface("100.64.0.10/30"),
    "gt2": IPv4Interface("100.64.0.14/30"),
}
ENDPOINT_NETS = IPv4Network("100.64.0.0/24")  # the endpoints' WAN /30s, source-NATed by their routers
ROUTER_SYSCTLS = {
    "net.ipv4.ip_forward": "1",
    "net.ipv4.conf.all.rp_filter": "0",
    "net.ipv4.conf.default.rp_filter": "0",
    "net.ipv4.conf.all.ignore_routes_with_linkdown": "1",
    "net.ipv6.conf.all.disable_ipv6": "1",
}


@dataclass
class World:
    prefix: str
    paths: dict[str, str] = field(default_factory=dict)
    holders: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def ns(self, node: str) -> str:
        return self.paths[node]

    def run(self, node: str, *cmd: str, check: bool = True, timeout: float = 30) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            list(cmd), preexec_fn=preexec(self.ns(node)), capture_output=True, text=True, check=check, timeout=timeout
        )

    def ping(self, node: str, dst: IPv4Address, src: IPv4Address, count: int = 3) -> int:
        """Replies received."""
        out = self.run(
            node, "ping", "-n", "-q", "-c", str(count), "-i", "0.2", "-W", "1", "-I", str(src), str(dst), check=False
        )
        for line in out.stdout.splitlines():
            if "received" in line:
                return int(line.split(",")[1].split()[0])
        return 0

    def silence(self, node: str, dev: str) -> None:
        """The node stops answering on dev: everything in and out dropped, no carrier change (silent)."""
        rules = "\n".join(
            f'  chain {hook} {{ type filter hook {hook} priority -300; policy accept; {m} "{dev}" drop; }}'
            for hook, m in (("prerouting", "iifname"), ("output", "oifname"), ("postrouting", "oifname"))
        )
        self._nft(node, f"table inet gwlab_silence {{\n{rules}\n}}\n")

    def unsilence(self, node: str) -> None:
        self._nft(node, "table inet gwlab_silence\ndelete table inet gwlab_silence\n")

    def _nft(self, node: str, ruleset: str) -> None:
        subprocess.run(["nft", "-f", "-"], input=ruleset, text=True, check=True, preexec_fn=preexec(self.ns(node)))

    def destroy(self) -> list[str]:
        """Remove everything; returns what could not be removed."""
        left = stop([h.pid for h in self.holders], grace_s=1.0)
        for h in self.holders:
            with contextlib.suppress(Exception):
                h.wait(timeout=5)
        existing = set(netns.listnetns())
        for node, path in self.paths.items():
            name = path.rsplit("/", 1)[-1]
            if path.startswith("/run/netns/") and name in existing:
                try:
                    netns.remove(name)
                except OSError:
                    left.append(node)
        return [str(x) for x in left]


def build(prefix: str) -> World:
    world = World(prefix)
    try:
        _build(world)
    except BaseException:
        world.destroy()
        raise
    return world


def _build(w: World) -> None:
    for node in ("inet", "r", "g", "rt", "gp", "c", "g2", "gt2"):
        netns.create(f"{w.prefix}-{node}")
        w.paths[node] = f"/run/netns/{w.prefix}-{node}"
    # gt: a namespace known only by a process's /proc/<pid>/ns/net, as a container's is
    holder = subprocess.Popen(["unshare", "--net", "sleep", "infinity"], stdin=subprocess.DEVNULL)
    w.holders.append(holder)
    w.paths["gt"] = f"/proc/{holder.pid}/ns/net"
    endpoint_wait_distinct(w.paths["gt"])

    v = endpoint.veth
    v(w.ns("inet"), "ir", w.ns("r"), "pub")
    v(w.ns("inet"), "ig", w.ns("g"), "pub")
    v(w.ns("inet"), "ig2", w.ns("g2"), "pub")
    _bridge(w, "inet", "bra", ["ig", "ig2"])
    v(w.ns("inet"), "ic", w.ns("c"), "pub")
    v(w.ns("r"), "wan0", w.ns("rt"), "eth0")
    v(w.ns("r"), "vti0", w.ns("rt"), "r0", mtu=endpoint.VTI_MTU)
    v(w.ns("g"), "wan0", w.ns("gt"), "eth0")
    v(w.ns("g"), "vti0", w.ns("gt"), "r0", mtu=endpoint.VTI_MTU)
    v(w.ns("g"), "wanp", w.ns("gp"), "eth0")
    v(w.ns("g"), "vtip", w.ns("gp"), "r0", mtu=endpoint.VTI_MTU)
    v(w.ns("g2"), "wan0", w.ns("gt2"), "eth0")
    v(w.ns("g2"), "vti0", w.ns("gt2"), "r0", mtu=endpoint.VTI_MTU)

    for node in ("inet", "r", "g", "c", "g2"):
        write_sysctls(w.ns(node), ROUTER_SYSCTLS)
    _addrs(w, "inet", {"ir": "198.51.100.1/24", "bra": "203.0.113.1/24", "ic": "192.0.2.1/24", "ig": "", "ig2": ""})
    _addrs(w, "r", {"pub": f"{ONPREM_PUBLIC}/24", "wan0": "100.64.0.1/30", "lo": f"{ONPREM_HOST}/32"}, "198.51.100.1")
    _addrs(
        w,
        "g",
        {"pub": f"{AZURE_PUBLIC}/24", "wan0": "100.64.0.5/30", "wanp": "100.64.0.9/30", "lo": f"{VNET_VM}/32"},
        "203.0.113.1",
    )
    _addrs(w, "c", {"pub": f"{CLIENT_PUBLIC}/24"}, "192.0.2.1")
    # the standby: no public IP until it takes it over (take_over)
    _addrs(w, "g2", {"pub": "", "wan0": "100.64.0.13/30", "lo": f"{VNET_VM}/32"})
    for node, gw in (("rt", "100.64.0.1"), ("gt", "100.64.0.5"), ("gp", "100.64.0.9"), ("gt2", "100.64.0.13")):
        endpoint.prepare(w.ns(node), "r0", "eth0", ENDPOINT_WAN[node], IPv4Address(gw))
    endpoint.router_vti(w.ns("r"), "vti0", ONPREM_VTI, AZURE_VTI)
    endpoint.router_vti(w.ns("g"), "vti0", AZURE_VTI, ONPREM_VTI)
    endpoint.router_vti(w.ns("g"), "vtip", IPv4Address("169.254.30.1"), IPv4Address("169.254.30.2"))
    endpoint.router_nat(w.ns("r"), "pub", ONPREM_PUBLIC, ENDPOINT_NETS, [(AZURE_PUBLIC, ENDPOINT_WAN["rt"].ip)])
    endpoint.router_nat(
        w.ns("g"),
        "pub",
        AZURE_PUBLIC,
        ENDPOINT_NETS,
        [(ONPREM_PUBLIC, ENDPOINT_WAN["gt"].ip)],
        default_endpoint=ENDPOINT_WAN["gp"].ip,
    )
    endpoint.router_vti(w.ns("g2"), "vti0", AZURE_VTI, ONPREM_VTI)
    endpoint.router_nat(w.ns("g2"), "pub", AZURE_PUBLIC, ENDPOINT_NETS, [(ONPREM_PUBLIC, ENDPOINT_WAN["gt2"].ip)])
    _route(w, "g2", ONPREM_LAN, ONPREM_VTI, "vti0")
    _route(w, "r", VNET, AZURE_VTI, "vti0")
    _route(w, "g", ONPREM_LAN, ONPREM_VTI, "vti0")
    _route(w, "g", P2S_POOL, IPv4Address("169.254.30.2"), "vtip")


def endpoint_wait_distinct(path: str) -> None:
    """unshare has exec'd sleep in its own namespace (until then the pid is still in ours)."""
    own = os.stat("/proc/self/ns/net").st_ino

    def distinct() -> bool:
        try:
            return os.stat(path).st_ino != own
        except FileNotFoundError:
            return False

    if not poll(distinct, timeout_s=5, interval_s=0.005).ok:
        raise RuntimeError(f"{path}: no namespace of its own")


def _addrs(w: World, node: str, addrs: dict[str, str], default: str | None = None) -> None:
    def configure() -> None:
        with IPRoute() as ipr:
            for ifname in ("lo", *addrs):
                idx = ipr.link_lookup(ifname=ifname)[0]
                if addrs.get(ifname):
                    a = IPv4Interface(addrs[ifname])
                    ipr.addr("replace", index=idx, address=str(a.ip), prefixlen=a.network.prefixlen)
                ipr.link("set", index=idx, state="up")
            if default:
                ipr.route("replace", dst="0.0.0.0/0", gateway=default)

    call_in(w.ns(node), configure)


def _bridge(w: World, node: str, name: str, ports: list[str]) -> None:
    def add() -> None:
        with IPRoute() as ipr:
            ipr.link("add", ifname=name, kind="bridge")
            idx = ipr.link_lookup(ifname=name)[0]
            for port in ports:
                ipr.link("set", index=ipr.link_lookup(ifname=port)[0], master=idx)

    call_in(w.ns(node), add)


def crash_instance(w: World, node: str) -> None:
    """The active instance's public interface is gone (its charon is killed by the caller)."""

    def down() -> None:
        with IPRoute() as ipr:
            ipr.link("set", index=ipr.link_lookup(ifname="pub")[0], state="down")

    call_in(w.ns(node), down)


def take_over(w: World, node: str) -> None:
    """The standby takes the public IP: address, default route, and a ping whose ARP request updates
    the internet router's neighbor entry to the standby's MAC (as a gratuitous ARP would)."""

    def up() -> None:
        with IPRoute() as ipr:
            idx = ipr.link_lookup(ifname="pub")[0]
            ipr.addr("replace", index=idx, address=str(AZURE_PUBLIC), prefixlen=24)
            ipr.route("replace", dst="0.0.0.0/0", gateway="203.0.113.1")

    call_in(w.ns(node), up)
    w.run(node, "ping", "-c", "1", "-W", "1", "203.0.113.1", check=False)


def give_back(w: World, active: str, standby: str) -> None:
    """Undo crash_instance + take_over: the first instance holds the public IP again."""

    def release() -> None:
        with IPRoute() as ipr:
            ipr.addr("del", index=ipr.link_lookup(ifname="pub")[0], address=str(AZURE_PUBLIC), prefixlen=24)

    def up() -> None:
        with IPRoute() as ipr:
            ipr.link("set", index=ipr.link_lookup(ifname="pub")[0], state="up")
            ipr.route("replace", dst="0.0.0.0/0", gateway="203.0.113.1")

    call_in(w.ns(standby), release)
    call_in(w.ns(active), up)
    w.run(active, "ping", "-c", "1", "-W", "1", "203.0.113.1", check=False)


def _route(w: World, node: str, prefix: IPv4Network, via: IPv4Address, dev: str) -> None:
    def add() -> None:
        with IPRoute() as ipr:
            ipr.route("replace", dst=str(prefix), gateway=str(via), oif=ipr.link_lookup(ifname=dev)[0])

    call_in(w.ns(node), add)
