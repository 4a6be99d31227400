"""Chaos runs: the planner (pure: reproducible by seed, combinations that make sense) and, for real, a
two-minute run on the default lab that agrees with the oracle after every step, and a run on a lab
sabotaged behind the oracle's back that stops at its first step with the report of what disagreed."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from controller.chaos import Action, Footprint, Planner, paths_disagree, plan, planner_for
from controller.oracle import Failures
from controller.results import RestoreResult
from controller.session import LabSession
from lab.load import load
from lab.runtime.backends import backend
from lab.runtime.running import RunningLab
from lab.runtime.state import LabState
from tests.helpers import require_root
from tests.helpers import run_gwlab as gwlab
from tests.labs import leftovers, unique


def offline(lab: str) -> LabSession:
    """A session on a lab that is not running: enough for the catalogue and footprints (no system call)."""
    topo = load(lab)
    state = LabState(topo.name, lab, runtime="netns", created=time.time(), owner_pid=os.getpid())
    return LabSession(RunningLab(backend("netns")(topo, state)))


@pytest.fixture(params=["hybrid", "active-standby", "dual-redundancy"])
def planner(request: pytest.FixtureRequest) -> Planner:
    return planner_for(offline(request.param), seed=7, max_concurrent=2)


def test_the_same_seed_gives_the_same_steps(planner: Planner) -> None:
    again = Planner(planner.catalogue, planner.footprints, planner.seed, planner.max_concurrent, planner.active_standby)
    other = Planner(planner.catalogue, planner.footprints, 8, planner.max_concurrent, planner.active_standby)
    first = plan(planner, 40)
    assert first == plan(again, 40)
    assert first != plan(other, 40)


def test_the_steps_are_failures_that_go_together(planner: Planner) -> None:
    """Never more than max-concurrent, never two that overlap, a flood alone, one gateway instance at a
    time on active/standby, every failure from the catalogue in one of its modes, restores of what is failed."""
    active: dict[str, str] = {}
    kinds_seen = set()
    for action in plan(planner, 300):
        if action.kind == "restore":
            assert active.pop(action.target) == action.mode
            continue
        assert action.mode in planner.catalogue[action.target]
        mine = planner.footprints[action.target]
        for other in active:
            assert not mine.overlaps(planner.footprints[other]), (action, other)
        kinds = [planner.footprints[t].kind for t in active] + [mine.kind]
        assert "flood" not in kinds or len(kinds) == 1, kinds
        if planner.active_standby:
            assert sum(k in ("instance", "zone") for k in kinds) <= 1, kinds
        active[action.target] = action.mode
        assert len(active) <= planner.max_concurrent
        kinds_seen.add(mine.kind)
    assert len(kinds_seen) >= 3, kinds_seen


def test_footprints_overlap_on_shared_nodes_and_ends() -> None:
    gw0 = Footprint.of("instance", Failures(nodes={"gw0"}))
    tunnel = Footprint.of("tunnel", Failures(tunnels={"s1-vpn0~gw0"}))
    other_tunnel = Footprint.of("tunnel", Failures(tunnels={"s1-vpn1~gw0"}))
    uplink = Footprint.of("uplink", Failures(links={"s1-vpn1~inet"}))
    circuit = Footprint.of("er-link", Failures(links={"s1-ce0~msee0", "s1-ce1~msee1"}))
    link = Footprint.of("er-link", Failures(links={"s1-ce0~msee0"}))
    msee1 = Footprint.of("msee", Failures(nodes={"msee1"}))
    assert gw0.overlaps(tunnel) and tunnel.overlaps(gw0)  # restoring gw0 would bring the tunnel back
    assert not tunnel.overlaps(other_tunnel) and not tunnel.overlaps(uplink)
    assert circuit.overlaps(link) and circuit.overlaps(msee1) and not link.overlaps(msee1)


def test_a_path_disagreement_is_a_packet_off_the_predicted_paths() -> None:
    def after(expected: dict[str, list[str]], measured: dict[str, list[str]]) -> list[str]:
        return paths_disagree(
            RestoreResult(target="x", restored_ms=0.0, expected_path_after=expected, path_after=measured)
        )

    both = {"s1->azure": ["gw0", "gw1"]}
    assert after(both, {"s1->azure": ["gw1"]}) == []  # no flow hashed onto gw0: not a disagreement
    assert after(both, {"s1->azure": ["gw0", "msee0"]}) == ["s1->azure: via gw0, msee0, the oracle predicts gw0, gw1"]
    assert after(both, {"s1->azure": []}) == ["s1->azure: no traffic, the oracle predicts gw0, gw1"]
    assert after({"s1->azure": []}, {"s1->azure": ["gw1"]}) == [
        "s1->azure: traffic via gw1, the oracle predicts no path"
    ]
    assert after({"s1->azure": []}, {}) == []  # a total outage, predicted and measured
    assert after(both, {"s1->azure": ["unknown"]}) != []


def test_restores_undo_the_mode_they_were_failed_in() -> None:
    actions = plan(planner_for(offline("hybrid"), seed=3, max_concurrent=1), 20)
    assert [a.kind for a in actions] == ["fail", "restore"] * 10  # one at a time: fail, restore, ...
    assert all(isinstance(a, Action) and a.mode for a in actions)


# -- for real ------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def hybrid() -> Iterator[LabSession]:
    require_root()
    session = LabSession.up("hybrid", name=unique("ch"))
    with session:
        yield session
    assert leftovers(session.name) == []


@pytest.mark.root
@pytest.mark.slow
def test_a_chaos_run_agrees_with_the_oracle_at_every_step(hybrid: LabSession, tmp_path: Path) -> None:
    run = gwlab("chaos", "--name", hybrid.name, "--duration", "45", "--seed", "7", "--report", str(tmp_path), "--json")
    assert run.returncode == 0, run.stderr[-3000:]
    data = json.loads(run.stdout)
    assert data["passed"] and data["seed"] == 7
    assert (tmp_path / "report.json").is_file() and (tmp_path / "junit.xml").is_file()
    steps = data["steps"]
    assert len(steps) >= 4 and all(s["ok"] for s in steps), steps
    # the same sequence as the seed's plan, made without a lab (hybrid is active/active: no takeover)
    expected = [str(a) for a in plan(planner_for(hybrid, 7, 2), len(steps))]
    ran = [s["what"] for s in steps if s["what"] != "restore all"]
    assert ran == expected[: len(ran)]
    assert any(len(f["outage_ms"]) == 2 for f in data["failures"])  # measured from the probes
    assert hybrid.active() == [] and hybrid.differences() == []


@pytest.mark.root
@pytest.mark.slow
def test_a_chaos_run_stops_at_the_first_disagreement(hybrid: LabSession, tmp_path: Path) -> None:
    """Probes to the VM dropped behind the oracle's back: the lab converges as predicted, the traffic
    does not follow, and the run stops at step 1 with what it measured."""
    sabotage = (
        "table inet sabotage {\n  chain in { type filter hook input priority 0; udp dport 47000-47999 drop; }\n}\n"
    )
    assert hybrid.lab.run("vm", ["nft", "-f", "-"], input=sabotage).returncode == 0
    try:
        run = gwlab("chaos", "--name", hybrid.name, "--steps", "5", "--seed", "7", "--report", str(tmp_path), "--json")
    finally:
        hybrid.lab.run("vm", ["nft", "delete", "table", "inet", "sabotage"])
    assert run.returncode == 1, run.stderr[-3000:]
    data = json.loads(run.stdout)
    assert not data["passed"]
    assert len(data["steps"]) == 1 and not data["steps"][0]["ok"]
    assert "s1->azure: no traffic, the oracle predicts" in data["steps"][0]["detail"]
    assert any("stopped at the first disagreement: step 1" in n for n in data["notes"])
    assert "Traceback" not in run.stderr
    assert hybrid.active() == []  # restored on the way out
