"""An ETSI GS QKD 014 client for applications (SAEs): status, enc_keys and dec_keys over mutual TLS.

One :class:`SaeClient` holds one httpx connection pool to its KME, so a stream of requests pays the TLS
handshake once. The standard's error answers become exceptions (400 :class:`SaeBadRequestError`, 401
:class:`SaeUnauthorizedError`, 503 :class:`SaeUnavailableError`), each carrying the KME's message.

Retries are limited to what cannot hand out a key twice: a request that never reached the KME (the
connection could not be made) and a 503, which a KME answers before taking any key. A request whose answer
was lost on the way back is not repeated: the KME may have delivered keys for it, and asking again would
only take more.
"""

from __future__ import annotations

import base64
import ssl
import time
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import httpx

from openqci.errors import OpenQciError

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


class SaeClientError(OpenQciError):
    """A request to the KME failed; ``status`` is the HTTP status (0 when the KME was not reached)."""

    def __init__(self, message: str, status: int = 0) -> None:
        super().__init__(message)
        self.status = status


class SaeBadRequestError(SaeClientError):
    """HTTP 400: the KME refused the request's content (unknown SAE, too many keys, unknown key_ID...)."""


class SaeUnauthorizedError(SaeClientError):
    """HTTP 401: the KME does not accept this SAE's certificate for the request."""


class SaeUnavailableError(SaeClientError):
    """HTTP 503, or no connection: the KME cannot serve now (no key, a peer down); try again later."""


@dataclass(frozen=True)
class QkdKey:
    """A key from the KME: its UUID key_ID and the key bytes (never shown in a repr)."""

    key_id: uuid.UUID
    key: bytes = field(repr=False)


@dataclass(frozen=True)
class KeyContainer:
    """The keys of one enc_keys or dec_keys answer and the container's extension, if the KME sent one."""

    keys: tuple[QkdKey, ...]
    extension: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class KeyStatus:
    """The Status object of GS QKD 014 (Table 9) for one master/slave pair."""

    source_kme_id: str
    target_kme_id: str
    master_sae_id: str
    slave_sae_id: str
    key_size: int
    stored_key_count: int
    max_key_count: int
    max_key_per_request: int
    max_key_size: int
    min_key_size: int
    max_sae_id_count: int


def mutual_tls_context(ca: Path, certificate: Path, private_key: Path) -> ssl.SSLContext:
    """A TLS >= 1.2 client context presenting ``certificate`` and trusting only ``ca``.

    Raises
    ------
    SaeClientError
        If a file cannot be read or the key does not match the certificate.
    """
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        context.load_verify_locations(cafile=str(ca))
        context.load_cert_chain(str(certificate), str(private_key))
    except (OSError, ssl.SSLError) as error:
        raise SaeClientError(f"cannot load TLS files ({ca}, {certificate}, {private_key}): {error}") from None
    return context


