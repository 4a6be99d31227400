"""Golden files of the intermediate layer: for every built-in (and the two-site test lab), the resolved
topology (`lab.topology.build`) and the oracle's prediction (`controller.oracle.predict`) with no
failure and a few representative ones, in tests/golden/<name>/resolved/.

A change to the builder or the oracle shows as a data diff here before it shows in the rendered
configs or in a lab. Regenerate with `GWLAB_UPDATE_GOLDEN=1 pytest tests/test_golden_resolved.py` and
review the diff.
"""

from __future__ import annotations

import difflib
import os
import shutil
from pathlib import Path

import pytest

from controller.oracle import predict
from tests.resolved import GOLDEN_LABS, RESOLVED, dump, failure_cases, golden_lab, prediction_data, topology_data

GOLDEN = Path(__file__).parent / "golden"


def expected_files(name: str) -> dict[str, str]:
    topo = golden_lab(name)
    files = {"topology.yaml": dump(topology_data(topo))}
    for case, failures in failure_cases(topo).items():
        files[f"oracle/{case}.yaml"] = dump(prediction_data(predict(topo, failures)))
    return files


def diff(rel: str, want: str, got: str, lines: int = 40) -> str:
    out = list(difflib.unified_diff(want.splitlines(), got.splitlines(), f"golden/{rel}", "now", lineterm=""))
    return "\n".join(out[:lines]) + ("\n..." if len(out) > lines else "")


@pytest.mark.parametrize("name", GOLDEN_LABS)
def test_resolved_topology_and_prediction_match_golden(name: str) -> None:
    files = expected_files(name)
    folder = GOLDEN / name / RESOLVED
    if os.environ.get("GWLAB_UPDATE_GOLDEN") == "1":
        shutil.rmtree(folder, ignore_errors=True)
        for rel, text in files.items():
            (folder / rel).parent.mkdir(parents=True, exist_ok=True)
            (folder / rel).write_text(text, encoding="utf-8")
    on_disk = {str(p.relative_to(folder)): p.read_text(encoding="utf-8") for p in folder.rglob("*") if p.is_file()}
    assert sorted(files) == sorted(on_disk), "files added or removed"
    for rel, text in sorted(files.items()):
        where = f"{name}/{RESOLVED}/{rel}"
        assert text == on_disk[rel], f"{where} differs:\n{diff(where, on_disk[rel], text)}"
