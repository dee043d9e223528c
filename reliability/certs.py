"""Client certificates a hostile or misconfigured SAE might present: each made for one kind of refusal.

Issued with ``cryptography`` from the site CA's key (or from a CA of its own): expired, not yet valid,
signed by another CA, without the client-auth usage, self-signed, and one valid certificate of the site CA
that no KME has registered (an unknown SAE).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from openqci.kms.pki import ca_key_path

__all__ = ["BadIdentity", "issue_bad_identities"]


@dataclass(frozen=True)
class BadIdentity:
    """A certificate and its key on disk, and what is wrong with it."""

    kind: str
    certificate: Path
    private_key: Path


def issue_bad_identities(pki: Path, out: Path) -> list[BadIdentity]:
    """Write one certificate of each hostile kind under ``out``, from the site CA in ``pki``."""
    out.mkdir(parents=True, exist_ok=True)
    ca_key = serialization.load_pem_private_key(ca_key_path(pki).read_bytes(), password=None)
    ca_cert = x509.load_pem_x509_certificate((pki / "ca.pem").read_bytes())
    assert isinstance(ca_key, ec.EllipticCurvePrivateKey)
    other_key = ec.generate_private_key(ec.SECP256R1())
    other_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Other CA")])
    now = dt.datetime.now(dt.UTC)
    day = dt.timedelta(days=1)
    client = [ExtendedKeyUsageOID.CLIENT_AUTH]
    plans = [
        ("expired", ca_key, ca_cert.subject, now - 30 * day, now - day, client),
        ("not yet valid", ca_key, ca_cert.subject, now + day, now + 30 * day, client),
        ("signed by another CA", other_key, other_name, now - day, now + day, client),
        (
            "server-only usage (no clientAuth)",
            ca_key,
            ca_cert.subject,
            now - day,
            now + day,
            [ExtendedKeyUsageOID.SERVER_AUTH],
        ),
        ("unknown SAE (valid, not registered)", ca_key, ca_cert.subject, now - day, now + day, client),
        ("self-signed", None, None, now - day, now + day, client),
    ]
    made = []
    for i, (kind, signer, issuer, start, end, usages) in enumerate(plans):
        key = ec.generate_private_key(ec.SECP256R1())
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"sae-hostile-{i}")])
        builder = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(issuer or subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(start)
            .not_valid_after(end)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage(usages), critical=False)
        )
        cert = builder.sign(signer or key, hashes.SHA256())
        identity = BadIdentity(kind, out / f"hostile-{i}.pem", out / f"hostile-{i}.key")
        identity.certificate.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        identity.private_key.write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
        )
        made.append(identity)
    return made
