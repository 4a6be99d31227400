"""A handle on a running lab: its topology, its namespaces, and running commands inside its nodes."""

from __future__ import annotations

import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from lab.errors import GwlabError
from lab.load import load
from lab.runtime.nsenter import preexec
from lab.runtime.state import LabState, load_state, namespace_name
from lab.topology import Node, Topology


@dataclass
class RunningLab:
    topo: Topology
    state: LabState

    @property
    def name(self) -> str:
        return self.topo.name

    def ns(self, node: str) -> str:
        return namespace_name(self.name, node)

    def node(self, name: str) -> Node:
        try:
            return self.topo.nodes[name]
        except KeyError:
            names = ", ".join(sorted(self.topo.nodes))
            raise GwlabError(f"lab {self.name} has no node '{name}' (nodes: {names})") from None

    def run(
        self, node: str, argv: Sequence[str], timeout: float | None = 30.0, check: bool = False, **kwargs: Any
    ) -> subprocess.CompletedProcess[str]:
        """Run argv inside the node's namespace (never through a shell)."""
        self.node(node)
        return subprocess.run(
            list(argv),
            preexec_fn=preexec(self.ns(node)),
            capture_output=True,
            text=True,
            timeout=timeout,
            check=check,
            **kwargs,
        )

    def popen(self, node: str, argv: Sequence[str], **kwargs: Any) -> subprocess.Popen[bytes]:
        self.node(node)
        return subprocess.Popen(list(argv), preexec_fn=preexec(self.ns(node)), **kwargs)


def attach(name: str) -> RunningLab:
    state = load_state(name)
    if state is None:
        raise GwlabError(f"no lab named {name} is up (gwlab list shows the labs)")
    topo = load(state.source)
    topo.name = state.name
    return RunningLab(topo, state)
