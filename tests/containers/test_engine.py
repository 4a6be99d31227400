"""The engines: missing ones and a daemon that does not answer give one line; a Docker daemon gwlab starts
(lab mode) leaves the host's forwarding sysctls, nftables ruleset and links exactly as they were."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from lab.errors import GwlabError
from lab.runtime.containers import dockerd, image, nodes
from lab.runtime.containers.engine import Engine, engine
from lab.runtime.containers.fsutil import remove_tree
from lab.runtime.processes import alive
from tests.helpers import require_root, require_tool
from tests.labs import host_state, unique


def test_missing_engines_are_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(GwlabError, match=r"^docker not found \(run 'make setup' or apt-get install docker.io\)$"):
        engine("docker")
    with pytest.raises(
        GwlabError, match=r"^podman not found \(run 'make setup' or apt-get install podman catatonit\)$"
    ):
        engine("podman")
    with pytest.raises(GwlabError, match=r"^dockerd not found"):
        dockerd.ensure(dockerd.Daemon(tmp_path))
    with pytest.raises(GwlabError, match=r"^unknown container engine 'lxc' \(use docker or podman\)$"):
        engine("lxc")


def test_daemon_that_does_not_answer_is_one_line(silent_socket: Path) -> None:
    hung = dockerd.Daemon(silent_socket.parent)
    expected = rf"^the Docker daemon at {silent_socket} does not answer within 3 s \(restart dockerd\)$"
    with pytest.raises(GwlabError, match=expected):
        dockerd.ensure(hung)
    assert not hung.pidfile.exists(), "no second daemon is started beside a hung one"


def test_docker_host_without_a_daemon_is_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    require_tool("docker")
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/none.sock")
    with pytest.raises(GwlabError, match=rf"^no Docker daemon answers at DOCKER_HOST=unix://{tmp_path}/none.sock "):
        engine("docker")
    with pytest.raises(GwlabError, match=r"^no Docker daemon answers at DOCKER_HOST="):
        dockerd.ensure()  # gwlab never starts a daemon where DOCKER_HOST points
    monkeypatch.setenv("DOCKER_HOST", "tcp://127.0.0.1:2375")
    with pytest.raises(GwlabError, match=r"^DOCKER_HOST=tcp://127.0.0.1:2375: gwlab drives a local daemon only"):
        engine("docker")


@pytest.mark.slow
@pytest.mark.containers
def test_lab_mode_dockerd_leaves_the_host_unchanged(docker: Engine) -> None:
    """A private lab-mode dockerd (own data root, socket and pid file, beside any daemon already
    running): started, runs containers, stopped when unused; the host is as it was."""
    require_root()
    require_tool("nft")
    require_tool("mmdebstrap")
    tar, _ = image.rootfs(image.node_recipe())
    root = Path(f"/tmp/gwd{os.getpid()}")  # short: containerd's socket path must fit in 108 bytes
    private = dockerd.Daemon(root)
    before = host_state()
    lab = unique("hd")
    try:
        with dockerd.in_use(private) as started_s:
            assert started_s is not None and started_s < 30
            pid = dockerd.gwlab_pid(private)
            assert pid is not None and alive(pid)
            client = engine("docker", private)
            image.import_rootfs(client, tar, image.node_recipe())
            tag = image.node_recipe().tag
            specs = [nodes.NodeSpec(lab, n, tag, root / n / "etc", root / n / "frr") for n in ("a", "b")]
            made = nodes.create_all(client, specs)
            assert len(nodes.exec_in(client, made["a"].name, ["ip", "-o", "link"]).stdout.splitlines()) == 1  # lo only
        assert dockerd.answers(private) == "ok", "kept while its containers run"
        assert len(nodes.remove_lab(client, lab)) == 2
        assert dockerd.stop_if_unused(private)
        assert not alive(pid) and not private.pidfile.exists()
        assert dockerd.answers(private) == "absent"
    finally:
        dockerd.stop(private)
        remove_tree(root)
    assert host_state() == before
