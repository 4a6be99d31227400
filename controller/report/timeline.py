"""`timeline.png`: one row per probe flow, each received packet a tick coloured by the transit element that
carried it; failures, restorations, convergence, each flow's longest gap and the FIB changes per node on
a shared time axis.

`render_timeline` is the drawing steps in order (the order is the picture's layering); the layout they
share (rows, colours, label stacking) is in `timeline_layout`. matplotlib is imported only to draw.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from controller.analysis import UNKNOWN_PATH
from controller.report.data import overall_passed, profile_text
from controller.report.timeline_layout import (
    CONVERGE_COLOR,
    FIB_COLORS,
    GAP_COLOR,
    INJECT_COLOR,
    RESTORE_COLOR,
    Mark,
    median_interval,
    natural,
    path_colors,
    place_marks,
    rows,
)
from controller.results import FibChange, FlowStats, RunReport

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

PLOT_WIDTH_PX = 1050.0  # rough width of the plot area, for placing labels in data units
FLOWS_AND_FIB_IN = 6.3  # inches shared by the flow rows and the FIB strip


@dataclass
class _Canvas:
    fig: Figure
    ax: Axes  # the flows
    fax: Axes | None  # the FIB strip, when there are FIB changes
    x_lo: float
    x_hi: float
    fib_in: float  # heights in inches
    main_in: float
    row_pt: float  # one flow row, in points
    tick: float  # a packet tick, in points
    bar: float  # a flow's bar, in rows (for the gap shading)

    @property
    def axes(self) -> list[Axes]:
        return [self.ax] if self.fax is None else [self.ax, self.fax]

    @property
    def ms_per_px(self) -> float:
        return (self.x_hi - self.x_lo) / PLOT_WIDTH_PX


def _path_label(path: str) -> str:
    return path or UNKNOWN_PATH


def render_timeline(report: RunReport, path: Path) -> None:
    """Draw the timeline picture into `path` (PNG, 14 x 8 in at 100 dpi, no display needed)."""
    labels, row_of, stats = rows(report)
    windows = [w for f in report.failures for w in (f, f.restore) if w is not None]
    fib = sorted((c for w in windows for c in w.fib_changes), key=lambda c: (c.node, c.t_ms, c.prefix))
    fib_nodes = sorted({c.node for c in fib}, key=natural)
    canvas = _canvas(report, fib, fib_nodes, len(labels))
    path_handles, per_flow = _draw_packets(canvas, report, row_of)
    gap_drawn = _draw_gaps(canvas, stats, per_flow)
    label_levels = _draw_failures(canvas, report)
    _draw_rows(canvas, report, labels, stats)
    fib_handles = _draw_fib(canvas, fib, fib_nodes)
    _draw_legend(canvas, report, path_handles, fib_handles, gap_drawn)
    _draw_titles(canvas, report, label_levels)
    canvas.fig.savefig(path, format="png", dpi=100, metadata={"Software": None})


def _time_range(report: RunReport, fib: list[FibChange]) -> tuple[float, float]:
    """The run, every arrival and every event, from zero, with a 1 % margin."""
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
    return x_lo - pad, x_hi + pad


def _canvas(report: RunReport, fib: list[FibChange], fib_nodes: list[str], n_rows: int) -> _Canvas:
    """The figure and its axes. Heights in inches: the FIB strip grows with its nodes, the flows get
    the rest; row geometry in points, to size the per-packet ticks so a busy flow reads as a solid bar."""
    # Figure() without pyplot: no global backend switch, no GUI; savefig uses Agg for PNG.
    from matplotlib.figure import Figure

    x_lo, x_hi = _time_range(report, fib)
    fig = Figure(figsize=(14, 8), dpi=100, layout="constrained")
    fib_in = min(0.35 + 0.16 * len(fib_nodes), 2.2) if fib_nodes else 0.0
    main_in = FLOWS_AND_FIB_IN - (fib_in + 0.35 if fib_nodes else 0.0)
    fax = None
    if fib_nodes:
        grid = fig.add_gridspec(2, 1, height_ratios=[main_in, fib_in])
        ax = fig.add_subplot(grid[0])
        fax = fig.add_subplot(grid[1], sharex=ax)
    else:
        ax = fig.add_subplot()
    row_pt = main_in * 72 / max(n_rows, 1)
    tick = min(max(row_pt * 0.72, 2.0), 16.0)
    bar = min(tick / row_pt + 0.12, 0.9)
    return _Canvas(fig, ax, fax, x_lo, x_hi, fib_in, main_in, row_pt, tick, bar)


def _draw_packets(c: _Canvas, report: RunReport, row_of: dict[int, int]) -> tuple[list[Any], dict[int, list[float]]]:
    """Packets, one scatter per path (the legend), rasterized: 64k ticks stay a small file. Returns the
    legend handles and each flow's arrival times."""
    from matplotlib.lines import Line2D

    colors = path_colors(_path_label(a.path) for a in report.arrivals)
    by_path: dict[str, tuple[list[float], list[int]]] = defaultdict(lambda: ([], []))
    per_flow: dict[int, list[float]] = defaultdict(list)
    for a in report.arrivals:
        xs, ys = by_path[_path_label(a.path)]
        xs.append(a.received_ms)
        ys.append(row_of[a.flow])
        per_flow[a.flow].append(a.received_ms)
    handles: list[Any] = []
    for label in sorted(by_path, key=lambda p: (p == UNKNOWN_PATH, p)):
        xs, ys = by_path[label]
        c.ax.scatter(xs, ys, s=c.tick**2, marker="|", linewidths=0.9, c=colors[label], rasterized=True, zorder=2)
        handles.append(Line2D([], [], color=colors[label], marker="s", linestyle="", markersize=8, label=label))
    return handles, per_flow


