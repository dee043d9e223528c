"""``openqci pki ...``: create the CA and the certificates of a site's KMEs and SAEs."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from openqci.commands.output import console, print_json

__all__ = ["app"]

app = typer.Typer(
    help="Certificates for KMEs (server and client) and SAEs (client), signed by one CA.",
    no_args_is_help=True,
)


@app.command("init")
def init(
    directory: Annotated[
        Path, typer.Argument(help="Directory to write into (created; must hold no CA yet).")
    ],
    kme: Annotated[list[str], typer.Option("--kme", help="A KME ID (repeat for several).")],
    sae: Annotated[list[str] | None, typer.Option("--sae", help="An SAE ID (repeat for several).")] = None,
    validity_days: Annotated[int, typer.Option(help="Lifetime of the certificates.")] = 825,
    json: Annotated[bool, typer.Option("--json", help="Print the files written as JSON.")] = False,
) -> None:
    """Create ca.pem/ca.key and NAME.pem/NAME.key for every KME and SAE."""
    from openqci.kms.pki import init_pki

    layout = init_pki(directory, kme, sae or [], validity_days=validity_days)
    files = {name: str(i.certificate) for name, i in {**layout.kmes, **layout.saes}.items()}
    if json:
        print_json({"ca": str(layout.ca), "certificates": files})
        return
    console.print(f"CA: {layout.ca}")
    for name, path in files.items():
        console.print(f"{name}: {path}")
