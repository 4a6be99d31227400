"""The podman runtime: every node a podman container (lab.runtime.containers.runtime says how).

Rootful podman needs no daemon: each call is the podman CLI, with gwlab's containers.conf (default
ulimits this host can grant, cgroupfs). `--init` is catatonit, which must be installed.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from lab.errors import GwlabError
from lab.runtime.containers.engine import INSTALL_HINT, Engine, binary, engine
from lab.runtime.containers.runtime import ContainerRuntime

CATATONIT = (Path("/usr/libexec/podman/catatonit"), Path("/usr/bin/catatonit"))  # podman's --init


class PodmanRuntime(ContainerRuntime):
    name = "podman"
    engine_name = "podman"

    @classmethod
    def check_engine(cls) -> None:
        binary("podman")
        if not any(path.exists() for path in CATATONIT) and shutil.which("catatonit") is None:
            raise GwlabError(f"catatonit not found: podman's --init needs it ({INSTALL_HINT['podman']})")

    @classmethod
    def present(cls) -> bool:
        return shutil.which("podman") is not None

    @classmethod
    @contextmanager
    def using(cls) -> Iterator[Engine]:
        yield engine("podman")
