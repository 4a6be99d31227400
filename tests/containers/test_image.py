"""The node image: its tag follows what goes in, it is built once and reused, it runs the venv's ExaBGP,
and a build that cannot reach the Debian mirror fails with one line and leaves nothing behind."""

from __future__ import annotations

import dataclasses
import importlib.metadata
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from lab.errors import GwlabError
from lab.runtime.containers import image, wheels
from lab.runtime.containers.engine import Engine
from lab.runtime.containers.fsutil import mounts_under
from tests.containers.conftest import until
from tests.helpers import require_root, require_tool, run_gwlab


def test_tag_is_a_hash_of_what_goes_in() -> None:
    recipe = image.node_recipe()
    assert recipe.exabgp == importlib.metadata.version("exabgp")
    assert re.fullmatch(r"gwlab/node:[0-9a-f]{12}", recipe.tag)
    assert image.node_recipe().tag == recipe.tag == image.node_image_tag()
    variants = [
        dataclasses.replace(recipe, exabgp="5.0.0"),
        dataclasses.replace(recipe, packages=(*recipe.packages, "tcpdump")),
        dataclasses.replace(recipe, mirror="http://mirror.example/debian"),
        dataclasses.replace(recipe, suite="trixie"),
    ]
    assert len({recipe.hash, *(v.hash for v in variants)}) == 1 + len(variants)


def test_mmdebstrap_command_is_the_measured_recipe() -> None:
    recipe = image.node_recipe()
    argv = recipe.mmdebstrap(Path("/w"), Path("/out.tar"))
    assert argv[:4] == ["mmdebstrap", "--variant=apt", "--mode=root", "--format=tar"]
    assert "--hook-dir=/usr/share/mmdebstrap/hooks/merged-usr" in argv
    assert any("Package: usrmerge" in a and "Pin-Priority: -1" in a for a in argv if a.startswith("--setup-hook="))
    assert {f"--dpkgopt={o}" for o in image.DPKG_OPTIONS} <= set(argv)
    include = next(a for a in argv if a.startswith("--include=")).removeprefix("--include=").split(",")
    assert {"frr", "python3", "strongswan-charon", "libcharon-extra-plugins", "openssl"} <= set(include)
    pip_hook = next(a for a in argv if "pip install" in a)
    assert 'chroot "$1" env -i PATH=' in pip_hook and "--no-index" in pip_hook and recipe.exabgp_wheel in pip_hook
    compile_hook = next(a for a in argv if "compileall" in a)  # byte code valid whatever the tarball's mtimes
    assert "--invalidation-mode checked-hash" in compile_hook and argv.index(compile_hook) > argv.index(pip_hook)
    assert argv[-4:] == ["/out.tar", *recipe.sources()]


def test_exabgp_wheel_is_rebuilt_offline_from_the_venv(tmp_path: Path) -> None:
    wheel = wheels.rebuild("exabgp", tmp_path / "wheels")
    version = importlib.metadata.version("exabgp")
    assert wheel.name == f"exabgp-{version}-py3-none-any.whl"
    target = tmp_path / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", "--no-index", "--no-deps", "--target", str(target), str(wheel)],
        check=True,
        capture_output=True,
    )
    installed = importlib.metadata.distribution("exabgp")
    module = next(f for f in installed.files or [] if str(f) == "exabgp/version.py")
    assert (target / "exabgp" / "version.py").read_bytes() == Path(str(installed.locate_file(module))).read_bytes()
    assert (target / "bin" / "exabgp").exists()  # the console script, made again by pip
    found = subprocess.run(
        [sys.executable, "-c", "import importlib.metadata as m; print(m.version('exabgp'))"],
        env={"PYTHONPATH": str(target)},
        capture_output=True,
        text=True,
        check=True,
    )
    assert found.stdout.strip() == version


def test_missing_mmdebstrap_is_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    recipe = dataclasses.replace(image.node_recipe(), exabgp="0.0.0")
    with pytest.raises(GwlabError, match=r"^mmdebstrap not found \(run 'make setup' or apt-get install mmdebstrap\)$"):
        image.rootfs(recipe, tmp_path / "cache")
    assert not (tmp_path / "cache").exists()


@pytest.mark.parametrize(
    ("output", "line"),
    [
        (
            "E: Failed to fetch http://127.0.0.1:9/debian/dists/bookworm/InRelease  Could not connect",
            "cannot reach the Debian mirror http://127.0.0.1:9/debian (check the network, or set GWLAB_DEBIAN_MIRROR",
        ),
        ("E: Unable to locate package frrr", "Debian bookworm has no package frrr"),
        ("I: something\nE: dpkg was interrupted\n", "mmdebstrap failed (exit 1): E: dpkg was interrupted"),
    ],
)
def test_build_failures_name_the_cause(output: str, line: str) -> None:
    recipe = dataclasses.replace(image.node_recipe(), mirror="http://127.0.0.1:9/debian")
    assert line in image.diagnose(recipe, output, 1)


