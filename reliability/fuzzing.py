"""Schemathesis over the three HTTP APIs, in process: ETSI 014, KME to KME (relay, agreement), controller.

Each operation gets ``examples`` generated requests; an answer of 5xx other than the standard's 503 is a
violation, and so is a 503 or 4xx without the error body (``{"message": ...}``). The KME-to-KME routers
are left out of the KME's published OpenAPI document on purpose, so their document is built here from the
app's own routes.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

import schemathesis
from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from fastapi.routing import APIRoute
from hypothesis import HealthCheck, given, settings

from openqci.kms.tls import with_client_certificate
from openqci.network.alarms import AlarmRules
from openqci.network.controller import Controller
from openqci.network.controller_api import create_controller_app
from openqci.scenario import load_scenario
from reliability.outcome import Outcome
from tests.kms.harness import in_process, make_site

__all__ = ["fuzz_apis"]

ROOT = Path(__file__).resolve().parents[1]
TOKEN = "campaign-token-0123456789"


def fuzz_apis(outcome: Outcome, *, examples: int) -> None:
    """Fuzz every operation of the three APIs with ``examples`` cases each."""
    root = Path(tempfile.mkdtemp(prefix="openqci-fuzz-"))
    env = in_process(make_site(root))
    try:
        env.feed(blocks=32)
        # A KME serves no /openapi.json (serving.api_docs is off): the schema comes from the app itself.
        etsi = schemathesis.openapi.from_dict(env.kmes["kme-a"].app.openapi())
        etsi.app = with_client_certificate(env.kmes["kme-a"].app, env.site.pem("sae-a1"))
        _fuzz(outcome, etsi, examples, "ETSI 014", {})
        peer = _peer_schema(env.kmes["kme-b"].app)
        peer.app = with_client_certificate(env.kmes["kme-b"].app, env.site.pem("kme-a"))
        _fuzz(outcome, peer, examples, "KME to KME", {})
        controller = Controller(
            load_scenario(ROOT / "scenarios" / "line5.yaml"), rules=AlarmRules(), clock=time.time
        )
        app = create_controller_app(controller, TOKEN)
        control = schemathesis.openapi.from_asgi("/openapi.json", app)
        _fuzz(outcome, control, examples, "controller", {"authorization": f"Bearer {TOKEN}"})
        _fuzz(outcome, control, max(examples // 4, 1), "controller without token", {})
    finally:
        with contextlib.suppress(RuntimeError):  # pushers started on the fuzzer's own event loop
            asyncio.run(env.close())
        shutil.rmtree(root, ignore_errors=True)


def _peer_schema(app: FastAPI) -> Any:
    routes = []
    for route in app.routes:
        if isinstance(route, APIRoute) and route.path.startswith("/kme/"):
            visible = copy.copy(route)
            visible.include_in_schema = True
            routes.append(visible)
    return schemathesis.openapi.from_dict(get_openapi(title="KME to KME", version="1", routes=routes))


def _fuzz(outcome: Outcome, schema: Any, examples: int, api: str, headers: dict[str, str]) -> None:
    for result in schema.get_all_operations():
        operation = result.ok()
        _fuzz_operation(outcome, operation, examples, f"{api} {operation.label}", headers)


def _fuzz_operation(
    outcome: Outcome, operation: Any, examples: int, label: str, headers: dict[str, str]
) -> None:
    @given(case=operation.as_strategy())
    @settings(max_examples=examples, deadline=None, suppress_health_check=list(HealthCheck), database=None)
    def run(case: Any) -> None:
        response = case.call(headers=headers)
        outcome.requests += 1
        outcome.faults += 1
        _judge(outcome, response.status_code, response.text, label)

    run()


def _judge(outcome: Outcome, status: int, text: str, what: str) -> None:
    if status >= 500 and status != 503:
        outcome.violate(f"HTTP {status} from schemathesis input on {what}")
    elif status >= 400:
        if '"message"' not in text:
            outcome.violate(f"HTTP {status} without the error body on {what}")
        outcome.errors[f"fuzz {status}"] += 1
