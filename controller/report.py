"""What a run tells its reader: `report.json`, `junit.xml`, `timeline.png` and a terminal summary.

Everything here is a pure function of a `RunReport`: no lab, no clock, no network. The same report
always produces the same JSON and the same JUnit file, byte for byte.

- `report.json`: `RunReport.to_json()` with every float rounded to 0.1 ms, keys sorted, and the
  overall verdict, lab, scenario and profile guaranteed at the top level.
- `junit.xml`: one test suite `gwlab.<scenario>`, one test case per expectation, for Jenkins/GitLab.
- `timeline.png`: one row per probe flow, each received packet a tick coloured by the transit
  element that carried it; failures, restorations, convergence, each flow's longest gap and the FIB
  changes per node on a shared time axis.
"""

from __future__ import annotations

import itertools
import json
import math
import os
import re
import statistics
import xml.etree.ElementTree as ET
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text

from controller.results import FailureResult, FlowStats, RunReport

REPORT_JSON = "report.json"
JUNIT_XML = "junit.xml"
TIMELINE_PNG = "timeline.png"

UNKNOWN_PATH = "unknown"  # label of arrivals whose transit element the data plane did not mark


# --------------------------------------------------------------------------------------------------
# shared helpers


def overall_passed(report: RunReport) -> bool:
    """The run passed: the controller said so and no expectation failed."""
    return report.passed and all(e.passed for e in report.expectations)


def profile_text(profile: str) -> str:
    """How the timing profile is said in every report ("fast+custom": the lab file overrides timers)."""
    base, _, custom = profile.partition("+")
    text = {"fast": "timers scaled down", "realistic": "Azure's documented timers"}.get(base)
    if custom:
        text = f"{text}, some overridden by the lab file" if text else "timers from the lab file"
    return f"{profile} profile: {text}" if text else f"{profile} profile"


def direction_key(direction: str) -> tuple[str, int, str]:
    """Order directions per site, the site's way to Azure first: s1->azure, azure->s1, s2->azure..."""
    if direction.endswith("->azure"):
        return (direction.removesuffix("->azure"), 0, direction)
    if direction.startswith("azure->"):
        return (direction.removeprefix("azure->"), 1, direction)
    return (direction, 2, direction)


def _directions(*maps: Mapping[str, object]) -> list[str]:
    return sorted({d for m in maps for d in m}, key=direction_key)


def _path_label(path: str) -> str:
    return path or UNKNOWN_PATH


def _element(name: str) -> str:
    """The node of a transit element: "gw0/t-s1-vpn0" -> "gw0" (the oracle predicts nodes)."""
    return name.split("/", 1)[0]


def oracle_match(failure: FailureResult) -> bool | None:
    """Measured paths after the failure are the oracle's, per direction; None when there is no oracle.

    A measured element finer than the oracle's (a tunnel "gw0/t-s1-vpn0" where the oracle says "gw0")
    counts as its node. An empty expected list means the oracle predicts no path (black hole).
    """
    if not failure.expected_path_after:
        return None
    for direction, expected in failure.expected_path_after.items():
        measured = failure.path_after.get(direction)
        if measured is None:
            return False
        want = set(expected)
        got = {m if m in want else _element(m) for m in measured}
        if got != want:
            return False
    return True


def _fmt_ms(value: float | None) -> str:
    if value is None or not math.isfinite(value):
        return "—"
    return f"{value:,.1f}"


def _fmt_path(elements: list[str] | None) -> str:
    if elements is None:
        return "?"
    return ", ".join(elements) if elements else "none"


# --------------------------------------------------------------------------------------------------
# report.json


