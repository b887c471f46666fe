"""OpenTelemetry traces: the app in-process with an in-memory span exporter. A request whose first
target fails and whose fallback answers makes one server span and one client span per upstream attempt,
named and attributed after the GenAI semantic conventions."""

from __future__ import annotations

import base64
import json
import warnings
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import openai
import pytest
from litestar.exceptions import LitestarDeprecationWarning
from litestar.testing import AsyncTestClient
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from hexgate.app import create_app
from hexgate.ops.tracing import AttemptSpans
from hexgate.protocol import CallContext
from hexgate.schemas.chat import ChatCompletionChunk, ChunkChoice, Delta
from hexgate.settings import load_settings
from hexgate.testing import Reply, StubUpstream
from hexgate.trace import traced_chunks

OVERLOADED = Reply(503, json.dumps({"error": {"message": "busy", "type": "server_error"}}).encode())


def app_with_spans(tmp_path: Path, stub: StubUpstream) -> tuple[Any, InMemorySpanExporter]:
    path = tmp_path / "config.toml"
    path.write_text(
        f"""
[telemetry]
traces = true
[routing]
retries = 0
[providers.down]
plugin = "openai"
base_url = "{stub.url}/v1"
api_key = "test-key"
[providers.echo]
plugin = "echo"
[models.m]
targets = ["down/x", "echo/echo"]
""",
        encoding="utf-8",
    )
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", LitestarDeprecationWarning)  # core routes still infer dependencies
        app = create_app(load_settings(path, env={}), tracer_provider=provider)
    return app, exporter


async def test_one_client_span_per_upstream_attempt(tmp_path: Path) -> None:
    with StubUpstream({"POST /v1/chat/completions": OVERLOADED}) as stub:
        app, exporter = app_with_spans(tmp_path, stub)
        async with AsyncTestClient(app) as client:
            answer = await client.post(
                "/v1/chat/completions", json={"model": "m", "messages": [{"role": "user", "content": "hi you"}]}
            )
            assert answer.status_code == 200
            assert answer.headers["x-hexgate-attempts"] == "2"
            streamed = await client.post(
                "/v1/chat/completions",
                json={"model": "echo/echo", "stream": True, "messages": [{"role": "user", "content": "a b"}]},
            )
            assert streamed.text.endswith("data: [DONE]\n\n")
            assert (await client.get("/health")).status_code == 200
    spans = exporter.get_finished_spans()
    servers = [s for s in spans if s.kind == SpanKind.SERVER]
    clients = [s for s in spans if s.kind == SpanKind.CLIENT]
    assert [s.name for s in servers] == ["POST /v1/chat/completions"] * 2  # none for /health
    assert [s.name for s in clients] == ["chat x", "chat echo", "chat echo"]
    failed, answered, stream = clients
    assert failed.status.status_code == StatusCode.ERROR
    assert failed.attributes is not None and failed.attributes["error.type"] == "UpstreamOverloaded"
    assert failed.attributes["gen_ai.provider.name"] == "down"
    assert answered.attributes == {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "echo",
        "gen_ai.request.model": "echo",
        "hexgate.request_id": answer.headers["x-request-id"],
        "gen_ai.response.id": answer.json()["id"],
        "gen_ai.response.model": "echo",
        "gen_ai.response.finish_reasons": ("stop",),
        "gen_ai.usage.input_tokens": 2,
        "gen_ai.usage.output_tokens": 2,
    }
    assert stream.attributes is not None and stream.attributes["gen_ai.response.finish_reasons"] == ("stop",)
    first_server = servers[0]
    for span in (failed, answered):
        assert span.parent is not None and span.parent.span_id == first_server.context.span_id
        assert span.context.trace_id == first_server.context.trace_id
    assert stream.parent is not None and stream.parent.span_id == servers[1].context.span_id
    assert all("hi you" not in json.dumps(dict(s.attributes or {})) for s in spans)  # no prompt text


IMAGE_PROVIDER = '''
import base64, time
from hexgate_echo import EchoProvider
from hexgate.schemas.images import GeneratedImage, ImagesInputTokensDetails, ImagesResponse, ImagesUsage

PNG = base64.b64encode(b"\\x89PNG\\r\\n\\x1a\\n" + bytes(16)).decode()

class Provider(EchoProvider):
    """Echo plus images: one fixed image per call."""

    async def generate_image(self, request, ctx):
        details = ImagesInputTokensDetails(text_tokens=3)
        usage = ImagesUsage(input_tokens=3, output_tokens=1056, total_tokens=1059, input_tokens_details=details)
        return ImagesResponse(created=int(time.time()), data=[GeneratedImage(b64_json=PNG)], usage=usage)
'''


async def test_images_are_generated_and_traced(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """With traces on, the route sees the provider itself (no proxy hiding ``generate_image`` from the
    runtime ``ImageProvider`` check, which reads attributes statically on Python 3.12+)."""
    (tmp_path / "traced_images_provider.py").write_text(IMAGE_PROVIDER, encoding="utf-8")
    monkeypatch.syspath_prepend(str(tmp_path))
    path = tmp_path / "config.toml"
    path.write_text(
        """
[telemetry]
traces = true
[providers.img]
plugin = "traced_images_provider:Provider"
models = ["painter"]
""",
        encoding="utf-8",
    )
    exporter = InMemorySpanExporter()
    tracer = TracerProvider()
    tracer.add_span_processor(SimpleSpanProcessor(exporter))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", LitestarDeprecationWarning)
        app = create_app(load_settings(path, env={}), tracer_provider=tracer)
    async with AsyncTestClient(app) as http:
        client = openai.AsyncOpenAI(
            base_url=f"{str(http.base_url).rstrip('/')}/v1",
            api_key="unused",
            http_client=http,  # type: ignore[arg-type]  # an httpx.AsyncClient subclass, typed generically
            max_retries=0,
        )
        images = await client.images.generate(model="img/painter", prompt="a red square")
    assert images.data is not None and images.data[0].b64_json is not None
    assert base64.b64decode(images.data[0].b64_json).startswith(b"\x89PNG")
    clients = [s for s in exporter.get_finished_spans() if s.kind == SpanKind.CLIENT]
    assert [s.name for s in clients] == ["generate_content painter"]
    attributes = dict(clients[0].attributes or {})
    assert attributes["gen_ai.provider.name"] == "img"
    assert (attributes["gen_ai.usage.input_tokens"], attributes["gen_ai.usage.output_tokens"]) == (3, 1056)


async def test_a_stream_closed_early_ends_its_span_and_closes_the_upstream(tmp_path: Path) -> None:
    """A client that goes away mid-stream: the attempt span still ends (once), the upstream is closed."""
    exporter = InMemorySpanExporter()
    tracer = TracerProvider()
    tracer.add_span_processor(SimpleSpanProcessor(exporter))
    closed = []

    async def upstream() -> AsyncIterator[ChatCompletionChunk]:
        try:
            for word in ("a", "b", "c"):
                yield ChatCompletionChunk(
                    id="c1", created=0, model="m", choices=[ChunkChoice(index=0, delta=Delta(content=word))]
                )
        finally:
            closed.append(True)

    ctx = CallContext(request_id="r1", model="m", timeout=5.0)
    chunks = traced_chunks(AttemptSpans(tracer.get_tracer("t")), "p", ctx, upstream)
    assert (await anext(chunks)).choices[0].delta.content == "a"
    await chunks.aclose()  # type: ignore[attr-defined]
    spans = exporter.get_finished_spans()
    assert closed == [True] and [s.name for s in spans] == ["chat m"]
    assert spans[0].status.status_code == StatusCode.UNSET
