"""How commands name things, the same everywhere:
- a lab file (or a built-in's name) is LAB: the argument of `up`, `validate`, `render`, `chaos`, and
  `--lab` where the command has another argument (`run SCENARIO --lab LAB`);
- a running lab is NAME: `--name NAME` (`-n`) on every command that acts on one (`up --name` names
  the new one); `status` and `down`, whose only subject is a running lab, also take it as their
  argument. Without a name, a command uses the only lab that is up.
`--lab` on a command that acts on a running lab is refused with the fix (it used to name one there).
"""

from __future__ import annotations

from typing import Any

import click

from lab.errors import GwlabError
from lab.runtime.backends import BACKENDS, DEFAULT
from lab.runtime.running import RunningLab, attach
from lab.runtime.state import running_labs

name_option = click.option(
    "-n", "--name", "name", metavar="NAME", help="The running lab (default: the only one up; see gwlab list)."
)
name_argument = click.argument("name_arg", metavar="[NAME]", required=False)
runtime_option = click.option(
    "--runtime",
    type=click.Choice(list(BACKENDS)),
    default=DEFAULT,
    show_default=True,
    help="What the nodes are: network namespaces, or docker or podman containers.",
)


def _no_lab_file(ctx: click.Context, param: click.Parameter, value: Any) -> None:
    if value is not None:
        raise click.UsageError(f"--lab names a lab file; name a running lab with --name {value}", ctx)


# Hidden: `--lab NAME` named a running lab in these commands before; say what it is now.
lab_file_refused = click.option("--lab", hidden=True, expose_value=False, callback=_no_lab_file)


def running_lab_options(f: Any) -> Any:
    """--name, and the refused --lab, for a command that acts on a running lab."""
    return name_option(lab_file_refused(f))


def one_name(argument: str | None, option: str | None) -> str | None:
    """NAME given as the argument or as --name (both: the same one)."""
    if argument is not None and option is not None and argument != option:
        raise click.UsageError(f"two labs named: {argument} and --name {option} (give one)")
    return argument or option


def the_only(names: list[str], none: str, several: str) -> str:
    """The one name of `names`, or an error saying there is none (`none`) or which (`several` labs)."""
    if not names:
        raise GwlabError(none)
    if len(names) > 1:
        raise GwlabError(f"{several} ({', '.join(names)}): say which with --name NAME")
    return names[0]


def pick(name: str | None) -> RunningLab:
    if name is None:
        name = the_only(running_labs(), "no lab is up (gwlab up LAB)", "several labs are up")
    return attach(name)
