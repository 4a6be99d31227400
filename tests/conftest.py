"""Shared fixtures: built-in topology names, tool requirements (skip locally, fail in CI)."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import pytest

from lab.paths import builtin_topologies

REPO = Path(__file__).resolve().parents[1]
BUILTINS = sorted(builtin_topologies())
pytest_plugins = ["pytester"]

IN_CI = os.environ.get("CI") == "true"


def require_tool(name: str) -> str:
    """Path of a required program; a missing one skips locally but fails in CI, where setup installs it."""
    path = shutil.which(name) or shutil.which(name, path=str(Path(sys.executable).parent))
    if path is None:
        message = f"{name} not found (run 'make setup')"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    return path


def require_root() -> None:
    if os.geteuid() != 0:
        message = "needs root for network namespaces"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
