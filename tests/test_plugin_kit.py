"""hexgate.plugin_kit: the helpers plugins may import, pinned (its ``__all__`` is public API) and each
checked: Retry-After parsing, transport errors on real sockets through both of the core's transports,
a completion replayed as chunks, SSE parsing, the re-exported in-process and native helpers; and that
plugin packages import nothing of hexgate's but the plugin API."""

from __future__ import annotations

import ast
import time
from collections.abc import AsyncIterator
from email.utils import formatdate
from pathlib import Path

import httpx
import msgspec
import pytest

import hexgate.protocol
from hexgate import inproc, native, plugin_kit, sse
from hexgate.clients import make_http_client
from hexgate.errors import UpstreamConnectError, UpstreamError, UpstreamTimeout
from hexgate.plugin_kit import completion_as_chunks, from_transport_error, iter_sse, retry_after
from hexgate.protocol import (
    PROTOCOL_VERSION,
    Closable,
    HasParamPolicy,
    KeepsResponses,
    Startable,
    TakesProxy,
    Versioned,
)
from hexgate.schemas.chat import ChatCompletion
from hexgate.testing import Reply, StubUpstream, check_stream, free_port

PINNED = [
    "ChildWorker",
    "EventRelay",
    "Generated",
    "Jobs",
    "Outcome",
    "Run",
    "SSEEvent",
    "SamplingFields",
    "Sink",
    "StopFilter",
    "Supervisor",
    "UpstreamResponse",
    "as_hexgate",
    "check_dimensions",
    "choices_wanted",
    "completion_as_chunks",
    "encode_vectors",
    "from_transport_error",
    "iter_lines",
    "iter_sse",
    "iter_sse_batches",
    "open_events",
    "refuse_tools_and_logprobs",
    "request_payload",
    "retry_after",
    "run_choices",
    "sampling_fields",
    "send",
    "template_messages",
    "text_inputs",
]


def test_all_is_pinned() -> None:
    """Removing or renaming a name here breaks plugins: it needs a protocol bump (hexgate.protocol)."""
    assert sorted(plugin_kit.__all__) == PINNED
    for name in PINNED:
        assert getattr(plugin_kit, name) is not None


def test_reexports_are_the_real_helpers() -> None:
    for name in inproc.__all__:
        assert getattr(plugin_kit, name) is getattr(inproc, name)
    for name in native.__all__:
        assert getattr(plugin_kit, name) is getattr(native, name)
    assert plugin_kit.iter_sse is sse.iter_sse and plugin_kit.iter_lines is sse.iter_lines


# ---------------------------------------------------------------- retry_after

NOW = 1445412480.0  # Wed, 21 Oct 2015 07:28:00 GMT


@pytest.mark.parametrize(
    ("headers", "seconds"),
    [
        ({"retry-after": "7"}, 7.0),
        ({"Retry-After": "2.5"}, 2.5),
        ({"retry-after-ms": "1500", "retry-after": "9"}, 1.5),
        ({"Retry-After-Ms": "250"}, 0.25),
        ({"retry-after-ms": "soon", "retry-after": "9"}, 9.0),
        ({"retry-after": "Wed, 21 Oct 2015 07:28:10 GMT"}, 10.0),
        ({"retry-after": "Wed, 21 Oct 2015 07:27:00 GMT"}, 0.0),
        ({"retry-after": "-3"}, None),
        ({"retry-after": "nan"}, None),
        ({"retry-after": "inf"}, None),
        ({"retry-after": "soon"}, None),
        ({"retry-after": ""}, None),
        ({}, None),
    ],
)
def test_retry_after(headers: dict[str, str], seconds: float | None) -> None:
    assert retry_after(headers, now=NOW) == seconds


def test_retry_after_reads_httpx_headers_and_the_clock() -> None:
    assert retry_after(httpx.Headers({"Retry-After-MS": "100"})) == 0.1
    waited = retry_after(httpx.Headers({"retry-after": formatdate(time.time() + 30, usegmt=True)}))
    assert waited is not None and 28 <= waited <= 30


