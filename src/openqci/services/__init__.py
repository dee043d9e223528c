"""Services for the QCI's users, built on ETSI GS QKD 014 as clients of a KME.

Nothing here reaches into a KME: applications (and a KME that is itself the SAE of a QKD device) get keys
through :class:`SaeClient`, over mutual TLS, as any ETSI 014 application would.
"""

from __future__ import annotations

from openqci.services.sae_client import (
    KeyContainer,
    KeyStatus,
    QkdKey,
    SaeBadRequestError,
    SaeClient,
    SaeClientError,
    SaeUnauthorizedError,
    SaeUnavailableError,
    mutual_tls_context,
)

__all__ = [
    "KeyContainer",
    "KeyStatus",
    "QkdKey",
    "SaeBadRequestError",
    "SaeClient",
    "SaeClientError",
    "SaeUnauthorizedError",
    "SaeUnavailableError",
    "mutual_tls_context",
]
