"""``openqci kms ...``: run a key management entity and prepare its files."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from openqci.commands.output import console, fail, print_json

if TYPE_CHECKING:
    from openqci.kms.config import KmeConfig
    from openqci.kms.key_feed import Feeder, FeedReport

__all__ = ["app"]

app = typer.Typer(help="The key management entity (ETSI GS QKD 014 over mutual TLS).", no_args_is_help=True)

ConfigOption = Annotated[Path, typer.Option("--config", "-c", help="The KME's YAML configuration.")]


@app.command("serve")
def serve(
    config: ConfigOption,
    port: Annotated[
        int | None, typer.Option(help="Listen on this port instead of the configured one.")
    ] = None,
    log_level: Annotated[
        str, typer.Option(help="Event log level (debug, info, warning, error); JSON unless on a terminal.")
    ] = "info",
) -> None:
    """Serve one KME (uvicorn, 127.0.0.1 unless configured otherwise) until interrupted."""
    from openqci.kms.config import load_config
    from openqci.kms.node import build_kme
    from openqci.kms.server import serve as run_server
    from openqci.ops.events import LOG_LEVELS, configure_logging

    if log_level not in LOG_LEVELS:
        fail(f"--log-level must be one of {', '.join(LOG_LEVELS)}, got {log_level!r}")
    settings = load_config(config)
    configure_logging(log_level)
    if port is not None:
        if not 0 <= port <= 65535:
            fail(f"--port must lie in 0..65535, got {port}")
        settings = settings.model_copy(update={"port": port})

    def announce(url: str) -> None:
        console.print(
            f"KME {settings.kme_id} serves ETSI GS QKD 014 on {url} (mutual TLS, "
            f"{len(settings.saes)} SAEs, {len(settings.peers)} peers); Ctrl-C stops it"
        )

    run_server(build_kme(settings), announce)


@app.command("check")
def check(config: ConfigOption, json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Read a configuration, open every file it names and the key store, and report what the KME would serve.

    What ``kms serve`` would refuse is refused here: an unreadable certificate, a private key that does not
    match its certificate, a master key of the wrong size, a store that cannot be opened or reached.
    """
    from openqci.kms.config import load_config
    from openqci.kms.crypto import MasterKey
    from openqci.kms.identity import read_fingerprint
    from openqci.kms.node import open_store
    from openqci.kms.tls import server_context

    settings = load_config(config)
    MasterKey.from_file(settings.master_key_file)
    server_context(settings.tls.ca, settings.tls.certificate, settings.tls.private_key)
    for peer in settings.peers:
        read_fingerprint(peer.certificate)
    for sae in settings.saes:
        read_fingerprint(sae.certificate)
    _check_relay(settings)
    if settings.store.sqlite is not None and not Path(settings.store.sqlite).parent.is_dir():
        fail(f"store.sqlite: the folder of {settings.store.sqlite} does not exist")
    open_store(settings).close()
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


def _check_relay(settings: KmeConfig) -> None:
    """The controller's token file is readable, and its CA and the KME's own identity load for TLS."""
    from openqci.kms.tls import client_context

    relay = settings.relay
    if relay.token_file is not None:
        try:
            relay.token_file.read_bytes()
        except OSError as error:
            fail(f"relay.token_file: cannot read {relay.token_file}: {error.strerror}")
    if relay.controller_url is not None and relay.controller_url.startswith("https://"):
        client_context(relay.ca or settings.tls.ca, settings.tls.certificate, settings.tls.private_key)


@app.command("init")
def init(
    path: Annotated[Path, typer.Argument(help="The configuration file to write (never overwritten).")],
    kme_id: Annotated[str, typer.Option("--kme-id", help="The KME's ID (its certificate's name).")],
    host: Annotated[
        str, typer.Option(help="The IP address to listen on (0.0.0.0 for every address).")
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="The TCP port of the ETSI GS QKD 014 API.")] = 8443,
    pki: Annotated[
        str,
        typer.Option(help="The folder of ca.pem and the certificates, relative to the file's folder."),
    ] = "pki",
    postgres: Annotated[
        str | None,
        typer.Option(help="Keep keys in PostgreSQL: a libpq connection string (default: a SQLite file)."),
    ] = None,
    schema: Annotated[str | None, typer.Option(help="The PostgreSQL schema (default openqci_KMEID).")] = None,
    sae: Annotated[
        list[str] | None, typer.Option("--sae", help="An SAE this KME serves (repeat for several).")
    ] = None,
) -> None:
    """Write a commented KME configuration with every key, to fill in (peers, relay) and check.

    What the options give is filled in; the rest is written with its default or as a commented example.
    Then `openqci kms check --config PATH` says whether the files it names are in place.
    """
    from openqci.kms.config_template import ConfigTemplate, write_config_template

    template = ConfigTemplate(
        kme_id, host=host, port=port, pki=pki, postgres=postgres, schema=schema, saes=sae or []
    )
    write_config_template(path, template)
    console.print(
        f"KME configuration written to {path}; next: `openqci kms masterkey "
        f"{path.parent / 'master.key'}`, the certificates in {path.parent / pki}, then "
        f"`openqci kms check --config {path}`",
        markup=False,
        highlight=False,
        soft_wrap=True,
    )