@pytest.mark.slow
@pytest.mark.containers
def test_node_image_is_built_once_and_runs_the_venvs_exabgp(any_engine: Engine, node_image: str) -> None:
    start = time.monotonic()
    again = image.build(any_engine)
    hit_s = time.monotonic() - start
    assert (again.tag, again.built) == (node_image, False)
    assert hit_s < 5, "a present tag is a single inspect"
    info = image.inspect(any_engine, node_image)
    assert info is not None and info.hash == node_image.split(":")[1]
    uid, gid = image.frr_owner(any_engine, node_image)
    script = (
        "exabgp version | head -1; id -u frr; id -g frr; echo $PATH; test -x /usr/lib/ipsec/charon && echo charon; "
        "python3 -m pip --version >/dev/null 2>&1 || echo no-pip; dpkg -s usrmerge >/dev/null 2>&1 || echo no-usrmerge"
    )
    out = any_engine.client.container.run(
        node_image, ["sh", "-c", script], remove=True, pull="never", networks=["none"]
    )
    assert isinstance(out, str)
    lines = out.split("\n")
    assert lines[0].split(":")[-1].strip() == importlib.metadata.version("exabgp")
    assert lines[1:3] == [str(uid), str(gid)]
    assert lines[3].endswith(":/usr/lib/frr")
    assert lines[4:] == ["charon", "no-pip", "no-usrmerge"]
    # The command line says the same in JSON (`image build` of a present tag is that one inspect).
    for command in ("build", "ls"):
        ran = run_gwlab("image", command, any_engine.name, "--json")
        assert ran.returncode == 0, ran.stderr
        assert node_image in {row["tag"] for row in json.loads(ran.stdout)}, ran.stdout


@pytest.mark.slow
@pytest.mark.containers
def test_ls_and_rm(any_engine: Engine, node_image: str) -> None:
    # A second tag from the cached tarball (a recipe that differs only in its version): import, list, remove.
    recipe = image.node_recipe()
    other = dataclasses.replace(recipe, exabgp="0.0.0")
    tar, _ = image.rootfs(recipe)
    image.import_rootfs(any_engine, tar, other)
    try:
        listed = {i.tag: i for i in image.list_images(any_engine)}
        assert {node_image, other.tag} <= set(listed)
        assert listed[other.tag].size > 100e6 and listed[other.tag].hash == other.hash
    finally:
        removed = image.remove(any_engine, [other.tag], missing_ok=True)
    assert removed == [other.tag]
    assert other.tag not in {i.tag for i in image.list_images(any_engine)}
    assert image.inspect(any_engine, node_image) is not None


@pytest.mark.slow
@pytest.mark.containers
def test_unreachable_mirror_fails_cleanly(docker: Engine, tmp_path: Path) -> None:
    require_tool("mmdebstrap")
    recipe = dataclasses.replace(image.node_recipe(), mirror="http://127.0.0.1:9/debian")
    cache = tmp_path / "cache"
    with pytest.raises(GwlabError) as failed:
        image.build(docker, recipe, cache)
    assert str(failed.value) == (
        "image build: cannot reach the Debian mirror http://127.0.0.1:9/debian "
        "(check the network, or set GWLAB_DEBIAN_MIRROR to a reachable mirror)"
    )
    assert list(cache.iterdir()) == []  # no tarball, no work dir
    assert image.inspect(docker, recipe.tag) is None


# Ctrl-C at a terminal reaches a foreground process that takes SIGINT; a suite started in the background
# of a non-interactive shell (`make test &`) has it ignored, and the builder would inherit that.
INTERRUPTED_BUILD = """\
import dataclasses, signal, sys
signal.signal(signal.SIGINT, signal.default_int_handler)
from pathlib import Path
from lab.runtime.containers import image
recipe = image.node_recipe()
recipe = dataclasses.replace(recipe, packages=(*recipe.packages, "tcpdump"))  # a tag nobody has: a cold build
image.rootfs(recipe, Path(sys.argv[1]))
"""


def signal_masks(pid: int) -> str:
    """The signals a process ignores, blocks and catches (hex masks, bit n-1 for signal n; SIGINT is 0x2)."""
    status = Path(f"/proc/{pid}/status").read_text().splitlines()
    return " ".join(line.replace("\t", "") for line in status if line.startswith(("SigIgn", "SigBlk", "SigCgt")))


@pytest.mark.slow
@pytest.mark.containers
def test_interrupted_build_leaves_nothing(tmp_path: Path) -> None:
    """Ctrl-C while mmdebstrap works in its chroot: no tarball, no work dir, no mount left."""
    require_root()
    require_tool("mmdebstrap")
    cache = tmp_path / "cache"
    proc = subprocess.Popen(
        [sys.executable, "-c", INTERRUPTED_BUILD, str(cache)], stderr=subprocess.PIPE, text=True, start_new_session=True
    )

    def chroot_busy() -> bool:
        logs = list(cache.glob(".*/mmdebstrap.log"))
        return bool(logs) and "installing essential packages" in logs[0].read_text(errors="replace")

    signals = ""
    try:
        until(chroot_busy, 120, "mmdebstrap installing packages inside its chroot")
        mounted = mounts_under(cache)  # root mode: /dev, /proc, /sys of the chroot
        signals = signal_masks(proc.pid)
    finally:
        os.killpg(proc.pid, signal.SIGINT)  # what Ctrl-C does: the whole foreground group
        _, err = proc.communicate(timeout=120)
    # if mmdebstrap stops on the signal while gwlab does not, say how gwlab's process held it
    assert proc.returncode != 0 and "KeyboardInterrupt" in err, f"{signals}: {err[-400:]}"
    assert mounted, "interrupted while the chroot had its mounts"
    assert list(cache.iterdir()) == []
    assert mounts_under(cache) == []
