"""Shared fixtures (the helpers themselves are in tests/helpers.py and tests/labs.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from lab.load import load
from lab.topology import Topology
from tests.helpers import BUILTINS, MULTI_SITE

pytest_plugins = ["pytester"]


@pytest.fixture(params=[*BUILTINS, "multi-site"])
def topo(request: pytest.FixtureRequest, tmp_path: Path) -> Topology:
    """Every built-in lab, and a two-site one, resolved."""
    if request.param == "multi-site":
        path = tmp_path / "multi.yaml"
        path.write_text(yaml.safe_dump(MULTI_SITE), encoding="utf-8")
        return load(str(path))
    return load(request.param)
