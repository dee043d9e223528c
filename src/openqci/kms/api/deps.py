"""Dependencies of the KME's endpoints, as ``Annotated`` aliases: the caller's identity and the key manager.

The identity comes only from the client certificate in the ASGI TLS extension
(``scope["extensions"]["tls"]["client_cert_chain"]``), which :mod:`openqci.kms.tls` fills in for real
connections and for in-process tests alike. The dependencies are coroutines although they do not wait for
anything: FastAPI runs a plain function dependency in a worker thread, two thread hops per request.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from openqci.kms.identity import Directory
from openqci.kms.manager import KeyManager

__all__ = ["CallerKme", "CallerSae", "Manager"]


def _client_pem(request: Request) -> str | None:
    chain = request.scope.get("extensions", {}).get("tls", {}).get("client_cert_chain") or []
    return str(chain[0]) if chain else None


def _directory(request: Request) -> Directory:
    directory: Directory = request.app.state.directory
    return directory


async def caller_sae(request: Request) -> str:
    """Return the SAE ID of the client certificate; 401 when there is none or it is not registered."""
    return _directory(request).sae_of(_client_pem(request))


async def caller_kme(request: Request) -> str:
    """Return the peer KME ID of the client certificate; 401 when it is not a configured peer."""
    return _directory(request).kme_of(_client_pem(request))


async def key_manager(request: Request) -> KeyManager:
    """Return the app's key manager."""
    manager: KeyManager = request.app.state.manager
    return manager


CallerSae = Annotated[str, Depends(caller_sae)]
CallerKme = Annotated[str, Depends(caller_kme)]
Manager = Annotated[KeyManager, Depends(key_manager)]
