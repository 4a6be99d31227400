"""The node image `gwlab/node:<hash>`, built here from Debian packages and the venv's ExaBGP; never pulled.

mmdebstrap makes a root file system tarball (no FROM, no registry); `docker import` / `podman import`
turn it into an image with CMD, ENV and LABEL set. The tag is a hash of what goes in: the exact
mmdebstrap command (suite, mirrors, packages, hooks, dpkg excludes), the image settings and the ExaBGP
version. A tag that exists is reused; the tarball is cached under IMAGE_CACHE/<hash>/ so that the
second engine (each keeps its own store) only imports it. The hash does not follow Debian point
updates: `remove` the image (and its cache) to build afresh.

Recipe from ../shared/reference/containers.md: the merged-usr hook plus a pin against usrmerge (which
would pull in perl: +50 MB), man/doc/info/locale excluded, pip run from its wheel inside the chroot
under `env -i` (the host's PIP_* variables would leak in), no pip left in the image.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import os
import re
import shutil
import subprocess
import tarfile
import tempfile
import time
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path

from python_on_whales.exceptions import NoSuchImage

from lab.errors import GwlabError
from lab.runtime.containers import wheels
from lab.runtime.containers.engine import Engine, calling
from lab.runtime.containers.fsutil import locked, remove_tree
from lab.runtime.containers.layout import NODE_PATH
from lab.runtime.interrupts import check_interrupted

IMAGE_REPO = "gwlab/node"
HASH_LABEL = "gwlab.image"  # value: the recipe hash; every gwlab image has it
FRR_UID_LABEL, FRR_GID_LABEL = "gwlab.frr.uid", "gwlab.frr.gid"  # to chown host dirs bound into a node
IMAGE_CACHE = Path(os.environ.get("GWLAB_IMAGE_CACHE", "/var/cache/gwlab/images"))
DEBIAN_MIRROR = os.environ.get("GWLAB_DEBIAN_MIRROR", "http://deb.debian.org/debian")
SECURITY_MIRROR = os.environ.get("GWLAB_DEBIAN_SECURITY_MIRROR", "http://deb.debian.org/debian-security")
CHROOT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
KEYRING = "/usr/share/keyrings/debian-archive-keyring.gpg"  # also on Ubuntu (debian-archive-keyring)
ROUTING_PACKAGES = ("frr", "python3", "iproute2", "nftables", "procps", "iputils-ping")
# charon with kernel-libipsec (userspace ESP: this kernel has no xfrm), swanctl, the openssl/aesni/gcm plugins.
IPSEC_PACKAGES = (
    "strongswan-charon",
    "strongswan-swanctl",
    "libcharon-extra-plugins",
    "libstrongswan-standard-plugins",
    "openssl",
)
DPKG_OPTIONS = (
    "path-exclude=/usr/share/man/*",
    "path-exclude=/usr/share/doc/*",
    "path-include=/usr/share/doc/*/copyright",
    "path-exclude=/usr/share/info/*",
    "path-exclude=/usr/share/locale/*",
)
NO_USRMERGE = 'printf "Package: usrmerge\\nPin: release *\\nPin-Priority: -1\\n"'
PIP_WHEEL = "gwlab-pip.whl"  # run as `python3 gwlab-pip.whl/pip`: its name is free, so pip's version is not in the hash
# Messages of apt and the resolver when the mirror cannot be reached.
UNREACHABLE = (
    "Failed to fetch",
    "Could not resolve",
    "Temporary failure resolving",
    "Could not connect",
    "Unable to connect",
    "Connection refused",
    "Connection timed out",
    "Network is unreachable",
)


@dataclass(frozen=True)
class Recipe:
    exabgp: str  # the version installed beside gwlab
    packages: tuple[str, ...] = ROUTING_PACKAGES + IPSEC_PACKAGES
    suite: str = "bookworm"
    mirror: str = DEBIAN_MIRROR
    security_mirror: str = SECURITY_MIRROR

    @property
    def exabgp_wheel(self) -> str:
        return f"exabgp-{self.exabgp}-py3-none-any.whl"

    def sources(self) -> list[str]:
        return [
            f"deb {self.mirror} {self.suite} main",
            f"deb {self.mirror} {self.suite}-updates main",
            f"deb {self.security_mirror} {self.suite}-security main",
        ]

    def changes(self) -> list[str]:
        """Image settings given to `import --change` (the labels come on top)."""
        return ['CMD ["sleep", "infinity"]', f"ENV PATH={NODE_PATH}"]

    def mmdebstrap(self, wheel_dir: Path, output: Path) -> list[str]:
        pip = f"python3 /tmp/{PIP_WHEEL}/pip install --no-index --no-deps --no-cache-dir --no-compile"
        pip += f" --break-system-packages --root-user-action=ignore /tmp/{self.exabgp_wheel}"
        # Byte code that checks its source by hash, not by mtime: the tarball clamps every mtime to the
        # build's start (--clamp-mtime), which makes pip's timestamp-checked byte code stale, and each
        # speaker then compiled all of ExaBGP again on its first start in each container (1-3 s).
        compile_all = "python3 -m compileall -q -j 0 --invalidation-mode checked-hash /usr/local/lib"
        return [
            "mmdebstrap",
            "--variant=apt",
            "--mode=root",
            "--format=tar",
            f"--keyring={KEYRING}",
            "--hook-dir=/usr/share/mmdebstrap/hooks/merged-usr",
            f"--include={','.join(self.packages)}",
            f'--setup-hook=mkdir -p "$1/etc/apt/preferences.d"; {NO_USRMERGE} > "$1/etc/apt/preferences.d/no-usrmerge"',
            *[f"--dpkgopt={option}" for option in DPKG_OPTIONS],
            f"--customize-hook=copy-in {wheel_dir}/{PIP_WHEEL} {wheel_dir}/{self.exabgp_wheel} /tmp",
            f'--customize-hook=chroot "$1" env -i PATH={CHROOT_PATH} {pip}',
            f'--customize-hook=chroot "$1" env -i PATH={CHROOT_PATH} {compile_all}',
            '--customize-hook=rm -f "$1"/tmp/*.whl',
            self.suite,
            str(output),
            *self.sources(),
        ]

    @property
    def hash(self) -> str:
        what = {
            "mmdebstrap": self.mmdebstrap(Path("/wheels"), Path("/out")),
            "changes": self.changes(),
            "labels": [HASH_LABEL, FRR_UID_LABEL, FRR_GID_LABEL],
        }
        return hashlib.sha256(json.dumps({**what, **asdict(self)}, sort_keys=True).encode()).hexdigest()[:12]

    @property
    def tag(self) -> str:
        return f"{IMAGE_REPO}:{self.hash}"


def node_recipe() -> Recipe:
    """The recipe of the image gwlab's container runtimes use: ExaBGP as installed beside gwlab."""
    try:
        return Recipe(exabgp=importlib.metadata.version("exabgp"))
    except importlib.metadata.PackageNotFoundError:
        raise GwlabError("exabgp is not installed beside gwlab (run 'make setup')") from None


