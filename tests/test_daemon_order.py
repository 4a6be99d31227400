"""The order lab.runtime.daemons starts a lab's daemons in, on any runtime: zebra everywhere, then each
router's bgpd and bfdd as soon as its zebra's socket exists, then staticd (pure logic: the launches are
recorded, nothing runs)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from lab.errors import GwlabError
from lab.load import load
from lab.runtime import daemons
from lab.runtime.daemons import Daemon, Launch
from lab.topology import Node, Topology


class Done:
    """A launcher that has exited: its daemon daemonised (0), or it failed with `error` on stderr."""

    def __init__(self, returncode: int = 0, error: bytes = b"") -> None:
        self.returncode, self.error = returncode, error

    def poll(self) -> int:
        return self.returncode

    def communicate(self, input: Any = None, timeout: float | None = None) -> tuple[bytes, bytes]:
        return b"", self.error

    def wait(self, timeout: float | None = None) -> int:
        return self.returncode


class Recorder:
    """What daemons.start needs of a runtime; zebra's socket appears on its first launch, in the order
    given by `slow` last (a zebra that takes longer)."""

    def __init__(self, topo: Topology, root: Path, slow: str, broken: str = "") -> None:
        self.topo, self.root, self.slow, self.broken = topo, root, slow, broken
        self.order: list[tuple[str, str]] = []

    def frr_dir(self, node: str) -> Path:
        return self.root / node

    def launch_frr(self, node: Node, names: list[str]) -> list[Launch]:
        self.order += [(node.name, name) for name in names]
        if node.name == self.broken:  # its zebra exits at once, with its reason, and opens no socket
            return [(Daemon(node.name, name), Done(1, b"cannot open the configuration file")) for name in names]
        if "zebra" in names:
            self.frr_dir(node.name).mkdir()
            if node.name != self.slow:
                (self.frr_dir(node.name) / "zserv.api").touch()
        elif self.slow and not (self.frr_dir(self.slow) / "zserv.api").exists():
            (self.frr_dir(self.slow) / "zserv.api").touch()  # its socket, once the others' bgpds run
        return [(Daemon(node.name, name), Done()) for name in names]

    def launch_exabgp(self, node: Node) -> Launch:
        self.order.append((node.name, "exabgp"))
        return Daemon(node.name, "exabgp"), Done()


def test_bgpd_and_bfdd_start_once_their_zebra_is_up_and_staticd_after_every_one(tmp_path: Path) -> None:
    topo = load("hybrid")
    runtime = Recorder(topo, tmp_path, slow="s1-ce0")
    daemons.start(runtime, daemons.no_progress, bfd=False)  # type: ignore[arg-type]
    order = runtime.order
    routers = [n.name for n in topo.routers()]
    position = {entry: i for i, entry in enumerate(order)}
    zebras = [position[(r, "zebra")] for r in routers]
    speakers = [position[(n, "exabgp")] for n in topo.nodes if topo.nodes[n].speaker is not None]
    early = [position[(r, d)] for r in routers for d in ("bgpd", "bfdd") if (r, d) in position]
    staticds = [position[(r, "staticd")] for r in routers]
    assert max(zebras) < min(speakers) and max(speakers) < min(early)  # the speakers only listen
    assert max(early) < min(staticds)
    assert {r for r in routers if (r, "bfdd") in position} == {"msee0", "msee1", "s1-ce0", "s1-ce1"}
    # Each router's bfdd right after its bgpd; the slow zebra's router after the others'.
    assert all(position[(r, "bfdd")] == position[(r, "bgpd")] + 1 for r in ("msee0", "msee1", "s1-ce0", "s1-ce1"))
    assert position[("s1-ce0", "bgpd")] == max(position[(r, "bgpd")] for r in routers)
    assert len(order) == len(set(order)) == sum(len(daemons.expected_daemons(n)) for n in topo.nodes.values())


def test_a_zebra_that_fails_is_reported_with_its_own_error_at_once(tmp_path: Path) -> None:
    runtime = Recorder(load("hybrid"), tmp_path, slow="", broken="msee1")
    # Its own reason, not "zebra did not open its socket" after the 10 s wait for it.
    with pytest.raises(GwlabError, match=r"^msee1: zebra failed to start: cannot open the configuration file$"):
        daemons.start(runtime, daemons.no_progress, bfd=False)  # type: ignore[arg-type]
    assert ("msee1", "bgpd") not in runtime.order
