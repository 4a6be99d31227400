"""What a run tells its reader: `report.json`, `junit.xml`, `timeline.png` and a terminal summary.

Everything here is a pure function of a `RunReport`: no lab, no clock, no network. The same report
always produces the same JSON and the same JUnit file, byte for byte. One module each: `data` (the
verdict and report.json), `junit`, `timeline` (with `timeline_layout`), `summary` (the terminal).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from controller.analysis import UNKNOWN_PATH
from controller.report.data import (
    direction_key,
    oracle_match,
    overall_passed,
    profile_text,
    report_data,
    report_json,
    rounded,
)
from controller.report.junit import junit_tree, junit_xml
from controller.report.summary import WIDE_TABLE_COLUMNS, print_summary, summary_table
from controller.report.timeline import render_timeline
from controller.report.timeline_layout import path_colors
from controller.results import RunReport

REPORT_JSON = "report.json"
JUNIT_XML = "junit.xml"
TIMELINE_PNG = "timeline.png"


def _atomic_write(path: Path, write: Callable[[Path], object]) -> None:
    """Write through a temporary file in the same directory, so readers never see half a file."""
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def write_report(report: RunReport, directory: Path) -> dict[str, Path]:
    """Write report.json, junit.xml and timeline.png into `directory` (created); their paths by kind."""
    directory.mkdir(parents=True, exist_ok=True)
    out = {
        "json": directory / REPORT_JSON,
        "junit": directory / JUNIT_XML,
        "timeline": directory / TIMELINE_PNG,
    }
    _atomic_write(out["json"], lambda p: p.write_text(report_json(report), encoding="utf-8"))
    _atomic_write(out["junit"], lambda p: p.write_text(junit_xml(report), encoding="utf-8"))
    _atomic_write(out["timeline"], lambda p: render_timeline(report, p))
    return out


__all__ = [
    "JUNIT_XML",
    "REPORT_JSON",
    "TIMELINE_PNG",
    "UNKNOWN_PATH",
    "WIDE_TABLE_COLUMNS",
    "direction_key",
    "junit_tree",
    "junit_xml",
    "oracle_match",
    "overall_passed",
    "path_colors",
    "print_summary",
    "profile_text",
    "render_timeline",
    "report_data",
    "report_json",
    "rounded",
    "summary_table",
    "write_report",
]
