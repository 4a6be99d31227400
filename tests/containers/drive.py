"""One lab's life on one runtime, run as a process of its own so that a test can drive the same lab on
docker and on podman at once: `python -m tests.containers.drive LAB RUNTIME NAME TARGET MODE`.

up (converged, as the oracle says), on docker its containerlab file against what was deployed, the
failure and the lab converged with it (as the oracle predicts for it), the restore and the lab converged
back, then down, all through the LabSession facade. Prints what happened as one JSON object: every
step's outcome and the differences it found, the lab's processes while it was up (for the leftover
check).
"""

from __future__ import annotations

import json
import sys
import time
from typing import Any

from controller.session import LabSession
from lab.errors import GwlabError
from lab.runtime.containers.engine import engine
from lab.runtime.lifecycle import down
from tests.containers.clab_compare import deployed, differences, rendered, sysctl_keys, unnoticed


def drive(topology: str, runtime: str, name: str, target: str, mode: str) -> dict[str, Any]:
    out: dict[str, Any] = {"runtime": runtime, "lab": name, "pids": []}
    try:
        started = time.monotonic()
        with LabSession.up(topology, name=name, runtime=runtime) as session:  # taken down on leaving
            lab = session.lab
            out["up"] = {"ok": True, "seconds": round(time.monotonic() - started, 2)}
            out["pids"] = lab.runtime.pids()
            vm = str(lab.node("vm").address_on("vnet"))
            out["ping"] = lab.run("s1-host", ["ping", "-c", "3", "-W", "1", vm]).returncode == 0  # any reply
            if runtime == "docker":
                doc = rendered(lab)
                found = deployed(lab, engine("docker"), sysctl_keys(doc))
                out["clab_differences"] = differences(found, doc)
                out["unnoticed_mutations"] = unnoticed(found, doc)
            failed = session.fail(target, mode)
            out["fail"] = {"ok": failed.converged, "differences": failed.differences}
            restored = session.restore(target)
            out["restore"] = {"ok": restored.converged, "differences": restored.differences}
    except GwlabError as exc:
        out["error"] = str(exc)
    finally:
        out["down"] = {"leftovers": down(name).leftovers}  # after the session's own down: nothing left to do
    return out


def main(argv: list[str]) -> int:
    print(json.dumps(drive(*argv)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
