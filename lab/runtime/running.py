"""A handle on a running lab: its topology, its state, and the runtime it was built with."""

from __future__ import annotations

import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from lab.errors import GwlabError
from lab.load import load
from lab.runtime.backends import backend
from lab.runtime.base import Runtime
from lab.runtime.state import LabState, load_state
from lab.topology import Node, Topology


@dataclass
class RunningLab:
    runtime: Runtime

    @property
    def topo(self) -> Topology:
        return self.runtime.topo

    @property
    def state(self) -> LabState:
        return self.runtime.state

    @property
    def name(self) -> str:
        return self.topo.name

    def node(self, name: str) -> Node:
        try:
            return self.topo.nodes[name]
        except KeyError:
            names = ", ".join(sorted(self.topo.nodes))
            raise GwlabError(f"lab {self.name} has no node '{name}' (nodes: {names})") from None

    def run(
        self, node: str, argv: Sequence[str], timeout: float | None = 30.0, check: bool = False, **kwargs: Any
    ) -> subprocess.CompletedProcess[str]:
        """argv with the node's network view (Runtime.run), never through a shell."""
        self.node(node)
        return self.runtime.run(node, argv, timeout=timeout, check=check, **kwargs)

    def popen(self, node: str, argv: Sequence[str], **kwargs: Any) -> subprocess.Popen[bytes]:
        self.node(node)
        return self.runtime.popen(node, argv, **kwargs)


def attach(name: str) -> RunningLab:
    """The running lab `name`, on the runtime it was built with."""
    state = load_state(name)
    if state is None:
        raise GwlabError(f"no lab named {name} is up (gwlab list shows the labs)")
    topo = load(state.source)
    topo.name = state.name
    return RunningLab(backend(state.runtime)(topo, state))
