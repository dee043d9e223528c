"""The KME-to-KME router of links fed by QKD devices: the peer offers device keys, this KME takes them.

The peer is known by its client certificate (mutual TLS) and must be the KME at the other end of the
link the offer names. The body is read up to :data:`MAX_OFFER_BYTES` and refused beyond, before parsing.
"""

from __future__ import annotations

from collections.abc import Mapping

from fastapi import APIRouter, Request
from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError

from openqci.kms.api.deps import CallerKme
from openqci.kms.api.device_models import MAX_OFFER_BYTES, DeviceKeysAnswer, DeviceKeysOffer
from openqci.kms.device_etsi014 import Etsi014Link
from openqci.kms.errors import BadRequestError, UnauthorizedError

__all__ = ["router"]

router = APIRouter(prefix="/kme/v1", tags=["KME to KME"], include_in_schema=False)


@router.post("/device_keys", openapi_extra={"requestBody": {"content": {"application/json": {}}}})
async def take_device_keys(request: Request, peer: CallerKme) -> DeviceKeysAnswer:
    """Take the offered keys from this KME's device and store their block; answer whether it is held."""
    try:
        offer = DeviceKeysOffer.model_validate_json(await _bounded_body(request, MAX_OFFER_BYTES))
    except ValidationError as error:
        raise RequestValidationError(error.errors(include_url=False)) from None
    links: Mapping[str, Etsi014Link] = request.app.state.device_links
    link = links.get(offer.link_id)
    if link is None:
        raise BadRequestError(f"link {offer.link_id!r} takes no key from a QKD device here")
    if link.peer_kme_id != peer:
        raise UnauthorizedError(f"KME {peer!r} is not at the other end of link {offer.link_id!r}")
    return await link.take_offer(offer)


async def _bounded_body(request: Request, limit: int) -> bytes:
    """The request body, refused (400) as soon as it is longer than ``limit`` bytes."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise BadRequestError(f"a device key offer is at most {limit} bytes, not {declared}")
    parts, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise BadRequestError(f"a device key offer is at most {limit} bytes")
        parts.append(chunk)
    return b"".join(parts)
