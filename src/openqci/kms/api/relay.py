"""The KME-to-KME relay router (ETSI GS QKD 020 shaped): a neighbour sends one hop of a relay, or a void.

The neighbour is known by its client certificate (mutual TLS), and must be the sender the message names.
``POST /kme/v1/ext_keys`` answers with the relay's acknowledgement once it came back from the destination;
``POST /kme/v1/ext_keys_void`` voids a relay here and passes the void on.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Response

from openqci.kms.api.deps import CallerKme, Manager
from openqci.kms.api.relay_models import HopMessage, RelayAck, VoidMessage
from openqci.kms.errors import RelayError
from openqci.kms.relay import KeyRelay

__all__ = ["router"]

router = APIRouter(prefix="/kme/v1", tags=["KME to KME"], include_in_schema=False)


async def _relay(manager: Manager) -> KeyRelay:
    """The manager's relay; 503 on a KME built without one."""
    if manager.relay is None:
        raise RelayError(f"KME {manager.kme_id} does not relay keys")
    return manager.relay


Relay = Annotated[KeyRelay, Depends(_relay)]


@router.post("/ext_keys")
async def extended_keys(message: HopMessage, peer: CallerKme, relay: Relay) -> RelayAck:
    """Take in one hop of a relay; answer with the acknowledgement from the destination."""
    return await relay.receive_hop(peer, message)


@router.post("/ext_keys_void", status_code=204)
async def void_extended_keys(message: VoidMessage, peer: CallerKme, relay: Relay) -> Response:
    """Void a relay here and along the rest of its route."""
    await relay.receive_void(peer, message)
    return Response(status_code=204)
