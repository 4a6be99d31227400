"""Probes on real labs: loss, data-plane attribution (DSCP marks and nft counters) against the oracle."""

from __future__ import annotations

import contextlib
import json
import math
import os
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from controller import attribution
from controller.analysis import element, paths_in_window, symmetric
from controller.oracle import predict
from controller.probes import REPO, ProbeSession
from controller.results import Arrival, FlowStats
from lab.runtime.running import RunningLab, attach
from tests.helpers import require_root

pytestmark = [pytest.mark.root, pytest.mark.slow]

RATE = 200  # a flow's packets a second over ExpressRoute (the kernel forwards them)
# over IPsec every packet wakes two charons (userspace ESP): 8 flows both ways at 200 pps took 1.2 of 2
# cores and lost packets in a suite running another lab beside it; at 100 the scenarios run cleanly
IPSEC_RATE = 100
RUN_S = 1.5  # the measurement window, not a synchronisation


@dataclass
class Run:
    lab: RunningLab
    session: ProbeSession
    flows: list[FlowStats]
    arrivals: list[Arrival]
    tables_after: list[str]  # nft tables left on msee/gateway nodes after stop()
    live: list[Arrival]  # what snapshot() read just before stop()
    live_at_ms: float  # when it was asked for


def _up(source: str, prefix: str) -> Iterator[RunningLab]:
    require_root()
    from controller.converge import up
    from lab.runtime.lifecycle import down

    name = f"{prefix}{os.getpid() % 100000}"
    try:
        up(source, name=name)
        yield attach(name)
    finally:
        with contextlib.suppress(Exception):
            down(name)


def _probe(lab: RunningLab, flows_per_direction: int, rate: int = RATE) -> Run:
    t0 = time.monotonic_ns()
    session = ProbeSession(lab, flows_per_direction=flows_per_direction, rate_pps=rate, t0_ns=t0)
    session.start()
    time.sleep(RUN_S)
    # when it was asked for: what the receivers had spooled by then is what it must hold (the read and
    # parse after it run at the test's own priority, which a loaded machine delays)
    live_at_ms = (time.monotonic_ns() - t0) / 1e6
    live = list(session.snapshot()[1])
    flows, arrivals = session.stop()
    tables = []
    for name in session.codebook.elements if session.codebook else []:
        out = lab.run(name, ["nft", "list", "tables"]).stdout
        tables += [f"{name}: {line}" for line in out.splitlines() if attribution.TABLE in line]
    return Run(lab, session, flows, arrivals, tables, live, live_at_ms)


@pytest.fixture(scope="module")
def hybrid() -> Iterator[Run]:
    for lab in _up("hybrid", "pr-h"):
        # 16 flows a direction: all of them hashing onto one of two MSEEs has odds 2^-15
        yield _probe(lab, 16)


@pytest.fixture(scope="module")
def active_active() -> Iterator[Run]:
    for lab in _up("active-active", "pr-aa"):
        yield _probe(lab, 8, IPSEC_RATE)


def marked(flows: list[FlowStats], arrivals: list[Arrival]) -> dict[str, list[str]]:
    """Transit elements per direction over the whole session, from the DSCP marks."""
    return paths_in_window(flows, arrivals, -math.inf, math.inf)


def counted(flows: list[FlowStats]) -> dict[str, list[str]]:
    """Transit elements per direction over the whole session, from the nftables counters."""
    out: dict[str, set[str]] = {f.direction: set() for f in flows}
    for f in flows:
        out[f.direction].update(e for e, n in f.paths.items() if n > 0)
    return {d: sorted(e) for d, e in sorted(out.items())}


def _steady(run: Run) -> None:
    assert run.flows
    for f in run.flows:
        assert f.sent >= run.session.rate_pps * RUN_S * 0.8, f
        assert f.received == f.sent and f.lost == 0, f
        assert f.reordered == 0, f
        # worst-case sender lateness on a busy two-core machine stays far below an outage
        assert f.longest_gap_ms < 200, f


def test_hybrid_no_loss(hybrid: Run) -> None:
    _steady(hybrid)
    assert {f.direction for f in hybrid.flows} == {"s1->azure", "azure->s1"}
    assert len(hybrid.arrivals) == sum(f.received for f in hybrid.flows)
    for h in hybrid.session.receiver_headers.values():
        assert h["kernel_drops"] == 0 and h["malformed"] == 0


def test_the_record_is_read_live_while_probes_run(hybrid: Run) -> None:
    """snapshot(): the receivers' records so far, the same as the final record's, at most a few
    spool intervals (100 ms) behind."""
    assert hybrid.live, "nothing read live"
    final = {(a.flow, a.seq): a for a in hybrid.arrivals}
    assert all(final.get((a.flow, a.seq)) == a for a in hybrid.live)
    newest = max(a.received_ms for a in hybrid.live)
    assert hybrid.live_at_ms - newest < 500, f"the live record lags {hybrid.live_at_ms - newest:.0f} ms"