def _round(value: Any) -> Any:
    """Every float to 0.1 ms; NaN/infinity (not JSON) to null; -0.0 to 0.0."""
    if isinstance(value, float):
        if not math.isfinite(value):
            return None
        return round(value, 1) + 0.0
    if isinstance(value, dict):
        return {str(k): _round(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_round(v) for v in value]
    return value


def report_data(report: RunReport) -> dict[str, Any]:
    """The JSON document: `to_json()`, rounded, with the verdict and identity at the top level."""
    data: dict[str, Any] = _round(report.to_json())
    data["passed"] = overall_passed(report)
    data["lab"] = report.lab
    data["scenario"] = report.scenario
    data["profile"] = report.profile
    data["profile_text"] = profile_text(report.profile)
    data.setdefault("failures", [])
    return data


def report_json(report: RunReport) -> str:
    return json.dumps(report_data(report), sort_keys=True, indent=2, ensure_ascii=False, allow_nan=False) + "\n"


# --------------------------------------------------------------------------------------------------
# junit.xml

# Characters XML 1.0 cannot carry at all (daemon output sometimes has them).
_XML_ILLEGAL = re.compile("[^\x09\x0a\x0d\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def _xml_text(text: str) -> str:
    return _XML_ILLEGAL.sub("\ufffd", text)


def _seconds(ms: float) -> str:
    return f"{max(ms, 0.0) / 1000:.3f}" if math.isfinite(ms) else "0.000"


def _timestamp(started: str) -> str | None:
    """JUnit's timestamp: ISO 8601 without a zone (UTC), to the second."""
    try:
        when = datetime.fromisoformat(started)
    except ValueError:
        return None
    if when.tzinfo is not None:
        when = when.astimezone(UTC).replace(tzinfo=None)
    return when.isoformat(timespec="seconds")


def junit_tree(report: RunReport) -> ET.Element:
    """<testsuites><testsuite name="gwlab.<scenario>"> with one <testcase> per expectation.

    A run the controller failed without any failed expectation (it stopped early, say) gets one
    extra failing test case "run", so that CI never shows such a run green.
    """
    cases: list[ET.Element] = []
    failed = 0
    for exp in report.expectations:
        case = ET.Element(
            "testcase",
            {
                "classname": _xml_text(report.lab),
                "name": _xml_text(f"step {exp.step}: {exp.description}"),
                "time": _seconds(exp.duration_ms),
            },
        )
        if not exp.passed:
            failed += 1
            detail = _xml_text(exp.detail or "expectation not met")
            failure = ET.SubElement(
                case, "failure", {"message": detail.splitlines()[0] if detail else "", "type": exp.kind}
            )
            failure.text = detail
        cases.append(case)
    if not report.passed and failed == 0:
        failed += 1
        case = ET.Element("testcase", {"classname": _xml_text(report.lab), "name": "run", "time": "0.000"})
        detail = _xml_text("\n".join(report.notes) or "the run failed")
        failure = ET.SubElement(case, "failure", {"message": detail.splitlines()[0], "type": "run"})
        failure.text = detail
        cases.append(case)

    counts = {"tests": str(len(cases)), "failures": str(failed), "errors": "0", "skipped": "0"}
    time = _seconds(report.duration_ms)
    root = ET.Element("testsuites", {"name": "gwlab", **counts, "time": time})
    suite_attrs = {"name": _xml_text(f"gwlab.{report.scenario}"), **counts, "time": time}
    if (stamp := _timestamp(report.started)) is not None:
        suite_attrs["timestamp"] = stamp
    suite = ET.SubElement(root, "testsuite", suite_attrs)
    properties = ET.SubElement(suite, "properties")
    for name, value in (
        ("lab", report.lab),
        ("scenario", report.scenario),
        ("profile", report.profile),
        ("profile_text", profile_text(report.profile)),
        ("started", report.started),
    ):
        ET.SubElement(properties, "property", {"name": name, "value": _xml_text(value)})
    suite.extend(cases)
    if report.notes:
        ET.SubElement(suite, "system-out").text = _xml_text("\n".join(report.notes))
    return root


def junit_xml(report: RunReport) -> str:
    root = junit_tree(report)
    ET.indent(root)
    return '<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


# --------------------------------------------------------------------------------------------------
# timeline.png

# Path colours: no pure red or green (failure and restore lines use them), grey means "unknown".
_PATH_COLORS = [
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
_UNKNOWN_COLOR = "#9a9a9a"
_INJECT_COLOR = "#b2182b"
_RESTORE_COLOR = "#1a9641"
_CONVERGE_COLOR = "#5e3c99"
_GAP_COLOR = "#d7301f"
_FIB_COLORS = {"add": "#1a9641", "del": "#b2182b"}


def path_colors(labels: Iterable[str]) -> dict[str, str]:
    """A stable colour per path label (sorted), "unknown" always grey."""
    known = sorted({label for label in labels if label != UNKNOWN_PATH})
    colors = {label: _PATH_COLORS[i % len(_PATH_COLORS)] for i, label in enumerate(known)}
    colors[UNKNOWN_PATH] = _UNKNOWN_COLOR
    return colors


def _flow_label(flow: FlowStats) -> str:
    return f"flow {flow.flow} {flow.direction}"


def _rows(report: RunReport) -> tuple[list[str], dict[int, int], list[FlowStats | None]]:
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


def _median_interval(times: list[float]) -> float | None:
    if len(times) < 3:
        return None
    ordered = sorted(times)
    return statistics.median(b - a for a, b in itertools.pairwise(ordered))


def _natural(name: str) -> list[tuple[int, str]]:
    """Sort key that puts n2 before n10."""
    return [(int(part), "") if part.isdigit() else (-1, part) for part in re.split(r"(\d+)", name) if part]


def _levels(spans: list[tuple[float, float]]) -> list[int]:
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
_Mark = tuple[float, str, str, int]


def _place_marks(marks: list[_Mark], ms_per_char: float, most: int = 4) -> list[tuple[_Mark, int]]:
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
        levels = _levels([(x, x + (len(t) + 1.5) * ms_per_char) for x, t, _, _ in kept])
        if max(levels, default=0) < most:
            break
    return [(m, level % most) for m, level in zip(kept, levels, strict=True)]


def render_timeline(report: RunReport, path: Path) -> None:
    """Draw the timeline picture into `path` (PNG, 14 x 8 in at 100 dpi, no display needed)."""
    # Figure() without pyplot: no global backend switch, no GUI; savefig uses Agg for PNG.
    from matplotlib.figure import Figure
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch, Rectangle
    from matplotlib.ticker import FuncFormatter, MaxNLocator
    from matplotlib.transforms import blended_transform_factory

    labels, row_of, stats = _rows(report)
    n_rows = len(labels)
    fib = sorted((c for f in report.failures for c in f.fib_changes), key=lambda c: (c.node, c.t_ms, c.prefix))
    fib_nodes = sorted({c.node for c in fib}, key=_natural)

    # Time range: the run, every arrival and every event, from zero.
    times = [report.duration_ms]
    if report.arrivals:
        times += [min(a.received_ms for a in report.arrivals), max(a.received_ms for a in report.arrivals)]
    for f in report.failures:
        times.append(f.injected_ms)
        if f.restored_ms is not None:
            times.append(f.restored_ms)
        if f.converged_ms is not None:
            times.append(f.injected_ms + f.converged_ms)
    times += [c.t_ms for c in fib]
    finite = [t for t in times if math.isfinite(t)]
    x_lo = min([0.0, *finite])
    x_hi = max([x_lo + 1000.0, *finite])
    pad = (x_hi - x_lo) * 0.01
    x_lo, x_hi = x_lo - pad, x_hi + pad
    ms_per_px = (x_hi - x_lo) / 1050.0  # rough plot width in pixels, for label placement

    # Heights in inches: the FIB strip grows with its nodes, the flows get the rest (of ~6.3 in).
    fig = Figure(figsize=(14, 8), dpi=100, layout="constrained")
    fib_in = min(0.35 + 0.16 * len(fib_nodes), 2.2) if fib_nodes else 0.0
    main_in = 6.3 - (fib_in + 0.35 if fib_nodes else 0.0)
    if fib_nodes:
        grid = fig.add_gridspec(2, 1, height_ratios=[main_in, fib_in])
        ax = fig.add_subplot(grid[0])
        fax = fig.add_subplot(grid[1], sharex=ax)
    else:
        ax = fig.add_subplot()
        fax = None
    axes = [ax] if fax is None else [ax, fax]

    # Row geometry in points, to size the per-packet ticks so a busy flow reads as a solid bar.
    row_pt = main_in * 72 / max(n_rows, 1)
    tick = min(max(row_pt * 0.72, 2.0), 16.0)
    bar = min(tick / row_pt + 0.12, 0.9)  # height of a flow's bar in rows, for the gap shading

    # Packets, one scatter per path (the legend), rasterized: 64k ticks stay a small file.
    colors = path_colors(_path_label(a.path) for a in report.arrivals)
    by_path: dict[str, tuple[list[float], list[int]]] = defaultdict(lambda: ([], []))
    per_flow: dict[int, list[float]] = defaultdict(list)
    for a in report.arrivals:
        xs, ys = by_path[_path_label(a.path)]
        xs.append(a.received_ms)
        ys.append(row_of[a.flow])
        per_flow[a.flow].append(a.received_ms)
    path_handles: list[Any] = []
    for label in sorted(by_path, key=lambda p: (p == UNKNOWN_PATH, p)):
        xs, ys = by_path[label]
        ax.scatter(xs, ys, s=tick**2, marker="|", linewidths=0.9, c=colors[label], rasterized=True, zorder=2)
        path_handles.append(Line2D([], [], color=colors[label], marker="s", linestyle="", markersize=8, label=label))

    # Each flow's longest gap: shaded on its own row, with its length written in (or beside) it.
    gap_drawn = False
    for row, flow in enumerate(stats):
        if flow is None or flow.gap_start_ms is None or flow.longest_gap_ms <= 0:
            continue
        usual = _median_interval(per_flow.get(flow.flow, []))
        if usual is not None and flow.longest_gap_ms < max(3 * usual, 1.0):
            continue  # no gap worth showing: just the flow's normal spacing
        x0, width = flow.gap_start_ms, flow.longest_gap_ms
        ax.add_patch(
            Rectangle(
                (x0, row - bar / 2),
                width,
                bar,
                facecolor=_GAP_COLOR,
                alpha=0.18,
                edgecolor=_GAP_COLOR,
                linewidth=0.6,
                zorder=1,
            )
        )
        gap_drawn = True
        text = f"{width:,.0f} ms" if width >= 10 else f"{width:.1f} ms"
        inside = width / ms_per_px > 7 * len(text) + 6
        ax.text(
            x0 + width / 2 if inside else x0 + width + 4 * ms_per_px,
            row,
            text,
            ha="center" if inside else "left",
            va="center",
            fontsize=7 if row_pt >= 9 else 6,
            color="#7f0000",
            zorder=4,
            clip_on=True,
            bbox=None if inside else {"boxstyle": "square,pad=0.1", "fc": "white", "ec": "none", "alpha": 0.8},
        )

    # Failures: injected (solid red), converged (dotted purple), restored (dashed green), the
    # failure in effect shaded faintly; labels above the plot, stacked where they would collide.
    marks: list[_Mark] = []
    for f in report.failures:
        end = f.restored_ms if f.restored_ms is not None else x_hi
        for a_ in axes:
            a_.axvline(f.injected_ms, color=_INJECT_COLOR, linewidth=1.5, zorder=3)
            a_.axvspan(f.injected_ms, end, color=_INJECT_COLOR, alpha=0.035, linewidth=0, zorder=0)
            if f.converged_ms is not None:
                a_.axvline(
                    f.injected_ms + f.converged_ms,
                    color=_CONVERGE_COLOR,
                    linewidth=1.1,
                    linestyle=(0, (1, 1.5)),
                    zorder=3,
                )
            if f.restored_ms is not None:
                a_.axvline(f.restored_ms, color=_RESTORE_COLOR, linewidth=1.3, linestyle="--", zorder=3)
        marks.append((f.injected_ms, f"✖ {f.target} {f.mode}", _INJECT_COLOR, 0))
        if f.converged_ms is not None:
            marks.append((f.injected_ms + f.converged_ms, f"converged +{f.converged_ms:,.0f} ms", _CONVERGE_COLOR, 2))
        if f.restored_ms is not None:
            marks.append((f.restored_ms, f"↺ {f.target} restored", _RESTORE_COLOR, 1))
    placed = _place_marks(marks, 6.2 * ms_per_px)
    above = blended_transform_factory(ax.transData, ax.transAxes)
    for (x, text, color, _), level in placed:
        ax.annotate(
            text,
            xy=(x, 1.0),
            xycoords=above,
            xytext=(2, 3 + 12 * level),
            textcoords="offset points",
            fontsize=8,
            color=color,
            ha="left",
            va="bottom",
            annotation_clip=False,
            arrowprops=None,
        )
    n_levels = max((level for _, level in placed), default=-1) + 1

    # Rows: first flow at the top, one label per row (thinned when there are very many).
    ax.set_ylim(max(n_rows, 1) - 0.5, -0.5)
    step = 1 if n_rows <= 48 else math.ceil(n_rows / 40)
    ax.set_yticks(range(0, n_rows, step), labels[::step], fontsize=8 if n_rows <= 32 else 7)
    ax.tick_params(axis="y", length=0)
    previous = None
    for row, flow in enumerate(stats):
        direction = flow.direction if flow is not None else None
        if previous is not None and direction != previous:
            ax.axhline(row - 0.5, color="#555555", linewidth=0.6, zorder=1)
        previous = direction
    for row in range(0, n_rows, 2):
        ax.axhspan(row - 0.5, row + 0.5, color="#000000", alpha=0.025, linewidth=0, zorder=0)
    if not report.arrivals:
        ax.text(
            0.5,
            0.5,
            "no probe packets recorded",
            transform=ax.transAxes,
            ha="center",
            va="center",
            fontsize=12,
            color="#777777",
        )
    ax.set_xlim(x_lo, x_hi)
    ax.grid(axis="x", color="#000000", alpha=0.12, linewidth=0.6)
    ax.set_axisbelow(True)
    ms_format = FuncFormatter(lambda v, _pos: f"{v:,.0f}")
    bottom = fax if fax is not None else ax
    bottom.xaxis.set_major_formatter(ms_format)
    bottom.xaxis.set_major_locator(MaxNLocator(nbins=14, steps=[1, 2, 2.5, 5, 10]))
    bottom.set_xlabel("time since the run started (ms)", fontsize=9)
    if fax is not None:
        ax.tick_params(axis="x", labelbottom=False)

    # FIB changes: one strip row per node, a tick per route change (green add, red delete).
    fib_handles: list[Any] = []
    if fax is not None:
        node_row = {node: i for i, node in enumerate(fib_nodes)}
        fib_tick = min(max(fib_in * 72 / len(fib_nodes) * 0.8, 4.0), 14.0)
        for action in sorted({c.action for c in fib}):
            changes = [c for c in fib if c.action == action]
            color = _FIB_COLORS.get(action, "#555555")
            fax.scatter(
                [c.t_ms for c in changes],
                [node_row[c.node] for c in changes],
                s=fib_tick**2,
                marker="|",
                linewidths=2.0,
                c=color,
                rasterized=True,
                zorder=4,
            )
            fib_handles.append(
                Line2D(
                    [],
                    [],
                    color=color,
                    marker="|",
                    linestyle="",
                    markersize=9,
                    markeredgewidth=1.5,
                    label=f"route {action}",
                )
            )
        fax.set_ylim(len(fib_nodes) - 0.5, -0.5)
        for row in range(0, len(fib_nodes), 2):
            fax.axhspan(row - 0.5, row + 0.5, color="#000000", alpha=0.025, linewidth=0, zorder=0)
        fax.set_yticks(range(len(fib_nodes)), fib_nodes, fontsize=7 if len(fib_nodes) > 8 else 8)
        fax.tick_params(axis="y", length=0)
        fax.grid(axis="x", color="#000000", alpha=0.12, linewidth=0.6)
        fax.set_title("FIB changes per node", loc="left", fontsize=8, pad=3, color="#333333")

    # Legend, outside on the right: paths first, then what the lines and shading mean.
    handles: list[Any] = list(path_handles)
    if report.failures:
        handles.append(Line2D([], [], color=_INJECT_COLOR, linewidth=1.5, label="failure injected"))
        if any(f.converged_ms is not None for f in report.failures):
            handles.append(
                Line2D(
                    [],
                    [],
                    color=_CONVERGE_COLOR,
                    linewidth=1.1,
                    linestyle=(0, (1, 1.5)),
                    label="converged (oracle)",
                )
            )
        if any(f.restored_ms is not None for f in report.failures):
            handles.append(Line2D([], [], color=_RESTORE_COLOR, linewidth=1.3, linestyle="--", label="restored"))
    if gap_drawn:
        handles.append(Patch(facecolor=_GAP_COLOR, alpha=0.3, edgecolor=_GAP_COLOR, label="longest gap"))
    handles += fib_handles
    if handles:
        ax.legend(
            handles=handles,
            loc="upper left",
            bbox_to_anchor=(1.005, 1.0),
            fontsize=8,
            frameon=False,
            title="path (transit element)" if path_handles else None,
            title_fontsize=8,
            alignment="left",
            borderaxespad=0.0,
        )

    # Titles: lab and scenario; the profile (always said), size of the run; verdict on the right.
    verdict = "PASSED" if overall_passed(report) else "FAILED"
    fig.suptitle(f"{report.lab} — scenario {report.scenario}", fontsize=13, fontweight="bold")
    subtitle = (
        f"{profile_text(report.profile)}   ·   {len(report.flows)} flows, "
        f"{len(report.arrivals):,} packets received   ·   started {report.started}"
    )
    title_pad = 6 + 12 * n_levels
    ax.set_title(subtitle, loc="left", fontsize=9, pad=title_pad, color="#333333")
    ax.set_title(
        verdict,
        loc="right",
        fontsize=10,
        fontweight="bold",
        pad=title_pad,
        color=_RESTORE_COLOR if verdict == "PASSED" else _INJECT_COLOR,
    )
    fig.savefig(path, format="png", dpi=100, metadata={"Software": None})


# --------------------------------------------------------------------------------------------------
# files


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


# --------------------------------------------------------------------------------------------------
# terminal


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


def _failure_cells(f: FailureResult) -> dict[str, Text]:
    """Every cell of a failure's row, by column key; per-direction values one line per direction."""
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

    detection = f"{f.detection}\n({_fmt_ms(f.expected_detection_ms)} ms)"
    return {
        "target": Text(f.target),
        "mode": Text(f.mode),
        "detection": Text(detection),
        "failure": Text.assemble((f"{f.target} {f.mode}", "bold"), "\n", detection),
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
        cells = _failure_cells(f)
        if compact and f.symmetric_after is False:
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
    "summary_table",
    "write_report",
]
