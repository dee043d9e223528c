"""A small PKI for a QCI site: one CA, a certificate per KME (server and client) and per SAE (client).

Keys are ECDSA P-256, which keeps TLS handshakes cheap. :func:`init_pki` names ``localhost`` and
``127.0.0.1`` in KME certificates besides the KME ID, since KMEs listen on loopback by default;
:func:`issue_certificate` adds one KME or SAE to an existing CA later, with the host names and addresses
(subject alternative names) a KME on another host is reached at.

The CA's private key is kept in ``private/ca.key`` (folder 0700, file 0600), apart from the certificates
and keys that KMEs and SAEs read, so that the folder handed to a KME host never needs the CA key; a CA
made before keeps its ``ca.key`` beside ``ca.pem`` and is still found there. Private keys are written with
mode 0600 and never overwritten. Everything is done with the ``cryptography`` package; nothing shells
out to openssl.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
import re
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from openqci.kms.errors import PkiError

__all__ = ["Identity", "PkiLayout", "ca_key_path", "init_pki", "issue_certificate", "parse_san"]

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


@dataclass(frozen=True)
class Identity:
    """The certificate and private key files of one entity."""

    name: str
    certificate: Path
    private_key: Path


@dataclass(frozen=True)
class PkiLayout:
    """What :func:`init_pki` wrote: the CA certificate and one identity per KME and SAE."""

    ca: Path
    kmes: dict[str, Identity]
    saes: dict[str, Identity]


def init_pki(
    directory: Path, kme_ids: list[str], sae_ids: list[str], *, validity_days: int = 825
) -> PkiLayout:
    """Create a CA and certificates for ``kme_ids`` and ``sae_ids`` in ``directory``.

    Parameters
    ----------
    directory
        Created if missing; must not hold a ``ca.pem`` already (a CA is never overwritten).
    kme_ids, sae_ids
        Names of the KMEs and SAEs; letters, digits, ``.``, ``_`` and ``-``.
    validity_days
        Lifetime of every certificate.

    Returns
    -------
    PkiLayout
        The paths written.
    """
    names = [*kme_ids, *sae_ids]
    bad = [n for n in names if not _NAME.match(n)]
    if bad or len(set(names)) != len(names):
        raise PkiError(f"names must be distinct and use letters, digits, '.', '_' or '-': {bad or names}")
    _check_days(validity_days)
    directory.mkdir(parents=True, exist_ok=True)
    if (directory / "ca.pem").exists():
        raise PkiError(f"{directory / 'ca.pem'} exists already; choose an empty directory")
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_cert = _ca_certificate(ca_key, validity_days)
    (directory / _PRIVATE).mkdir(mode=0o700, exist_ok=True)
    _write_key(directory / _PRIVATE / "ca.key", ca_key)
    (directory / "ca.pem").write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    kmes = {k: _issue(directory, k, ca_key, ca_cert, validity_days, server=True) for k in kme_ids}
    saes = {s: _issue(directory, s, ca_key, ca_cert, validity_days, server=False) for s in sae_ids}
    return PkiLayout(directory / "ca.pem", kmes, saes)


_PRIVATE = "private"
_LOOPBACK: tuple[x509.GeneralName, ...] = (
    x509.DNSName("localhost"),
    x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
)


def ca_key_path(ca_dir: Path) -> Path:
    """Where the CA of ``ca_dir`` keeps its private key: ``private/ca.key``, or ``ca.key`` in older CAs."""
    for candidate in (ca_dir / _PRIVATE / "ca.key", ca_dir / "ca.key"):
        if candidate.is_file():
            return candidate
    raise PkiError(
        f"{ca_dir} holds no CA private key (private/ca.key); give the folder `openqci pki init` made"
    )


def parse_san(text: str) -> x509.GeneralName:
    """One subject alternative name, written ``DNS:host.example`` or ``IP:192.0.2.10``."""
    kind, sep, value = text.partition(":")
    if sep and kind.upper() == "IP":
        try:
            return x509.IPAddress(ipaddress.ip_address(value))
        except ValueError:
            raise PkiError(f"--san {text}: {value!r} is not an IP address") from None
    if sep and kind.upper() == "DNS":
        if not _HOST.match(value):
            raise PkiError(f"--san {text}: {value!r} is not a host name (letters, digits, '-', '.')")
        return x509.DNSName(value)
    raise PkiError(f"--san {text}: write DNS:host.example or IP:192.0.2.10")


def issue_certificate(
    ca_dir: Path,
    name: str,
    *,
    kme: bool,
    san: list[str] | None = None,
    out_dir: Path | None = None,
    validity_days: int = 825,
) -> Identity:
    """Sign a certificate for one more KME (``kme=True``: server and client) or SAE (client) with the CA.

    Parameters
    ----------
    ca_dir
        The folder of an existing CA (``ca.pem`` and ``private/ca.key``).
    name
        The KME or SAE ID, the certificate's common name; letters, digits, ``.``, ``_`` and ``-``.
    san
        A KME's host names and addresses (``DNS:host``, ``IP:addr``); without any, ``localhost`` and
        ``127.0.0.1``. The KME ID is always named too. Refused for an SAE, which is only ever a client.
    out_dir
        Where ``NAME.pem`` and ``NAME.key`` go (default ``ca_dir``); neither may exist yet.
    validity_days
        The certificate's lifetime.
    """
    if not _NAME.match(name):
        raise PkiError(f"{name!r}: a name uses letters, digits, '.', '_' or '-' (at most 64)")
    if san and not kme:
        raise PkiError("--san names the hosts a KME serves on; an SAE certificate is only a client's")
    _check_days(validity_days)
    names = [parse_san(entry) for entry in san or []]
    try:
        ca_cert = x509.load_pem_x509_certificate((ca_dir / "ca.pem").read_bytes())
    except (OSError, ValueError) as error:
        raise PkiError(f"cannot read the CA certificate {ca_dir / 'ca.pem'}: {error}") from None
    key_file = ca_key_path(ca_dir)
    try:
        ca_key = serialization.load_pem_private_key(key_file.read_bytes(), password=None)
    except (OSError, ValueError, TypeError) as error:
        raise PkiError(f"cannot read the CA key {key_file}: {error}") from None
    if not isinstance(ca_key, ec.EllipticCurvePrivateKey) or ca_key.public_key() != ca_cert.public_key():
        raise PkiError(f"{key_file} is not the private key of {ca_dir / 'ca.pem'}")
    target = ca_dir if out_dir is None else out_dir
    target.mkdir(parents=True, exist_ok=True)
    taken = [p for p in (target / f"{name}.pem", target / f"{name}.key") if p.exists()]
    if taken:
        raise PkiError(f"{taken[0]} exists already; a certificate is never overwritten")
    return _issue(target, name, ca_key, ca_cert, validity_days, server=kme, alt=names or None)


def _check_days(days: int) -> None:
    if not 1 <= days <= 3650:
        raise PkiError(f"validity must be 1 to 3650 days, got {days}")


_HOST = re.compile(r"^(?=.{1,253}$)[A-Za-z0-9]([A-Za-z0-9-]{0,62})(\.[A-Za-z0-9]([A-Za-z0-9-]{0,62}))*$")


def _ca_certificate(key: ec.EllipticCurvePrivateKey, days: int) -> x509.Certificate:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "OpenQCI CA")])
    return (
        _builder(name, name, key.public_key(), days)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_usage(cert_sign=True), critical=True)
        .sign(key, hashes.SHA256())
    )


def _issue(
    directory: Path,
    name: str,
    ca_key: ec.EllipticCurvePrivateKey,
    ca: x509.Certificate,
    days: int,
    *,
    server: bool,
    alt: list[x509.GeneralName] | None = None,
) -> Identity:
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    usages = [ExtendedKeyUsageOID.CLIENT_AUTH] + ([ExtendedKeyUsageOID.SERVER_AUTH] if server else [])
    builder = (
        _builder(subject, ca.subject, key.public_key(), days)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_usage(cert_sign=False), critical=True)
        .add_extension(x509.ExtendedKeyUsage(usages), critical=False)
    )
    if server:
        names = [x509.DNSName(name), *(_LOOPBACK if alt is None else alt)]
        unique = list(dict.fromkeys(names))
        builder = builder.add_extension(x509.SubjectAlternativeName(unique), critical=False)
    cert = builder.sign(ca_key, hashes.SHA256())
    identity = Identity(name, directory / f"{name}.pem", directory / f"{name}.key")
    with identity.certificate.open("xb") as handle:  # never over a certificate written meanwhile
        handle.write(cert.public_bytes(serialization.Encoding.PEM))
    _write_key(identity.private_key, key)
    return identity


def _builder(
    subject: x509.Name, issuer: x509.Name, public_key: ec.EllipticCurvePublicKey, days: int
) -> x509.CertificateBuilder:
    now = dt.datetime.now(dt.UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=days))
    )


def _usage(*, cert_sign: bool) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=not cert_sign,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=cert_sign,
        crl_sign=cert_sign,
        encipher_only=False,
        decipher_only=False,
    )


def _write_key(path: Path, key: ec.EllipticCurvePrivateKey) -> None:
    data = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
