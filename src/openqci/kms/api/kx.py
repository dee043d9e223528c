"""The KME-to-KME router: a peer KME (identified by its client certificate) binds or voids reservations."""

from __future__ import annotations

import uuid

from fastapi import APIRouter

from openqci.kms.api.deps import CallerKme, LocalSaes, Manager
from openqci.kms.api.kx_models import ReservationMessage

__all__ = ["router"]

router = APIRouter(prefix="/kme/v1", tags=["KME to KME"], include_in_schema=False)


@router.post("/reservations")
async def accept_reservation(
    message: ReservationMessage, peer: CallerKme, manager: Manager, saes: LocalSaes
) -> dict[str, str]:
    """Bind the peer's reservation to our copies of its units before the peer answers its SAE."""
    manager.accept_from_peer(peer, message.to_reservation(), saes)
    return {"request_id": str(message.request_id), "status": "reserved"}


@router.post("/reservations/{request_id}/void")
async def void_reservation(request_id: uuid.UUID, peer: CallerKme, manager: Manager) -> dict[str, str | int]:
    """Wipe a reservation the peer never delivered to its master SAE."""
    return {"request_id": str(request_id), "keys_wiped": manager.void_from_peer(peer, request_id)}
