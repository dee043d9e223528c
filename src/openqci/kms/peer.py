"""The client side of KME-to-KME traffic: delivery records (push, pull), key relay hops (relay, void) and
offers of device keys (on links fed by QKD devices over ETSI GS QKD 014).

The client is handed its httpx transport: mutual TLS to a running peer in production, an
``httpx.ASGITransport`` over the peer's app in tests, so two KMEs run in one process.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence

import httpx

from openqci.kms.api.device_models import DeviceKeysAnswer, DeviceKeysOffer
from openqci.kms.api.kx_models import Confirmation, DeliveryBatch, PullRequest
from openqci.kms.api.relay_models import HopMessage, RelayAck, VoidMessage
from openqci.kms.errors import PeerError
from openqci.kms.records import Reservation

__all__ = ["PeerClient"]


class PeerClient:
    """Talks to one peer KME over an httpx transport; close it (or use ``async with``) when done."""

    def __init__(
        self, kme_id: str, base_url: str, transport: httpx.AsyncBaseTransport, *, timeout_s: float = 5.0
    ) -> None:
        self.kme_id = kme_id
        self._client = httpx.AsyncClient(base_url=base_url, transport=transport, timeout=timeout_s)

    async def push(self, records: Sequence[bytes]) -> list[uuid.UUID]:
        """Send delivery records (each the JSON of a ``ReservationMessage``, as the store keeps them).

        Returns the request IDs the peer confirmed it holds durably.
        """
        response = await self._post("/kme/v1/deliveries", _batch_json(records))
        try:
            return Confirmation.model_validate_json(response.content).accepted
        except ValueError:
            raise PeerError(f"peer KME {self.kme_id} sent a malformed confirmation") from None

    async def pull(self, key_ids: Sequence[uuid.UUID]) -> list[Reservation]:
        """Ask the peer for the delivery records holding ``key_ids``; unknown IDs are simply absent."""
        body = PullRequest(key_ids=list(key_ids)).model_dump_json()
        response = await self._post("/kme/v1/deliveries/pull", body)
        try:
            batch = DeliveryBatch.model_validate_json(response.content)
        except ValueError:
            raise PeerError(f"peer KME {self.kme_id} sent malformed delivery records") from None
        return [m.to_reservation() for m in batch.records]

    async def relay(self, message: HopMessage, *, timeout_s: float) -> RelayAck:
        """Send one hop of a key relay; return the acknowledgement that came back along the route."""
        response = await self._post("/kme/v1/ext_keys", message.model_dump_json(), timeout_s=timeout_s)
        try:
            return RelayAck.model_validate_json(response.content)
        except ValueError:
            raise PeerError(f"peer KME {self.kme_id} sent a malformed relay acknowledgement") from None

    async def void(self, message: VoidMessage, *, timeout_s: float) -> None:
        """Tell the next KME of a route to void a relay (and to pass the void on)."""
        await self._post("/kme/v1/ext_keys_void", message.model_dump_json(), timeout_s=timeout_s)

    async def offer_device_keys(self, offer: DeviceKeysOffer, *, timeout_s: float) -> DeviceKeysAnswer:
        """Offer device keys to the peer, which takes the same keys from its own device; return its answer."""
        response = await self._post("/kme/v1/device_keys", offer.model_dump_json(), timeout_s=timeout_s)
        try:
            return DeviceKeysAnswer.model_validate_json(response.content)
        except ValueError:
            raise PeerError(f"peer KME {self.kme_id} sent a malformed answer to a device key offer") from None

    async def _post(self, path: str, body: str | bytes, *, timeout_s: float | None = None) -> httpx.Response:
        timeout = httpx.USE_CLIENT_DEFAULT if timeout_s is None else httpx.Timeout(timeout_s)
        try:
            response = await self._client.post(
                path, content=body, headers={"content-type": "application/json"}, timeout=timeout
            )
        except httpx.HTTPError as error:
            raise PeerError(f"peer KME {self.kme_id} unreachable: {type(error).__name__}") from None
        if response.status_code != 200:
            raise PeerError(
                f"peer KME {self.kme_id} refused: HTTP {response.status_code} {_message(response)}"
            )
        return response

    async def aclose(self) -> None:
        """Close the connection pool."""
        await self._client.aclose()

    async def __aenter__(self) -> PeerClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()


def _batch_json(records: Sequence[bytes]) -> bytes:
    """The :class:`DeliveryBatch` of ``records``: the stored JSON of each record, joined as it is.

    The store writes a record's JSON once, when it is delivered; a batch is joined on the event loop
    without parsing or writing any record again.
    """
    return b'{"records":[' + b",".join(records) + b"]}"


def _message(response: httpx.Response) -> str:
    try:
        return str(response.json().get("message", ""))
    except ValueError:
        return ""
