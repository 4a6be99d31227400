"""What `gwlab status` shows per tunnel end: is charon running, the IKE and CHILD SA state, and when the
tunnel is not up, the latest reason from charon's log. Nothing in it can hold key material."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from typing import Any

from lab.errors import GwlabError
from lab.ipsec import diagnose
from lab.ipsec.sas import ConnectionState, summarize
from lab.runtime.ipsec.charon import Charon


@dataclass(frozen=True)
class EndStatus:
    tunnel: str  # e.g. s1-vpn0~gw0
    end: str  # the router this end belongs to, e.g. gw0
    running: bool
    state: ConnectionState | None  # None: charon not running or not answering
    problem: str | None = None  # why it is not up (diagnose.EXPLAIN), when the log says

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class End:
    tunnel: str
    end: str
    charon: Charon
    connection: str


def read(ends: list[End]) -> list[EndStatus]:
    """All ends at once: one swanctl per end, in parallel (about 10 ms each)."""
    if not ends:
        return []
    with ThreadPoolExecutor(max_workers=min(8, len(ends))) as pool:
        return list(pool.map(_one, ends))


def _one(e: End) -> EndStatus:
    if not e.charon.running():
        return EndStatus(e.tunnel, e.end, False, None, "charon is not running")
    try:
        state = summarize(e.charon.sas(), [e.connection])[e.connection]
    except GwlabError:
        return EndStatus(e.tunnel, e.end, True, None, "charon does not answer on its vici socket")
    problem = None
    if not state.up:
        finding = diagnose.latest(e.charon.layout.log)
        problem = finding.explanation if finding is not None else None
    return EndStatus(e.tunnel, e.end, True, state, problem)
