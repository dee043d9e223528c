"""A small client of the controller API for the command line and the launcher.

A controller serving TLS is checked against the network's CA (``pki/ca.pem`` of its state directory);
the bearer token authorises the requests.
"""

from __future__ import annotations

import ssl
from typing import Any

import httpx

from openqci.network.errors import LaunchError, NoRouteError, UnknownKmeError
from openqci.network.statedir import StateDir, read_secret, read_state

__all__ = ["ControllerClient"]


class ControllerClient:
    """Reads the controller's state and routes; close it (or use ``with``) when done."""

    def __init__(
        self,
        base_url: str,
        token: str,
        *,
        transport: httpx.BaseTransport | None = None,
        verify: ssl.SSLContext | None = None,
    ) -> None:
        headers = {"authorization": f"Bearer {token}"}
        self._client = httpx.Client(
            base_url=base_url,
            headers=headers,
            timeout=5.0,
            transport=transport,
            verify=verify if verify is not None else True,
        )

    @classmethod
    def from_state_dir(cls, layout: StateDir) -> ControllerClient:
        """The client of the network running from ``layout`` (over TLS if its controller speaks it)."""
        state = read_state(layout)
        return cls.for_url(layout, state.controller_url)

    @classmethod
    def for_url(cls, layout: StateDir, url: str) -> ControllerClient:
        """The client of the controller at ``url`` with the token and CA of the network in ``layout``."""
        from openqci.network.controller_tls import client_verify

        verify = client_verify(layout.pki_dir / "ca.pem") if url.startswith("https://") else None
        return cls(url, read_secret(layout.token_file).decode(), verify=verify)

    def state(self) -> dict[str, Any]:
        """Nodes, links and alarms (``GET /api/v1/state``)."""
        document: dict[str, Any] = self._get("/api/v1/state").json()
        return document

    def route(self, source_kme: str, destination_kme: str, key_bits: int = 256) -> dict[str, Any]:
        """The route the controller picks now; raises :class:`NoRouteError` with the controller's reason."""
        params = {"from": source_kme, "to": destination_kme, "key_bits": key_bits}
        response = self._get("/api/v1/routes", params=params, ok=(200, 400, 503))
        if response.status_code == 503:
            raise NoRouteError(response.json()["message"])
        if response.status_code == 400:
            raise UnknownKmeError(response.json()["message"])
        document: dict[str, Any] = response.json()
        return document

    def _get(
        self, path: str, *, params: dict[str, Any] | None = None, ok: tuple[int, ...] = (200,)
    ) -> httpx.Response:
        try:
            response = self._client.get(path, params=params)
        except httpx.HTTPError as error:
            raise LaunchError(f"the controller at {self._client.base_url} does not answer: {error}") from None
        if response.status_code not in ok:
            raise LaunchError(f"the controller refused {path}: HTTP {response.status_code} {response.text}")
        return response

    def close(self) -> None:
        """Close the connection pool."""
        self._client.close()

    def __enter__(self) -> ControllerClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
