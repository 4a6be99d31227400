"""Why a tunnel is not up, read from charon's log: the lines strongSwan writes for each failure
(measured, ipsec.md §3). Log lines never hold keys at the levels gwlab runs charon with (at most 2)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

Kind = Literal["psk-mismatch", "selector-mismatch", "proposal-mismatch", "no-config", "peer-silent"]

# First match wins: "no IKE config found ..., sending NO_PROPOSAL_CHOSEN" is no-config, not a proposal.
PATTERNS: tuple[tuple[Kind, re.Pattern[str]], ...] = (
    ("no-config", re.compile(r"no IKE config found|no peer config found")),
    (
        "psk-mismatch",
        re.compile(
            r"but MAC mismatched|received AUTHENTICATION_FAILED|verification of AUTH payload .* failed"
            # IKEv1 Main Mode: a wrong key makes the encrypted ID payload unreadable
            r"|ID_PROT request with message ID 0 processing failed"
        ),
    ),
    (
        "selector-mismatch",
        re.compile(
            r"traffic selectors .* unacceptable|received TS_UNACCEPTABLE|no matching CHILD_SA config found"
            r"|received INVALID_ID_INFORMATION"
        ),
    ),
    ("proposal-mismatch", re.compile(r"received proposals unacceptable|received NO_PROPOSAL_CHOSEN")),
    ("peer-silent", re.compile(r"giving up after \d+ retransmits|DPD check timed out")),
)
EXPLAIN: dict[Kind, str] = {
    "psk-mismatch": "pre-shared key mismatch: authentication failed",
    "selector-mismatch": "traffic selectors do not match: IKE is up, no CHILD_SA",
    "proposal-mismatch": "no common IKE/ESP proposal",
    "no-config": "the peer has no connection for this one (not loaded, or wrong identities)",
    "peer-silent": "the peer does not answer (dead-peer detection or IKE retransmits gave up)",
}


@dataclass(frozen=True)
class Finding:
    kind: Kind
    time: str  # charon's timestamp, HH:MM:SS.mmm
    line: str  # the log message, without timestamp and thread

    @property
    def explanation(self) -> str:
        return EXPLAIN[self.kind]


_LINE = re.compile(r"^(?P<time>\d\d:\d\d:\d\d\.\d{3}) \d+\[\w+\] (?P<msg>.*)$")


def findings(log_text: str) -> list[Finding]:
    out = []
    for raw in log_text.splitlines():
        m = _LINE.match(raw)
        if m is None:
            continue
        for kind, pattern in PATTERNS:
            if pattern.search(m["msg"]):
                out.append(Finding(kind, m["time"], m["msg"]))
                break
    return out


def latest(log: Path, kinds: tuple[Kind, ...] | None = None) -> Finding | None:
    """The most recent failure in a charon log (optionally of some kinds only)."""
    try:
        text = log.read_text(errors="replace")
    except OSError:
        return None
    found = [f for f in findings(text) if kinds is None or f.kind in kinds]
    return found[-1] if found else None
