"""`python -m bench.profile_up LAB NAME`: one `up` and `down`, for py-spy to sample (see bench.profile)."""

from __future__ import annotations

import json
import sys
import time

from controller.converge import up
from lab.runtime.lifecycle import down


def main(argv: list[str]) -> int:
    source, name = argv
    start = time.monotonic()
    try:
        result = up(source, name=name)
        timings = {"up_s": time.monotonic() - start, **result.timings}
    finally:
        down(name)
    print(json.dumps(timings))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
