"""``openqci pki ...``: create the CA and the certificates of a site's KMEs and SAEs, and add more later."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from openqci.commands.output import console, fail, print_json

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
    kme: Annotated[
        list[str] | None,
        typer.Option("--kme", help="A KME ID (repeat for several; more later with `pki issue`)."),
    ] = None,
    sae: Annotated[list[str] | None, typer.Option("--sae", help="An SAE ID (repeat for several).")] = None,
    validity_days: Annotated[int, typer.Option(help="Lifetime of the certificates.")] = 825,
    json: Annotated[bool, typer.Option("--json", help="Print the files written as JSON.")] = False,
) -> None:
    """Create ca.pem (with its key in private/ca.key) and NAME.pem/NAME.key for every KME and SAE."""
    from openqci.kms.pki import init_pki

    layout = init_pki(directory, kme or [], sae or [], validity_days=validity_days)
    files = {name: str(i.certificate) for name, i in {**layout.kmes, **layout.saes}.items()}
    if json:
        print_json({"ca": str(layout.ca), "certificates": files})
        return
    console.print(f"CA: {layout.ca}")
    for name, path in files.items():
        console.print(f"{name}: {path}")


@app.command("issue")
def issue(
    directory: Annotated[
        Path, typer.Argument(help="The CA's folder (ca.pem and private/ca.key, as `pki init` made it).")
    ],
    kme: Annotated[
        str | None, typer.Option("--kme", help="Issue a KME certificate (server and client) for this ID.")
    ] = None,
    sae: Annotated[
        str | None, typer.Option("--sae", help="Issue an SAE certificate (client) for this ID.")
    ] = None,
    san: Annotated[
        list[str] | None,
        typer.Option(
            "--san",
            help="A host name or address the KME is reached at: DNS:host or IP:addr (repeat for several; "
            "without any, localhost and 127.0.0.1).",
        ),
    ] = None,
    out: Annotated[
        Path | None, typer.Option("--out", help="Write NAME.pem and NAME.key here instead of DIRECTORY.")
    ] = None,
    validity_days: Annotated[int, typer.Option(help="Lifetime of the certificate.")] = 825,
    json: Annotated[bool, typer.Option("--json", help="Print the files written as JSON.")] = False,
) -> None:
    """Add one KME or SAE to an existing CA: NAME.pem and NAME.key (0600), never overwriting a file."""
    from openqci.kms.pki import issue_certificate

    if (kme is None) == (sae is None):
        fail("give exactly one of --kme NAME or --sae NAME")
    name = kme if kme is not None else sae
    assert name is not None
    identity = issue_certificate(
        directory, name, kme=kme is not None, san=san or [], out_dir=out, validity_days=validity_days
    )
    record = {
        "name": name,
        "role": "kme" if kme is not None else "sae",
        "certificate": str(identity.certificate),
        "private_key": str(identity.private_key),
        "ca": str(directory / "ca.pem"),
    }
    if json:
        print_json(record)
        return
    console.print(f"{record['role'].upper()} {name}: {identity.certificate} and {identity.private_key}")
