"""What every failure kind provides, and the record of active failures kept in the lab's run dir."""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from dataclasses import asdict, dataclass, field
from typing import Any, ClassVar

from controller.oracle import Failures
from lab.profiles import Timing
from lab.runtime.running import RunningLab

STATE_FILE = "failures.json"


@dataclass
class Detection:
    mechanism: str  # "link-down", "bfd", "hold-timer", "withdraw", "failover", "max-prefix", "none"
    expected_ms: float  # what the mechanism implies with the lab's timers


@dataclass
class Active:
    """A failure in effect, as recorded for `gwlab restore` and the oracle."""

    kind: str
    target: str
    mode: str
    data: dict[str, Any] = field(default_factory=dict)


class Failure(ABC):
    kind: ClassVar[str]
    modes: ClassVar[tuple[str, ...]]

    def __init__(self, lab: RunningLab, target: str, mode: str, data: dict[str, Any] | None = None) -> None:
        self.lab = lab
        self.target = target
        self.mode = mode
        self.data: dict[str, Any] = data or {}

    @property
    def timing(self) -> Timing:
        return self.lab.topo.timing

    @abstractmethod
    def elements(self, into: Failures) -> None:
        """Add what is failed to the oracle's failure set."""

    @abstractmethod
    def detection(self) -> Detection: ...

    @abstractmethod
    def inject(self) -> None: ...

    @abstractmethod
    def restore(self) -> None: ...

    def follow_up(self) -> tuple[float, str] | None:
        """(delay s, description) of something the platform does later on its own (active/standby takeover)."""
        return None

    def run_follow_up(self) -> None:  # noqa: B027 - most kinds have no follow-up
        """Carry out the follow-up (called by whoever injected, after the delay)."""

    def record(self) -> Active:
        return Active(self.kind, self.target, self.mode, self.data)


def load_active(lab: RunningLab) -> list[Active]:
    path = lab.state.run_dir / STATE_FILE
    try:
        return [Active(**item) for item in json.loads(path.read_text(encoding="utf-8"))]
    except (OSError, ValueError):
        return []


def save_active(lab: RunningLab, active: list[Active]) -> None:
    path = lab.state.run_dir / STATE_FILE
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps([asdict(a) for a in active], indent=2), encoding="utf-8")
    tmp.replace(path)
