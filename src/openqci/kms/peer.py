"""The client side of KME-to-KME agreement: tell the peer KME which units make which keys.

The client is handed its httpx transport: mutual TLS to a running peer in production, an
``httpx.ASGITransport`` over the peer's app in tests, so two KMEs run in one process.
"""

from __future__ import annotations

import uuid

import httpx

from openqci.kms.api.kx_models import ReservationMessage
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

    async def reserve(self, reservation: Reservation) -> None:
        """Have the peer bind the reservation's units; raise PeerError unless it confirms."""
        body = ReservationMessage.from_reservation(reservation).model_dump_json()
        await self._post("/kme/v1/reservations", body)

    async def void(self, request_id: uuid.UUID) -> None:
        """Have the peer wipe a request that no SAE received."""
        await self._post(f"/kme/v1/reservations/{request_id}/void", "{}")

    async def _post(self, path: str, body: str) -> None:
        try:
            response = await self._client.post(
                path, content=body, headers={"content-type": "application/json"}
            )
        except httpx.HTTPError as error:
            raise PeerError(f"peer KME {self.kme_id} unreachable: {type(error).__name__}") from None
        if response.status_code != 200:
            raise PeerError(
                f"peer KME {self.kme_id} refused: HTTP {response.status_code} {_message(response)}"
            )

    async def aclose(self) -> None:
        """Close the connection pool."""
        await self._client.aclose()

    async def __aenter__(self) -> PeerClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()


def _message(response: httpx.Response) -> str:
    try:
        return str(response.json().get("message", ""))
    except ValueError:
        return ""
