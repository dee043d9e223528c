"""The KME-to-KME router: a peer KME, known by its client certificate, pushes or pulls delivery records."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError

from openqci.kms.api.deps import CallerKme, Manager
from openqci.kms.api.kx_models import Confirmation, DeliveryBatch, PullRequest, ReservationMessage

__all__ = ["router"]

router = APIRouter(prefix="/kme/v1", tags=["KME to KME"], include_in_schema=False)


@router.post("/deliveries", openapi_extra={"requestBody": {"content": {"application/json": {}}}})
async def accept_deliveries(request: Request, peer: CallerKme, manager: Manager) -> Confirmation:
    """Bind the peer's delivery records here; confirm those held durably, so the peer drops them.

    The batch is parsed from the raw body by pydantic's JSON parser in one pass (a body parameter would be
    decoded by ``json`` first and validated as Python objects after, twice the work for large batches).
    """
    try:
        batch = DeliveryBatch.model_validate_json(await request.body())
    except ValidationError as error:
        raise RequestValidationError(error.errors(include_url=False)) from None
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
