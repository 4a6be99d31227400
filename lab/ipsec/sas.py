"""SA state as swanctl reports it (`swanctl --list-sas --raw`), parsed into small typed records for
`gwlab status`: per connection, the best IKE_SA state and whether a CHILD_SA is installed.

The raw format is vici's message tree printed as `key=value`, `key=[a b]` and `key { ... }`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Union

Tree = dict[str, Union[str, list[str], "Tree"]]
IKE_RANK = {"ESTABLISHED": 4, "REKEYING": 3, "CONNECTING": 2, "PASSIVE": 1, "DELETING": 0}


@dataclass(frozen=True)
class ChildSa:
    name: str
    uniqueid: int
    state: str  # INSTALLED, REKEYING, REKEYED, DELETING, ...
    local_ts: tuple[str, ...]
    remote_ts: tuple[str, ...]
    encryption: str
    packets_in: int
    packets_out: int


@dataclass(frozen=True)
class IkeSa:
    connection: str
    uniqueid: int
    version: int
    state: str  # ESTABLISHED, CONNECTING, ...
    initiator: bool
    local_host: str
    remote_host: str
    local_id: str
    remote_id: str
    virtual_ips: tuple[str, ...]  # a client's own (local-vips) or, on a gateway, its client's (remote-vips)
    children: tuple[ChildSa, ...]


@dataclass(frozen=True)
class ConnectionState:
    """What `gwlab status` shows for one tunnel end; no key material is ever part of it."""

    connection: str
    ike: str  # the best IKE_SA state, or DOWN when there is none
    child: str  # INSTALLED when any CHILD_SA is, else the best other state, or NONE
    ike_sas: int  # more than one: duplicates (simultaneous initiation) or a replacement under way
    virtual_ips: tuple[str, ...] = ()

    @property
    def up(self) -> bool:
        return self.ike == "ESTABLISHED" and self.child == "INSTALLED"


def parse_list_sas(text: str) -> list[IkeSa]:
    sas = []
    for event in _events(text):
        for name, body in event.items():
            if isinstance(body, dict):
                sas.append(_ike(name, body))
    return sas


def summarize(sas: list[IkeSa], connections: list[str]) -> dict[str, ConnectionState]:
    """One state per expected connection, also for those charon has no SA of (DOWN)."""
    out = {}
    for conn in connections:
        mine = [s for s in sas if s.connection == conn]
        ike = max((s.state for s in mine), key=lambda st: IKE_RANK.get(st, -1), default="DOWN")
        states = [c.state for s in mine for c in s.children]
        child = "INSTALLED" if "INSTALLED" in states else (states[0] if states else "NONE")
        vips = tuple(v for s in mine for v in s.virtual_ips)
        out[conn] = ConnectionState(conn, ike, child, len(mine), vips)
    return out


def _ike(name: str, body: Tree) -> IkeSa:
    children = body.get("child-sas", {})
    assert isinstance(children, dict)
    return IkeSa(
        connection=name,
        uniqueid=int(_s(body, "uniqueid", "0")),
        version=int(_s(body, "version", "0")),
        state=_s(body, "state", "UNKNOWN"),
        initiator=_s(body, "initiator", "no") == "yes",
        local_host=_s(body, "local-host"),
        remote_host=_s(body, "remote-host"),
        local_id=_s(body, "local-id"),
        remote_id=_s(body, "remote-id"),
        virtual_ips=_l(body, "local-vips") + _l(body, "remote-vips"),
        children=tuple(_child(c) for c in children.values() if isinstance(c, dict)),
    )


def _child(body: Tree) -> ChildSa:
    return ChildSa(
        name=_s(body, "name"),
        uniqueid=int(_s(body, "uniqueid", "0")),
        state=_s(body, "state", "UNKNOWN"),
        local_ts=_l(body, "local-ts"),
        remote_ts=_l(body, "remote-ts"),
        encryption=f"{_s(body, 'encr-alg')}-{_s(body, 'encr-keysize')}",
        packets_in=int(_s(body, "packets-in", "0")),
        packets_out=int(_s(body, "packets-out", "0")),
    )


def _s(tree: Tree, key: str, default: str = "") -> str:
    value = tree.get(key, default)
    return value if isinstance(value, str) else default


def _l(tree: Tree, key: str) -> tuple[str, ...]:
    value = tree.get(key, [])
    return tuple(value) if isinstance(value, list) else ()


def _events(text: str) -> list[Tree]:
    """The `list-sa event {...}` sections (the closing `list-sas reply {}` carries nothing)."""
    out = []
    for line in text.splitlines():
        line = line.strip()
        if line.startswith("list-sa event"):
            tree, _ = _section(line, line.index("{") + 1)
            out.append(tree)
    return out


def _section(text: str, pos: int) -> tuple[Tree, int]:
    """Parse `key=value key=[a b] key {...}` up to the matching `}`; returns the tree and the position after."""
    tree: Tree = {}
    n = len(text)
    while pos < n:
        while pos < n and text[pos] == " ":
            pos += 1
        if pos >= n:
            break
        if text[pos] == "}":
            return tree, pos + 1
        start = pos
        while pos < n and text[pos] not in " ={}":
            pos += 1
        key = text[start:pos]
        while pos < n and text[pos] == " ":
            pos += 1
        if pos < n and text[pos] == "{":
            tree[key], pos = _section(text, pos + 1)
        elif pos < n and text[pos] == "=" and text[pos + 1 : pos + 2] == "[":
            end = text.index("]", pos)
            tree[key] = text[pos + 2 : end].split()
            pos = end + 1
        elif pos < n and text[pos] == "=":
            start = pos + 1
            pos = start
            while pos < n and text[pos] not in " }":
                pos += 1
            tree[key] = text[start:pos]
        else:
            raise ValueError(f"unexpected swanctl output at {start}: {text[start : start + 40]!r}")
    return tree, pos