# ---------------------------------------------------------------- from_transport_error, real sockets

TRANSPORTS = [pytest.param({}, id="aiohttp"), pytest.param({"HEXGATE_HTTP_TRANSPORT": "httpx"}, id="httpx")]


async def _failure(client: httpx.AsyncClient, url: str, *, read: float | None = None) -> httpx.HTTPError:
    timeout = httpx.Timeout(5.0, read=read) if read is not None else httpx.USE_CLIENT_DEFAULT
    try:
        async with client.stream("GET", url, timeout=timeout) as response:
            async for _ in response.aiter_bytes():
                pass
    except httpx.HTTPError as exc:
        return exc
    raise AssertionError("the request did not fail")


@pytest.mark.parametrize("env", TRANSPORTS)
async def test_a_refused_connection_is_a_connect_error(env: dict[str, str]) -> None:
    async with make_http_client(timeout=5.0, env=env) as client:
        exc = await _failure(client, f"http://127.0.0.1:{free_port()}/")
    error = from_transport_error(exc, upstream="the upstream at http://127.0.0.1")
    assert type(error) is UpstreamConnectError and error.status == 502
    assert error.message.startswith("could not connect to the upstream at http://127.0.0.1: ")


@pytest.mark.parametrize("env", TRANSPORTS)
async def test_an_upstream_that_does_not_answer_is_a_timeout(env: dict[str, str]) -> None:
    async with make_http_client(timeout=5.0, env=env) as client:
        with StubUpstream({"GET /": Reply(stall=3.0)}) as stub:
            exc = await _failure(client, stub.url + "/", read=0.3)
    error = from_transport_error(exc, upstream="Stub")
    assert type(error) is UpstreamTimeout and error.status == 504
    assert "Stub did not answer in time" in error.message


@pytest.mark.parametrize("env", TRANSPORTS)
async def test_a_reset_mid_answer_is_not_a_connect_error(env: dict[str, str]) -> None:
    reply = Reply(body=[b"data: 1\n\n", b"data: 2\n\n"], headers={"content-type": "text/event-stream"}, reset=True)
    async with make_http_client(timeout=5.0, env=env) as client:
        with StubUpstream({"GET /": reply}) as stub:
            exc = await _failure(client, stub.url + "/")
    for mid_answer in (False, True):
        error = from_transport_error(exc, upstream="Stub", mid_answer=mid_answer)
        assert type(error) is UpstreamError, "a connection lost after the request went out is not 'nothing sent'"
    assert "broke mid-answer" in from_transport_error(exc, upstream="Stub", mid_answer=True).message


def test_a_connect_timeout_with_a_timeout_cause_is_a_timeout_and_a_refusal_cause_a_connect_error() -> None:
    def chained(cause: BaseException) -> httpx.ConnectTimeout:
        try:
            try:
                raise cause
            except BaseException as inner:
                raise httpx.ConnectTimeout("connect") from inner
        except httpx.ConnectTimeout as exc:
            return exc

    assert type(from_transport_error(chained(TimeoutError()))) is UpstreamTimeout
    assert type(from_transport_error(chained(ConnectionRefusedError(111, "refused")))) is UpstreamConnectError
    assert type(from_transport_error(chained(ValueError("dropped")))) is UpstreamError
    assert type(from_transport_error(httpx.ConnectTimeout("connect"))) is UpstreamTimeout


# ---------------------------------------------------------------- completion_as_chunks


