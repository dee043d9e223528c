"""Errors of the key management entity, each carrying the HTTP status and ETSI message it is reported with.

The exception tree::

    OpenQciError
    └── KmsError                      (503 when it reaches the API: a server-side condition)
        ├── BadRequestError           400, the ETSI GS QKD 014 Error body
        │   └── KeysNotFoundError     400 "one or more keys specified are not found on KME"
        ├── UnauthorizedError         401, the caller is not an SAE the key belongs to
        ├── KeyShortageError          503, not enough key for the pair
        ├── PoolFullError             503, a link end's pool is full: the block is held, not taken
        ├── PeerError                 503, the peer KME refused or could not be reached
        ├── DeviceError               503, a link's QKD device could not be reached or refused
        ├── RelayError                503, a key could not be relayed to a non-neighbour KME; says why
        │   └── RouteUnavailableError 503, no usable route (the controller's reason)
        ├── StoreError                503, the key store failed (corrupt row, wrong master key)
        ├── ConfigError               a bad KME configuration; names the field
        ├── KeyFileError              a key file folder that cannot be read, or a key file pair refused
        └── PkiError                  a certificate or key file that cannot be used

One exception handler in :mod:`openqci.kms.api.app` turns any of them into its status and the standard's
Error object (GS QKD 014 Table 13), so every error answer, 401 included, has a JSON body.
"""

from __future__ import annotations

from typing import Any, ClassVar

from openqci.errors import OpenQciError

__all__ = [
    "BadRequestError",
    "ConfigError",
    "DeviceError",
    "KeyFileError",
    "KeyShortageError",
    "KeysNotFoundError",
    "KmsError",
    "PeerError",
    "PkiError",
    "PoolFullError",
    "RelayError",
    "RouteUnavailableError",
    "StoreError",
    "UnauthorizedError",
]


class KmsError(OpenQciError):
    """Base of the key management errors; ``details`` become the Error object's name/value list."""

    status_code: ClassVar[int] = 503

    def __init__(self, message: str, details: list[dict[str, Any]] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details or []


class BadRequestError(KmsError):
    """The request breaks the standard or this KME's limits (HTTP 400)."""

    status_code: ClassVar[int] = 400


class KeysNotFoundError(BadRequestError):
    """A requested key_ID is unknown, already retrieved or wiped; nothing was delivered (HTTP 400)."""

    MESSAGE: ClassVar[str] = "one or more keys specified are not found on KME"

    def __init__(self, details: list[dict[str, Any]] | None = None) -> None:
        super().__init__(self.MESSAGE, details)


class UnauthorizedError(KmsError):
    """The caller is not identified, or is not an SAE the key was made for (HTTP 401)."""

    status_code: ClassVar[int] = 401


class KeyShortageError(KmsError):
    """Not enough key material for the pair right now (HTTP 503)."""


class PoolFullError(KmsError):
    """A link end's pool holds ``max_key_count`` keys already: a new block is held back, not stored (503).

    The source keeps the block and offers it again once key is consumed, as a QKD device holds its key
    while its KMS is full.
    """


class PeerError(KmsError):
    """The peer KME could not agree on a request (HTTP 503)."""


class DeviceError(KmsError):
    """The QKD device feeding a link could not be reached or refused a request (HTTP 503)."""


class RelayError(KmsError):
    """A key could not be relayed to the slave SAE's KME; the message says which hop failed and why (503)."""


class RouteUnavailableError(RelayError):
    """No usable route to the destination KME; the message gives the controller's reason (HTTP 503)."""


class StoreError(KmsError):
    """The key store cannot serve (HTTP 503)."""


class ConfigError(KmsError):
    """A KME configuration that cannot be used; the message names the field."""


class KeyFileError(KmsError):
    """A key file folder that cannot be used, or a key file pair that is refused; says why in one line."""


class PkiError(KmsError):
    """A certificate, key or PKI directory that cannot be used."""