def node_image_tag() -> str:
    """gwlab/node:<hash>, the tag nodes run and the containerlab file names (no engine needed)."""
    return node_recipe().tag


@dataclass(frozen=True)
class Built:
    tag: str
    engine: str
    built: bool  # False: the tag was there already
    rootfs_s: float  # building the root file system (0: the cached tarball was used)
    import_s: float
    size: int  # bytes, as the engine counts them


@dataclass(frozen=True)
class ImageInfo:
    tag: str
    hash: str
    size: int
    created: datetime
    labels: dict[str, str] = field(default_factory=dict)


def inspect(engine: Engine, tag: str) -> ImageInfo | None:
    """The image, or None when the engine does not have it (one inspect: ~35 ms on docker)."""
    with calling(engine.name, f"inspect {tag}"):
        try:
            image = engine.client.image.inspect(tag)
        except NoSuchImage:
            return None
    labels = dict(image.config.labels or {})
    return ImageInfo(tag, labels.get(HASH_LABEL, ""), image.size, image.created, labels)


def build(engine: Engine, recipe: Recipe | None = None, cache_dir: Path | None = None) -> Built:
    """Make `recipe`'s image (default: the node image) in `engine`; reused when the tag is there.
    On failure nothing is left: no tag, no temporary files (a cached tarball of an earlier build stays)."""
    recipe = recipe or node_recipe()
    found = inspect(engine, recipe.tag)
    if found is not None:
        return Built(recipe.tag, engine.name, False, 0.0, 0.0, found.size)
    tar, rootfs_s = rootfs(recipe, cache_dir)
    start = time.monotonic()
    import_rootfs(engine, tar, recipe)
    import_s = time.monotonic() - start
    found = inspect(engine, recipe.tag)
    if found is None:
        raise GwlabError(f"{engine.name}: {recipe.tag} is missing right after its import")
    return Built(recipe.tag, engine.name, True, rootfs_s, import_s, found.size)