def _draw_gaps(c: _Canvas, stats: list[FlowStats | None], per_flow: dict[int, list[float]]) -> bool:
    """Each flow's longest gap: shaded on its own row, with its length written in (or beside) it."""
    from matplotlib.patches import Rectangle

    drawn = False
    for row, flow in enumerate(stats):
        if flow is None or flow.gap_start_ms is None or flow.longest_gap_ms <= 0:
            continue
        usual = median_interval(per_flow.get(flow.flow, []))
        if usual is not None and flow.longest_gap_ms < max(3 * usual, 1.0):
            continue  # no gap worth showing: just the flow's normal spacing
        x0, width = flow.gap_start_ms, flow.longest_gap_ms
        c.ax.add_patch(
            Rectangle(
                (x0, row - c.bar / 2),
                width,
                c.bar,
                facecolor=GAP_COLOR,
                alpha=0.18,
                edgecolor=GAP_COLOR,
                linewidth=0.6,
                zorder=1,
            )
        )
        drawn = True
        text = f"{width:,.0f} ms" if width >= 10 else f"{width:.1f} ms"
        inside = width / c.ms_per_px > 7 * len(text) + 6
        c.ax.text(
            x0 + width / 2 if inside else x0 + width + 4 * c.ms_per_px,
            row,
            text,
            ha="center" if inside else "left",
            va="center",
            fontsize=7 if c.row_pt >= 9 else 6,
            color="#7f0000",
            zorder=4,
            clip_on=True,
            bbox=None if inside else {"boxstyle": "square,pad=0.1", "fc": "white", "ec": "none", "alpha": 0.8},
        )
    return drawn


