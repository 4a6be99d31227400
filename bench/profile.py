"""Where `up` spends its time: py-spy samples one `up` (wall clock, idle included) and the collapsed
stacks are summed per function of gwlab, for the main thread and for the worker threads."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

RATE = 50  # samples per second (py-spy falls behind above this on two busy cores)
FRAME = re.compile(r"^(?P<func>.+) \((?P<file>[^:()]+)(?::\d+)?\)$")
OURS = ("lab/", "controller/")
# Functions worth naming even though they are not gwlab's: where the time really goes.
LEAVES = ("Popen._execute_child", "create_socket", "Popen._communicate", "Condition.wait")


def py_spy() -> str | None:
    beside = Path(sys.executable).parent / "py-spy"
    return str(beside) if beside.exists() else shutil.which("py-spy")


def _key(frame: str) -> str | None:
    m = FRAME.match(frame)
    if m is None:
        return None
    func, file = m.group("func"), m.group("file")
    if file.startswith(OURS):
        return f"{file}:{func}"
    return func if func in LEAVES else None


def summarize(raw: Path, top: int = 14) -> dict[str, Any]:
    main: Counter[str] = Counter()
    workers: Counter[str] = Counter()
    samples = {"main": 0, "workers": 0}
    for line in raw.read_text(encoding="utf-8", errors="replace").splitlines():
        stack, _, count = line.rpartition(" ")
        if not count.isdigit():
            continue
        frames = stack.split(";")
        if any(f.startswith("down (lab/runtime/lifecycle.py") for f in frames):
            continue  # the profiled process takes the lab down afterwards: not part of `up`
        worker = any(f.startswith("Thread._bootstrap") for f in frames)
        table = workers if worker else main
        samples["workers" if worker else "main"] += int(count)
        seen: set[str] = set()
        for frame in frames:
            key = _key(frame)
            if key is not None and key not in seen:
                seen.add(key)
                table[key] += int(count)
    return {
        "rate": RATE,
        "main_s": samples["main"] / RATE,
        "workers_s": samples["workers"] / RATE,
        "main": [(k, v / RATE) for k, v in main.most_common(top)],
        "workers": [(k, v / RATE) for k, v in workers.most_common(top)],
    }


def profile(source: str, name: str, outdir: Path) -> dict[str, Any]:
    spy = py_spy()
    if spy is None:
        return {"error": "py-spy not found (pip install py-spy)"}
    outdir.mkdir(parents=True, exist_ok=True)
    raw = outdir / f"{name}.collapsed.txt"
    cmd = [
        spy,
        "record",
        "--idle",
        "--rate",
        str(RATE),
        "--format",
        "raw",
        "-o",
        str(raw),
        "--",
        sys.executable,
        "-m",
        "bench.profile_up",
        source,
        name,
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=900, check=False)
    if proc.returncode != 0 or not raw.exists():
        return {"error": f"py-spy failed: {(proc.stderr or proc.stdout).strip()[-300:]}"}
    timings: dict[str, Any] = next((json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")), {})
    if not timings:  # py-spy exits 0 whatever its child did: an `up` that failed printed no timings
        return {"error": f"the profiled up failed: {proc.stderr.strip()[-300:]}"}
    out = summarize(raw)
    out["timings"] = timings
    out["raw"] = str(raw)
    return out
