"""Imports point one way: the command line above the controller above the lab model and runtime.

Checked on the source with ast, so an import inside a function, or one behind TYPE_CHECKING, counts
too: `lab/` never imports `controller`, and nothing in `controller/` but `controller/cli/` imports
`controller.cli`. Nothing outside lab/runtime creates or enters namespaces itself: pyroute2's
namespace classes and lab.runtime.nsenter stay inside the runtime.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from lab.runtime.backends import BACKENDS, backend, installed
from lab.runtime.base import Runtime
from tests.helpers import REPO


def imported_modules(path: Path) -> list[tuple[int, str]]:
    """(line, module) of every import in the file; `from a import b` gives both a and a.b."""
    found: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.lineno, node.module))
            found += [(node.lineno, f"{node.module}.{alias.name}") for alias in node.names]
    return found


def offending(files: list[Path], forbidden: str) -> list[str]:
    return [
        f"{path.relative_to(REPO)}:{line}: imports {module}"
        for path in files
        for line, module in imported_modules(path)
        if module == forbidden or module.startswith(forbidden + ".")
    ]


def python_files(package: str) -> list[Path]:
    return sorted((REPO / package).rglob("*.py"))


def test_lab_never_imports_the_controller() -> None:
    assert offending(python_files("lab"), "controller") == []


def test_only_the_command_line_imports_the_command_line() -> None:
    others = [p for p in python_files("controller") if "cli" not in p.relative_to(REPO / "controller").parts[:1]]
    assert others, "controller/ has no modules outside controller/cli?"
    assert offending(others, "controller.cli") == []


@pytest.mark.parametrize("forbidden", ["pyroute2.NetNS", "pyroute2.netns", "lab.runtime.nsenter"])
def test_only_the_runtime_enters_namespaces(forbidden: str) -> None:
    outside = [p for p in python_files("lab") + python_files("controller") if "runtime" not in p.parts]
    assert offending(outside, forbidden) == []


def test_the_checker_sees_imports_inside_functions(tmp_path: Path) -> None:
    sample = tmp_path / "sample.py"
    sample.write_text("def f():\n    from controller.oracle import predict\n    import controller.cli.app\n")
    assert [m for _, m in imported_modules(sample)] == [
        "controller.oracle",
        "controller.oracle.predict",
        "controller.cli.app",
    ]


def test_every_backend_that_imports_implements_the_runtime_interface() -> None:
    classes = installed()
    assert backend("netns") in classes
    for cls in classes:
        assert issubclass(cls, Runtime) and cls.name in BACKENDS
        assert not getattr(cls, "__abstractmethods__", None), f"{cls.name} leaves {cls.__abstractmethods__} open"
