"""``openqci kms ...``: run a key management entity and prepare its files."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from openqci.commands.output import console, print_json

__all__ = ["app"]

app = typer.Typer(help="The key management entity (ETSI GS QKD 014 over mutual TLS).", no_args_is_help=True)

ConfigOption = Annotated[Path, typer.Option("--config", "-c", help="The KME's YAML configuration.")]


@app.command("serve")
def serve(
    config: ConfigOption,
    port: Annotated[
        int | None, typer.Option(help="Listen on this port instead of the configured one.")
    ] = None,
) -> None:
    """Serve one KME (uvicorn, 127.0.0.1 unless configured otherwise) until interrupted."""
    from openqci.kms.config import load_config
    from openqci.kms.node import build_kme
    from openqci.kms.server import serve as run_server

    settings = load_config(config)
    if port is not None:
        settings = settings.model_copy(update={"port": port})
    run_server(build_kme(settings))


@app.command("check")
def check(config: ConfigOption, json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Read a configuration and its files and report what the KME would serve."""
    from openqci.kms.config import load_config
    from openqci.kms.crypto import MasterKey
    from openqci.kms.identity import read_fingerprint

    settings = load_config(config)
    MasterKey.from_file(settings.master_key_file)
    summary = {
        "kme_id": settings.kme_id,
        "listen": f"{settings.host}:{settings.port}",
        "saes": {s.sae_id: read_fingerprint(s.certificate) for s in settings.saes},
        "peers": {
            p.kme_id: {"link_id": p.link_id, "url": p.url, "saes": p.saes}
            | ({"source": {"kind": p.source.kind, "url": p.source.url}} if p.source else {})
            for p in settings.peers
        },
    }
    if json:
        print_json(summary)
        return
    console.print(
        f"KME {settings.kme_id} ({summary['listen']}): {len(settings.saes)} SAEs, {len(settings.peers)} peers"
    )


@app.command("masterkey")
def masterkey(
    path: Annotated[Path, typer.Argument(help="File to create (mode 0600; never overwritten).")],
) -> None:
    """Write a new random master key that encrypts the key store at rest."""
    from openqci.kms.crypto import write_master_key

    write_master_key(path)
    console.print(f"master key written to {path}")
