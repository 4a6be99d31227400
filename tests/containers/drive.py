"""One lab's life on one runtime, run as a process of its own so that a test can drive the same lab on
docker and on podman at once: `python -m tests.containers.drive LAB RUNTIME NAME TARGET MODE`.

up (converged, as the oracle says), on docker its containerlab file against what was deployed, the
failure and the lab converged with it (as the oracle predicts for it), the restore and the lab converged
back, then down. Prints what happened as one JSON object: every step's outcome and the differences
it found, the lab's processes while it was up (for the leftover check), the timings of up.
"""

from __future__ import annotations

import json
import sys
import time
from typing import Any

from controller import failures
from controller.converge import up, wait
from controller.oracle import predict
from lab.errors import GwlabError
from lab.runtime.containers.engine import engine
from lab.runtime.lifecycle import down
from lab.runtime.running import RunningLab, attach
from tests.containers.clab_compare import deployed, differences, rendered, sysctl_keys, unnoticed

CONVERGE_S = 30.0  # on top of the failure's own detection time


def converged(lab: RunningLab, timeout_s: float) -> dict[str, Any]:
    """Wait until the lab matches the oracle for the failures in effect now; what was left if not."""
    now = failures.current_failures(lab)
    ok, seconds, diffs = wait(lab, predict(lab.topo, now), timeout_s, skip=now.nodes)
    return {"ok": ok, "seconds": round(seconds, 2), "differences": [str(d) for d in diffs][:20]}


def drive(topology: str, runtime: str, name: str, target: str, mode: str) -> dict[str, Any]:
    out: dict[str, Any] = {"runtime": runtime, "lab": name, "pids": []}
    try:
        started = time.monotonic()
        result = up(topology, name=name, runtime=runtime)
        out["up"] = {"ok": True, "seconds": round(time.monotonic() - started, 2), "timings": result.timings}
        lab = attach(name)
        out["pids"] = lab.runtime.pids()
        vm = str(lab.node("vm").address_on("vnet"))
        out["ping"] = lab.run("s1-host", ["ping", "-c", "3", "-W", "1", vm]).returncode == 0  # any reply
        if runtime == "docker":
            doc = rendered(lab)
            found = deployed(lab, engine("docker"), sysctl_keys(doc))
            out["clab_differences"] = differences(found, doc)
            out["unnoticed_mutations"] = unnoticed(found, doc)
        failure = failures.resolve(lab, target, mode)
        failures.inject(lab, failure)
        out["fail"] = converged(lab, failure.detection().expected_ms / 1000 + CONVERGE_S)
        for record in failures.load_active(lab):  # as `gwlab restore` does: from what inject recorded
            failures.restore(lab, failures.from_record(lab, record))
        out["restore"] = converged(lab, CONVERGE_S)
    except GwlabError as exc:
        out["error"] = str(exc)
    finally:
        removed = down(name)
        out["down"] = {"leftovers": removed.leftovers}
    return out


def main(argv: list[str]) -> int:
    print(json.dumps(drive(*argv)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
