"""``openqci sae ...``: an application's (SAE's) side of ETSI GS QKD 014: keys, and files sealed under them.

Every command that talks to a KME takes the SAE's identity as ``--sae NAME --kme URL`` with either
``--pki DIR`` (``DIR/NAME.pem``, ``DIR/NAME.key`` and ``DIR/ca.pem``, as ``openqci pki init`` writes them)
or ``--certificate``, ``--private-key`` and ``--ca``. Local checks (arguments, files) come before the KME
is asked, so a mistake never spends a key.
"""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from openqci.commands.output import console, fail, new_table, print_json

if TYPE_CHECKING:
    from openqci.services.sae_client import KeyContainer, SaeClient

__all__ = ["app"]

app = typer.Typer(
    help="An SAE's keys from its KME (ETSI GS QKD 014) and files sealed under them.", no_args_is_help=True
)

SaeOption = Annotated[str, typer.Option("--sae", help="This SAE's ID (as its KME knows it).")]
KmeOption = Annotated[str, typer.Option("--kme", help="This SAE's KME, https://HOST:PORT.")]
PkiOption = Annotated[
    Path | None, typer.Option("--pki", help="Folder with ca.pem, SAE.pem and SAE.key (openqci pki init).")
]
CertificateOption = Annotated[
    Path | None, typer.Option("--certificate", help="This SAE's certificate (PEM), instead of --pki.")
]
PrivateKeyOption = Annotated[
    Path | None, typer.Option("--private-key", help="This SAE's private key (PEM), instead of --pki.")
]
CaOption = Annotated[Path | None, typer.Option("--ca", help="The CA certificate (PEM), instead of --pki.")]
JsonOption = Annotated[bool, typer.Option("--json", help="Print one JSON document instead of text.")]


class _Identity:
    """The SAE's identity options, checked before anything is read."""

    def __init__(
        self,
        sae: str,
        kme: str,
        pki: Path | None,
        certificate: Path | None,
        private_key: Path | None,
        ca: Path | None,
    ) -> None:
        files = [certificate, private_key, ca]
        if pki is not None and any(f is not None for f in files):
            fail("give --pki DIR, or --certificate, --private-key and --ca: not both")
        if pki is None and not all(f is not None for f in files):
            fail("give --pki DIR, or all three of --certificate, --private-key and --ca")
        if not kme.startswith("https://"):
            fail(f"--kme must be an https:// URL (ETSI GS QKD 014 runs over mutual TLS), got {kme!r}")
        self.sae = sae
        self.kme = kme.rstrip("/")
        self.pki = pki
        self.files = files

    def client(self) -> SaeClient:
        from openqci.services.sae_client import SaeClient, mutual_tls_context

        if self.pki is not None:
            return SaeClient.from_pki(self.pki, self.sae, self.kme, attempts=1)
        certificate, private_key, ca = (path or Path() for path in self.files)
        return SaeClient(self.kme, mutual_tls_context(ca, certificate, private_key), attempts=1)


def _keys_record(container: KeyContainer) -> dict[str, Any]:
    import base64

    record: dict[str, Any] = {
        "keys": [{"key_ID": str(k.key_id), "key": base64.b64encode(k.key).decode()} for k in container.keys]
    }
    if container.extension:
        record["key_container_extension"] = container.extension
    return record


def _print_keys(record: dict[str, Any], json: bool) -> None:
    if json:
        print_json(record)
        return
    table = new_table(None, {"key_ID": "left", "key (base64)": "left"})
    for key in record["keys"]:
        table.add_row(key["key_ID"], key["key"])
    console.print(table)


@app.command("get-key")
def get_key(
    sae: SaeOption,
    kme: KmeOption,
    slave: Annotated[str, typer.Option("--slave", help="The slave SAE the keys are shared with.")],
    number: Annotated[int, typer.Option("--number", help="How many keys.")] = 1,
    size: Annotated[
        int | None, typer.Option("--size", help="Bits per key (the KME's default if left out).")
    ] = None,
    pki: PkiOption = None,
    certificate: CertificateOption = None,
    private_key: PrivateKeyOption = None,
    ca: CaOption = None,
    json: JsonOption = False,
) -> None:
    """Get key (enc_keys): new keys shared with the slave SAE; this SAE is the master."""
    identity = _Identity(sae, kme, pki, certificate, private_key, ca)
    if number < 1:
        fail(f"--number must be >= 1, got {number}")
    if size is not None and (size < 1 or size % 8):
        fail(f"--size must be a positive multiple of 8 bits, got {size}")
    with identity.client() as client:
        container = client.enc_keys(slave, number=number, size_bits=size)
    _print_keys(_keys_record(container), json)


@app.command("get-key-with-id")
def get_key_with_id(
    sae: SaeOption,
    kme: KmeOption,
    master: Annotated[str, typer.Option("--master", help="The master SAE that got the keys.")],
    key_ids: Annotated[list[str], typer.Argument(metavar="KEY_ID...", help="The keys' key_IDs (UUIDs).")],
    pki: PkiOption = None,
    certificate: CertificateOption = None,
    private_key: PrivateKeyOption = None,
    ca: CaOption = None,
    json: JsonOption = False,
) -> None:
    """Get key with key IDs (dec_keys): the keys the master SAE got for this SAE, by key_ID."""
    identity = _Identity(sae, kme, pki, certificate, private_key, ca)
    for key_id in key_ids:
        try:
            uuid.UUID(key_id)
        except ValueError:
            fail(f"KEY_ID {key_id!r} is not a UUID")
    with identity.client() as client:
        container = client.dec_keys(master, key_ids)
    _print_keys(_keys_record(container), json)


