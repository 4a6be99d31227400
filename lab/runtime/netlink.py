"""pyroute2 handles on nodes' network namespaces, from the paths a runtime hands out.

Opening a handle forks pyroute2's helper (about 8 ms), so code that talks to many nodes, or to the
same nodes again and again (wiring a lab, the convergence poll), keeps one handle per node in a
`Handles` and closes them together. `flags=0`: a namespace that is gone raises, and is never created
again by accident (pyroute2's default is O_CREAT).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from types import TracebackType
from typing import Any


def open_handle(path: str) -> Any:
    # Imported here: what the link kinds derive (a bridge's MAC) is rendered without pyroute2.
    from pyroute2 import NetNS

    return NetNS(path, flags=0)


def interface_index(ns: Any) -> dict[str, int]:
    return {link.get_attr("IFLA_IFNAME"): link["index"] for link in ns.get_links()}


class Handles:
    """One pyroute2 handle per node, opened on first use; `netns_path(node)` for peers of a new link."""

    def __init__(self, netns_path: Callable[[str], str]) -> None:
        self.netns_path = netns_path
        self._open: dict[str, Any] = {}

    def __getitem__(self, node: str) -> Any:
        handle = self._open.get(node)
        if handle is None:
            handle = self._open[node] = open_handle(self.netns_path(node))
        return handle

    def close(self) -> None:
        for handle in self._open.values():
            with contextlib.suppress(Exception):
                handle.close()
        self._open.clear()

    def __enter__(self) -> Handles:
        return self

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None, tb: TracebackType | None) -> None:
        self.close()
