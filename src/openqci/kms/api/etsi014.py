"""ETSI GS QKD 014 V1.1.1 clause 5: Get status, Get key and Get key with key IDs, in GET and POST forms.

Each endpoint reads the caller from its client certificate, calls the key manager and answers with the
standard's JSON object; every error goes through the one handler in :mod:`openqci.kms.api.app`.
Query parameters are read strictly: a GET form takes only the parameters clause 5 names for it, each once
and as plain decimal digits, and a POST form takes none, so a field meant for the POST body is refused
rather than silently ignored.
Key containers are written with orjson straight from the delivered keys: the pydantic models describe the
wire format (and the OpenAPI document) but building and dumping them cost more than the key store's share
of a request.
"""

from __future__ import annotations

import base64
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Body, Response

from openqci.kms.api.deps import SaeCall, sae_call
from openqci.kms.api.models import Error, KeyContainer, KeyIds, KeyRequest, Status
from openqci.kms.manager import KeyManager
from openqci.kms.records import DeliveredKey
from openqci.kms.requests import parse_decimal

__all__ = ["FAST_PATHS", "container_body", "dec_keys_get", "enc_keys_get", "router"]

_ERRORS: dict[int | str, dict[str, object]] = {
    400: {"model": Error, "description": "Bad request format"},
    401: {"model": Error, "description": "Unauthorized"},
    503: {"model": Error, "description": "Error of server side"},
}


NoQuery = Annotated[SaeCall, sae_call()]
EncKeysQuery = Annotated[SaeCall, sae_call("number", "size")]
DecKeysQuery = Annotated[SaeCall, sae_call("key_ID")]

router = APIRouter(prefix="/api/v1/keys", tags=["ETSI GS QKD 014"], responses=_ERRORS)

FAST_PATHS = {
    "enc_keys": "/api/v1/keys/{slave_SAE_ID}/enc_keys",
    "dec_keys": "/api/v1/keys/{master_SAE_ID}/dec_keys",
}
"""The GET routes :mod:`openqci.kms.api.fast_path` answers itself, by their last path segment."""


@router.get("/{slave_SAE_ID}/status", response_model=Status)
async def get_status(slave_SAE_ID: str, call: NoQuery) -> Response:
    """Get status (clause 5.1) of the keys for the caller and ``slave_SAE_ID``.

    On a link fed by a key source that reports its state (a QKD device), ``status_extension`` carries it:
    ``{"qci_link": {"link_id", "up", "reason", "blocks"}}``.
    """
    caller = call.caller
    pool = await call.manager.status(caller, slave_SAE_ID)
    limits = pool.limits
    status = dict(
        source_KME_ID=pool.source_kme_id,
        target_KME_ID=pool.target_kme_id,
        master_SAE_ID=caller,
        slave_SAE_ID=slave_SAE_ID,
        key_size=limits.key_size,
        stored_key_count=pool.stored_key_count,
        max_key_count=limits.max_key_count,
        max_key_per_request=limits.max_key_per_request,
        max_key_size=limits.max_key_size,
        min_key_size=limits.min_key_size,
        max_SAE_ID_count=limits.max_SAE_ID_count,
    )
    if pool.link_state is not None:
        link = pool.link_state
        status["status_extension"] = {
            "qci_link": {"link_id": pool.link_id, "up": link.up, "reason": link.reason, "blocks": link.blocks}
        }
    return _json(status)


@router.get("/{slave_SAE_ID}/enc_keys", response_model=KeyContainer)
async def get_key_simple(
    slave_SAE_ID: str,
    call: EncKeysQuery,
    number: str | None = None,
    size: str | None = None,
) -> Response:
    """Get key (clause 5.2), GET form: only ``number`` and ``size``, as query parameters."""
    return _json_bytes(await enc_keys_get(call.manager, call.caller, slave_SAE_ID, number, size))


@router.post("/{slave_SAE_ID}/enc_keys", response_model=KeyContainer)
async def get_key(
    slave_SAE_ID: str,
    call: NoQuery,
    request: Annotated[KeyRequest | None, Body()] = None,
) -> Response:
    """Get key (clause 5.2), POST form with a Key request; an empty body means all defaults."""
    request = request or KeyRequest()
    delivery = await call.manager.enc_keys(
        call.caller,
        slave_SAE_ID,
        number=request.number,
        size=request.size,
        additional_slaves=request.additional_slave_SAE_IDs,
        extension_mandatory=request.extension_mandatory,
    )
    return _json_bytes(container_body(delivery.keys, delivery.extension))


@router.get("/{master_SAE_ID}/dec_keys", response_model=KeyContainer)
async def get_key_with_key_id(master_SAE_ID: str, call: DecKeysQuery, key_ID: str) -> Response:
    """Get key with key IDs (clause 5.3), GET form: one ``key_ID`` as a query parameter."""
    return _json_bytes(await dec_keys_get(call.manager, call.caller, master_SAE_ID, key_ID))


@router.post("/{master_SAE_ID}/dec_keys", response_model=KeyContainer)
async def get_key_with_key_ids(master_SAE_ID: str, call: NoQuery, key_ids: KeyIds) -> Response:
    """Get key with key IDs (clause 5.3), POST form with a Key IDs object."""
    key_id_list = [entry.key_ID for entry in key_ids.key_IDs]
    return _json_bytes(container_body(await call.manager.dec_keys(call.caller, master_SAE_ID, key_id_list)))


async def enc_keys_get(
    manager: KeyManager, caller: str, slave: str, number: str | None, size: str | None
) -> bytes:
    """The answer to a GET enc_keys of ``caller`` (checked) with its raw ``number`` and ``size``: the Key
    container as JSON. The route and :mod:`openqci.kms.api.fast_path` both answer with it."""
    number_of, size_of = parse_decimal(number, "number"), parse_decimal(size, "size")
    delivery = await manager.enc_keys(caller, slave, number=number_of, size=size_of)
    return container_body(delivery.keys, delivery.extension)


async def dec_keys_get(manager: KeyManager, caller: str, master: str, key_id: str) -> bytes:
    """The answer to a GET dec_keys of ``caller`` (checked) for one ``key_id``: the Key container as JSON."""
    return container_body(await manager.dec_keys(caller, master, [key_id]))


def container_body(keys: list[DeliveredKey], extension: dict[str, Any] | None = None) -> bytes:
    """The Key container (Table 11) of ``keys`` as JSON, with ``key_container_extension`` when given."""
    body: dict[str, Any] = {
        "keys": [{"key_ID": str(k.key_id), "key": base64.b64encode(k.material).decode()} for k in keys]
    }
    if extension is not None:
        body["key_container_extension"] = extension
    return orjson.dumps(body)


def _json(body: dict[str, Any]) -> Response:
    return _json_bytes(orjson.dumps(body))


def _json_bytes(body: bytes) -> Response:
    return Response(body, media_type="application/json")
