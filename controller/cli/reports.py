"""What `run` and `chaos` share: where the report goes, and the report written, summarised or given as
JSON, with the exit code its verdict says."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from controller.cli.output import console, emit_json
from controller.results import RunReport
from lab.errors import GwlabError

Command = TypeVar("Command", bound=Callable[..., Any])


def report_option(default: str) -> Callable[[Command], Command]:
    return click.option(
        "--report",
        "report_dir",
        type=click.Path(path_type=Path),
        default=None,
        help=f"Write report.json, junit.xml and timeline.png here (default: {default}).",
    )


def publish(report: RunReport, directory: Path, as_json: bool, failed: str, **extra: Any) -> dict[str, Path]:
    """Write the report's files; print its summary (or its JSON, `extra` added); a failed verdict is an
    error that says `failed` and where the report is."""
    from controller.report import print_summary, report_data, write_report

    paths = write_report(report, directory)
    if as_json:
        emit_json({**report_data(report), **extra, "files": {kind: str(path) for kind, path in paths.items()}})
    else:
        print_summary(report, console)
        console.print(f"report: {paths['json']} (also {paths['junit'].name}, {paths['timeline'].name})")
    if not report.passed:
        error = GwlabError(f"{failed}: see {paths['json']}")
        error.reported = as_json
        raise error
    return paths
