"""A starved prober is no outage (issue: CI graded an exercise's solved lab failed, "azure->s1 went
through nothing", with a 926 ms outage and almost nothing lost: the Azure side's sender had sent
nothing for 926 ms). Here the real agents run in a namespace of their own, over its loopback; the
sender is stopped (SIGSTOP) twice, once under the catch-up limit (it sends the packets that fell due
in one burst) and once over it (it resumes its schedule, its sequence numbers unbroken). The record
shows the silences; the analysis charges the network with neither."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from controller.analysis import flow_gaps, longest_gap
from controller.probe_agent import MAX_CATCH_UP_NS, read_records
from controller.probes import LATE_SENDER_MS, ProbeSession
from controller.results import Arrival, FlowStats
from lab.poll import poll
from tests.helpers import require_root

ROOT = Path(__file__).resolve().parent.parent
RATE = 200.0  # per flow
# SIGSTOP lengths: under the catch-up limit (burst) and over it (the schedule resumes)
STALLS_S = (0.6, MAX_CATCH_UP_NS / 1e9 + 0.5)

# Both agents in one new network namespace, loopback up: nothing leaves it, nothing of the host is used.
IN_NETNS = """
import subprocess, sys
subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
recv = subprocess.Popen([sys.executable, "-m", "controller.probe_agent", "recv", "--ports", "47000-47001",
                         "--out", sys.argv[1], "--spool", sys.argv[1] + ".spool"], stdout=subprocess.PIPE, text=True)
assert recv.stdout is not None and recv.stdout.readline().strip() == "ready"
send = subprocess.run([sys.executable, "-m", "controller.probe_agent", "send", "--dst", "127.0.0.1", "--ports",
                       "47000-47001", "--sport-base", "47100", "--rate", sys.argv[3], "--until-signal", "--out",
                       sys.argv[2]], check=False)
recv.terminate()
sys.exit(recv.wait() or send.returncode)
"""


def _sender_pid(parent: int) -> int | None:
    """The sender: the namespace wrapper's child whose command line says `send`."""
    for child in Path(f"/proc/{parent}/task/{parent}/children").read_text().split():
        if b"\0send\0" in Path(f"/proc/{child}/cmdline").read_bytes():
            return int(child)
    return None


@pytest.mark.root
def test_a_stopped_sender_is_no_outage_of_the_network(tmp_path: Path) -> None:
    require_root()
    recv_out, send_out = tmp_path / "recv.bin", tmp_path / "send.json"
    wrapper = subprocess.Popen(
        ["unshare", "--net", sys.executable, "-c", IN_NETNS, str(recv_out), str(send_out), str(RATE)],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    try:
        sender = poll(lambda: _sender_pid(wrapper.pid), lambda pid: pid is not None, timeout_s=20).value
        assert sender is not None, "the sender did not start"
        spool = Path(f"{recv_out}.spool")
        assert poll(lambda: spool.exists() and spool.stat().st_size > 0, timeout_s=20).ok, "no packet arrived"
        for stall in STALLS_S:
            time.sleep(0.5)  # traffic before the stall: the record's time passing, not synchronisation
            os.kill(sender, signal.SIGSTOP)
            time.sleep(stall)  # the stall itself
            os.kill(sender, signal.SIGCONT)
        time.sleep(0.5)
        os.kill(sender, signal.SIGTERM)
        assert wrapper.wait(timeout=20) == 0
    finally:
        if wrapper.poll() is None:
            wrapper.kill()
            wrapper.wait()
    report = json.loads(send_out.read_text())
    assert report["skipped_slots"] > 0, "the long stall did not pass the catch-up limit"
    assert report["max_late_ms"] > max(LATE_SENDER_MS, STALLS_S[1] * 1000 - 50), "the sender's report hides the stall"
    _, records = read_records(recv_out)
    t0 = report["started_ns"]
    flows, arrivals = [], []
    for flow_id, counts in report["flows"].items():
        mine = [r for r in records if r[0] == int(flow_id)]
        flows.append(
            FlowStats(
                int(flow_id),
                "s1->azure",
                "a",
                "b",
                1,
                2,
                sent=counts["sent"],
                first_sent_ms=(counts["first_ns"] - t0) / 1e6,
                last_sent_ms=(counts["last_ns"] - t0) / 1e6,
            )
        )
        arrivals += [Arrival(f, seq, (s - t0) / 1e6, (r - t0) / 1e6, "") for f, seq, s, r, _ in mine]
        assert sorted(r[1] for r in mine) == list(range(counts["sent"])), "sequence numbers with holes"
        silence, _ = longest_gap([(r[3] - t0) / 1e6 for r in mine])
        assert silence >= STALLS_S[1] * 1000 - 50, f"flow {flow_id}: the stall is not in the record"
    for flow_id, (outage_ms, lost) in flow_gaps(flows, arrivals, 0.0, 1e9).items():
        assert lost == 0 and outage_ms < 50.0, (flow_id, outage_ms, lost)


def test_a_late_sender_is_named() -> None:
    """What a session notes in its report: the directions whose sender fell behind by over 50 ms."""
    probes = ProbeSession.__new__(ProbeSession)  # the sender reports as stop() reads them, no lab
    probes.sender_reports = {"s1->azure": {"max_late_ms": 3.1}, "azure->s1": {"max_late_ms": 926.4}}
    assert probes.late_senders() == {"azure->s1": 926.4}
