"""Where a relayed key goes: the route provider a KME asks for a path of KMEs to a non-neighbour KME.

The key management layer does not compute routes; the control layer does (ITU-T Y.3802's centralised
configuration). A KME is handed a :class:`RouteProvider`: :class:`ControllerRoutes` asks the network
controller's routes endpoint (``GET /api/v1/routes?from=&to=&key_bits=&avoid=``) over HTTP with the
controller's bearer token, or over HTTPS with the KME's own certificate (and the token, if configured),
and :class:`NeighbourRoutes`, used when no controller is configured, knows only the direct link to each
neighbour. Tests pass their own implementation.
"""

from __future__ import annotations

import ssl
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

import httpx

from openqci.kms.errors import RouteUnavailableError

__all__ = ["ControllerRoutes", "NeighbourRoutes", "RelayRoute", "RouteProvider"]


@dataclass(frozen=True)
class RelayRoute:
    """A path of KMEs from the source to the destination, and the links between them."""

    kmes: tuple[str, ...]
    links: tuple[str, ...]

    @property
    def hops(self) -> int:
        """Number of links crossed."""
        return len(self.links)


class RouteProvider(Protocol):
    """Gives the route for relaying key between two KMEs, or says why there is none."""

    async def route(
        self, source_kme: str, destination_kme: str, key_bits: int, *, avoid: Sequence[str] = ()
    ) -> RelayRoute:
        """A route whose every hop can spend ``key_bits`` of link key, using none of the ``avoid`` links.

        Raises :class:`openqci.kms.errors.RouteUnavailableError` (HTTP 503) with the reason if there is
        none.
        """
        ...

    async def aclose(self) -> None:
        """Release connections."""
        ...


class ControllerRoutes:
    """Asks the network controller's routes endpoint: with its bearer token, or a client certificate.

    ``verify`` is the TLS context of an ``https`` controller: it trusts the controller's CA and presents the
    KME's own certificate, which a controller serving TLS accepts from the KMEs of its network.
    """

    def __init__(
        self,
        base_url: str,
        token: str | None,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        timeout_s: float = 5.0,
        verify: ssl.SSLContext | None = None,
    ) -> None:
        self._client = httpx.AsyncClient(
            base_url=base_url,
            headers={"authorization": f"Bearer {token}"} if token else {},
            transport=transport,
            timeout=timeout_s,
            verify=verify if verify is not None else True,
        )

    async def route(
        self, source_kme: str, destination_kme: str, key_bits: int, *, avoid: Sequence[str] = ()
    ) -> RelayRoute:
        """The controller's route now; its 503 or 400 reason becomes a :class:`RouteUnavailableError`."""
        params: list[tuple[str, str | int | float | bool | None]] = [
            ("from", source_kme),
            ("to", destination_kme),
            ("key_bits", key_bits),
        ]
        params += [("avoid", link) for link in avoid]
        try:
            response = await self._client.get("/api/v1/routes", params=params)
        except httpx.HTTPError as error:
            raise RouteUnavailableError(
                f"the network controller cannot be reached for a route to {destination_kme}: "
                f"{type(error).__name__}"
            ) from None
        try:
            document = response.json()
        except ValueError:
            document = {}
        if response.status_code != 200:
            why = document.get("message") or f"HTTP {response.status_code}"
            raise RouteUnavailableError(str(why), [{"destination_KME_ID": destination_kme}])
        return RelayRoute(tuple(document["kmes"]), tuple(document["links"]))

    async def aclose(self) -> None:
        """Close the connection pool."""
        await self._client.aclose()


class NeighbourRoutes:
    """Only direct links: the route to a neighbour is its link; any other KME has no route."""

    def __init__(self, kme_id: str, links_by_peer: Mapping[str, str]) -> None:
        self._kme_id = kme_id
        self._links = dict(links_by_peer)

    async def route(
        self, source_kme: str, destination_kme: str, key_bits: int, *, avoid: Sequence[str] = ()
    ) -> RelayRoute:
        """The direct link to ``destination_kme`` if it is a neighbour and not avoided."""
        link = self._links.get(destination_kme)
        if source_kme != self._kme_id or link is None or link in avoid:
            raise RouteUnavailableError(
                f"no route from {source_kme} to {destination_kme}: this KME has no route provider "
                "(relay.controller_url) and reaches only its neighbours directly"
            )
        return RelayRoute((source_kme, destination_kme), (link,))

    async def aclose(self) -> None:
        """Nothing to release."""
