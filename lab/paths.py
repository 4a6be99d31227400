"""Where the package's data lives, whether installed from a wheel or run from the source tree."""

from __future__ import annotations

import os
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent


def templates_dir() -> Path:
    # A wheel carries templates/ inside the package; a source checkout (editable install) has it
    # beside the package, at the top of the repository.
    for candidate in (PACKAGE_DIR / "templates", PACKAGE_DIR.parent / "templates"):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError("gwlab templates not found: reinstall gwlab (pip install .)")


def builtin_topologies() -> dict[str, Path]:
    return {p.stem: p for p in sorted((PACKAGE_DIR / "topologies").glob("*.yaml"))}


# Compiled templates (Jinja's bytecode cache): parsing and compiling them was half of a fresh `gwlab up`'s
# render phase (0.15 of hybrid's 0.30 s). Root's own directory, as the image cache beside it.
TEMPLATE_CACHE = Path(os.environ.get("GWLAB_TEMPLATE_CACHE", "/var/cache/gwlab/templates"))
