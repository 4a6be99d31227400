"""`gwlab exec [--name NAME] NODE -- CMD...`: run a command inside a node, on the lab's runtime."""

from __future__ import annotations

import os
import subprocess
import sys

import click

from controller.cli.output import emit_json, json_option
from controller.cli.target import pick, running_lab_options


@click.command("exec", context_settings={"ignore_unknown_options": True})
@running_lab_options
@json_option
@click.option("--timeout", type=click.FloatRange(min=0.1), default=60.0, show_default=True,
              help="With --json: seconds the command may run.")  # fmt: skip
@click.argument("node")
@click.argument("command", nargs=-1, required=True, type=click.UNPROCESSED)
def exec_command(name: str | None, as_json: bool, timeout: float, node: str, command: tuple[str, ...]) -> int:
    """Run COMMAND in NODE (e.g. gwlab exec s1-host -- ping 10.1.0.4); exits with the command's code.

    With --json (before NODE), the output is captured: {node, command, exit_code, stdout, stderr}.
    """
    lab = pick(name)
    lab.node(node)
    if not as_json:
        argv = lab.runtime.exec_argv(node, command, tty=sys.stdin.isatty())
        os.execvp(argv[0], argv)  # replaces us: signals and the terminal go straight to the command
    argv = lab.runtime.exec_argv(node, command, tty=False)
    try:
        done = subprocess.run(argv, capture_output=True, timeout=timeout, check=False, stdin=subprocess.DEVNULL)
        code, out, err = done.returncode, done.stdout, done.stderr
    except subprocess.TimeoutExpired as exc:
        code, out, err = 124, exc.stdout or b"", (exc.stderr or b"") + f"timed out after {timeout:g} s".encode()
    emit_json(
        {
            "lab": lab.name,
            "node": node,
            "command": list(command),
            "exit_code": code,
            "stdout": out.decode(errors="replace"),
            "stderr": err.decode(errors="replace"),
        }
    )
    return code


def register(app: click.Group) -> None:
    app.add_command(exec_command)
