"""Fuzzing the ETSI 014 API from its OpenAPI document: no 5xx, and every 4xx carries the Error body."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings

from openqci.kms.tls import with_client_certificate
from tests.kms.harness import InProcess, in_process, make_site


@pytest.fixture(scope="module")
def env(tmp_path_factory) -> Iterator[InProcess]:
    site = in_process(make_site(tmp_path_factory.mktemp("fuzz")))
    site.feed(blocks=64)
    yield site
    asyncio.run(site.close())


@pytest.fixture(scope="module")
def api_schema(env: InProcess):
    app = env.kmes["kme-a"].app  # the KME serves no /openapi.json by default: take the document itself
    schema = schemathesis.openapi.from_dict(app.openapi())
    schema.app = with_client_certificate(app, env.site.pem("sae-a1"))
    return schema


def _check(response) -> None:
    assert response.status_code < 500 or response.status_code == 503, response.text
    if response.status_code != 200:
        body = response.json()
        assert isinstance(body["message"], str)
        assert body["message"]
        assert set(body) <= {"message", "details"}
    if response.status_code == 503:
        assert "not enough key" in response.json()["message"]


def test_no_server_error_and_standard_error_bodies(api_schema) -> None:
    operations = [result.ok() for result in api_schema.get_all_operations()]
    assert len(operations) == 5
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck), database=None)
        def fuzz(case) -> None:
            _check(case.call())

        fuzz()