def test_a_completion_replays_as_a_role_chunk_then_a_finish_chunk() -> None:
    completion = msgspec.convert(
        {
            "id": "c1",
            "created": 1,
            "model": "m",
            "system_fingerprint": "fp",
            "choices": [
                {
                    "index": 0,
                    "finish_reason": "tool_calls",
                    "message": {
                        "content": "ok",
                        "reasoning_content": "why",
                        "tool_calls": [{"id": "t1", "type": "function", "function": {"name": "f", "arguments": "{}"}}],
                    },
                },
                {"index": 1, "finish_reason": None, "message": {"content": None, "refusal": "no"}},
            ],
            "usage": {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5},
        },
        ChatCompletion,
    )
    chunks = [msgspec.to_builtins(chunk) for chunk in completion_as_chunks(completion)]
    assert check_stream(chunks) == []
    first, last = chunks
    assert {k: first[k] for k in ("id", "created", "model", "object", "system_fingerprint")} == {
        "id": "c1",
        "created": 1,
        "model": "m",
        "object": "chat.completion.chunk",
        "system_fingerprint": "fp",
    }
    assert first["choices"] == [
        {
            "index": 0,
            "delta": {
                "role": "assistant",
                "content": "ok",
                "reasoning_content": "why",
                "tool_calls": [
                    {"index": 0, "id": "t1", "type": "function", "function": {"name": "f", "arguments": "{}"}}
                ],
            },
            "finish_reason": None,
        },
        {"index": 1, "delta": {"role": "assistant", "refusal": "no"}, "finish_reason": None},
    ]
    assert "usage" not in first
    assert last["choices"] == [
        {"index": 0, "delta": {}, "finish_reason": "tool_calls"},
        {"index": 1, "delta": {}, "finish_reason": "stop"},
    ]
    assert last["usage"] == {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5}


# ---------------------------------------------------------------- SSE


async def test_iter_sse_reads_events_split_anywhere() -> None:
    async def body() -> AsyncIterator[bytes]:
        for piece in (b"event: a\r\nda", b"ta: 1\ndata: 2\n\n", b": comment\n\ndata: x\n\n"):
            yield piece

    events = [(e.event, e.data) async for e in iter_sse(body())]
    assert events == [("a", "1\n2"), ("message", "x")]


# ---------------------------------------------------------------- what plugins import

PLUGINS = Path(__file__).resolve().parent.parent / "plugins"
ALLOWED = ("hexgate.protocol", "hexgate.errors", "hexgate.schemas", "hexgate.plugin_kit")


def _hexgate_imports(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module] if node.module != "hexgate" else [f"hexgate.{a.name}" for a in node.names]
        elif isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        else:
            continue
        found.update(n for n in names if n == "hexgate" or n.startswith("hexgate."))
    return found


def test_plugins_import_only_the_plugin_api() -> None:
    """Plugin packages import hexgate.protocol, .errors, .schemas.* and .plugin_kit, nothing else."""
    outside = set()
    for package in sorted(PLUGINS.glob("hexgate-*/hexgate_*")):
        for path in sorted(package.rglob("*.py")):
            for name in _hexgate_imports(path):
                if not any(name == a or name.startswith(a + ".") for a in ALLOWED):
                    outside.add((str(path.relative_to(package.parent)), name))
    assert not outside, sorted(outside)


# ---------------------------------------------------------------- the optional members the core looks for


@pytest.mark.parametrize(
    ("protocol", "member", "value"),
    [
        (Startable, "start", None),
        (Closable, "aclose", None),
        (KeepsResponses, "upstream_keeps_responses", False),
        (Versioned, "protocol_version", PROTOCOL_VERSION),
        (HasParamPolicy, "param_policy", {"top_k": "drop"}),
        (TakesProxy, "takes_proxy", True),
    ],
)
def test_every_optional_member_the_core_reads_is_a_declared_protocol(
    protocol: type, member: str, value: object
) -> None:
    async def hook(self: object) -> None:
        return None

    declared = type("Declared", (), {member: hook if value is None else value})
    assert isinstance(declared(), protocol)
    assert not isinstance(object(), protocol)
    assert protocol.__name__ in hexgate.protocol.__all__
