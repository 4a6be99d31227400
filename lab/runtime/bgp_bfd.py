"""BFD under BGP, up by the time BGP is: what FRR 8.4 needs for it.

bgpd registers a neighbor's BFD session when it reads `neighbor X bfd`, without the source address and
interface, and registers it again with them once the BGP session is up. bfdd takes any deregistration
for the session going down (it tells the peer so), and a peer whose BFD was up resets its new BGP
session for it (Cease/BFD Down). And bfdd sends one packet a second until a session is up, so BFD
comes up 0.75-1 s after its session is created.

So bfdd starts with the other daemons, its sessions declared in frr.conf (`peer` under `bfd`): they
come up while bgpd waits its second before connecting. bgpd starts from frr.conf without its
`neighbor ... bfd` lines (START_CONF, rendered beside frr.conf); `enable` gives it them once the BGP
session is Established, when bgpd knows the source and interface: it registers each session once, and
finds it up. frr.conf itself is the whole configuration, as the containerlab file uses it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import TYPE_CHECKING

from lab import poll
from lab.errors import GwlabError
from lab.runtime.frr import bgp_peers, configure
from lab.runtime.interrupts import check_interrupted
from lab.topology import Node

if TYPE_CHECKING:
    from lab.runtime.base import Runtime

START_CONF = "bgpd-start.conf"
# bgpd connects to a peer 1 s after the peer is configured (FRR's BGP_INIT_START_TIMER, compiled in)
BGP_START_TIMER_S = 1.0
_NEIGHBOR_BFD = re.compile(r"^ neighbor \S+ bfd\b.*\n", re.MULTILINE)
_ROUTER_BGP = re.compile(r"^router bgp \d+$", re.MULTILINE)


def runs_bfd(node: Node) -> bool:
    return node.bgp is not None and any(n.bfd for n in node.bgp.neighbors)


def guarded(node: Node) -> list[str]:
    """The neighbors whose BGP sessions run BFD."""
    return [str(n.address) for n in node.bgp.neighbors if n.bfd] if node.bgp is not None else []


def conf_name(node: Node, daemon: str) -> str:
    """The file a daemon of the node starts from on gwlab's runtimes, beside frr.conf."""
    return START_CONF if daemon == "bgpd" and runs_bfd(node) else "frr.conf"


def start_config(frr_conf: str) -> str:
    """bgpd's start-up configuration: frr.conf without its `neighbor ... bfd` lines."""
    note = f"! bgpd's start-up configuration: frr.conf without its 'neighbor ... bfd' lines ({__name__})\n"
    return note + _NEIGHBOR_BFD.sub("", frr_conf)


def bfd_lines(frr_conf: str) -> list[str]:
    """The configuration lines that give bgpd the BFD of frr.conf (none if it has none)."""
    lines = [m.group(0).strip() for m in _NEIGHBOR_BFD.finditer(frr_conf)]
    router = _ROUTER_BGP.search(frr_conf)
    return [router.group(0), *lines] if lines and router else []


def enable(runtime: Runtime, nodes: Iterable[Node]) -> bool:
    """Give each node's bgpd its BFD lines once every BGP session they guard is Established (each node
    as soon as its own are), or at a deadline: a session that does not come up (its peer is down, as
    after a restore with the peer still failed) is given bgpd's first connect and one retry. False if
    no node has BFD."""
    pending = {n.name: n for n in nodes if runs_bfd(n)}
    if not pending:
        return False

    def still_pending() -> list[str]:
        check_interrupted()
        for name in list(pending):
            if _established(runtime, pending[name]):
                _configure(runtime, pending.pop(name))
        return list(pending)

    retry_s = max(n.bgp.connect_retry for n in pending.values() if n.bgp is not None)
    poll.poll(still_pending, lambda left: not left, timeout_s=BGP_START_TIMER_S + retry_s + 1.0, interval_s=0.02)
    for node in list(pending.values()):
        _configure(runtime, node)
    return True


def _established(runtime: Runtime, node: Node) -> bool:
    peers = bgp_peers(runtime.frr_dir(node.name))
    return all(peers.get(address, {}).get("state") == "Established" for address in guarded(node))


def _configure(runtime: Runtime, node: Node) -> None:
    lines = bfd_lines((runtime.state.run_dir / node.name / "frr.conf").read_text())
    try:
        configure(runtime.frr_dir(node.name), "bgpd", lines)
    except (GwlabError, OSError) as exc:
        raise GwlabError(f"{node.name}: bgpd refused its BFD lines: {exc}") from None