def rootfs(recipe: Recipe, cache_dir: Path | None = None) -> tuple[Path, float]:
    """The cached root file system tarball of `recipe`, built with mmdebstrap when missing (60-90 s);
    returns it and the seconds spent building (0 when cached)."""
    cache_dir = cache_dir or IMAGE_CACHE
    final = cache_dir / recipe.hash / "rootfs.tar"
    if final.is_file():
        return final, 0.0
    if shutil.which("mmdebstrap") is None:
        raise GwlabError("mmdebstrap not found (run 'make setup' or apt-get install mmdebstrap)")
    if any(c.isspace() for c in str(cache_dir)):
        raise GwlabError(f"GWLAB_IMAGE_CACHE={cache_dir}: no spaces allowed (mmdebstrap's copy-in splits on them)")
    cache_dir.mkdir(parents=True, exist_ok=True)
    with locked(cache_dir):  # one build at a time; a second builder then finds the tarball
        if final.is_file():
            return final, 0.0
        start = time.monotonic()
        work = Path(tempfile.mkdtemp(prefix=f".{recipe.hash}-", dir=cache_dir))
        try:
            _debootstrap(recipe, work)
            final.parent.mkdir(exist_ok=True)
            (work / "rootfs.tar").replace(final)
            (final.parent / "recipe.json").write_text(json.dumps(asdict(recipe), indent=2) + "\n", encoding="utf-8")
        finally:
            remove_tree(work)
        for old in cache_dir.iterdir():  # one cached tarball (150 MB) at a time
            if old.is_dir() and old.name != recipe.hash and not old.name.startswith("."):
                remove_tree(old)
    return final, time.monotonic() - start


def _debootstrap(recipe: Recipe, work: Path) -> None:
    wheel_dir = work / "wheels"
    wheels.rebuild("pip", wheel_dir).replace(wheel_dir / PIP_WHEEL)
    wheels.rebuild("exabgp", wheel_dir).replace(wheel_dir / recipe.exabgp_wheel)
    (work / "tmp").mkdir()
    log = work / "mmdebstrap.log"
    env = {**os.environ, "TMPDIR": str(work / "tmp")}  # mmdebstrap's own chroot stays inside work/
    with open(log, "wb") as out:
        # nice: the build shares two cores with labs and tests.
        proc = subprocess.Popen(
            ["nice", "-n", "10", *recipe.mmdebstrap(wheel_dir, work / "rootfs.tar")],
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
        )
        try:
            code = _wait(proc)
        except BaseException:  # Ctrl-C: mmdebstrap cleans its chroot on SIGTERM; wait for it
            proc.terminate()
            proc.wait(timeout=120)
            raise
    if code != 0:
        raise GwlabError(diagnose(recipe, log.read_text(errors="replace"), code))


def _wait(proc: subprocess.Popen[bytes]) -> int:
    """The build's exit code; KeyboardInterrupt as soon as Ctrl-C, SIGTERM or SIGHUP has reached a
    gwlab that catches them only at safe points (an `up` that builds the image: lab.runtime.interrupts)."""
    while True:
        try:
            return proc.wait(timeout=0.2)
        except subprocess.TimeoutExpired:
            check_interrupted()


def diagnose(recipe: Recipe, output: str, code: int) -> str:
    """One line for a failed mmdebstrap: which mirror it could not reach, which package is missing."""
    if any(marker in output for marker in UNREACHABLE):
        failed = re.findall(r"(?:Failed to fetch|Could not connect to|Unable to connect to)\s+(\S+)", output)
        mirror = next(
            (m for m in (recipe.security_mirror, recipe.mirror) if any(f.startswith(m) for f in failed)), recipe.mirror
        )
        env = "GWLAB_DEBIAN_SECURITY_MIRROR" if mirror == recipe.security_mirror else "GWLAB_DEBIAN_MIRROR"
        fix = f"check the network, or set {env} to a reachable mirror"
        return f"image build: cannot reach the Debian mirror {mirror} ({fix})"
    missing = re.search(r"Unable to locate package (\S+)", output)
    if missing:
        return f"image build: Debian {recipe.suite} has no package {missing.group(1)} (fix the package list)"
    errors = [line.strip() for line in output.splitlines() if line.startswith(("E:", "mmdebstrap: error"))]
    last = (errors or [line for line in output.splitlines() if line.strip()] or ["no output"])[-1]
    return f"image build: mmdebstrap failed (exit {code}): {last[:300]}"


