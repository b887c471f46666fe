"""Traces for ``/v1/messages``: a native Anthropic call and a bridged one each make a server span and a
client span (the app in-process with an in-memory span exporter)."""

from __future__ import annotations

import warnings
from pathlib import Path

from litestar.exceptions import LitestarDeprecationWarning
from litestar.testing import AsyncTestClient
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from hexgate.app import create_app
from hexgate.settings import load_settings
from hexgate.testing import StubUpstream

FIXTURES = Path(__file__).parent / "fixtures"


async def test_native_and_bridged_messages_are_traced(tmp_path: Path, upstream: StubUpstream, captures: type) -> None:
    upstream.routes["POST /v1/messages"] = captures.json_reply("anthropic--anthropic-text.json")  # type: ignore[attr-defined]
    path = tmp_path / "config.toml"
    path.write_text(
        f"""
[telemetry]
traces = true
[providers.claude]
plugin = "anthropic"
api_key = "sk-ant-test-000"
base_url = "{upstream.url}"
[providers.echo]
plugin = "echo"
""",
        encoding="utf-8",
    )
    exporter = InMemorySpanExporter()
    tracer = TracerProvider()
    tracer.add_span_processor(SimpleSpanProcessor(exporter))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", LitestarDeprecationWarning)
        app = create_app(load_settings(path, env={}), tracer_provider=tracer)
    body = {"max_tokens": 20, "messages": [{"role": "user", "content": "hi there"}]}
    async with AsyncTestClient(app) as client:
        native = await client.post("/v1/messages", json={"model": "claude/claude-sonnet-4-5", **body})
        assert (
            native.status_code == 200
            and native.content
            == captures.dir.joinpath(  # type: ignore[attr-defined]
                "anthropic--anthropic-text.json"
            ).read_bytes()
        )
        bridged = await client.post("/v1/messages", json={"model": "echo/echo", **body})
        assert bridged.status_code == 200 and bridged.json()["content"][0]["text"] == "hi there"
    spans = exporter.get_finished_spans()
    assert [s.name for s in spans if s.kind == SpanKind.SERVER] == ["POST /v1/messages"] * 2
    assert [s.name for s in spans if s.kind == SpanKind.CLIENT] == ["chat claude-sonnet-4-5", "chat echo"]
