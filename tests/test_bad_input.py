"""Bad input through the whole app: each mistake gets its status and OpenAI's error envelope, and
the gateway stays healthy. One in-process gateway (its lifespan run, the official client on its
ASGI transport) with gateway keys and a small body limit."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import openai
import pytest

from hexgate.testing import INPROCESS_BASE_URL, inprocess_client

KEY = "gw-test-key-123"
CONFIG = f"""
[server]
api_keys = ["{KEY}"]
max_body_size = 65536
cors_origins = ["https://chat.example"]

[providers.echo]
plugin = "echo"

[models.e]
target = "echo/echo"
"""


@pytest.fixture(scope="module")
def base() -> Iterator[httpx.Client]:
    with inprocess_client(CONFIG) as client:
        yield client


def sdk(base: httpx.Client, api_key: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{INPROCESS_BASE_URL}/v1", api_key=api_key, max_retries=0, http_client=base)


def post(base: httpx.Client, body: bytes | None = None, *, json: Any = None, key: str | None = KEY) -> httpx.Response:
    headers = {"content-type": "application/json"}
    if key is not None:
        headers["authorization"] = f"Bearer {key}"
    return base.post("/v1/chat/completions", content=body, json=json, headers=headers)


def assert_envelope(response: httpx.Response, status: int, *, param: str | None = None) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"error"}
    error = body["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert isinstance(error["message"], str) and error["message"]
    assert "Traceback" not in error["message"]
    if param is not None:
        assert error["param"] == param
    return error  # type: ignore[no-any-return]


GOOD = {"model": "e", "messages": [{"role": "user", "content": "hi"}]}


@pytest.mark.parametrize(
    ("body", "status", "param"),
    [
        (b"{not json", 400, None),
        (b"[1, 2]", 400, None),
        (b'"a string"', 400, None),
        (b'{"messages": [{"role": "user", "content": "hi"}]}', 400, "model"),
        (b'{"model": "e"}', 400, "messages"),
        (b'{"model": "e", "messages": []}', 400, "messages"),
        (b'{"model": "e", "messages": [{"role": "user", "content": 5}]}', 400, "messages[0].content"),
        (b'{"model": "e", "messages": [{"role": "wizard", "content": "x"}]}', 400, "messages[0].role"),
        (b'{"model": "e", "messages": [{"content": "x"}]}', 400, "messages[0].role"),
        (b'{"model": "e", "messages": [{"role": "user", "content": [{"type": "text"}]}]}', 400, None),
        (b'{"model": "e", "messages": [{"role": "user", "content": "x"}], "temperature": "hot"}', 400, "temperature"),
        (b'{"model": "e", "messages": [{"role": "user", "content": "x"}], "tools": [{"type": "function"}]}', 400, None),
    ],
)
def test_malformed_requests(base: httpx.Client, body: bytes, status: int, param: str | None) -> None:
    error = assert_envelope(post(base, body), status, param=param)
    assert error["type"] == "invalid_request_error"


def test_unknown_fields_are_accepted(base: httpx.Client) -> None:
    response = post(base, json={**GOOD, "some_vendor_flag": {"x": 1}, "store": True})
    assert response.status_code == 200, response.text


def test_unknown_model_and_provider_are_404(base: httpx.Client) -> None:
    error = assert_envelope(post(base, json={**GOOD, "model": "gpt-nothing"}), 404, param="model")
    assert error["code"] == "model_not_found" and "'gpt-nothing' is not configured" in error["message"]
    error = assert_envelope(post(base, json={**GOOD, "model": "nowhere/m"}), 404, param="model")
    assert "unknown provider prefix 'nowhere'" in error["message"]


@pytest.mark.parametrize("key", [None, "wrong-key", "Bearer"])
def test_missing_or_wrong_gateway_key(base: httpx.Client, key: str | None) -> None:
    error = assert_envelope(post(base, json=GOOD, key=key), 401)
    assert error["type"] == "authentication_error"
    assert KEY not in error["message"]


def test_wrong_key_with_the_official_client(base: httpx.Client) -> None:
    client = sdk(base, "nope")
    with pytest.raises(openai.AuthenticationError) as info:
        client.chat.completions.create(model="e", messages=[{"role": "user", "content": "hi"}])
    assert info.value.status_code == 401


def test_oversize_body_is_413(base: httpx.Client) -> None:
    big = {"model": "e", "messages": [{"role": "user", "content": "x" * 100_000}]}
    assert_envelope(post(base, json=big), 413)


def test_unknown_route_and_wrong_method(base: httpx.Client) -> None:
    headers = {"authorization": f"Bearer {KEY}"}
    assert_envelope(base.get("/v1/nothing-here", headers=headers), 404)
    assert_envelope(base.get("/v1/chat/completions", headers=headers), 405)


def test_upstream_error_statuses_map_per_the_table(base: httpx.Client) -> None:
    client = sdk(base, KEY)
    cases: list[tuple[int, type[openai.APIStatusError], int]] = [
        (429, openai.RateLimitError, 429),
        (401, openai.APIStatusError, 502),
        (529, openai.APIStatusError, 503),
        (500, openai.APIStatusError, 502),
        (400, openai.BadRequestError, 400),
    ]
    for upstream, exc_type, status in cases:
        with pytest.raises(exc_type) as info:
            client.chat.completions.create(model="e", messages=[{"role": "user", "content": f"!fail {upstream}"}])
        assert info.value.status_code == status
    with pytest.raises(openai.RateLimitError) as rate:
        client.chat.completions.create(model="e", messages=[{"role": "user", "content": "!fail 429"}])
    assert rate.value.response.headers["retry-after"] == "1"


def test_every_answer_has_a_request_id(base: httpx.Client) -> None:
    ok = post(base, json=GOOD)
    bad = post(base, b"{")
    assert ok.headers["x-request-id"].startswith("req_") and bad.headers["x-request-id"].startswith("req_")
    assert ok.headers["x-request-id"] != bad.headers["x-request-id"]


def test_cors_preflight_from_a_configured_origin(base: httpx.Client) -> None:
    response = base.options(
        "/v1/chat/completions",
        headers={
            "origin": "https://chat.example",
            "access-control-request-method": "POST",
            "access-control-request-headers": "authorization, content-type",
        },
    )
    assert response.status_code in (200, 204)
    assert response.headers["access-control-allow-origin"] == "https://chat.example"
    refused = base.options(
        "/v1/chat/completions",
        headers={"origin": "https://evil.example", "access-control-request-method": "POST"},
    )
    assert refused.headers.get("access-control-allow-origin") != "https://evil.example"


def test_still_healthy_afterwards(base: httpx.Client) -> None:
    assert base.get("/health").json()["status"] == "ok"
    client = sdk(base, KEY)
    reply = client.chat.completions.create(model="e", messages=[{"role": "user", "content": "still here"}])
    assert reply.choices[0].message.content == "still here"
