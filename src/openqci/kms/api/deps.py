"""Dependencies of the KME's endpoints, as ``Annotated`` aliases: the caller's identity and the key manager.

The identity comes only from the client certificate in the ASGI TLS extension
(``scope["extensions"]["tls"]["client_cert_chain"]``), which :mod:`openqci.kms.tls` fills in for real
connections and for in-process tests alike. The dependencies are coroutines although they do not wait for
anything: FastAPI runs a plain function dependency in a worker thread, two thread hops per request.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Request

from openqci.kms.identity import Directory
from openqci.kms.manager import KeyManager
from openqci.kms.requests import check_query

__all__ = ["CallerKme", "Manager", "SaeCall", "client_pem", "sae_call"]


def client_pem(scope: Mapping[str, Any]) -> str | None:
    """The client certificate (PEM) of the connection the ASGI ``scope`` belongs to, if it sent one."""
    chain = scope.get("extensions", {}).get("tls", {}).get("client_cert_chain") or []
    return str(chain[0]) if chain else None


def _directory(request: Request) -> Directory:
    directory: Directory = request.app.state.directory
    return directory


async def caller_kme(request: Request) -> str:
    """Return the peer KME ID of the client certificate; 401 when it is not a configured peer."""
    return _directory(request).kme_of(client_pem(request.scope))


async def key_manager(request: Request) -> KeyManager:
    """Return the app's key manager."""
    manager: KeyManager = request.app.state.manager
    return manager


CallerKme = Annotated[str, Depends(caller_kme)]
Manager = Annotated[KeyManager, Depends(key_manager)]


@dataclass(frozen=True)
class SaeCall:
    """What an ETSI 014 endpoint needs before it acts: the calling SAE, the key manager, the query."""

    caller: str
    manager: KeyManager
    query: dict[str, str]


def sae_call(*allowed_query: str) -> Any:
    """One dependency giving an endpoint its :class:`SaeCall`, refusing query parameters not in
    ``allowed_query``.

    One dependency instead of three: FastAPI's resolution of each costs more than the key store's share of
    an enc_keys request. The caller is checked first (401 before 400), as when they were separate.
    """

    async def read(request: Request) -> SaeCall:
        caller = _directory(request).sae_of(client_pem(request.scope))
        query = check_query(request.query_params.multi_items(), allowed_query)
        return SaeCall(caller, request.app.state.manager, query)

    return Depends(read)
