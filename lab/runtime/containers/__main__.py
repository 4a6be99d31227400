"""`python -m lab.runtime.containers build|ls|rm [ENGINE...]`: the node image, for the Makefile.

A stand-in for `gwlab image build|ls|rm` until the command line has moved (controller/cli/): the same
functions, one line per engine, exit 1 with one line on failure. No ENGINE: every installed engine.
"""

from __future__ import annotations

import argparse
import sys

from lab.errors import GwlabError
from lab.runtime.containers import dockerd, image
from lab.runtime.containers import engine as engines


def _one(action: str, name: str) -> list[str]:
    client = engines.engine(name)
    if action == "build":
        built = image.build(client)
        if not built.built:
            return [f"{name}: {built.tag} present ({built.size / 1e6:.0f} MB)"]
        how = f"root file system {built.rootfs_s:.1f} s, " if built.rootfs_s else "cached root file system, "
        return [f"{name}: {built.tag} built ({how}import {built.import_s:.1f} s, {built.size / 1e6:.0f} MB)"]
    if action == "ls":
        return [f"{name}: {i.tag} {i.size / 1e6:.0f} MB {i.created:%Y-%m-%d %H:%M}" for i in image.list_images(client)]
    return [f"{name}: removed {tag}" for tag in image.remove(client)]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m lab.runtime.containers", description=__doc__.splitlines()[0])
    ap.add_argument("action", choices=["build", "ls", "rm"])
    ap.add_argument("engines", nargs="*", choices=[[], *engines.ENGINES], metavar="ENGINE")
    args = ap.parse_args(argv)
    names = args.engines or engines.installed()
    try:
        if not names:
            raise GwlabError("neither docker nor podman is installed (run 'make setup')")
        for name in names:
            if name == "docker":
                with dockerd.in_use():  # started in lab mode if needed, stopped again when unused
                    lines = _one(args.action, name)
            else:
                lines = _one(args.action, name)
            print("\n".join(lines) or f"{name}: no gwlab image")
        if args.action == "rm":
            image.remove_cache()
    except GwlabError as exc:
        print(f"gwlab: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
