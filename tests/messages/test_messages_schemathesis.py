"""Property-based requests for ``/v1/messages`` and ``/v1/messages/count_tokens`` generated from
hexgate's own OpenAPI document, on the echo provider (bridged): whatever the body, no 500, and every
error answer is the Messages dialect's ``{"type": "error", "error": {"type", "message"}}``."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error

from hexgate.testing import running_gateway

pytestmark = pytest.mark.e2e

CONFIG = """
[providers.echo]
plugin = "echo"

[models."claude-*"]
target = "echo/echo"
"""
TYPES = {"invalid_request_error", "not_found_error", "request_too_large", "api_error", "timeout_error"}


@pytest.fixture(scope="module")
def gateway() -> Iterator[tuple[str, Any]]:
    with running_gateway(CONFIG) as base:
        schema = schemathesis.openapi.from_url(f"{base}/schema/openapi.json")
        yield base, schema.include(path_regex=r"^/v1/messages")


def dialect_error(ctx: Any, response: schemathesis.Response, case: schemathesis.Case) -> bool | None:
    if response.status_code < 400:
        return None
    body = json.loads(response.content)
    assert body["type"] == "error" and set(body) == {"type", "error"}, body
    assert set(body["error"]) == {"type", "message"} and body["error"]["type"] in TYPES, body
    assert isinstance(body["error"]["message"], str) and body["error"]["message"]
    return None


@pytest.mark.parametrize("path", ["/v1/messages", "/v1/messages/count_tokens"])
def test_no_500_and_every_error_in_the_dialect(gateway: tuple[str, Any], path: str) -> None:
    base, schema = gateway
    found = [r.ok() for r in schema.get_all_operations() if r.ok().path == path]
    assert found, f"POST {path} is not in the OpenAPI document"

    @given(case=found[0].as_strategy(), model=st.sampled_from([None, "echo/echo", "claude-sonnet-4-5"]))
    @settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck), database=None)
    def check(case: schemathesis.Case, model: str | None) -> None:
        if model is not None and isinstance(case.body, dict) and "model" in case.body:
            case.body["model"] = model
            case.body["stream"] = False
        response = case.call(base_url=base, timeout=30)
        seen[response.status_code] = seen.get(response.status_code, 0) + 1
        case.validate_response(response, checks=[not_a_server_error, dialect_error])

    seen: dict[int, int] = {}
    check()
    # Random bodies reach the provider only now and then; one well-formed request always must.
    body: dict[str, Any] = {"model": "echo/echo", "messages": [{"role": "user", "content": "hi"}]}
    if path == "/v1/messages":
        body["max_tokens"] = 16
    assert httpx.post(base + path, json=body, timeout=30).status_code == 200, seen
