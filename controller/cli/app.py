"""Entry point: the click group, and every expected failure turned into one line and an exit code."""

from __future__ import annotations

import sys

import click

from controller.cli.output import emit_json
from lab.errors import GwlabError, LabError, Problem

EXIT_FAILED, EXIT_BAD_INPUT, EXIT_INTERRUPTED = 1, 2, 130


@click.group(name="gwlab", context_settings={"help_option_names": ["-h", "--help"]})
def app() -> None:
    """BGP-driven active/active routing lab: Azure VPN gateway and ExpressRoute failover on one machine."""


def _register() -> None:
    # One module per command (Kathara-style); each adds itself to the group.
    from controller.cli import generate, render, topologies, validate

    for module in (validate, render, topologies, generate):
        module.register(app)
    try:
        from controller.cli import runtime_commands
    except ImportError:  # pyroute2 missing: the model and rendering still work
        return
    runtime_commands.register(app)


def _wants_json(argv: list[str]) -> bool:
    return "--json" in argv[: argv.index("--")] if "--" in argv else "--json" in argv


def _json_error(message: str, problems: list[Problem] | None = None, source: str = "") -> None:
    """With --json, an error is a JSON document on stdout too (the one line stays on stderr)."""
    data: dict[str, object] = {"ok": False, "error": message}
    if problems is not None:
        data["problems"] = [{"source": source, "path": p.path, "message": p.message} for p in problems]
    emit_json(data)


def main(argv: list[str] | None = None) -> int:
    _register()
    args = list(sys.argv[1:] if argv is None else argv)
    as_json = _wants_json(args)
    try:
        code = app.main(args=args, prog_name="gwlab", standalone_mode=False)
    except LabError as exc:
        for line in exc.lines():
            print(line, file=sys.stderr)
        if as_json:
            _json_error("bad input", exc.problems, exc.source)
        return EXIT_BAD_INPUT
    except click.UsageError as exc:
        where = exc.ctx.command_path if exc.ctx else "gwlab"
        line = f"{where}: {exc.format_message()} (see '{where} --help')"
        print(line, file=sys.stderr)
        if as_json:
            _json_error(line)
        return EXIT_BAD_INPUT
    except GwlabError as exc:
        print(f"gwlab: {exc}", file=sys.stderr)
        if as_json and not exc.reported:
            _json_error(str(exc))
        return EXIT_FAILED
    except (KeyboardInterrupt, click.Abort):
        print("gwlab: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except click.ClickException as exc:
        print(f"gwlab: {exc.format_message()}", file=sys.stderr)
        return exc.exit_code
    return code if isinstance(code, int) else 0  # a command's own exit code (exec: the command's)


def run() -> None:
    sys.exit(main())


if __name__ == "__main__":
    run()
