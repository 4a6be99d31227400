"""Every rendered configuration is accepted by the real tools: FRR's dry run and ExaBGP's validator."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from lab.load import load
from lab.render import render_all, write
from tests.helpers import BUILTINS, require_tool


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    out = {}
    for name in BUILTINS:
        folder = tmp_path_factory.mktemp(name)
        write(render_all(load(name)), folder)
        out[name] = folder
    return out


@pytest.mark.parametrize("name", BUILTINS)
def test_frr_accepts_every_router_config(name: str, rendered: dict[str, Path]) -> None:
    vtysh = require_tool("vtysh")
    configs = sorted(rendered[name].glob("*/frr.conf")) + sorted(rendered[name].glob("*/bgpd-start.conf"))
    assert configs
    for conf in configs:
        result = subprocess.run([vtysh, "-C", "-f", str(conf)], capture_output=True, text=True, check=False)
        assert result.returncode == 0, f"{conf.parent.name}: {result.stdout}{result.stderr}"


@pytest.mark.parametrize("name", BUILTINS)
def test_exabgp_accepts_every_speaker_config(name: str, rendered: dict[str, Path]) -> None:
    exabgp = require_tool("exabgp")
    configs = sorted(rendered[name].glob("*/exabgp.conf"))
    assert configs
    for conf in configs:
        result = subprocess.run([exabgp, "validate", str(conf)], capture_output=True, text=True, check=False)
        assert result.returncode == 0, f"{conf.parent.name}: {result.stdout}{result.stderr}"


def test_frr_dry_run_rejects_a_broken_config(tmp_path: Path) -> None:
    """The check above can fail: a typo in a config is caught."""
    vtysh = require_tool("vtysh")
    conf = tmp_path / "frr.conf"
    conf.write_text("router bgp 65010\n neighbor 10.0.0.1 remote-az 65515\n")
    assert subprocess.run([vtysh, "-C", "-f", str(conf)], capture_output=True, check=False).returncode != 0
