"""The terminal summary: one row per failure, per-direction values on aligned lines, and the verdict."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any

from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text

from controller.report.data import direction_key, oracle_match, overall_passed, profile_text
from controller.results import Measured, RunReport


def _directions(*maps: Mapping[str, object]) -> list[str]:
    return sorted({d for m in maps for d in m}, key=direction_key)


def _fmt_ms(value: float | None) -> str:
    if value is None or not math.isfinite(value):
        return "—"
    return f"{value:,.1f}"


def _fmt_path(elements: list[str] | None) -> str:
    if elements is None:
        return "?"
    return ", ".join(elements) if elements else "none"


def _lines(directions: list[str], cell: Callable[[str], Text]) -> Text:
    return Text("\n").join(cell(d) for d in directions) if directions else Text("—")


# Below this many columns, print_summary uses the compact table.
WIDE_TABLE_COLUMNS = 140


def _summary_caption(report: RunReport) -> Text:
    verdict = overall_passed(report)
    failed = sum(not e.passed for e in report.expectations)
    total = len(report.expectations)
    return Text.assemble(
        (profile_text(report.profile), "bold"),
        f"   ·   expectations {total - failed}/{total} passed   ·   ",
        ("PASSED" if verdict else "FAILED", "bold green" if verdict else "bold red"),
    )


def _failure_cells(f: Measured, target: str, mode: str, detection: str) -> dict[str, Text]:
    """Every cell of a change's row (a failure or its restore), by column key; per-direction values
    one line per direction."""
    dirs = _directions(f.outage_ms, f.lost, f.path_before, f.path_after, f.expected_path_after)
    match = oracle_match(f)

    def path(d: str) -> Text:
        before, after = f.path_before.get(d), f.path_after.get(d)
        style = "yellow" if before is not None and after is not None and before != after else ""
        return Text(f"{_fmt_path(before)} → {_fmt_path(after)}", style=style)

    def expected(d: str) -> Text:
        if d not in f.expected_path_after:
            return Text("—", style="dim")
        return Text(_fmt_path(f.expected_path_after[d]))

    return {
        "target": Text(target),
        "mode": Text(mode),
        "detection": Text(detection),
        "failure": Text.assemble((f"{target} {mode}", "bold"), "\n", detection),
        "direction": _lines(dirs, Text),
        "outage": _lines(dirs, lambda d: Text(_fmt_ms(f.outage_ms.get(d)))),
        "lost": _lines(dirs, lambda d: Text(str(f.lost[d]) if d in f.lost else "—")),
        "converged": Text(_fmt_ms(f.converged_ms), style="" if f.converged_ms is not None else "red"),
        "path": _lines(dirs, path),
        "expected": _lines(dirs, expected),
        "symmetric": Text(
            {True: "yes", False: "no", None: "—"}[f.symmetric_after],
            style="yellow" if f.symmetric_after is False else "",
        ),
        "check": Text(
            {True: "PASS", False: "FAIL", None: "—"}[match],
            style={True: "bold green", False: "bold red", None: "dim"}[match],
        ),
    }


def summary_table(report: RunReport, compact: bool = False) -> Table:
    """One row per failure, per-direction values on aligned lines within the row; the caption says
    the profile, how many expectations passed and the verdict.

    `compact` (for terminals under WIDE_TABLE_COLUMNS): target, mode and detection share one
    column, "asym." joins the check, lighter borders.
    """
    table = Table(
        title=f"{report.lab} — scenario {report.scenario}",
        caption=_summary_caption(report),
        caption_justify="left",
        show_lines=True,
        header_style="bold",
        box=box.SQUARE if compact else box.HEAVY_HEAD,
        padding=(0, 0 if compact else 1),
        collapse_padding=compact,
    )
    # Short columns never wrap (their lines, one per direction, stay aligned across the row); on
    # a narrow terminal the two path columns fold instead.
    columns: list[tuple[str, str, dict[str, Any]]] = [
        ("target", "target", {}),
        ("mode", "mode", {}),
        ("detection", "detection\n(expected)", {}),
        ("direction", "direction", {}),
        ("outage", "outage\nms", {"justify": "right"}),
        ("lost", "lost", {"justify": "right"}),
        ("converged", "converged\nms", {"justify": "right"}),
        ("path", "path before → after", {"overflow": "fold", "ratio": 3}),
        ("expected", "expected\n(oracle)", {"overflow": "fold", "ratio": 1}),
        ("symmetric", "sym.", {"justify": "center"}),
        ("check", "check", {"justify": "center"}),
    ]
    if compact:
        columns = [
            ("failure", "failure\n(detection)", {}),
            *columns[3:6],
            ("converged", "conv.\nms", {"justify": "right"}),
            ("path", "before → after", {"overflow": "fold", "ratio": 3, "min_width": 12}),
            ("expected", "oracle", {"overflow": "fold", "ratio": 1, "min_width": 6}),
            columns[-1],
        ]
    for _, header, options in columns:
        table.add_column(header, no_wrap="overflow" not in options, **options)
    for f in report.failures:
        changes: list[tuple[Measured, str, str]] = [
            (f, f.mode, f"{f.detection}\n({_fmt_ms(f.expected_detection_ms)} ms)")
        ]
        if f.restore is not None:
            changes.append((f.restore, "restored", "—"))
        for change, mode, detection in changes:
            cells = _failure_cells(change, f.target, mode, detection)
            if compact and change.symmetric_after is False:
                cells["check"].append("\nasym.", style="yellow")
            table.add_row(*(cells[key] for key, _, _ in columns))
    return table


def print_summary(report: RunReport, console: Console) -> None:
    """The table (its caption: profile and verdict), then each failed expectation with its detail."""
    if report.failures:
        console.print(summary_table(report, compact=console.width < WIDE_TABLE_COLUMNS))
    else:
        console.print(Text(f"{report.lab} — scenario {report.scenario}: no failures injected", style="bold"))
    for e in report.expectations:
        if not e.passed:
            line = Text.assemble(("FAIL ", "bold red"), f"step {e.step}: {e.description}")
            if e.detail:
                line.append(f" — {e.detail}", style="dim")
            console.print(line)
    if not report.failures:  # with failures, the table's caption says this
        console.print(_summary_caption(report))
