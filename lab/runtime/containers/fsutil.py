"""Locks and removal of work directories that a chroot build may have left mounts in."""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

from lab.errors import GwlabError


@contextlib.contextmanager
def locked(path: Path, mode: int = fcntl.LOCK_EX) -> Iterator[None]:
    """flock on `path` (a file, created if missing, or a directory) for the duration; released on exit,
    also when the process is killed."""
    fd = (
        os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        if path.is_dir()
        else os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    )
    try:
        fcntl.flock(fd, mode)
        yield
    finally:
        os.close(fd)


def mounts_under(path: Path) -> list[str]:
    """Mount points at or below `path`, deepest first."""
    root = str(path.resolve())
    found = []
    with open("/proc/self/mountinfo", encoding="utf-8") as f:
        for line in f:
            point = line.split()[4].encode().decode("unicode_escape")  # octal escapes such as \040
            if point == root or point.startswith(root + "/"):
                found.append(point)
    return sorted(found, key=len, reverse=True)


def remove_tree(path: Path) -> None:
    """rm -rf, after unmounting what an interrupted chroot build left below it. shutil.rmtree would
    descend into a bind-mounted /dev or /proc and delete the host's files, so it never runs while a
    mount is left."""
    if not path.exists():
        return
    for point in mounts_under(path):
        subprocess.run(["umount", "--lazy", point], check=False, capture_output=True)
    left = mounts_under(path)
    if left:
        raise GwlabError(f"{path}: {left[0]} is still mounted (umount it, then remove {path})")
    shutil.rmtree(path, ignore_errors=True)
