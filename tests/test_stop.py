"""Stopping a lab's processes by pid (lab.runtime.processes): real processes, the wait for killed ones
that are still exiting (pure logic, with an `is_alive` that follows a script), and recorded pids that
were reused since."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

from lab.ipsec.render import Layout
from lab.runtime.ipsec.charon import read_pid
from lab.runtime.processes import alive, started_before, stop, wait_gone
from tests.helpers import require_root


def test_killed_processes_still_exiting_are_waited_for_while_any_exits() -> None:
    calls = {"n": 0}

    def is_alive(pid: int) -> bool:  # alive until the 15k-th look of all: pid 1 exits first, pid 5 last
        calls["n"] += 1
        return calls["n"] < 3 * pid * 5

    assert wait_gone([1, 2, 3, 4, 5], is_alive, stall_s=1.0, timeout_s=30) == []


def test_a_killed_process_that_never_exits_is_left_over_once_nothing_else_exits() -> None:
    gone = {1, 2}

    def is_alive(pid: int) -> bool:
        if pid in gone:
            gone.discard(pid)  # seen alive once, then gone
            return True
        return pid == 3

    assert wait_gone([1, 2, 3], is_alive, stall_s=0.3, timeout_s=30) == [3]


def test_stop_terminates_then_kills() -> None:
    require_root()
    polite = subprocess.Popen(["sleep", "60"])
    stubborn = subprocess.Popen(["sh", "-c", "trap '' TERM; while :; do sleep 0.05; done"])
    try:
        assert stop([polite.pid, stubborn.pid], grace_s=0.3) == []
        assert not alive(polite.pid) and not alive(stubborn.pid)
    finally:
        for proc in (polite, stubborn):
            proc.kill()
            proc.wait()


def test_a_recorded_charon_pid_reused_by_a_newer_process_is_not_taken_for_it(tmp_path: Path) -> None:
    newer = subprocess.Popen(["sleep", "60"])
    try:
        layout = Layout(tmp_path)
        layout.pidfile.write_text(f"{newer.pid}\n", encoding="ascii")
        assert read_pid(layout) == newer.pid  # recorded once it had started: ours
        earlier = time.time() - 60
        os.utime(layout.pidfile, (earlier, earlier))  # recorded a minute before it existed: a reused number
        assert read_pid(layout) is None
        assert not started_before(newer.pid, earlier) and started_before(newer.pid, time.time())
    finally:
        newer.kill()
        newer.wait()
