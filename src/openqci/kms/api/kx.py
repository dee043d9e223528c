"""The KME-to-KME router: a peer KME, known by its client certificate, pushes or pulls delivery records."""

from __future__ import annotations

from fastapi import APIRouter

from openqci.kms.api.deps import CallerKme, Manager
from openqci.kms.api.kx_models import Confirmation, DeliveryBatch, PullRequest, ReservationMessage

__all__ = ["router"]

router = APIRouter(prefix="/kme/v1", tags=["KME to KME"], include_in_schema=False)


@router.post("/deliveries")
async def accept_deliveries(batch: DeliveryBatch, peer: CallerKme, manager: Manager) -> Confirmation:
    """Bind the peer's delivery records here; confirm those held durably, so the peer drops them."""
    records = [m.to_reservation() for m in batch.records]
    accepted = await manager.accept_from_peer(peer, records)
    done = set(accepted)
    refused = [{"request_id": str(r.request_id)} for r in records if r.request_id not in done]
    return Confirmation(accepted=accepted, refused=refused)


@router.post("/deliveries/pull")
async def pull_deliveries(request: PullRequest, peer: CallerKme, manager: Manager) -> DeliveryBatch:
    """Return the records of key_IDs a slave SAE asked the peer for before the push reached it."""
    records = await manager.records_for_peer(peer, request.key_ids)
    return DeliveryBatch(records=[ReservationMessage.from_reservation(r) for r in records])
