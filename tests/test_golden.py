"""Golden files: each built-in topology renders to the checked-in output in tests/golden/<name>/.

A change to any rendered file is a visible diff. After an intended change, regenerate with
`GWLAB_UPDATE_GOLDEN=1 pytest tests/test_golden.py tests/test_golden_resolved.py` and review the diff
before committing. The intermediate layer (resolved topology, oracle) is in <name>/resolved/.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from lab.render import render_all, write
from tests.resolved import GOLDEN_LABS, RESOLVED, golden_lab

GOLDEN = Path(__file__).parent / "golden"


def updating() -> bool:
    return os.environ.get("GWLAB_UPDATE_GOLDEN") == "1"


def on_disk(folder: Path) -> dict[str, str]:
    """The rendered files of a golden folder (the resolved/ data has its own test)."""
    return {
        str(p.relative_to(folder)): p.read_text(encoding="utf-8")
        for p in folder.rglob("*")
        if p.is_file() and p.relative_to(folder).parts[0] != RESOLVED
    }


@pytest.mark.parametrize("name", GOLDEN_LABS)
def test_rendered_output_matches_golden(name: str) -> None:
    rendered = render_all(golden_lab(name))
    folder = GOLDEN / name
    if updating():
        for rel in on_disk(folder) if folder.is_dir() else {}:
            (folder / rel).unlink()
        write(rendered, folder)
    expected = on_disk(folder)
    assert sorted(rendered) == sorted(expected), "files added or removed"
    for rel in sorted(expected):
        assert rendered[rel] == expected[rel], f"{name}/{rel} differs from the golden file"


def test_every_golden_lab_has_a_golden_folder() -> None:
    assert sorted(p.name for p in GOLDEN.iterdir() if p.is_dir()) == sorted(GOLDEN_LABS)
