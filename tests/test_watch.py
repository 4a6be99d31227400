"""`gwlab watch`: the view's bookkeeping on records made in code, and the real view driven in tmux on a
running lab while an instance crashes (tests/test_exercises.py's classroom is not reused: the view
needs traffic, so a lab of its own)."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator

import pytest

from controller.results import Arrival, FlowStats
from controller.watch import WatchState
from lab.poll import poll
from tests.helpers import REPO, require_root, require_tool


def flow(n: int, direction: str) -> FlowStats:
    return FlowStats(n, direction, "a", "b", 1000 + n, 2000)


def arrivals(n: int, start_ms: float, end_ms: float, path: str, seq0: int, every_ms: float = 10) -> list[Arrival]:
    out, t, seq = [], start_ms, seq0
    while t < end_ms:
        out.append(Arrival(n, seq, t - 1, t, path))
        t, seq = t + every_ms, seq + 1
    return out


def test_a_flow_moved_by_a_failure_counts_its_gap_and_loss() -> None:
    state = WatchState(interval_ms=10)
    flows = [flow(0, "s1->azure"), flow(1, "s1->azure")]
    state.feed(flows, arrivals(0, 0, 1000, "gw0/t", 0) + arrivals(1, 0, 1000, "gw1/t", 0))
    state.failures_now([("gw0", "crash")], 1000)
    # flow 0 is silent for 1.5 s (150 packets), then on gw1; flow 1 never stops
    state.feed(flows, arrivals(1, 1000, 2000, "gw1/t", 100))
    assert state.outage_so_far(2000) == {"s1->azure": pytest.approx(1000)}  # still open, from the failure
    assert state.down(state.flows[0], 2000) > 0
    state.feed(flows, arrivals(0, 2500, 3000, "gw1/t", 250) + arrivals(1, 2000, 3000, "gw1/t", 200))
    assert state.outage_so_far(3000) == {"s1->azure": pytest.approx(1500)}
    assert state.flows[0].path == "gw1/t" and state.flows[0].lost == 150
    assert state.flows[1].lost == 0 and state.down(state.flows[0], 3000) == 0
    state.failures_now([], 3100)
    assert state.failure is not None and state.failure.restored_ms == 3100


@pytest.fixture
def lab() -> Iterator[str]:
    require_root()
    from controller.session import LabSession
    from tests.labs import leftovers, unique

    with LabSession.up("active-active", name=unique("wat")) as session:
        yield session.name
    assert leftovers(session.name) == []


def screen(pane: str) -> str:
    return subprocess.run(
        ["tmux", "capture-pane", "-p", "-t", pane], capture_output=True, text=True, check=False
    ).stdout


@pytest.mark.root
@pytest.mark.slow
def test_watch_in_tmux_shows_paths_sessions_and_the_outage(lab: str) -> None:
    require_tool("tmux")
    from tests.helpers import run_gwlab

    pane = f"gwlab-{lab}"
    gwlab = f"{REPO}/.venv/bin/gwlab" if (REPO / ".venv/bin/gwlab").exists() else "gwlab"
    subprocess.run(
        ["tmux", "new-session", "-d", "-s", pane, "-x", "140", "-y", "45", gwlab, "watch", lab, "--duration", "90"],
        check=True,
    )
    try:
        shown = poll(
            lambda: screen(pane),
            # sessions up, and the probes' first marks in: both instances' tunnels to vpn0 carry traffic
            lambda s: s.count("Established") == 2 and " ok " in s and "gw0/t-s1-vpn0" in s and "gw1/t-s1-vpn0" in s,
            timeout_s=30,
            interval_s=0.2,
        )
        assert shown.ok, shown.value
        assert "gw0/t-s1-vpn0" in shown.value and "gw1/t-s1-vpn0" in shown.value
        assert "no failure yet" in shown.value
        failed = run_gwlab("fail", "gw0", "-n", lab, timeout=120)
        assert failed.returncode == 0, failed.stderr
        moved = poll(
            lambda: screen(pane),
            lambda s: "gw0 (crash)" in s and "gw0/t-s1-vpn0" not in s and ("Connect" in s or "Active" in s),
            timeout_s=30,
            interval_s=0.2,
        )
        assert moved.ok, moved.value
        line = next(x for x in moved.value.splitlines() if "outage so far" in x)
        figures = [int(x.replace(",", "")) for x in line.split() if x.replace(",", "").isdigit()]
        assert figures and max(figures) > 100, line  # the crashed instance's flows were silent until DPD
    finally:
        subprocess.run(["tmux", "kill-session", "-t", pane], check=False)
