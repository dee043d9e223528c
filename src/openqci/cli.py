"""The ``openqci`` command: assembles the sub-commands of :mod:`openqci.commands`.

Each command parses its options, calls one library function and prints a rich table, or with ``--json``
the result record. Heavy imports live inside the command modules' functions so ``openqci --help`` is quick.
Every error OpenQCI raises on purpose, and every usage error, ends as one line on stderr and exit code 2.
"""

from __future__ import annotations

import typer
from typer.exceptions import TyperException

from openqci.commands import keyrate as keyrate_command
from openqci.commands import kms as kms_command
from openqci.commands import link, misc, network, space
from openqci.commands import pki as pki_command
from openqci.commands import sae as sae_command
from openqci.commands.output import fail
from openqci.errors import OpenQciError

__all__ = ["app", "main"]

app = typer.Typer(
    name="openqci",
    help="OpenQCI: QKD links, key management, trusted-node and satellite networks, planning.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
app.command("keyrate")(keyrate_command.keyrate)
app.command("presets")(misc.presets)
app.command("version")(misc.version)
app.command("demo")(misc.demo)
app.add_typer(link.app, name="link")
app.add_typer(space.app, name="space")
app.add_typer(kms_command.app, name="kms")
app.add_typer(pki_command.app, name="pki")
app.add_typer(network.app, name="network")
app.add_typer(sae_command.app, name="sae")


def main() -> None:
    """Entry point of the console script: run the app, turning expected errors into one-line messages."""
    try:
        app(standalone_mode=False)
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
        app(["--help"], standalone_mode=False)
        return
    format_message = getattr(error, "format_message", None)
    message = format_message() if callable(format_message) else str(error)
    hint = getattr(getattr(error, "param", None), "opts", None)
    prefix = f"{hint[0]}: " if hint and hint[0] not in message else ""
    fail(f"{prefix}{message}", code=getattr(error, "exit_code", 2) or 2)
