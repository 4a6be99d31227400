"""The runtime registry and the pieces every backend shares, without bringing a lab up."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from lab.errors import GwlabError, LabError
from lab.runtime import backends, links, state
from lab.runtime.backends import backend, installed
from lab.runtime.links import Bridge, Charons, IpsecEnd, IpsecNat, Veth, Vxlan
from lab.runtime.netns import NetnsRuntime
from tests.helpers import builtin_with


def test_an_unknown_runtime_is_one_line_naming_the_choices() -> None:
    with pytest.raises(LabError) as err:
        backend("lxc")
    assert err.value.lines() == ["--runtime: 'lxc' is not a runtime (use one of: netns, docker, podman)"]


def test_a_backend_that_cannot_be_imported_says_so(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(backends.BACKENDS, "docker", "lab.runtime.no_such_module:DockerRuntime")
    with pytest.raises(GwlabError, match="runtime docker is not available"):
        backend("docker")
    assert all(cls.name != "docker" for cls in installed())


def test_netns_is_the_default_and_what_a_state_records() -> None:
    assert backend(backends.DEFAULT) is NetnsRuntime
    assert state.LabState("x", "hybrid").runtime == "netns"


def test_a_state_file_with_unknown_fields_still_loads(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(state, "RUN_ROOT", tmp_path)
    (tmp_path / "old").mkdir()
    (tmp_path / "old" / "state.json").write_text(
        json.dumps({"name": "old", "source": "hybrid", "namespaces": ["old_gw0"], "phase": "up"})
    )
    loaded = state.load_state("old")
    assert loaded is not None and loaded.phase == "up" and loaded.runtime == "netns"
    (tmp_path / "old" / "state.json").write_text(json.dumps({"nothing": "of ours"}))
    assert state.load_state("old") is None


def test_links_deploy_bridges_then_veths_then_the_tunnels_riding_on_them() -> None:
    for kind in ("ipsec", "vxlan"):
        topo = builtin_with("hybrid", tunnels={"kind": kind})
        plan = links.plan(topo)
        kinds = [type(k) for k in plan]
        assert kinds == sorted(kinds, key=[Bridge, Veth, Vxlan, Charons, IpsecNat].index)
        assert len([k for k in plan if isinstance(k, Veth)]) == len(topo.links)
        assert {k.iface.name for k in plan if isinstance(k, Vxlan)} == {
            i.name for n in topo.nodes.values() for i in n.interfaces if i.kind == "vxlan"
        }
        ends = {e.end.endpoint for e in links.charon_ends(plan) if isinstance(e, IpsecEnd)}
        assert ends == ({e.endpoint for _, e in topo.tunnel_ends()} if kind == "ipsec" else set())
        assert len(ends) == (8 if kind == "ipsec" else 0)  # four tunnels, two ends each
