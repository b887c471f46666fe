"""The error tree (hexgate/errors.py) and its one ASGI renderer: every refusal, in both dialects."""

from __future__ import annotations

import ast
import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
from litestar.testing import TestClient
from litestar.types import Message

import hexgate.errors as errors
import hexgate.ops.middleware as middleware
from hexgate.app import create_app
from hexgate.errors import (
    HeadersTooLarge,
    HexgateError,
    PermissionDenied,
    QuotaExceeded,
    RateLimited,
    RequestTimeout,
    StoreUnavailable,
    Unauthorized,
    UnsupportedMediaType,
    render,
    send_error,
)
from hexgate.ops.keys import VirtualKey
from hexgate.ops.limits import Decision
from hexgate.ops.middleware import OpsHooks
from hexgate.ops.service import Ops
from hexgate.ops.state import REFUSED_BUDGET, REFUSED_REQUESTS, REFUSED_TOKENS, Admission
from hexgate.settings import default_settings, load_settings

REFUSALS: list[tuple[HexgateError, int, str, str | None, int, str]] = [
    # exception, OpenAI status, OpenAI type, code, Messages status, Messages type
    (Unauthorized("no key"), 401, "authentication_error", "invalid_api_key", 401, "authentication_error"),
    (
        PermissionDenied("not this model", code="model_not_allowed"),
        403,
        "permission_error",
        "model_not_allowed",
        403,
        "permission_error",
    ),
    (RequestTimeout(2), 408, "invalid_request_error", "request_timeout", 408, "invalid_request_error"),
    (
        UnsupportedMediaType("send JSON"),
        415,
        "invalid_request_error",
        "unsupported_media_type",
        415,
        "invalid_request_error",
    ),
    (
        HeadersTooLarge(100),
        431,
        "invalid_request_error",
        "request_header_fields_too_large",
        431,
        "invalid_request_error",
    ),
    (
        RateLimited("slow down", code="rate_limit_exceeded"),
        429,
        "rate_limit_error",
        "rate_limit_exceeded",
        429,
        "rate_limit_error",
    ),
    (QuotaExceeded("spent"), 429, "insufficient_quota", "insufficient_quota", 429, "rate_limit_error"),
    (StoreUnavailable(), 503, "server_error", "store_unavailable", 503, "api_error"),
]


def test_the_docstring_draws_every_class_of_the_tree() -> None:
    doc = errors.__doc__ or ""
    classes = [getattr(errors, n) for n in errors.__all__]
    tree = [c for c in classes if isinstance(c, type) and issubclass(c, HexgateError)]
    assert len(tree) >= 20
    for cls in tree:
        row = next((line for line in doc.splitlines() if f" {cls.__name__} " in line), None)
        assert row is not None, f"{cls.__name__} is missing from the tree in errors.py's docstring"
        if cls is not errors.UpstreamRejected:  # its status is the upstream's
            assert f" {cls.status} " in row and f" {cls.type} " in row, row


@pytest.mark.parametrize(("exc", "status", "kind", "code", "m_status", "m_kind"), REFUSALS)
def test_render_picks_the_dialect_from_the_path(
    exc: HexgateError, status: int, kind: str, code: str | None, m_status: int, m_kind: str
) -> None:
    got, body = render(exc, "/v1/chat/completions")
    assert got == status
    assert json.loads(body) == {"error": {"message": exc.message, "type": kind, "param": exc.param, "code": code}}
    got, body = render(exc, "/v1/messages/count_tokens")
    assert got == m_status
    assert json.loads(body) == {"type": "error", "error": {"type": m_kind, "message": exc.message}}


def _sent(exc: HexgateError, path: str) -> tuple[int, dict[str, str], Any]:
    messages: list[Message] = []

    async def send(message: Message) -> None:
        messages.append(message)

    asyncio.run(send_error(send, exc, path))
    start, end = messages
    assert start["type"] == "http.response.start" and end["type"] == "http.response.body"
    headers = {k.decode(): v.decode() for k, v in start["headers"]}
    assert headers["content-type"] == "application/json"
    assert headers["content-length"] == str(len(end["body"]))
    assert end.get("more_body") is False
    return start["status"], headers, json.loads(end["body"])


def test_send_error_carries_the_exceptions_headers() -> None:
    status, headers, body = _sent(Unauthorized("no key"), "/v1/embeddings")
    assert (status, headers["www-authenticate"], body["error"]["code"]) == (401, "Bearer", "invalid_api_key")
    status, headers, body = _sent(StoreUnavailable(), "/v1/messages")
    assert (status, headers["retry-after"], body["error"]["type"]) == (503, "1", "api_error")
    status, headers, body = _sent(QuotaExceeded("spent", headers={"retry-after": "5"}), "/v1/responses")
    assert (headers["x-should-retry"], headers["retry-after"], body["error"]["type"]) == (
        "false",
        "5",
        "insufficient_quota",
    )


def test_messages_are_redacted() -> None:
    _, _, body = _sent(PermissionDenied("leaked sk-abcdefghijklmnopqrstuvwx here"), "/v1/chat/completions")
    assert "sk-abcdefghijklmnopqrstuvwx" not in body["error"]["message"]


KEY = VirtualKey(id="k1", name="t", hint="sk-hg-…", rpm=10, tpm=1000, budget=2.0)


