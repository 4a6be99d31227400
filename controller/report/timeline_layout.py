"""The timeline picture's layout, pure: path colours, rows per flow, and label stacking above the plot."""

from __future__ import annotations

import itertools
import re
import statistics
from collections.abc import Iterable

from controller.analysis import UNKNOWN_PATH
from controller.report.data import direction_key
from controller.results import FlowStats, RunReport

# Path colours: no pure red or green (failure and restore lines use them), grey means "unknown".
PATH_COLORS = [
    "#1f77b4",  # blue
    "#ff7f0e",  # orange
    "#9467bd",  # purple
    "#17becf",  # cyan
    "#8c564b",  # brown
    "#e377c2",  # pink
    "#bcbd22",  # olive
    "#393b79",  # indigo
    "#aec7e8",  # light blue
    "#ffbb78",  # light orange
    "#c5b0d5",  # light purple
    "#9edae5",  # light cyan
    "#c49c94",  # light brown
    "#f7b6d2",  # light pink
    "#dbdb8d",  # light olive
    "#6b6ecf",  # light indigo
]
UNKNOWN_COLOR = "#9a9a9a"
INJECT_COLOR = "#b2182b"
RESTORE_COLOR = "#1a9641"
CONVERGE_COLOR = "#5e3c99"
GAP_COLOR = "#d7301f"
FIB_COLORS = {"add": "#1a9641", "del": "#b2182b"}


def path_colors(labels: Iterable[str]) -> dict[str, str]:
    """A stable colour per path label (sorted), "unknown" always grey."""
    known = sorted({label for label in labels if label != UNKNOWN_PATH})
    colors = {label: PATH_COLORS[i % len(PATH_COLORS)] for i, label in enumerate(known)}
    colors[UNKNOWN_PATH] = UNKNOWN_COLOR
    return colors


def _flow_label(flow: FlowStats) -> str:
    return f"flow {flow.flow} {flow.direction}"


def rows(report: RunReport) -> tuple[list[str], dict[int, int], list[FlowStats | None]]:
    """Row labels (top to bottom), flow id -> row, and the FlowStats of each row.

    Flows are grouped by direction (s1->azure, azure->s1, ...), then by number. Arrivals of a flow
    the report has no FlowStats for still get a row of their own, at the bottom.
    """
    flows = sorted(report.flows, key=lambda f: (direction_key(f.direction), f.flow))
    labels: list[str] = []
    row_of: dict[int, int] = {}
    stats: list[FlowStats | None] = []
    for flow in flows:
        if flow.flow in row_of:  # two FlowStats with one number: arrivals cannot tell them apart
            continue
        row_of[flow.flow] = len(labels)
        labels.append(_flow_label(flow))
        stats.append(flow)
    for flow_id in sorted({a.flow for a in report.arrivals} - set(row_of)):
        row_of[flow_id] = len(labels)
        labels.append(f"flow {flow_id}")
        stats.append(None)
    return labels, row_of, stats


def median_interval(times: list[float]) -> float | None:
    if len(times) < 3:
        return None
    ordered = sorted(times)
    return statistics.median(b - a for a, b in itertools.pairwise(ordered))


def natural(name: str) -> list[tuple[int, str]]:
    """Sort key that puts n2 before n10."""
    return [(int(part), "") if part.isdigit() else (-1, part) for part in re.split(r"(\d+)", name) if part]


def _stack(spans: list[tuple[float, float]]) -> list[int]:
    """Greedy stacking of label spans (x0, x1): the lowest level where the label overlaps nothing."""
    ends: list[float] = []
    levels: list[int] = []
    for x0, x1 in spans:
        level = next((i for i, end in enumerate(ends) if x0 > end), len(ends))
        if level == len(ends):
            ends.append(x1)
        ends[level] = x1
        levels.append(level)
    return levels


# A label above the plot: x (ms), text, colour, priority (0 kept longest: the injection).
Mark = tuple[float, str, str, int]


def place_marks(marks: list[Mark], ms_per_char: float, most: int = 4) -> list[tuple[Mark, int]]:
    """Labels with their stacking level, at most `most` levels: when failures crowd together, the
    converged and restored labels go first (their lines stay, the legend says what they are), then
    the injection labels shrink to the target; what still does not fit is stacked anyway."""
    kept = sorted(marks, key=lambda m: m[0])
    for attempt in range(4):
        if attempt == 1:
            kept = [m for m in kept if m[3] < 2]
        elif attempt == 2:
            kept = [m for m in kept if m[3] < 1]
        elif attempt == 3:
            kept = [(x, " ".join(text.split(" ")[:2]), c, p) for x, text, c, p in kept]
        levels = _stack([(x, x + (len(t) + 1.5) * ms_per_char) for x, t, _, _ in kept])
        if max(levels, default=0) < most:
            break
    return [(m, level % most) for m, level in zip(kept, levels, strict=True)]
