"""Errors a user can act on: one line each, naming the file, the field path and the fix."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Problem:
    path: str  # dotted field path, e.g. "onprem.sites[0].asn"; "" for the whole file
    message: str  # what is wrong and how to fix it

    def line(self, source: str) -> str:
        return f"{source}: {self.path}: {self.message}" if self.path else f"{source}: {self.message}"


@dataclass(frozen=True)
class LabWarning:
    """A lab file Azure accepts that will not do what its author likely means: what will happen and what to
    change, naming the field. Never an error: the lab is built all the same."""

    code: str  # a stable name for scripts and exercises, e.g. "same-asn"
    path: str  # dotted field path, as for a Problem
    message: str

    def line(self, source: str) -> str:
        return f"{source}: warning: {self.path}: {self.message}" if self.path else f"{source}: warning: {self.message}"

    def as_dict(self) -> dict[str, str]:
        return {"code": self.code, "path": self.path, "message": self.message}


class LabError(Exception):
    """One or more problems in a lab file (or a CLI argument naming one)."""

    def __init__(self, source: str, problems: Sequence[Problem]) -> None:
        self.source = source
        self.problems = list(problems)
        super().__init__("\n".join(self.lines()))

    def lines(self) -> list[str]:
        return [p.line(self.source) for p in self.problems]


class GwlabError(Exception):
    """A failure that is not about a lab file (runtime, environment); shown as one line."""

    reported = False  # the command has already said so in its --json output


def field_path(loc: Iterable[str | int]) -> str:
    """("onprem", "sites", 0, "asn") -> "onprem.sites[0].asn"."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            # A key with a newline or other control character is quoted and escaped: one problem, one line.
            name = str(part) if str(part).isprintable() else json.dumps(str(part))
            out += f".{name}" if out else name
    return out
