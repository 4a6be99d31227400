"""The command line, as scripts and people use it: one way to name a lab, --json on every command that
reports, whole lines off a terminal, progress on one, the SVG diagram; and on a real lab: up, status,
exec, fail --measure, restore, list and down with --json, and up's progress on a pseudo-terminal."""

from __future__ import annotations

import io
import json
import os
import pty
import select
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import click
import pytest
from rich.console import Console

from controller.cli.app import _register, app
from controller.cli.output import delayed_progress
from lab.poll import Deadline, poll
from tests.helpers import REPO, require_root, require_tool
from tests.helpers import run_gwlab as gwlab
from tests.labs import leftovers, unique

ERRORS = REPO / "tests" / "errors"
REPORTING_EXEMPT = {"shell", "generate", "image"}  # interactive; writes YAML itself; its own group


def test_every_command_that_reports_has_json() -> None:
    _register()

    def commands(group: click.Group, prefix: str = "") -> Iterator[tuple[str, click.Command]]:
        for name, command in group.commands.items():
            if isinstance(command, click.Group) and f"{prefix}{name}" not in REPORTING_EXEMPT:  # `gwlab exercise ...`
                yield from commands(command, f"{prefix}{name} ")
            else:
                yield f"{prefix}{name}", command

    missing = [
        name
        for name, command in commands(app)
        if name not in REPORTING_EXEMPT and not any(getattr(p, "name", "") == "as_json" for p in command.params)
    ]
    assert missing == []


def test_off_a_terminal_nothing_is_wrapped() -> None:
    valid = gwlab("validate", "hybrid")
    assert valid.returncode == 0
    assert len(valid.stdout.splitlines()) == 1 and len(valid.stdout) > 80, valid.stdout
    listed = gwlab("scenarios")
    description = "the active/active VPN in both directions and stays symmetric"
    assert any(description in line for line in listed.stdout.splitlines()), "a description was wrapped"
    bad = gwlab("validate", str(ERRORS / "several-errors.yaml"))
    assert bad.returncode == 2
    assert bad.stderr.splitlines() == (ERRORS / "several-errors.txt").read_text(encoding="utf-8").splitlines()


def test_errors_come_as_json_too_with_json() -> None:
    bad = gwlab("validate", str(ERRORS / "asn-reserved.yaml"), "--json")
    assert bad.returncode == 2
    data = json.loads(bad.stdout)
    assert data["ok"] is False and data["problems"][0]["path"] == "onprem.sites[0].asn"
    scenario = gwlab("run", str(ERRORS / "scenarios" / "fail-unknown-target.yaml"), "--check", "--json")
    assert scenario.returncode == 2 and json.loads(scenario.stdout)["problems"][0]["path"] == "steps[0].fail.target"


@pytest.mark.parametrize(
    "args",
    [
        ["status", "--lab", "demo"],
        ["fail", "gw0", "--lab", "demo"],
        ["restore", "--all", "--lab", "demo"],
        ["exec", "--lab", "demo", "vm", "--", "true"],
        ["shell", "--lab", "demo", "vm"],
        ["down", "--lab", "demo"],
    ],
)
def test_lab_names_a_file_and_a_running_lab_is_a_name(args: list[str]) -> None:
    refused = gwlab(*args)
    assert refused.returncode == 2
    assert "--lab names a lab file; name a running lab with --name demo" in refused.stderr
    assert "Traceback" not in refused.stderr


def test_run_attach_is_now_name_and_the_two_ways_exclude_each_other() -> None:
    attach = gwlab("run", "er-failover", "--attach", "demo")
    assert attach.returncode == 2 and "--attach is now --name" in attach.stderr
    both = gwlab("run", "er-failover", "--lab", "hybrid", "--name", "demo")
    assert both.returncode == 2 and "exclude each other" in both.stderr
    two = gwlab("status", "one", "--name", "two")
    assert two.returncode == 2 and "two labs named" in two.stderr


def test_reports_in_json() -> None:
    topologies = json.loads(gwlab("topologies", "--json").stdout)
    assert {t["name"] for t in topologies} >= {"hybrid", "active-active"}
    scenarios = json.loads(gwlab("scenarios", "--json").stdout)
    assert {"name": "double-failure", "lab": "hybrid"}.items() <= next(
        s for s in scenarios if s["name"] == "double-failure"
    ).items()
    checked = json.loads(gwlab("run", "double-failure", "--check", "--json").stdout)
    assert checked == {"lab": "hybrid", "scenario": "double-failure", "steps": 21, "valid": True}


def test_render_draws_the_diagram_as_svg(tmp_path: Path) -> None:
    require_tool("dot")
    done = gwlab("render", "hybrid", "-o", str(tmp_path), "--json")
    files = json.loads(done.stdout)["files"]
    svg = tmp_path / "hybrid.svg"
    assert str(svg) in files
    assert svg.read_text(encoding="utf-8").lstrip().startswith("<?xml") and "<svg" in svg.read_text(encoding="utf-8")


