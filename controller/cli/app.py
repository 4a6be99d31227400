"""Entry point: the click group, and every expected failure turned into one line and an exit code."""

from __future__ import annotations

import sys

import click

from lab.errors import GwlabError, LabError

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


def main(argv: list[str] | None = None) -> int:
    _register()
    try:
        app.main(args=argv, prog_name="gwlab", standalone_mode=False)
    except LabError as exc:
        for line in exc.lines():
            print(line, file=sys.stderr)
        return EXIT_BAD_INPUT
    except click.UsageError as exc:
        where = exc.ctx.command_path if exc.ctx else "gwlab"
        print(f"{where}: {exc.format_message()} (see '{where} --help')", file=sys.stderr)
        return EXIT_BAD_INPUT
    except GwlabError as exc:
        print(f"gwlab: {exc}", file=sys.stderr)
        return EXIT_FAILED
    except (KeyboardInterrupt, click.Abort):
        print("gwlab: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except click.ClickException as exc:
        print(f"gwlab: {exc.format_message()}", file=sys.stderr)
        return exc.exit_code
    return 0


def run() -> None:
    sys.exit(main())


if __name__ == "__main__":
    run()
