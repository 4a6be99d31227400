"""Fixtures of the container tests: an engine per kind (docker through the lab-mode daemon, started for
the session when none runs and stopped at its end if unused), the node image built once per session
(a cached tag is a ~35 ms hit), and helpers that poll with a deadline."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from lab.poll import poll
from lab.runtime.containers import dockerd, image
from lab.runtime.containers.engine import Engine, engine
from tests.helpers import require_root, require_tool


@pytest.fixture(scope="session")
def docker() -> Iterator[Engine]:
    require_root()
    require_tool("docker")
    require_tool("dockerd")
    with dockerd.in_use():
        yield engine("docker")


@pytest.fixture(scope="session")
def podman() -> Engine:
    require_root()
    require_tool("podman")
    require_tool("catatonit")
    return engine("podman")


@pytest.fixture(scope="session", params=["docker", "podman"])
def any_engine(request: pytest.FixtureRequest) -> Engine:
    found: Engine = request.getfixturevalue(request.param)
    return found


@pytest.fixture(scope="session")
def node_image(any_engine: Engine) -> str:
    """The node image's tag, in any_engine's store (built or imported on first use)."""
    require_tool("mmdebstrap")
    return image.build(any_engine).tag


def until(condition: Callable[[], object], timeout_s: float, what: str) -> object:
    """Poll `condition` every 50 ms until it returns something truthy; fail naming `what` at the deadline."""
    result = poll(condition, timeout_s=timeout_s, interval_s=0.05)
    if not result.ok:
        pytest.fail(f"{what}: not within {timeout_s:g} s")
    return result.value