def test_hybrid_prefers_expressroute_as_predicted(hybrid: Run) -> None:
    expected = predict(hybrid.lab.topo).paths
    assert expected == {"s1->azure": ["msee0", "msee1"], "azure->s1": ["msee0", "msee1"]}
    assert marked(hybrid.flows, hybrid.arrivals) == expected  # from the DSCP marks
    assert counted(hybrid.flows) == expected  # from the counters
    assert symmetric(marked(hybrid.flows, hybrid.arrivals)) == {"s1": True}


def test_hybrid_window(hybrid: Run) -> None:
    start = min(a.received_ms for a in hybrid.arrivals)
    mid = start + RUN_S * 1000 / 2
    assert paths_in_window(hybrid.flows, hybrid.arrivals, mid, mid + 100) == predict(hybrid.lab.topo).paths
    assert paths_in_window(hybrid.flows, hybrid.arrivals, 1e12, math.inf) == {
        "azure->s1": [],
        "s1->azure": [],
    }


def test_hybrid_counters_agree_with_marks(hybrid: Run) -> None:
    by_flow: dict[int, Counter[str]] = {f.flow: Counter() for f in hybrid.flows}
    for a in hybrid.arrivals:
        assert a.path in ("msee0", "msee1"), a
        by_flow[a.flow][element(a.path)] += 1
    for f in hybrid.flows:
        assert f.paths == dict(by_flow[f.flow]), f
        assert len(f.paths) == 1, f  # one flow, one path: ECMP hashes per flow


def test_hybrid_flows_spread_over_both_msees(hybrid: Run) -> None:
    for direction in ("s1->azure", "azure->s1"):
        used = {e for f in hybrid.flows if f.direction == direction for e in f.paths}
        assert used == {"msee0", "msee1"}, direction


def test_rules_removed_after_stop(hybrid: Run) -> None:
    assert hybrid.tables_after == []


def test_active_active_uses_both_instances(active_active: Run) -> None:
    _steady(active_active)
    expected = predict(active_active.lab.topo).paths
    assert expected == {"s1->azure": ["gw0", "gw1"], "azure->s1": ["gw0", "gw1"]}
    assert marked(active_active.flows, active_active.arrivals) == expected
    assert counted(active_active.flows) == expected
    # azure->s1 is marked before VXLAN encapsulation and read after decapsulation on-prem: the inner
    # DSCP survives the tunnel
    labels = {a.path for a in active_active.arrivals}
    assert labels == {"gw0/t-s1-vpn0", "gw1/t-s1-vpn0"}
    for f in active_active.flows:
        assert sum(f.paths.values()) == f.received, f


def test_agent_fixed_duration(active_active: Run, tmp_path: Path) -> None:
    """The agents on their own: `send --duration`, and a receiver ended by SIGTERM."""
    lab = active_active.lab
    env = dict(os.environ, PYTHONPATH=str(REPO))
    agent = [sys.executable, "-m", "controller.probe_agent"]
    recv_out, send_out = tmp_path / "r.bin", tmp_path / "s.json"
    rx = lab.popen(
        "vm",
        [*agent, "recv", "--ports", "46000-46001", "--out", str(recv_out)],
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
    )
    try:
        assert rx.stdout is not None and rx.stdout.readline().strip() == b"ready"
        host = lab.topo.nodes["vm"].address_on("vnet")
        res = lab.run(
            "s1-host",
            [
                *agent,
                "send",
                "--dst",
                str(host),
                "--ports",
                "46000-46001",
                "--sport-base",
                "46100",
                "--rate",
                "100",
                "--duration",
                "0.3",
                "--out",
                str(send_out),
            ],
            env=env,
        )
        assert res.returncode == 0, res.stderr
        report = json.loads(send_out.read_text())
        sent = {int(k): v["sent"] for k, v in report["flows"].items()}
        assert set(sent) == {0, 1} and all(25 <= n <= 35 for n in sent.values())
        # wait for the last packets instead of sleeping: the receiver has them once it drains
        assert rx.poll() is None
        rx.terminate()
        assert rx.wait(timeout=5) == 0
    finally:
        if rx.poll() is None:
            rx.kill()
            rx.wait()
    from controller.probe_agent import read_records

    header, records = read_records(recv_out)
    assert header["end"] == "signal"
    got = Counter(r[0] for r in records)
    # packets in flight at SIGTERM are a few microseconds' worth: all arrived long before
    assert got == Counter(sent)
    assert all(r[3] >= r[2] for r in records)  # one kernel clock: received after sent
