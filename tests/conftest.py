"""Shared fixtures: built-in topology names, tool requirements (skip locally, fail in CI)."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import pytest
import yaml

from lab.load import load
from lab.paths import builtin_topologies
from lab.topology import Topology

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


# Beyond the built-ins: two sites (one with ExpressRoute, a hyphenated name), active/standby, an APIPA
# device, and a description with quotes, '#' and a newline that YAML, DOT and Mermaid must survive.
MULTI_SITE = {
    "description": 'Two sites, "quoted" text: #1\nand a second line',
    "vnet": {"address_space": ["10.2.0.0/16"], "gateway_subnet": "10.2.255.0/27"},
    "vpn_gateway": {"mode": "active-standby"},
    "onprem": {
        "sites": [
            {
                "name": "hq",
                "asn": 65020,
                "prefixes": ["192.168.20.0/24", "192.168.21.0/24"],
                "devices": [{"name": "edge", "bgp_ip": "169.254.21.2"}],
            },
            {"name": "br-1", "asn": 65030, "prefixes": ["192.168.30.0/24"]},
        ]
    },
    "expressroute": {"site": "br-1"},
}


@pytest.fixture(params=[*BUILTINS, "multi-site"])
def topo(request: pytest.FixtureRequest, tmp_path: Path) -> Topology:
    """Every built-in lab, and a two-site one, resolved."""
    if request.param == "multi-site":
        path = tmp_path / "multi.yaml"
        path.write_text(yaml.safe_dump(MULTI_SITE), encoding="utf-8")
        return load(str(path))
    return load(request.param)
