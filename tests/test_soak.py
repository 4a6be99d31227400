"""The soak: a long chaos run on the default lab (`make soak`: 30 minutes), then a check that nothing of
it leaked: namespaces, processes, run and FRR directories, probe work directories, containers, and the
host's own links. Runs only when GWLAB_SOAK_S says how long (the test suite has the short chaos run)."""

from __future__ import annotations

import glob
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from tests.helpers import REPO, require_root
from tests.labs import host_links, leftovers

SOAK_S = os.environ.get("GWLAB_SOAK_S")
LAB = os.environ.get("GWLAB_SOAK_LAB", "hybrid")
SEED = os.environ.get("GWLAB_SOAK_SEED", "1")

pytestmark = [
    pytest.mark.root,
    pytest.mark.slow,
    pytest.mark.host,
    pytest.mark.skipif(SOAK_S is None, reason="make soak runs it (GWLAB_SOAK_S=seconds)"),
]


def test_soak_leaves_nothing_behind(tmp_path: Path) -> None:
    require_root()
    links = host_links()
    probe_dirs = set(glob.glob(f"{tempfile.gettempdir()}/gwlab-probe-*"))
    report = Path(os.environ.get("GWLAB_SOAK_REPORT", tmp_path / "soak"))
    run = subprocess.run(
        [sys.executable, "-m", "controller.cli.app", "chaos", LAB, "--duration", str(SOAK_S), "--seed", SEED,
         "--rate", "50", "--report", str(report), "--json"],
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        capture_output=True,
        text=True,
        timeout=float(str(SOAK_S)) + 900,
        check=False,
    )  # fmt: skip
    assert run.stdout.strip(), f"no report (exit {run.returncode}): {run.stderr[-3000:]}"
    data = json.loads(run.stdout)
    name = data["lab"]
    assert run.returncode == 0 and data["passed"], f"seed {SEED}: {data.get('notes')}\n{run.stderr[-3000:]}"
    print(f"soak: {len(data['steps'])} steps, {len(data['failures'])} failures, seed {SEED}, report {report}")
    assert leftovers(name) == []
    assert set(glob.glob(f"{tempfile.gettempdir()}/gwlab-probe-{name}-*")) - probe_dirs == set()
    assert host_links() == links, "the host's own namespace gained or lost links"
