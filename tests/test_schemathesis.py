"""Property-based requests generated from hexgate's own OpenAPI document (``/schema/openapi.json``)
for the chat, embeddings and models routes, on the echo provider: whatever the body, no 500, and
every error answer is OpenAI's envelope."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error

from hexgate.testing import running_gateway

CONFIG = """
[providers.echo]
plugin = "echo"
[models.alias]
targets = ["echo/echo", "echo/echo"]
"""
ROUTES = r"^/v1/(chat/completions|embeddings|models.*)$"


@pytest.fixture(scope="module")
def gateway() -> Iterator[tuple[str, Any]]:
    """A running hexgate and its schema, narrowed to the routes under test."""
    with running_gateway(CONFIG) as base:
        schema = schemathesis.openapi.from_url(f"{base}/schema/openapi.json")
        yield base, schema.include(path_regex=ROUTES)


def error_envelope(ctx: Any, response: schemathesis.Response, case: schemathesis.Case) -> bool | None:
    """Every 4xx/5xx body is ``{"error": {"message": str, "type": str, "param", "code"}}``."""
    if response.status_code < 400:
        return None
    body = json.loads(response.content)
    assert set(body) == {"error"}, body
    error = body["error"]
    assert set(error) == {"message", "type", "param", "code"}, error
    assert isinstance(error["message"], str) and error["message"]
    assert isinstance(error["type"], str) and error["type"]
    return None


def operations(schema: Any) -> list[Any]:
    return [result.ok() for result in schema.get_all_operations()]


# schemathesis' own pytest loader (from_fixture) does not run under pytest 9, so each operation's
# strategy is driven by hypothesis directly; the server starts once per module.
@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", "/v1/chat/completions"),
        ("POST", "/v1/embeddings"),
        ("GET", "/v1/models"),
        ("GET", "/v1/models/{model_id}"),
    ],
)
def test_no_500_and_every_error_in_the_envelope(gateway: tuple[str, Any], method: str, path: str) -> None:
    base, schema = gateway
    found = [op for op in operations(schema) if op.method.upper() == method and op.path == path]
    assert found, f"{method} {path} is not in the OpenAPI document: {[op.path for op in operations(schema)]}"
    operation = found[0]

    @given(case=operation.as_strategy(), model=st.sampled_from([None, "echo/echo", "alias"]))
    @settings(max_examples=80, deadline=None, suppress_health_check=list(HealthCheck), database=None)
    def check(case: schemathesis.Case, model: str | None) -> None:
        if model is not None and isinstance(case.body, dict) and "model" in case.body:
            case.body["model"] = model  # reach the provider, not only the 404 for a random name
        response = case.call(base_url=base, timeout=30)
        seen[response.status_code] = seen.get(response.status_code, 0) + 1
        case.validate_response(response, checks=[not_a_server_error, error_envelope])

    seen: dict[int, int] = {}
    check()
    if method == "POST":
        assert seen.get(200), f"no generated request got through to the provider: {seen}"
