"""The runtimes by name: what `up --runtime` accepts, LabState.runtime records and `down` asks.

Each backend is a Runtime subclass (lab.runtime.base) in a module of its own, imported only when it
is asked for: a backend whose module is missing or cannot import (the container backends need their
engine) leaves the others working.
"""

from __future__ import annotations

import importlib

from lab.errors import GwlabError, LabError, Problem
from lab.runtime.base import Runtime

DEFAULT = "netns"
BACKENDS = {
    "netns": "lab.runtime.netns:NetnsRuntime",
    "docker": "lab.runtime.containers.docker:DockerRuntime",
    "podman": "lab.runtime.containers.podman:PodmanRuntime",
}


def _load(name: str) -> type[Runtime] | None:
    module, _, attr = BACKENDS[name].partition(":")
    try:
        found = getattr(importlib.import_module(module), attr)
    except (ImportError, AttributeError):
        return None
    return found if isinstance(found, type) and issubclass(found, Runtime) else None


def backend(name: str) -> type[Runtime]:
    """The backend called `name`, or one line saying why there is none."""
    if name not in BACKENDS:
        raise LabError("--runtime", [Problem("", f"'{name}' is not a runtime (use one of: {', '.join(BACKENDS)})")])
    found = _load(name)
    if found is None:
        raise GwlabError(f"runtime {name} is not available in this gwlab ({BACKENDS[name]} cannot be imported)")
    return found


def installed() -> list[type[Runtime]]:
    """Every backend that imports, the default first."""
    return [cls for cls in (_load(n) for n in BACKENDS) if cls is not None]
