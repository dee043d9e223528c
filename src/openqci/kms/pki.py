"""A small PKI for a QCI site: one CA, a certificate per KME (server and client) and per SAE (client).

Keys are ECDSA P-256, which keeps TLS handshakes cheap. KME certificates name ``localhost`` and
``127.0.0.1`` besides the KME ID, since KMEs here listen on loopback by default. Private keys are written
with mode 0600. Everything is done with the ``cryptography`` package; nothing shells out to openssl.
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

__all__ = ["Identity", "PkiLayout", "init_pki"]

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
    directory.mkdir(parents=True, exist_ok=True)
    if (directory / "ca.pem").exists():
        raise PkiError(f"{directory / 'ca.pem'} exists already; choose an empty directory")
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_cert = _ca_certificate(ca_key, validity_days)
    _write_key(directory / "ca.key", ca_key)
    (directory / "ca.pem").write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    kmes = {k: _issue(directory, k, ca_key, ca_cert, validity_days, server=True) for k in kme_ids}
    saes = {s: _issue(directory, s, ca_key, ca_cert, validity_days, server=False) for s in sae_ids}
    return PkiLayout(directory / "ca.pem", kmes, saes)


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
        alt = [
            x509.DNSName(name),
            x509.DNSName("localhost"),
            x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
        ]
        builder = builder.add_extension(x509.SubjectAlternativeName(alt), critical=False)
    cert = builder.sign(ca_key, hashes.SHA256())
    identity = Identity(name, directory / f"{name}.pem", directory / f"{name}.key")
    identity.certificate.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
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
