"""An exercise on a running lab: started (its lab up and converged, then the faults typed into the
running FRR, as a colleague's mistakes would be), its state beside the lab's (`exercise.json` in the
lab's run directory: `down` removes it), reset (the on-prem routers' FRR restarted from the lab's
rendered configuration, then the faults again), stopped (the lab down).

A classroom is N such labs, one per student, named `<prefix>1` .. `<prefix>N`."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

from controller import converge
from controller.exercises import ipsec
from controller.exercises.catalog import ONPREM_ROLES, lab_source, load_exercise, vtysh_lines
from controller.exercises.model import Edit, Exercise, FloodEdit, IpsecEdit
from controller.failures.flood import PrefixFlood
from controller.session import LabSession
from lab.errors import GwlabError
from lab.runtime import bgp_bfd, daemons, lifecycle, nodeops
from lab.runtime.running import RunningLab, attach
from lab.runtime.state import RUN_ROOT, running_labs

STATE_FILE = "exercise.json"


@dataclass
class ExerciseState:
    exercise: str
    lab: str
    started: str = field(default_factory=lambda: dt.datetime.now(dt.UTC).isoformat(timespec="seconds"))
    hints_shown: int = 0
    solution_shown: bool = False
    last_check: dict[str, object] | None = None  # passed, score, total
    answer_ms: float | None = None  # the student's answer to a measure check

    @property
    def path(self) -> Path:
        return RUN_ROOT / self.lab / STATE_FILE

    def save(self) -> None:
        self.path.write_text(json.dumps(asdict(self), indent=2), encoding="utf-8")


def state_of(lab: str) -> ExerciseState | None:
    try:
        data = json.loads((RUN_ROOT / lab / STATE_FILE).read_text(encoding="utf-8"))
        return ExerciseState(**data)
    except (OSError, ValueError, TypeError):
        return None


def exercise_labs(prefix: str | None = None) -> list[ExerciseState]:
    """The running labs with an exercise (whose names start with `prefix`), by name."""
    states = [state_of(name) for name in running_labs() if prefix is None or name.startswith(prefix)]
    return [s for s in states if s is not None]


def current(name: str) -> tuple[ExerciseState, Exercise]:
    """The exercise on lab `name`."""
    state = state_of(name)
    if state is None:
        raise GwlabError(f"lab {name} runs no exercise (gwlab exercise start EXERCISE --name {name})")
    return state, load_exercise(state.exercise)


def student_names(prefix: str, students: int) -> list[str]:
    return [prefix] if students == 1 else [f"{prefix}{i}" for i in range(1, students + 1)]


def start(exercise: Exercise, name: str) -> ExerciseState:
    """The exercise's lab up and converged, then its faults in the running FRR."""
    if state_of(name) is not None or name in running_labs():
        raise GwlabError(f"a lab named {name} is up already (gwlab exercise stop --name {name}, or another --name)")
    started = converge.up(lab_source(exercise), name=name, cleanup_on_failure=True)
    try:
        apply_edits(started.lab, exercise.faults)
        state = ExerciseState(exercise.name, name)
        state.save()
    except BaseException:
        lifecycle.down(name)
        raise
    return state


def apply_edits(lab: RunningLab, edits: list[Edit], solution: bool = False) -> None:
    """Each edit made: vtysh lines typed into `configure terminal` of their router; an IPsec mistake
    made (a fault) or fixed (a solution) on the device's end; a site's prefix flood started."""
    for edit in edits:
        if isinstance(edit, IpsecEdit):
            (ipsec.apply_fix if solution else ipsec.inject)(lab, edit)
        elif isinstance(edit, FloodEdit):
            _flood(lab, edit.flood).inject()
        else:
            nodeops.vtysh_config(lab, lab.node(edit.node), vtysh_lines(edit, lab.topo))


def _flood(lab: RunningLab, site: str) -> PrefixFlood:
    """The prefix flood of `site`, not a failure of the session: the exercise's checks expect the
    lab's routing with it, and `gwlab restore` leaves it on."""
    return PrefixFlood(lab, f"flood:{site}", "flood")


def reset(state: ExerciseState, exercise: Exercise) -> None:
    """Back to the start: failures restored, every on-prem router's routing daemons restarted from the
    lab's configuration (the student's changes gone), converged, and the faults again."""
    session = LabSession(state.lab)
    with session:
        if session.active():
            session.restore_all()
        lab = session.lab
        for edit in exercise.faults:
            if isinstance(edit, FloodEdit):  # stopped (and Azure's dropped sessions cleared) to converge
                _flood(lab, edit.flood).restore()
        onprem = [node for node in lab.topo.routers() if node.role in ONPREM_ROLES]
        for node in onprem:
            for daemon in daemons.frr_daemons(node)[1:]:  # zebra stays: the kernel's routes with it
                lab.runtime.stop_daemon(node.name, daemon)
            daemons.confirm(lab.runtime.launch_frr(node, daemons.frr_daemons(node)[1:]))
        bgp_bfd.enable(lab.runtime, onprem)  # bgpd's BFD lines once BGP is up, as `up` does
        done = session.wait_converged()
        if not done.ok:
            raise GwlabError(f"lab {state.lab} did not converge after the reset: " + "; ".join(done.lines()[:3]))
        apply_edits(lab, exercise.faults)
    state.hints_shown, state.solution_shown, state.last_check, state.answer_ms = 0, False, None, None
    state.save()


def stop(name: str) -> None:
    lifecycle.down(name)


def attach_lab(state: ExerciseState) -> RunningLab:
    return attach(state.lab)