def test_progress_shows_only_on_a_terminal_and_only_after_the_delay() -> None:
    def console(terminal: bool) -> tuple[Console, io.StringIO]:
        out = io.StringIO()
        return Console(file=out, force_terminal=terminal, width=100), out

    quiet, quiet_out = console(True)
    with delayed_progress(quiet, delay_s=30, phases=4) as report:
        report("namespaces", 3, 14)
    assert quiet_out.getvalue() == ""  # done before the delay: nothing shown at all
    piped, piped_out = console(False)
    with delayed_progress(piped, delay_s=0.0, phases=4) as report:
        report("daemons", 1, 20)
        assert not poll(lambda: piped_out.getvalue(), timeout_s=0.3, interval_s=0.05).ok
    shown, shown_out = console(True)
    with delayed_progress(shown, delay_s=0.05, phases=4) as report:
        report("render", 1, 1)
        report("daemons", 7, 20)
        seen = poll(lambda: "[2/4] daemons" in shown_out.getvalue(), timeout_s=5, interval_s=0.05)
    assert seen.ok and "7/20" in shown_out.getvalue()


# -- on a real lab -------------------------------------------------------------------------------------


def on_pty(args: list[str], until: bytes, timeout_s: float) -> bytes:
    """gwlab on a terminal of its own; its output until `until` is seen (or it exits)."""
    pid, fd = pty.fork()
    if pid == 0:
        os.environ["PYTHONPATH"] = str(REPO)
        os.chdir(REPO)
        os.execv(sys.executable, [sys.executable, "-m", "controller.cli.app", *args])
    seen = b""
    deadline = Deadline(timeout_s)
    try:
        while until not in seen and not deadline.expired():
            ready, _, _ = select.select([fd], [], [], deadline.left())
            if not ready:
                continue
            try:
                chunk = os.read(fd, 65536)
            except OSError:
                break
            if not chunk:
                break
            seen += chunk
    finally:
        os.waitpid(pid, 0)
        os.close(fd)
    return seen


@pytest.fixture(scope="module")
def lab() -> Iterator[str]:
    require_root()
    name = unique("cli")
    start = time.monotonic()
    shown = on_pty(["up", "hybrid", "--name", name], b"converged in", 300)
    took = time.monotonic() - start
    try:
        assert b"converged in" in shown, shown[-2000:]
        if took > 3.5:  # past the 2 s delay with room: the phases were on the terminal
            assert b"/4] " in shown and (b"daemons" in shown or b"converging" in shown), shown[-2000:]
        yield name
    finally:
        gwlab("down", name)
    assert leftovers(name) == []


@pytest.mark.root
@pytest.mark.slow
def test_a_running_lab_in_json(lab: str) -> None:
    status = json.loads(gwlab("status", lab, "--json").stdout)
    assert status["lab"] == lab and status["failures"] == [] and status["paths"]["s1->azure"] == ["msee0", "msee1"]
    assert lab in {row["name"] for row in json.loads(gwlab("list", "--json").stdout)}
    ran = gwlab("exec", "--name", lab, "--json", "s1-host", "--", "sh", "-c", "echo out; echo err >&2; exit 3")
    assert ran.returncode == 3
    assert {k: json.loads(ran.stdout)[k] for k in ("exit_code", "stdout", "stderr")} == {
        "exit_code": 3,
        "stdout": "out\n",
        "stderr": "err\n",
    }
    failed = gwlab("fail", "circuit", "--mode", "down", "--name", lab, "--measure", "--json")
    assert failed.returncode == 0, failed.stderr
    outcome = json.loads(failed.stdout)
    assert outcome["converged"] and outcome["target"] == "circuit"
    assert outcome["path_before"]["s1->azure"] == ["msee0", "msee1"]  # measured
    assert (
        outcome["path_after"]
        == outcome["expected_path_after"]
        == {
            "s1->azure": ["gw0", "gw1"],
            "azure->s1": ["gw0", "gw1"],
        }
    )
    assert 0 < outcome["outage_ms"]["s1->azure"] < 1000 and outcome["lost"]["s1->azure"] > 0
    assert json.loads(gwlab("status", "--name", lab, "--json").stdout)["failures"] == [
        {"target": "circuit", "mode": "down"}
    ]
    again = gwlab("fail", "circuit", "--name", lab)
    assert again.returncode == 1 and "circuit is already failed" in again.stderr
    restored = gwlab("restore", "--all", "--name", lab, "--json")
    assert restored.returncode == 0, restored.stderr
    (back,) = json.loads(restored.stdout)["restored"]
    assert back["target"] == "circuit" and back["converged"]
    down = gwlab("down", "--name", f"{lab}-none", "--json")
    assert json.loads(down.stdout)[0]["was_up"] is False