def _print_sealed(record: dict[str, Any], verb: str, json: bool) -> None:
    if json:
        print_json(record)
        return
    console.print(
        f"{verb} {record['file']}: {record['data_bytes']} bytes in {record['chunks']} "
        f"chunk{'' if record['chunks'] == 1 else 's'}, mode "
        f"{record['mode']} ({record['kdf']}), key {record['key_IDs'][0]} from {record['master_SAE_ID']} "
        f"to {record['slave_SAE_ID']}",
        markup=False,
        highlight=False,
        soft_wrap=True,
    )


@app.command("seal")
def seal(
    file: Annotated[Path, typer.Argument(help="The file to seal.")],
    sae: SaeOption,
    kme: KmeOption,
    slave: Annotated[str, typer.Option("--slave", help="The SAE that alone may open it.")],
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="The sealed file (FILE.sealed if left out).")
    ] = None,
    recipient_key: Annotated[
        Path | None,
        typer.Option("--recipient-key", help="The slave's public sealing key: seal under a hybrid key."),
    ] = None,
    chunk_bytes: Annotated[int, typer.Option("--chunk-bytes", help="Plaintext bytes per chunk.")] = 65536,
    pki: PkiOption = None,
    certificate: CertificateOption = None,
    private_key: PrivateKeyOption = None,
    ca: CaOption = None,
    json: JsonOption = False,
) -> None:
    """Seal FILE for the slave SAE under one new QKD key (with --recipient-key, a hybrid key)."""
    from openqci.services.sealed import SealingPublicKey, check_seal, seal_file

    identity = _Identity(sae, kme, pki, certificate, private_key, ca)
    target = output if output is not None else file.with_name(file.name + ".sealed")
    check_seal(file, target, chunk_bytes)
    recipient = SealingPublicKey.load(recipient_key) if recipient_key is not None else None
    with identity.client() as client:
        sealed = seal_file(
            file,
            target,
            client,
            master_sae_id=sae,
            slave_sae_id=slave,
            recipient=recipient,
            chunk_bytes=chunk_bytes,
        )
    _print_sealed(sealed.record(), "sealed", json)


@app.command("open")
def open_(
    file: Annotated[Path, typer.Argument(help="The sealed file.")],
    sae: SaeOption,
    kme: KmeOption,
    output: Annotated[
        Path | None,
        typer.Option("--output", "-o", help="Where the data goes (FILE without .sealed if left out)."),
    ] = None,
    sealing_key: Annotated[
        Path | None, typer.Option("--sealing-key", help="This SAE's private sealing key (hybrid files).")
    ] = None,
    pki: PkiOption = None,
    certificate: CertificateOption = None,
    private_key: PrivateKeyOption = None,
    ca: CaOption = None,
    json: JsonOption = False,
) -> None:
    """Open a file sealed for this SAE, getting its key from the KME by key_ID (a sealed file opens once)."""
    from openqci.services.sealed import SealingKey, check_open, open_file

    identity = _Identity(sae, kme, pki, certificate, private_key, ca)
    if output is None:
        if file.suffix != ".sealed":
            fail(f"{file} does not end in .sealed: say where the data goes with --output")
        output = file.with_suffix("")
    check_open(file, output)
    key = SealingKey.load(sealing_key) if sealing_key is not None else None
    with identity.client() as client:
        opened = open_file(file, output, client, slave_sae_id=sae, sealing_key=key)
    _print_sealed(opened.record(), "opened", json)


@app.command("keygen")
def keygen(
    sae: SaeOption,
    out: Annotated[Path, typer.Option("--out", help="Folder to write SAE.sealing.key and SAE.sealing.pub.")],
    parameter_set: Annotated[
        str, typer.Option("--parameter-set", help="A CatKDF set of ETSI TS 103 744 (name or identifier).")
    ] = "CatKDF/HKDF-SHA256/X25519/ML-KEM-768",
    json: JsonOption = False,
) -> None:
    """Make this SAE's long-term sealing key, so that files can be sealed to it under hybrid keys."""
    from openqci.services.sealed import SealingKey

    if not out.is_dir():
        fail(f"--out {out}: the folder does not exist")
    private_path, public_path = out / f"{sae}.sealing.key", out / f"{sae}.sealing.pub"
    key = SealingKey.generate(sae, parameter_set)
    key.save(private_path, public_path)
    record = {
        "SAE_ID": sae,
        "parameter_set": key.params.name,
        "private_key": str(private_path),
        "public_key": str(public_path),
        "fingerprint": key.public.fingerprint,
    }
    if json:
        print_json(record)
        return
    console.print(
        f"sealing key of {sae} ({key.params.name}): {private_path} (keep it), {public_path} (share it)"
    )
