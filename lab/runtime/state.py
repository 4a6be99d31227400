"""What a running lab left on the host, written before it is created so that `down` can always undo it."""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

RUN_ROOT = Path(os.environ.get("GWLAB_RUN_DIR", "/run/gwlab"))


@dataclass
class LabState:
    name: str
    source: str  # the LAB argument given to `up`
    runtime: str = "netns"  # the backend that built it; every later command uses the same one
    nodes: list[str] = field(default_factory=list)  # every node it may have created
    phase: str = "creating"  # creating -> starting -> started (lab.runtime); converging -> up (controller)
    created: float = 0.0
    up_seconds: float | None = None
    owner_pid: int = 0  # the `gwlab up` that created it
    standby_active: bool = False  # active/standby: the standby instance holds the shared IPs now

    @property
    def run_dir(self) -> Path:
        return RUN_ROOT / self.name

    def save(self) -> None:
        self.run_dir.mkdir(parents=True, exist_ok=True)
        tmp = self.run_dir / "state.json.tmp"
        tmp.write_text(json.dumps(asdict(self), indent=2), encoding="utf-8")
        tmp.replace(self.run_dir / "state.json")


def load_state(name: str) -> LabState | None:
    path = RUN_ROOT / name / "state.json"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    known = {f.name for f in fields(LabState)}
    try:
        return LabState(**{k: v for k, v in data.items() if k in known})
    except TypeError:  # not a state file of ours: `down` still finds the lab by its name
        return None


def running_labs() -> list[str]:
    if not RUN_ROOT.is_dir():
        return []
    return sorted(p.name for p in RUN_ROOT.iterdir() if (p / "state.json").is_file())
