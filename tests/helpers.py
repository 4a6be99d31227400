"""What the tests share (conftest.py only holds fixtures): paths, the built-in labs, a two-site lab,
labs from a mapping, and tool requirements that skip locally but fail in CI."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from lab.load import parse
from lab.paths import builtin_topologies
from lab.rules import check
from lab.topology import Topology, build

REPO = Path(__file__).resolve().parents[1]
BUILTINS = sorted(builtin_topologies())
# `make test-full` (GWLAB_FULL_TESTS=1): the whole matrix where `make test` runs a representative part
# of it, to keep CI's suite within its budget (the container runtimes: every built-in and both
# scenarios on both engines, 20 up/down cycles).
FULL_TESTS = os.environ.get("GWLAB_FULL_TESTS") == "1"
IN_CI = os.environ.get("CI") == "true"

# Beyond the built-ins: two sites (one with ExpressRoute, a hyphenated name), active/standby, an APIPA
# device, VXLAN tunnels (the built-ins have IPsec), and a description with quotes, '#' and a newline that
# YAML, DOT and Mermaid must survive.
MULTI_SITE = {
    "description": 'Two sites, "quoted" text: #1\nand a second line',
    "tunnels": {"kind": "vxlan"},
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

# On-prem routing policy (issue 12): per-tunnel and per-device AS-path prepending, local-preference per
# device, a summary of two prefixes on the ExpressRoute site, and a device with one tunnel only that
# advertises one of its site's two prefixes.
ROUTING_POLICY = {
    "vnet": {"address_space": ["10.1.0.0/16"], "gateway_subnet": "10.1.255.0/27"},
    "vpn_gateway": {"mode": "active-active"},
    "onprem": {
        "sites": [
            {
                "name": "s1",
                "asn": 65010,
                "prefixes": ["192.168.10.0/24", "192.168.11.0/24"],
                "summaries": ["192.168.10.0/23"],
                "devices": [
                    {
                        "name": "vpn0",
                        "as_path_prepend": 1,
                        "tunnels": ["gw0", {"instance": "gw1", "as_path_prepend": 3}],
                    },
                    {"name": "vpn1", "local_preference": 150},
                ],
            },
            {
                "name": "s2",
                "asn": 65020,
                "prefixes": ["192.168.20.0/24", "192.168.21.0/24"],
                "devices": [{"tunnels": ["gw1"], "advertise": ["192.168.20.0/24"]}],
            },
        ]
    },
    "expressroute": {"site": "s1"},
}


def topology_of(data: Any, name: str = "t") -> Topology:
    """A lab given as a mapping, through the same model, rules and builder as a file named `<name>.yaml`
    (a LabError, one line per problem, when it breaks a rule)."""
    source = f"{name}.yaml"
    model = parse(data, source, name)
    check(model, source)
    return build(model)


def builtin_with(name: str, **fields: Any) -> Topology:
    """A built-in lab with some top-level fields replaced (e.g. tunnels={"kind": "vxlan"})."""
    data = yaml.safe_load(builtin_topologies()[name].read_text(encoding="utf-8"))
    return topology_of({**data, **fields}, name)


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


def gwlab(*args: str, env: dict[str, str] | None = None, **popen: Any) -> subprocess.Popen[str]:
    """`gwlab ARGS` started through pipes, as a script or CI sees it (COLUMNS unset: nothing bounds the
    width), from this checkout; text, both outputs piped unless said."""
    popen.setdefault("stdout", subprocess.PIPE)
    popen.setdefault("stderr", subprocess.PIPE)
    base = {k: v for k, v in os.environ.items() if k != "COLUMNS"}
    return subprocess.Popen(
        [sys.executable, "-m", "controller.cli.app", *args],
        cwd=REPO,
        env={**base, "PYTHONPATH": str(REPO), **(env or {})},
        text=True,
        **popen,
    )


def run_gwlab(*args: str, env: dict[str, str] | None = None, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    """`gwlab ARGS` run to its end: exit code, stdout, stderr."""
    proc = gwlab(*args, env=env)
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        raise
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)
