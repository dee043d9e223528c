"""The GET forms of Get key and Get key with key IDs, answered without FastAPI's router.

A GET enc_keys is the KME's hot path. A profile of kme-a under ``./run bench kms`` put a fifth of its event
loop's time in FastAPI's routing, dependency resolution and endpoint wrappers, more than the key store's
share of the request. This middleware, just inside the request metrics, answers those two requests
itself with the pieces the routes use (:mod:`openqci.kms.api.etsi014`, :mod:`openqci.kms.api.deps`,
:mod:`openqci.kms.api.errors`): the caller from its certificate, the query read strictly, the manager's
delivery, the same Key container, and the same Error object for every refusal. Anything else goes on to
the app unchanged: other paths and methods, and a GET dec_keys without ``key_ID`` (FastAPI's validation
answer). The routes stay, for the OpenAPI document and for an app built without the fast path, and
both answer through the same two functions (``enc_keys_get``, ``dec_keys_get``);
``tests/kms/test_fast_path.py`` sends the same requests both ways and compares the answers.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import parse_qsl

from fastapi import APIRouter
from starlette.requests import Request
from starlette.routing import BaseRoute
from starlette.types import ASGIApp, Receive, Scope, Send

from openqci.kms.api.deps import client_pem
from openqci.kms.api.errors import kms_error, unexpected_error
from openqci.kms.api.etsi014 import dec_keys_get, enc_keys_get
from openqci.kms.errors import KmsError
from openqci.kms.requests import check_query

__all__ = ["EtsiFastPath", "get_routes"]

_PATH = re.compile(r"/api/v1/keys/([^/]+)/(enc_keys|dec_keys)")
_ALLOWED = {"enc_keys": ("number", "size"), "dec_keys": ("key_ID",)}
_HEADERS = (b"content-type", b"application/json")


def get_routes(router: APIRouter, paths: Mapping[str, str]) -> dict[str, BaseRoute]:
    """The router's GET routes of ``paths`` (by name): the fast path labels its requests with them."""
    found: dict[str, BaseRoute] = {}
    for name, path in paths.items():
        for route in router.routes:
            if getattr(route, "path", None) == path and "GET" in (getattr(route, "methods", None) or ()):
                found[name] = route
    missing = set(paths) - set(found)
    if missing:
        raise RuntimeError(f"the router has no GET route for {sorted(missing)}")
    return found


class EtsiFastPath:
    """ASGI middleware: GET enc_keys and GET dec_keys answered directly (see the module's notes)."""

    def __init__(self, app: ASGIApp, routes: Mapping[str, BaseRoute]) -> None:
        self.app = app
        self.routes = dict(routes)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        match = (
            _PATH.fullmatch(scope["path"]) if scope["type"] == "http" and scope["method"] == "GET" else None
        )
        if match is None:
            await self.app(scope, receive, send)
            return
        sae_id, endpoint = match.groups()
        query = parse_qsl(scope["query_string"].decode("latin-1"), keep_blank_values=True)
        if endpoint == "dec_keys" and not any(name == "key_ID" for name, _ in query):
            await self.app(scope, receive, send)  # the app's validation error names the missing field
            return
        scope["route"] = self.routes[endpoint]  # the request metrics' endpoint label
        try:
            body = await self._answer(scope, sae_id, endpoint, query)
        except KmsError as error:
            await (await kms_error(Request(scope), error))(scope, receive, send)
            return
        except Exception as error:  # answered as the app's last-resort handler does
            await (await unexpected_error(Request(scope), error))(scope, receive, send)
            return
        headers = [(b"content-length", str(len(body)).encode()), _HEADERS]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    async def _answer(
        self, scope: Scope, sae_id: str, endpoint: str, query: Iterable[tuple[str, str]]
    ) -> bytes:
        state: Any = scope["app"].state
        caller = state.directory.sae_of(client_pem(scope))
        values = check_query(list(query), _ALLOWED[endpoint])
        if endpoint == "enc_keys":
            return await enc_keys_get(state.manager, caller, sae_id, values.get("number"), values.get("size"))
        return await dec_keys_get(state.manager, caller, sae_id, values["key_ID"])