@app.command("masterkey")
def masterkey(
    path: Annotated[Path, typer.Argument(help="File to create (mode 0600; never overwritten).")],
) -> None:
    """Write a new random master key that encrypts the key store at rest."""
    from openqci.kms.crypto import write_master_key

    write_master_key(path)
    console.print(f"master key written to {path}")


@app.command("feed")
def feed(
    config: ConfigOption,
    from_dir: Annotated[
        Path, typer.Option("--from", help="The folder the QKD device writes NAME.key and NAME.json into.")
    ],
    watch: Annotated[
        bool, typer.Option("--watch", help="Keep looking every --interval seconds until SIGINT or SIGTERM.")
    ] = False,
    interval: Annotated[
        float, typer.Option("--interval", min=0.01, help="Seconds between looks with --watch.")
    ] = 1.0,
    link: Annotated[
        str | None, typer.Option("--link", help="The link the folder feeds (needed if the KME has several).")
    ] = None,
    json: Annotated[bool, typer.Option("--json", help="Print one JSON document instead of text.")] = False,
) -> None:
    """Add the key files in a folder to the KME's store, each block exactly once, and remove them.

    Refused pairs are moved to the folder's rejected/ beside a NAME.reason file. Runs beside `kms serve`.
    """
    from openqci.kms.config import load_config
    from openqci.kms.key_feed import Feeder, folder_link
    from openqci.kms.key_files import KeyFileSource
    from openqci.kms.node import open_store
    from openqci.kms.units import pool_cap_units

    settings = load_config(config)
    link_id, parity = folder_link(settings, link)
    limits = settings.limits
    cap = pool_cap_units(limits.max_key_count, limits.key_size, settings.unit_bits)
    with KeyFileSource(from_dir, link_id, unit_bits=settings.unit_bits) as source:
        store = open_store(settings)
        try:
            feeder = Feeder(source, store, unit_bits=settings.unit_bits, parity=parity, max_free_units=cap)
            if watch:
                if not json:
                    console.print(f"watching {from_dir} for {settings.kme_id} ({link_id}); Ctrl-C stops")
                report = _watch(feeder, interval, quiet=json)
            else:
                report = _once(feeder, quiet=json)
        finally:
            store.close()
    summary = {"kme_id": settings.kme_id, "link_id": link_id, "folder": str(from_dir)} | report.record()
    if json:
        print_json(summary)
    else:
        _print_feed_summary(summary)


def _once(feeder: Feeder, *, quiet: bool) -> FeedReport:
    from rich.progress import Progress, SpinnerColumn, TextColumn

    columns = (SpinnerColumn(), TextColumn("{task.completed} key files ingested"))
    with Progress(*columns, console=console, transient=True, disable=quiet or not console.is_terminal) as bar:
        task = bar.add_task("ingesting", total=None)
        return feeder.once(on_ingested=lambda _: bar.advance(task))


def _watch(feeder: Feeder, interval_s: float, *, quiet: bool) -> FeedReport:
    """Feed until SIGINT or SIGTERM: the handlers only raise a flag, so the block in hand is finished."""
    import signal

    stopping: list[int] = []
    previous = {
        number: signal.signal(number, lambda received, _: stopping.append(received))
        for number in (signal.SIGINT, signal.SIGTERM)
    }
    try:
        return feeder.watch(
            interval_s=interval_s, stop=lambda: bool(stopping), on_round=None if quiet else _print_round
        )
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)


def _print_round(report: FeedReport) -> None:
    import time

    refused = f", {len(report.refused)} refused" if report.refused else ""
    console.print(
        f"{time.strftime('%H:%M:%S')} ingested {report.files_ingested} files "
        f"({report.units_added} units){refused}"
    )
    for refusal in report.refused:
        console.print(
            f"  refused {refusal.name}: {refusal.reason}", markup=False, highlight=False, soft_wrap=True
        )


def _print_feed_summary(summary: dict[str, Any]) -> None:
    from rich.table import Table
    from rich.text import Text

    console.print(
        f"{summary['kme_id']} ({summary['link_id']}) from {summary['folder']}: "
        f"{summary['files_ingested']} files ingested, {summary['units_added']} units added, "
        f"{len(summary['refused'])} refused",
        markup=False,
        soft_wrap=True,
        highlight=False,
    )
    if summary["held_pool_full"]:
        console.print("the KME's pool is full (limits.max_key_count): the other pairs wait in the folder")
    if summary["refused"]:
        table = Table("refused file", "reason", title=Text(f"moved to {summary['folder']}/rejected/"))
        for refusal in summary["refused"]:
            table.add_row(Text(refusal["file"]), Text(refusal["reason"]))
        console.print(table)