class SaeClient:
    """An SAE's connection to its KME.

    Parameters
    ----------
    kme_url
        The KME's base URL (``https://host:port``).
    context
        The SAE's mutual-TLS context (:func:`mutual_tls_context`).
    timeout_s
        Seconds allowed for each request.
    attempts
        Tries for a request that did not reach the KME or got 503 (1 disables retries).
    backoff_s
        Wait before the second try; it doubles for each later one.
    """

    def __init__(
        self,
        kme_url: str,
        context: ssl.SSLContext,
        *,
        timeout_s: float = 30.0,
        attempts: int = 3,
        backoff_s: float = 0.2,
    ) -> None:
        if attempts < 1:
            raise ValueError(f"attempts must be >= 1, got {attempts}")
        self.kme_url = kme_url
        self._attempts = attempts
        self._backoff_s = backoff_s
        self._http = httpx.Client(base_url=kme_url, verify=context, timeout=timeout_s)

    @classmethod
    def from_pki(cls, pki_dir: Path, sae: str, kme_url: str, **options: Any) -> Self:
        """A client for ``sae`` with ``SAE.pem``, ``SAE.key`` and ``ca.pem`` from ``pki_dir``."""
        context = mutual_tls_context(pki_dir / "ca.pem", pki_dir / f"{sae}.pem", pki_dir / f"{sae}.key")
        return cls(kme_url, context, **options)

    def status(self, slave_sae_id: str) -> KeyStatus:
        """Get status: what the KME holds for keys between this SAE (master) and ``slave_sae_id``."""
        body = self._request("GET", f"/api/v1/keys/{slave_sae_id}/status", None, "status")
        return KeyStatus(
            body["source_KME_ID"],
            body["target_KME_ID"],
            body["master_SAE_ID"],
            body["slave_SAE_ID"],
            body["key_size"],
            body["stored_key_count"],
            body["max_key_count"],
            body["max_key_per_request"],
            body["max_key_size"],
            body["min_key_size"],
            body["max_SAE_ID_count"],
        )

    def enc_keys(
        self,
        slave_sae_id: str,
        *,
        number: int = 1,
        size_bits: int | None = None,
        additional_slaves: Sequence[str] = (),
    ) -> KeyContainer:
        """Get key: ``number`` new keys shared with ``slave_sae_id`` (this SAE is the master)."""
        request: dict[str, Any] = {"number": number}
        if size_bits is not None:
            request["size"] = size_bits
        if additional_slaves:
            request["additional_slave_SAE_IDs"] = list(additional_slaves)
        body = self._request("POST", f"/api/v1/keys/{slave_sae_id}/enc_keys", request, "enc_keys")
        return _container(body)

    def dec_keys(self, master_sae_id: str, key_ids: Iterable[uuid.UUID | str]) -> KeyContainer:
        """Get key with key IDs: keys ``master_sae_id`` was given, by key_ID (this SAE is a slave)."""
        request = {"key_IDs": [{"key_ID": str(key_id)} for key_id in key_ids]}
        body = self._request("POST", f"/api/v1/keys/{master_sae_id}/dec_keys", request, "dec_keys")
        return _container(body)

    def close(self) -> None:
        """Close the connection pool."""
        self._http.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.close()

    def _request(self, method: str, path: str, body: dict[str, Any] | None, what: str) -> dict[str, Any]:
        wait_s = self._backoff_s
        for attempt in range(1, self._attempts + 1):
            try:
                response = self._http.request(method, path, json=body)
            except (httpx.ConnectError, httpx.ConnectTimeout) as error:
                failure: SaeClientError = SaeUnavailableError(
                    f"{what}: cannot connect to the KME at {self.kme_url}: {error}"
                )
            except httpx.HTTPError as error:  # sent, but no answer: never repeated (see the module's note)
                raise SaeClientError(f"{what}: no answer from the KME at {self.kme_url}: {error}") from None
            else:
                if response.status_code == 200:
                    answer: dict[str, Any] = response.json()
                    return answer
                failure = _error(response, what)
                if not isinstance(failure, SaeUnavailableError):
                    raise failure
            if attempt < self._attempts:
                time.sleep(wait_s)
                wait_s *= 2
        raise failure


def _container(body: dict[str, Any]) -> KeyContainer:
    keys = tuple(QkdKey(uuid.UUID(k["key_ID"]), base64.b64decode(k["key"])) for k in body.get("keys", []))
    return KeyContainer(keys, dict(body.get("key_container_extension") or {}))


def _error(response: httpx.Response, what: str) -> SaeClientError:
    try:
        message = str(response.json().get("message", response.text))
    except ValueError:
        message = response.text
    text = f"{what}: HTTP {response.status_code}: {message}"
    kinds: dict[int, type[SaeClientError]] = {
        400: SaeBadRequestError,
        401: SaeUnauthorizedError,
        503: SaeUnavailableError,
    }
    return kinds.get(response.status_code, SaeClientError)(text, response.status_code)
