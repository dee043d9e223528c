"""Who is calling: client certificates mapped to SAE IDs and peer KME IDs by their SHA-256 fingerprint.

GS QKD 014 clause 5.1 has the KME derive the SAE ID from the client certificate, never from the request.
The mapping is explicit (pinned per SAE in the configuration) rather than read from the certificate's
subject, so a certificate the CA signed for someone else cannot claim a name.
"""

from __future__ import annotations

import hashlib
import ssl
from collections.abc import Mapping
from pathlib import Path

from openqci.kms.errors import PkiError, UnauthorizedError

__all__ = ["Directory", "fingerprint_of_pem", "read_fingerprint"]


def fingerprint_of_pem(pem: str) -> str:
    """Return the SHA-256 fingerprint (hex) of the first certificate in ``pem``."""
    try:
        der = ssl.PEM_cert_to_DER_cert(pem.strip()[: pem.find("-----END CERTIFICATE-----") + 25])
    except ValueError:
        raise UnauthorizedError("client certificate is not a PEM certificate") from None
    return hashlib.sha256(der).hexdigest()


def read_fingerprint(path: Path) -> str:
    """Return the fingerprint of the certificate in the PEM file ``path``."""
    try:
        return fingerprint_of_pem(path.read_text())
    except OSError as error:
        raise PkiError(f"cannot read certificate {path}: {error.strerror}") from None
    except UnauthorizedError:
        raise PkiError(f"{path} holds no PEM certificate") from None


class Directory:
    """Maps certificate fingerprints to identities; remembers each PEM it has seen."""

    def __init__(self, saes: Mapping[str, str], kmes: Mapping[str, str]) -> None:
        self._saes = dict(saes)
        self._kmes = dict(kmes)
        self._seen: dict[str, str] = {}

    def sae_of(self, pem: str | None) -> str:
        """Return the SAE ID of a client certificate; an unknown or missing one raises 401."""
        return self._lookup(pem, self._saes, "an SAE of this KME")

    def kme_of(self, pem: str | None) -> str:
        """Return the KME ID of a peer's client certificate; an unknown or missing one raises 401."""
        return self._lookup(pem, self._kmes, "a peer KME")

    def _lookup(self, pem: str | None, table: Mapping[str, str], what: str) -> str:
        if not pem:
            raise UnauthorizedError("no client certificate: the KME identifies callers by mutual TLS")
        fingerprint = self._seen.get(pem)
        if fingerprint is None:
            fingerprint = fingerprint_of_pem(pem)
            if len(self._seen) < 4096:
                self._seen[pem] = fingerprint
        identity = table.get(fingerprint)
        if identity is None:
            raise UnauthorizedError(f"the client certificate is not registered as {what}")
        return identity
