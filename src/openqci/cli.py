"""The ``openqci`` command: assembles the sub-commands of :mod:`openqci.commands`.

Each command parses its options, calls one library function and prints a rich table, or with ``--json``
the result record. Heavy imports live inside the command modules' functions so ``openqci --help`` is quick.
Every error OpenQCI raises on purpose, and every usage error, ends as one line on stderr and exit code 2.

Help follows the conventions of other command lines: ``-h`` and ``--help`` everywhere, ``--version``
(``-V``), shell completion (``--install-completion``), and a flag shown as a flag. The help is laid out
as plain text rather than typer's rich panels, whose option table gives every flag a value type
(``--json <bool>``) although a flag takes no value.
"""

from __future__ import annotations

from typing import Annotated

import typer
from typer.exceptions import TyperException

from openqci.commands import demo as demo_command
from openqci.commands import keyrate as keyrate_command
from openqci.commands import kms as kms_command
from openqci.commands import link, misc, network, plan, space
from openqci.commands import pki as pki_command
from openqci.commands import qin as qin_command
from openqci.commands import sae as sae_command
from openqci.commands.output import console, fail
from openqci.errors import OpenQciError

__all__ = ["app", "main"]

app = typer.Typer(
    name="openqci",
    help="OpenQCI: QKD links, key management, trusted-node and satellite networks, planning.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=True,
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _print_version(asked: bool) -> None:
    if asked:
        import openqci

        console.print(f"openqci {openqci.__version__}", markup=False, highlight=False)
        raise typer.Exit()


@app.callback()
def openqci(
    version: Annotated[
        bool,
        typer.Option(
            "--version",
            "-V",
            is_eager=True,
            callback=_print_version,
            help="Print the version and exit (`openqci version` adds the libraries').",
        ),
    ] = False,
) -> None:
    """OpenQCI: QKD links, key management, trusted-node and satellite networks, planning."""


app.command("keyrate")(keyrate_command.keyrate)
app.command("presets")(misc.presets)
app.command("version")(misc.version)
app.command("demo")(demo_command.demo)
app.add_typer(link.app, name="link")
app.add_typer(space.app, name="space")
app.add_typer(kms_command.app, name="kms")
app.add_typer(pki_command.app, name="pki")
app.add_typer(network.app, name="network")
app.add_typer(plan.app, name="plan")
app.add_typer(sae_command.app, name="sae")
app.add_typer(qin_command.app, name="qin")


def main() -> None:
    """Entry point of the console script: run the app, turning expected errors into one-line messages."""
    try:
        app(standalone_mode=False, prog_name="openqci")
    except typer.Exit as done:
        raise SystemExit(done.exit_code) from None
    except typer.Abort:
        fail("aborted", code=130)
    except TyperException as error:
        _usage_error(error)
    except OpenQciError as error:
        fail(str(error))


def _usage_error(error: TyperException) -> None:
    """Bad options end as one line; asking for nothing prints the help, as ``openqci`` alone should."""
    if type(error).__name__ == "NoArgsIsHelpError":
        app(["--help"], standalone_mode=False, prog_name="openqci")
        return
    format_message = getattr(error, "format_message", None)
    message = format_message() if callable(format_message) else str(error)
    hint = getattr(getattr(error, "param", None), "opts", None)
    prefix = f"{hint[0]}: " if hint and hint[0] not in message else ""
    fail(f"{prefix}{message}", code=getattr(error, "exit_code", 2) or 2)
