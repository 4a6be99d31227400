"""Terminal output shared by the commands: rich for people, plain JSON for scripts.

On a terminal, rich wraps to its width; anywhere else (a pipe, a file, CI logs) nothing is wrapped:
one line per problem stays one line, `gwlab validate bad.yaml | cat` or `| grep` see whole lines
(COLUMNS, when set, still bounds tables). Colour and markup are dropped off a terminal by rich itself.
"""

from __future__ import annotations

import json
import os
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TextIO

import click
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

UNWRAPPED = 100_000  # the width off a terminal: wide enough that nothing wraps
PROGRESS_DELAY_S = 2.0  # shorter work shows no progress at all


def make_console(stream: TextIO, stderr: bool = False) -> Console:
    if stream.isatty():
        return Console(stderr=stderr, highlight=False)
    columns = os.environ.get("COLUMNS", "")
    width = int(columns) if columns.isdigit() else UNWRAPPED
    return Console(stderr=stderr, highlight=False, width=width, soft_wrap=True)


console = make_console(sys.stdout)
err_console = make_console(sys.stderr, stderr=True)


json_option = click.option("--json", "as_json", is_flag=True, help="Print a machine-readable result (JSON).")


def emit_json(data: Any) -> None:
    json.dump(data, sys.stdout, indent=2, sort_keys=True, default=str)
    sys.stdout.write("\n")
    sys.stdout.flush()


def emit_json_line(data: Any) -> None:
    """One JSON document on one line (a stream of them: `gwlab watch --json`)."""
    sys.stdout.write(json.dumps(data, sort_keys=True, default=str) + "\n")
    sys.stdout.flush()


Report = Callable[[str, int, int], None]  # (phase, done, total)


@contextmanager
def delayed_progress(
    target: Console, enabled: bool = True, delay_s: float = PROGRESS_DELAY_S, phases: int | None = None
) -> Iterator[Report]:
    """A transient progress display of phases and counts, on `target` (stderr), only on a terminal and
    only once the work has taken longer than `delay_s`; yields the callback that feeds it."""
    show = enabled and target.is_terminal
    bar = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total}"),
        TimeElapsedColumn(),
        console=target,
        transient=True,
        disable=not show,
    )
    task = bar.add_task("starting", total=1)
    seen: list[str] = []
    lock = threading.Lock()
    started = [False]

    def start() -> None:
        with lock:
            if not started[0]:
                started[0] = True
                bar.start()

    def report(phase: str, done: int, total: int) -> None:
        if phase not in seen:
            seen.append(phase)
        step = f"{len(seen)}/{phases}" if phases else str(len(seen))
        bar.update(task, description=f"[{step}] {phase}", completed=done, total=max(total, 1))

    timer = threading.Timer(delay_s, start)
    timer.daemon = True
    if show:
        timer.start()
    try:
        yield report
    finally:
        timer.cancel()
        with lock:
            started[0] = True  # a timer that fires now starts nothing
            bar.stop()