def _admission(verdict: int) -> Admission:
    return Admission(verdict, 11, 1500, 900, 30_000, 2_000_000_000, 3_600_000)


@pytest.mark.parametrize(
    ("verdict", "reason", "cls", "retry_after", "retry_after_ms"),
    [
        (REFUSED_REQUESTS, "requests", RateLimited, "2", "1500"),
        (REFUSED_TOKENS, "tokens", RateLimited, "30", "30000"),
        (REFUSED_BUDGET, "budget", QuotaExceeded, "3600", "3600000"),
    ],
)
def test_limit_refusals_are_tree_errors_with_openais_headers(
    verdict: int, reason: str, cls: type[HexgateError], retry_after: str, retry_after_ms: str
) -> None:
    decision = Decision(KEY, _admission(verdict))
    assert not decision.admitted and decision.reason == reason
    assert isinstance(decision.refusal, cls) and decision.refusal.status == 429
    headers = decision.refusal.headers
    assert headers["retry-after"] == retry_after
    assert headers["retry-after-ms"] == retry_after_ms
    assert headers["x-ratelimit-limit-requests"] == "10" and headers["x-ratelimit-remaining-requests"] == "0"
    assert headers["x-ratelimit-limit-tokens"] == "1000" and headers["x-ratelimit-remaining-tokens"] == "100"
    assert ("x-should-retry" in headers) == (verdict == REFUSED_BUDGET)


def test_an_admitted_request_gets_the_ratelimit_headers_only() -> None:
    decision = Decision(KEY, Admission(0, 3, 40_000, 0, -2, 0, 0))
    assert decision.admitted and decision.refusal is None and decision.reason == ""
    assert dict(decision.headers) == {
        b"x-ratelimit-limit-requests": b"10",
        b"x-ratelimit-remaining-requests": b"7",
        b"x-ratelimit-reset-requests": b"40s",
        b"x-ratelimit-limit-tokens": b"1000",
        b"x-ratelimit-remaining-tokens": b"1000",
        b"x-ratelimit-reset-tokens": b"0s",
    }


def test_ops_satisfies_the_middlewares_protocol() -> None:
    ops: OpsHooks = Ops(default_settings(env={}))  # mypy --strict checks the assignment
    assert callable(ops.finish_later)


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Any:
    path: Path = tmp_path_factory.mktemp("cfg") / "config.toml"
    path.write_text(
        '[server]\napi_keys = ["gw-key-1"]\nmax_header_size = 2048\n[providers.echo]\nplugin = "echo"\n',
        encoding="utf-8",
    )
    with TestClient(create_app(load_settings(path, env={}))) as c:
        yield c


@pytest.mark.parametrize("path", ["/v1/chat/completions", "/v1/messages"])
def test_gateway_refusals_answer_in_the_clients_dialect(client: Any, path: str) -> None:
    messages = path.startswith("/v1/messages")
    denied = client.post(path, json={}, headers={"authorization": "Bearer wrong"})
    assert denied.status_code == 401 and denied.headers["www-authenticate"] == "Bearer"
    assert denied.headers["x-request-id"].startswith("req_")
    big = client.post(path, json={}, headers={"authorization": "Bearer gw-key-1", "x-big": "a" * 4096})
    assert big.status_code == 431
    no_route = client.get(path + "/nowhere", headers={"x-api-key": "gw-key-1"})
    assert no_route.status_code == 404
    if messages:
        assert denied.json() == {
            "type": "error",
            "error": {"type": "authentication_error", "message": denied.json()["error"]["message"]},
        }
        assert big.json()["error"]["type"] == "invalid_request_error" and big.json()["type"] == "error"
        assert no_route.json()["error"]["type"] == "not_found_error"
    else:
        assert denied.json()["error"]["code"] == "invalid_api_key"
        assert big.json()["error"]["code"] == "request_header_fields_too_large"
        assert no_route.json()["error"] == {
            "message": f"no route for GET {path}/nowhere; the OpenAI API lives under /v1",
            "type": "invalid_request_error",
            "param": None,
            "code": None,
        }


@pytest.mark.parametrize("path", ["/v1/chat/completions", "/v1/messages"])
def test_route_and_ops_refusals_answer_in_the_clients_dialect(client: Any, path: str) -> None:
    key = {"authorization": "Bearer gw-key-1"}
    bad = client.post(path, content=b"{}", headers={**key, "content-type": "application/json"})  # route: 400
    plain = client.post(path, content=b"{}", headers={**key, "content-type": "text/plain"})  # ops middleware: 415
    assert (bad.status_code, plain.status_code) == (400, 415)
    for answer in (bad, plain):
        body = answer.json()
        if path.startswith("/v1/messages"):
            assert body["type"] == "error" and body["error"]["type"] == "invalid_request_error"
        else:
            assert body["error"]["type"] == "invalid_request_error" and "param" in body["error"]
    if not path.startswith("/v1/messages"):
        assert plain.json()["error"]["code"] == "unsupported_media_type"


def test_the_ops_middleware_does_not_import_the_service() -> None:
    tree = ast.parse(Path(middleware.__file__).read_text(encoding="utf-8"))
    imported = {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    assert "hexgate.ops.service" not in imported