def frr_ids(tar: Path) -> tuple[int, int]:
    """uid and gid of user frr inside the root file system (host dirs bound into a node are chowned to them)."""
    with tarfile.open(tar) as archive:
        texts = {}
        for name in ("etc/passwd", "etc/group"):
            member = next((m for m in (f"./{name}", name) if m in archive.getnames()), None)
            handle = archive.extractfile(member) if member else None
            texts[name] = handle.read().decode() if handle else ""
    uid = next((line.split(":")[2] for line in texts["etc/passwd"].splitlines() if line.startswith("frr:")), None)
    gid = next((line.split(":")[2] for line in texts["etc/group"].splitlines() if line.startswith("frr:")), None)
    if uid is None or gid is None:
        raise GwlabError(f"{tar}: no user frr in the image (is frr in the package list?)")
    return int(uid), int(gid)


def frr_owner(engine: Engine, tag: str) -> tuple[int, int]:
    """uid and gid of frr in the image `tag` (from its labels): host dirs bound into a node where FRR
    writes (its /run/frr, its log dir) must belong to them."""
    found = inspect(engine, tag)
    if found is None:
        raise GwlabError(f"{engine.name}: image {tag} not found (run 'gwlab image build')")
    try:
        return int(found.labels[FRR_UID_LABEL]), int(found.labels[FRR_GID_LABEL])
    except (KeyError, ValueError):
        raise GwlabError(f"{engine.name}: {tag} has no {FRR_UID_LABEL} label (not a gwlab image: rebuild it)") from None


def import_rootfs(engine: Engine, tar: Path, recipe: Recipe) -> None:
    """Import the tarball as recipe.tag (3-6 s); a failed or interrupted import leaves no tag."""
    uid, gid = frr_ids(tar)
    # One LABEL per --change: podman reads "LABEL a=1 b=2" as the single label a="1 b=2".
    labels = [f"LABEL {HASH_LABEL}={recipe.hash}", f"LABEL {FRR_UID_LABEL}={uid}", f"LABEL {FRR_GID_LABEL}={gid}"]
    try:
        with calling(engine.name, f"import {recipe.tag}"):
            engine.client.image.import_(tar, tag=recipe.tag, changes=[*recipe.changes(), *labels])
    except BaseException:
        remove(engine, [recipe.tag], missing_ok=True)
        raise


def list_images(engine: Engine) -> list[ImageInfo]:
    """Every gwlab image in the engine's store, newest first."""
    with calling(engine.name, "list images"):
        images = engine.client.image.list(filters=[("label", HASH_LABEL)])
    found = []
    for image in images:
        labels = dict(image.config.labels or {})
        for tag in image.repo_tags or [f"<none>@{image.id[:19]}"]:
            found.append(
                ImageInfo(tag.removeprefix("localhost/"), labels.get(HASH_LABEL, ""), image.size, image.created, labels)
            )
    return sorted(found, key=lambda i: i.created, reverse=True)


def remove(engine: Engine, tags: list[str] | None = None, missing_ok: bool = False) -> list[str]:
    """Remove gwlab images (default: all of them) from the engine; returns the tags removed. An image
    a container still uses is refused with the engine's message (take its lab down first)."""
    if tags is None:
        tags = [i.tag for i in list_images(engine)]
    removed = []
    for tag in tags:
        if missing_ok and inspect(engine, tag) is None:
            continue
        with calling(engine.name, f"remove {tag}"):
            engine.client.image.remove(tag)
        removed.append(tag)
    return removed


def remove_cache(cache_dir: Path | None = None) -> None:
    """Delete the cached root file system tarballs (the next build runs mmdebstrap again)."""
    cache_dir = cache_dir or IMAGE_CACHE
    if cache_dir.is_dir():
        with locked(cache_dir):
            for entry in cache_dir.iterdir():
                remove_tree(entry)
