"""Shared fixtures (the helpers themselves are in tests/helpers.py and tests/labs.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

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


# -- parallel runs (pytest-xdist, --dist loadgroup) ----------------------------------------------------
# Tests run on several workers at once. Two kinds must not be split or interleaved:
# - tests that read the same scenario run (test_scenarios keeps one report per scenario and worker):
#   `@pytest.mark.scenarios(...)` names them, and every scenario a test shares with another lands in
#   the same group, so each scenario runs once;
# - every other test stays with its module (module-scoped labs come up once);
# - tests that compare the host's own state before and after (`@pytest.mark.host`) and the container
#   tests, whose runtimes wire links through the host's namespace: one group, one worker, in turn.
HOST_GROUP = "host"


def _scenario_groups(items: list[pytest.Item]) -> dict[str, str]:
    """scenario -> its group: the scenarios tests use together, joined (union-find)."""
    parent: dict[str, str] = {}

    def root(name: str) -> str:
        while parent.setdefault(name, name) != name:
            name = parent[name]
        return name

    for item in items:
        for mark in item.iter_markers("scenarios"):
            first, *rest = mark.args
            root(first)
            for other in rest:
                parent[root(other)] = root(first)
    return {name: f"scenario-{root(name)}" for name in parent}


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    groups = _scenario_groups(items)
    for item in items:
        if item.get_closest_marker("host") or "containers" in item.path.parts:
            item.add_marker(pytest.mark.xdist_group(HOST_GROUP))
        elif (mark := item.get_closest_marker("scenarios")) is not None:
            item.add_marker(pytest.mark.xdist_group(groups[mark.args[0]]))
        else:
            item.add_marker(pytest.mark.xdist_group(item.path.name))


def pytest_xdist_node_collection_finished(node: Any, ids: list[str]) -> None:
    """On the xdist controller: every test is grouped (above), and xdist appends `@group` to the ids
    it schedules by. pytest 9.2 keeps ids where xdist 3.8 no longer writes them: the groups were
    silently ignored, shared labs and scenario runs were made twice on two workers at once, and the
    suite overran; so stop and say so instead."""
    lost = [i for i in ids if "@" not in i]
    if lost and node.config.getvalue("dist") == "loadgroup":
        pytest.exit(
            f"pytest-xdist did not apply the test groups ({lost[0]} has none): install the versions "
            "pyproject.toml pins (make setup)",
            returncode=pytest.ExitCode.USAGE_ERROR,
        )