def _draw_failures(c: _Canvas, report: RunReport) -> int:
    """Failures: injected (solid red), converged (dotted purple), restored (dashed green), the failure in
    effect shaded faintly; labels above the plot, stacked where they would collide. Returns how many
    label levels there are (the titles go above them)."""
    from matplotlib.transforms import blended_transform_factory

    marks: list[Mark] = []
    for f in report.failures:
        end = f.restored_ms if f.restored_ms is not None else c.x_hi
        for a_ in c.axes:
            a_.axvline(f.injected_ms, color=INJECT_COLOR, linewidth=1.5, zorder=3)
            a_.axvspan(f.injected_ms, end, color=INJECT_COLOR, alpha=0.035, linewidth=0, zorder=0)
            if f.converged_ms is not None:
                a_.axvline(
                    f.injected_ms + f.converged_ms,
                    color=CONVERGE_COLOR,
                    linewidth=1.1,
                    linestyle=(0, (1, 1.5)),
                    zorder=3,
                )
            if f.restored_ms is not None:
                a_.axvline(f.restored_ms, color=RESTORE_COLOR, linewidth=1.3, linestyle="--", zorder=3)
        marks.append((f.injected_ms, f"✖ {f.target} {f.mode}", INJECT_COLOR, 0))
        if f.converged_ms is not None:
            marks.append((f.injected_ms + f.converged_ms, f"converged +{f.converged_ms:,.0f} ms", CONVERGE_COLOR, 2))
        if f.restored_ms is not None:
            marks.append((f.restored_ms, f"↺ {f.target} restored", RESTORE_COLOR, 1))
    placed = place_marks(marks, 6.2 * c.ms_per_px)
    above = blended_transform_factory(c.ax.transData, c.ax.transAxes)
    for (x, text, color, _), level in placed:
        c.ax.annotate(
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
    return max((level for _, level in placed), default=-1) + 1


def _draw_rows(c: _Canvas, report: RunReport, labels: list[str], stats: list[FlowStats | None]) -> None:
    """Rows: first flow at the top, one label per row (thinned when there are very many), a line
    between directions; the shared time axis at the bottom."""
    from matplotlib.ticker import FuncFormatter, MaxNLocator

    ax = c.ax
    n_rows = len(labels)
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
    ax.set_xlim(c.x_lo, c.x_hi)
    ax.grid(axis="x", color="#000000", alpha=0.12, linewidth=0.6)
    ax.set_axisbelow(True)
    ms_format = FuncFormatter(lambda v, _pos: f"{v:,.0f}")
    bottom = c.fax if c.fax is not None else ax
    bottom.xaxis.set_major_formatter(ms_format)
    bottom.xaxis.set_major_locator(MaxNLocator(nbins=14, steps=[1, 2, 2.5, 5, 10]))
    bottom.set_xlabel("time since the run started (ms)", fontsize=9)
    if c.fax is not None:
        ax.tick_params(axis="x", labelbottom=False)


def _draw_fib(c: _Canvas, fib: list[FibChange], fib_nodes: list[str]) -> list[Any]:
    """FIB changes: one strip row per node, a tick per route change (green add, red delete)."""
    from matplotlib.lines import Line2D

    handles: list[Any] = []
    fax = c.fax
    if fax is None:
        return handles
    node_row = {node: i for i, node in enumerate(fib_nodes)}
    fib_tick = min(max(c.fib_in * 72 / len(fib_nodes) * 0.8, 4.0), 14.0)
    for action in sorted({ch.action for ch in fib}):
        changes = [ch for ch in fib if ch.action == action]
        color = FIB_COLORS.get(action, "#555555")
        fax.scatter(
            [ch.t_ms for ch in changes],
            [node_row[ch.node] for ch in changes],
            s=fib_tick**2,
            marker="|",
            linewidths=2.0,
            c=color,
            rasterized=True,
            zorder=4,
        )
        handles.append(
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
    return handles


def _draw_legend(
    c: _Canvas, report: RunReport, path_handles: list[Any], fib_handles: list[Any], gap_drawn: bool
) -> None:
    """Legend, outside on the right: paths first, then what the lines and shading mean."""
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    handles: list[Any] = list(path_handles)
    if report.failures:
        handles.append(Line2D([], [], color=INJECT_COLOR, linewidth=1.5, label="failure injected"))
        if any(f.converged_ms is not None for f in report.failures):
            handles.append(
                Line2D(
                    [],
                    [],
                    color=CONVERGE_COLOR,
                    linewidth=1.1,
                    linestyle=(0, (1, 1.5)),
                    label="converged (oracle)",
                )
            )
        if any(f.restored_ms is not None for f in report.failures):
            handles.append(Line2D([], [], color=RESTORE_COLOR, linewidth=1.3, linestyle="--", label="restored"))
    if gap_drawn:
        handles.append(Patch(facecolor=GAP_COLOR, alpha=0.3, edgecolor=GAP_COLOR, label="longest gap"))
    handles += fib_handles
    if handles:
        c.ax.legend(
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


def _draw_titles(c: _Canvas, report: RunReport, label_levels: int) -> None:
    """Titles: lab and scenario; the profile (always said), size of the run; verdict on the right."""
    verdict = "PASSED" if overall_passed(report) else "FAILED"
    c.fig.suptitle(f"{report.lab} — scenario {report.scenario}", fontsize=13, fontweight="bold")
    subtitle = (
        f"{profile_text(report.profile)}   ·   {len(report.flows)} flows, "
        f"{len(report.arrivals):,} packets received   ·   started {report.started}"
    )
    title_pad = 6 + 12 * label_levels
    c.ax.set_title(subtitle, loc="left", fontsize=9, pad=title_pad, color="#333333")
    c.ax.set_title(
        verdict,
        loc="right",
        fontsize=10,
        fontweight="bold",
        pad=title_pad,
        color=RESTORE_COLOR if verdict == "PASSED" else INJECT_COLOR,
    )
