"""Container labs leave nothing, whatever happens: Ctrl-C while `up` creates the containers, kill -9 of
gwlab with the state file lost, 20 up/down cycles; and bad input (an unknown runtime, an engine that is
missing, a daemon that does not answer, a Debian mirror out of reach) is one line, a non-zero exit and
nothing half-built."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from lab.runtime import lifecycle
from lab.runtime.containers import image, nodes
from lab.runtime.containers.engine import Engine
from lab.runtime.lifecycle import down
from lab.runtime.netns import NETNS_DIR
from lab.runtime.state import RUN_ROOT
from tests.containers.conftest import until
from tests.helpers import FULL_TESTS, REPO, gwlab, require_tool, run_gwlab
from tests.labs import host_links, leftovers, reached, unique

pytestmark = [pytest.mark.slow, pytest.mark.containers, pytest.mark.root]


def test_ctrl_c_while_up_creates_containers_leaves_nothing(docker: Engine) -> None:
    name = unique("ci")
    proc = gwlab("up", "hybrid", "--name", name, "--runtime", "docker")
    try:
        until(lambda: nodes.lab_containers(docker, name), 60, "the first containers created")
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=120)
        assert proc.returncode == 130, err
        assert "interrupted" in err and "Traceback" not in err, err
    finally:
        if proc.poll() is None:
            proc.kill()
        down(name)
    assert leftovers(name) == []


def test_down_after_kill_9_of_gwlab_without_the_state_file(docker: Engine) -> None:
    """gwlab killed while it waits for convergence, its run directory gone: down finds the containers
    by their labels and removes them, with every daemon in them."""
    name = unique("ck")
    links = host_links()
    proc = gwlab("up", "active-active", "--name", name, "--runtime", "docker", stdout=None, stderr=None)
    try:
        until(lambda: reached(name, "converging"), 120, "up converging")
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        assert len(nodes.lab_containers(docker, name)) == 8
        shutil.rmtree(RUN_ROOT / name)
        result = down(name)
        assert result.was_up and "docker" in result.runtime and result.nodes == 8, result
        assert result.processes > 0 and result.leftovers == []
    finally:
        down(name)
    assert leftovers(name) == []
    assert host_links() == links


def cycle(runtime: str, name: str, count: int) -> list[str]:
    left = []
    for _ in range(count):
        started = lifecycle.up("active-active", name=name, runtime=runtime)
        pids = started.lab.runtime.pids()
        assert down(name).leftovers == []
        left += leftovers(name, pids)
    return left


CYCLES = """\
import sys
from tests.containers.test_cleanup import cycle
print("\\n".join(cycle(sys.argv[1], sys.argv[2], int(sys.argv[3]))))
"""


CYCLES_PER_ENGINE = 10 if FULL_TESTS else 3  # `make test-full`: 20 in all


def test_up_down_cycles_leave_no_container_link_or_namespace(docker: Engine, podman: Engine) -> None:
    """10 on docker here and 10 on podman beside it (`make test-full`; 3 and 3 in `make test`; a cycle
    waits on the engines as much as it computes): every one built and started, then taken down,
    leaving nothing."""
    links = host_links()
    name = unique("cy")
    beside = subprocess.Popen(
        [sys.executable, "-c", CYCLES, "podman", f"{name}p", str(CYCLES_PER_ENGINE)],
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert cycle("docker", f"{name}d", CYCLES_PER_ENGINE) == []
        out, err = beside.communicate(timeout=600)
        assert beside.returncode == 0 and out.strip() == "", out + err[-2000:]
    finally:
        if beside.poll() is None:
            beside.kill()
        down(f"{name}d")
        down(f"{name}p")
    assert leftovers(f"{name}d") == [] and leftovers(f"{name}p") == []
    assert host_links() == links
    assert [ns for ns in os.listdir(NETNS_DIR) if ns.startswith(name)] == [], "a container lab made a namespace"


# -- bad input --------------------------------------------------------------------------------------


@pytest.fixture
def refused() -> Iterator[str]:
    """A lab name for an `up` that must build nothing."""
    name = unique("cr")
    yield name
    down(name)


def refuse(args: list[str], env: dict[str, str], name: str) -> str:
    """Run `gwlab up` that must fail: its one line of stderr; nothing of the lab exists afterwards."""
    result = run_gwlab(*args, env=env)
    lines = result.stderr.strip().splitlines()
    assert result.returncode != 0 and len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr
    assert not (RUN_ROOT / name).exists(), "a run directory was left"
    assert leftovers(name) == []
    return lines[0]


def test_unknown_runtime_is_one_line(refused: str) -> None:
    line = refuse(["up", "active-active", "--name", refused, "--runtime", "lxc"], {}, refused)
    assert "'lxc' is not one of 'netns', 'docker', 'podman'" in line


@pytest.mark.parametrize(
    ("runtime", "fix"),
    [
        ("docker", "docker not found (run 'make setup' or apt-get install docker.io)"),
        ("podman", "podman not found (run 'make setup' or apt-get install podman catatonit)"),
    ],
)
def test_missing_engine_is_one_line(runtime: str, fix: str, refused: str, tmp_path: Path) -> None:
    line = refuse(["up", "active-active", "--name", refused, "--runtime", runtime], {"PATH": str(tmp_path)}, refused)
    assert line == f"gwlab: {fix}"


def test_docker_daemon_that_does_not_answer_is_one_line(silent_socket: Path, refused: str) -> None:
    require_tool("docker")
    env = {"DOCKER_HOST": f"unix://{silent_socket}"}
    line = refuse(["up", "active-active", "--name", refused, "--runtime", "docker"], env, refused)
    assert line == f"gwlab: the Docker daemon at {silent_socket} does not answer within 3 s (restart dockerd)"


def test_image_build_without_the_debian_mirror_is_one_line(podman: Engine, refused: str, tmp_path: Path) -> None:
    """The first up on an engine builds the image; a mirror out of reach fails it in one line, with no
    tag, no cached tarball and no container made."""
    require_tool("mmdebstrap")
    mirror = "http://127.0.0.1:9/debian"
    env = {"GWLAB_DEBIAN_MIRROR": mirror, "GWLAB_IMAGE_CACHE": str(tmp_path / "cache")}
    line = refuse(["up", "active-active", "--name", refused, "--runtime", "podman"], env, refused)
    assert line == (
        f"gwlab: image build: cannot reach the Debian mirror {mirror} "
        "(check the network, or set GWLAB_DEBIAN_MIRROR to a reachable mirror)"
    )
    assert list((tmp_path / "cache").iterdir()) == []
    tags = {i.tag for i in image.list_images(podman)}
    assert all(image.Recipe(exabgp=image.node_recipe().exabgp, mirror=mirror).tag != t for t in tags)
