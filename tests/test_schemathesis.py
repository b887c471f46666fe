"""Property-based requests against a running gateway, on the echo provider and on an OpenAI-compatible
stub reached with a (fake) upstream key:

- generated from hexgate's own OpenAPI document (``/schema/openapi.json``) for the chat, embeddings,
  Responses, images and models routes;
- hostile shapes from issue 12: model names past 256 characters or with control characters, JSON
  nested past msgspec's limit, bodies that are not JSON, content types other than JSON.

Whatever the request: no 500, no traceback, never the upstream key, and every error answer is
OpenAI's envelope. Bounded (max examples) to run in well under a minute.
"""

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

from hexgate.testing import Reply, StubUpstream, running_gateway

SECRET = "sk-fake-upstream-0123456789abcdef"
"""The upstream key in the config: no answer may contain it."""

CONFIG = """
[providers.echo]
plugin = "echo"
[providers.up]
plugin = "openai"
base_url = "{base}/v1"
api_key = "{secret}"
models = ["gpt-test"]
[models.alias]
targets = ["echo/echo", "echo/echo"]
"""
ROUTES = r"^/v1/(chat/completions|embeddings|responses|images/generations|models.*)$"
MODELS = [None, "echo/echo", "alias", "up/gpt-test"]

_COMPLETION = {
    "id": "chatcmpl-1",
    "object": "chat.completion",
    "created": 1,
    "model": "gpt-test",
    "choices": [{"index": 0, "message": {"role": "assistant", "content": "hi"}, "finish_reason": "stop"}],
    "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
}
_EMBEDDINGS = {
    "object": "list",
    "model": "gpt-test",
    "data": [{"object": "embedding", "index": 0, "embedding": [0.1, 0.2]}],
    "usage": {"prompt_tokens": 1, "total_tokens": 1},
}


_CHUNK = {
    "id": "chatcmpl-1",
    "object": "chat.completion.chunk",
    "created": 1,
    "model": "gpt-test",
    "choices": [{"index": 0, "delta": {"role": "assistant", "content": "hi"}, "finish_reason": "stop"}],
}


def _upstream(request: Any) -> Reply:
    """Answers chat (streamed or not) and embeddings; any other path is OpenAI's 404 (so Responses
    are bridged to chat)."""
    if request.path.endswith("/chat/completions"):
        if b'"stream":true' in request.body.replace(b" ", b""):
            chunks = [f"data: {json.dumps(_CHUNK)}\n\n".encode(), b"data: [DONE]\n\n"]
            return Reply(body=chunks, headers={"content-type": "text/event-stream"})
        return Reply(body=json.dumps(_COMPLETION).encode())
    if request.path.endswith("/embeddings"):
        return Reply(body=json.dumps(_EMBEDDINGS).encode())
    error = {"error": {"message": f"Invalid URL (POST {request.path})", "type": "invalid_request_error"}}
    return Reply(status=404, body=json.dumps(error).encode())


@pytest.fixture(scope="module")
def gateway() -> Iterator[tuple[str, Any]]:
    """A running hexgate (with an upstream stub) and its schema, narrowed to the routes under test."""
    with StubUpstream({"POST *": _upstream}) as up, running_gateway(CONFIG.format(base=up.url, secret=SECRET)) as base:
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


def no_secret_or_traceback(ctx: Any, response: schemathesis.Response, case: schemathesis.Case) -> bool | None:
    text = response.content.decode("utf-8", "replace") + repr(response.headers)
    assert SECRET not in text and SECRET[8:] not in text, "the upstream key leaked"
    assert "Traceback" not in text
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
        ("POST", "/v1/responses"),
        ("POST", "/v1/images/generations"),
        ("GET", "/v1/models"),
        ("GET", "/v1/models/{model_id}"),
    ],
)
def test_no_500_and_every_error_in_the_envelope(gateway: tuple[str, Any], method: str, path: str) -> None:
    base, schema = gateway
    found = [op for op in operations(schema) if op.method.upper() == method and op.path == path]
    assert found, f"{method} {path} is not in the OpenAPI document: {[op.path for op in operations(schema)]}"
    operation = found[0]

    @given(case=operation.as_strategy(), model=st.sampled_from(MODELS))
    @settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck), database=None)
    def check(case: schemathesis.Case, model: str | None) -> None:
        if model is not None and isinstance(case.body, dict) and "model" in case.body:
            case.body["model"] = model  # reach the provider, not only the 404 for a random name
        response = case.call(base_url=base, timeout=30)
        seen[response.status_code] = seen.get(response.status_code, 0) + 1
        case.validate_response(response, checks=[not_a_server_error, error_envelope, no_secret_or_traceback])

    seen: dict[int, int] = {}
    check()
    if path in ("/v1/chat/completions", "/v1/embeddings"):
        assert seen.get(200), f"no generated request got through to the provider: {seen}"


# -- hostile shapes (issue 12) ------------------------------------------------------------------

_GOOD = {
    "/v1/chat/completions": {"messages": [{"role": "user", "content": "hi"}]},
    "/v1/embeddings": {"input": "hi"},
    "/v1/responses": {"input": "hi"},
    "/v1/images/generations": {"prompt": "a cat"},
}
_model_names = st.one_of(
    st.sampled_from([m for m in MODELS if m]),
    st.text(min_size=0, max_size=300),
    st.integers(min_value=200, max_value=2000).map(lambda n: "echo/" + "A" * n),
    st.text(alphabet=st.characters(codec="utf-8"), max_size=40).map(lambda t: f"echo/{t}\n\x1b[31m"),
)
_content_types = st.sampled_from(
    [
        "application/json",
        "application/json; charset=utf-8",
        "text/plain",
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=x",
        None,
    ]
)


@st.composite
def _bodies(draw: st.DrawFn, path: str) -> bytes:
    body: dict[str, Any] = {**_GOOD[path], "model": draw(_model_names)}
    shape = draw(st.sampled_from(["plain", "deep", "garbage", "deep-model"]))
    if shape == "deep":
        depth = draw(st.integers(min_value=1000, max_value=200_000))
        return json.dumps(body).encode()[:-1] + b', "metadata": ' + b"[" * depth + b"]" * depth + b"}"
    if shape == "deep-model":
        depth = draw(st.integers(min_value=1000, max_value=200_000))
        return b'{"model": ' + b"[" * depth + b"]" * depth + b"}"
    if shape == "garbage":
        return draw(st.binary(max_size=200))
    return json.dumps(body).encode()


@pytest.mark.parametrize("path", list(_GOOD))
def test_hostile_bodies(gateway: tuple[str, Any], path: str) -> None:
    base, _ = gateway

    @given(body=_bodies(path), content_type=_content_types)
    @settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck), database=None)
    def check(body: bytes, content_type: str | None) -> None:
        headers = {"content-type": content_type} if content_type else {}
        answer = httpx.post(f"{base}{path}", content=body, headers=headers, timeout=30)
        assert answer.status_code < 500, answer.text[:500]
        text = answer.text + repr(answer.headers)
        assert SECRET not in text and "Traceback" not in text
        if answer.status_code >= 400:
            error = answer.json()["error"]
            assert set(error) == {"message", "type", "param", "code"}

    check()
