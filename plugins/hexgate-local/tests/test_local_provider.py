"""The provider called directly, on the real bundled models: chat, stream, embeddings, cancellation."""

from __future__ import annotations

import base64
import json
import math
from array import array
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import msgspec
import pytest
from hexgate_local import LocalProvider
from tokenizers import Tokenizer

from hexgate.errors import InvalidRequest, ModelNotFound, Unsupported, UpstreamError
from hexgate.protocol import CallContext, Provider
from hexgate.schemas.chat import ChatCompletionChunk, ChatCompletionRequest
from hexgate.schemas.embeddings import EmbeddingRequest
from hexgate.testing import check_stream

CHAT = "smollm2-135m-instruct"
EMBED = "all-minilm-l6-v2"


def ctx(model: str = CHAT) -> CallContext:
    return CallContext(request_id="req-test", model=model, timeout=120.0)


def chat_req(content: str = "What is the capital of France?", **fields: Any) -> ChatCompletionRequest:
    body = {"model": f"local/{CHAT}", "messages": [{"role": "user", "content": content}], **fields}
    return msgspec.convert(body, ChatCompletionRequest)


def embed_req(input: Any, **fields: Any) -> EmbeddingRequest:
    return msgspec.convert({"model": f"local/{EMBED}", "input": input, **fields}, EmbeddingRequest)


async def collect(stream: AsyncIterator[ChatCompletionChunk]) -> list[dict[str, Any]]:
    return [msgspec.to_builtins(c) async for c in stream]


def test_is_a_provider(provider: LocalProvider) -> None:
    assert isinstance(provider, Provider)


async def test_chat(provider: LocalProvider) -> None:
    out = await provider.chat(chat_req(max_tokens=40), ctx())
    assert out.object == "chat.completion"
    assert out.model == CHAT
    [choice] = out.choices
    assert choice.message.role == "assistant"
    assert isinstance(choice.message.content, str) and choice.message.content.strip()
    assert choice.finish_reason in ("stop", "length")
    assert out.usage
    assert out.usage.prompt_tokens > 5
    assert 0 < out.usage.completion_tokens <= 40
    assert out.usage.total_tokens == out.usage.prompt_tokens + out.usage.completion_tokens


async def test_stream(provider: LocalProvider) -> None:
    chunks = await collect(provider.stream_chat(chat_req(max_tokens=40), ctx()))
    assert check_stream(chunks) == []
    assert chunks[0]["choices"][0]["delta"] == {"role": "assistant", "content": "", "refusal": None}
    *body, last = chunks
    assert last["choices"] == []
    usage = last["usage"]
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]
    pieces = [c["choices"][0]["delta"].get("content") or "" for c in body]
    assert "".join(pieces).strip()
    assert len([p for p in pieces if p]) > 2  # token by token, not one lump
    assert body[-1]["choices"][0]["finish_reason"] in ("stop", "length")
    assert all("usage" not in c for c in body)


async def test_max_tokens_is_length(provider: LocalProvider) -> None:
    out = await provider.chat(chat_req("Write a long story about a dragon.", max_completion_tokens=3), ctx())
    assert out.choices[0].finish_reason == "length"
    assert out.usage and out.usage.completion_tokens == 3


async def test_seed_repeats_and_n_fans_out(provider: LocalProvider) -> None:
    fields = {"temperature": 1.0, "seed": 1234, "max_tokens": 20}
    a = await provider.chat(chat_req("Name a colour.", **fields), ctx())
    await provider.chat(chat_req("Something else.", max_tokens=5), ctx())  # leaves another prompt in the KV cache
    b = await provider.chat(chat_req("Name a colour.", **fields), ctx())
    assert a.choices[0].message.content == b.choices[0].message.content
    many = await provider.chat(chat_req("Name a colour.", n=2, **fields), ctx())
    assert many.choices[0].message.content == a.choices[0].message.content
    assert [c.index for c in many.choices] == [0, 1]
    assert many.usage and a.usage
    assert many.usage.prompt_tokens == a.usage.prompt_tokens  # the prompt counts once


async def test_stream_n2_indexes_each_choice(provider: LocalProvider) -> None:
    chunks = await collect(provider.stream_chat(chat_req("Say hi.", n=2, max_tokens=8), ctx()))
    finished = [ch["index"] for c in chunks for ch in c["choices"] if ch["finish_reason"]]
    assert finished == [0, 1]
    roles = [ch["index"] for c in chunks for ch in c["choices"] if ch["delta"].get("role")]
    assert roles == [0, 1]


async def test_stop_string_is_cut(provider: LocalProvider) -> None:
    out = await provider.chat(chat_req("Count from 1 to 10, separated by commas.", stop=["5"], temperature=0), ctx())
    text = out.choices[0].message.content or ""
    assert "5" not in text
    assert out.choices[0].finish_reason in ("stop", "length")


async def test_json_object_response_format(provider: LocalProvider) -> None:
    schema = {
        "type": "object",
        "properties": {"name": {"type": "string"}, "age": {"type": "integer"}},
        "required": ["name", "age"],
    }
    rf = {"type": "json_schema", "json_schema": {"name": "person", "schema": schema}}
    out = await provider.chat(chat_req("Describe a person as JSON.", response_format=rf, max_tokens=60), ctx())
    assert out.choices[0].finish_reason == "stop"
    value = json.loads(out.choices[0].message.content or "")
    assert set(value) == {"name", "age"} and isinstance(value["age"], int)


@pytest.mark.parametrize(
    ("fields", "error", "param"),
    [
        ({"tools": [{"type": "function", "function": {"name": "f"}}]}, Unsupported, "tools"),
        ({"temperature": 3}, InvalidRequest, "temperature"),
    ],
)
async def test_bad_requests_raise_before_any_chunk(
    provider: LocalProvider, fields: dict[str, Any], error: type[Exception], param: str
) -> None:
    with pytest.raises(error) as info:
        await provider.chat(chat_req(**fields), ctx())
    assert getattr(info.value, "param", None) == param
    stream = provider.stream_chat(chat_req(**fields), ctx())
    with pytest.raises(error):
        await anext(stream)


async def test_context_length_exceeded(provider: LocalProvider) -> None:
    with pytest.raises(InvalidRequest) as info:
        await anext(provider.stream_chat(chat_req("word " * 3000), ctx()))
    assert info.value.code == "context_length_exceeded"
    assert "2048" in info.value.message


async def test_model_names(provider: LocalProvider) -> None:
    with pytest.raises(ModelNotFound):
        await provider.chat(chat_req(), ctx("gpt-4o"))
    with pytest.raises(InvalidRequest) as info:
        await provider.chat(chat_req(), ctx(EMBED))
    assert info.value.param == "model" and info.value.status == 400
    with pytest.raises(InvalidRequest):
        await provider.embed(embed_req("x"), ctx(CHAT))


async def test_cancellation_frees_the_worker(provider: LocalProvider) -> None:
    before = provider.workers()[0]
    stream = provider.stream_chat(chat_req("Write a very long story about a dragon.", max_tokens=1500), ctx())
    got = [await anext(stream), await anext(stream)]
    assert got[0].choices[0].delta.role == "assistant"
    assert provider.worker.active == 1
    await stream.aclose()  # what the core does when the client disconnects
    # the next request waits behind the first one on the worker's single chat thread: it completes
    # only once that generation has seen its cancel
    out = await provider.chat(chat_req("Say hi.", max_tokens=5), ctx())
    assert out.choices[0].message.content
    assert provider.worker.active == 0
    # the worker ended the generation itself: had it gone on for the 1500 tokens, the supervisor would
    # have killed and replaced it 5 s after the cancel (a new pid, one more restart)
    after = provider.workers()[0]
    assert (after.state, after.pid, after.restarts) == ("ready", before.pid, before.restarts)


async def test_embeddings_shape_norm_and_usage(provider: LocalProvider) -> None:
    texts = ["The cat sits on the mat.", "A feline rests on a rug.", "Stocks fell."]
    out = await provider.embed(embed_req(texts), ctx(EMBED))
    assert out.model == EMBED and out.object == "list"
    assert [d.index for d in out.data] == [0, 1, 2]
    vectors = [d.embedding for d in out.data]
    for v in vectors:
        assert isinstance(v, list) and len(v) == 384
        assert math.isclose(math.fsum(x * x for x in v), 1.0, abs_tol=1e-4)
    cat, feline, stocks = (v for v in vectors if isinstance(v, list))
    assert sum(a * b for a, b in zip(cat, feline, strict=True)) > sum(a * b for a, b in zip(cat, stocks, strict=True))
    tokenizer = Tokenizer.from_file(str(provider.paths.tokenizer))
    tokenizer.no_padding()  # the vendored file pads to 128; the provider does not
    expected = sum(len(tokenizer.encode(t).ids) for t in texts)  # [CLS] … [SEP] each
    assert out.usage.prompt_tokens == out.usage.total_tokens == expected


async def test_embeddings_single_base64_and_batch_agree(provider: LocalProvider) -> None:
    batch = await provider.embed(embed_req(["hello world", "a much longer sentence than the first one"]), ctx(EMBED))
    single = await provider.embed(embed_req("hello world", encoding_format="base64", dimensions=384), ctx(EMBED))
    encoded = single.data[0].embedding
    assert isinstance(encoded, str)
    floats = array("f", base64.b64decode(encoded)).tolist()
    first = batch.data[0].embedding
    assert isinstance(first, list)
    assert max(abs(a - b) for a, b in zip(floats, first, strict=True)) < 1e-5
    assert single.usage.prompt_tokens == 4


async def test_embeddings_truncate_at_256_tokens(provider: LocalProvider) -> None:
    out = await provider.embed(embed_req("word " * 1000), ctx(EMBED))
    assert out.usage.prompt_tokens == 256


@pytest.mark.parametrize(
    ("fields", "error", "param"),
    [
        ({"input": "x", "dimensions": 128}, InvalidRequest, "dimensions"),
        ({"input": [1, 2, 3]}, Unsupported, "input"),
        ({"input": [[1, 2], [3]]}, Unsupported, "input"),
        ({"input": ["ok", ""]}, InvalidRequest, "input"),
        ({"input": ["x"] * 2049}, InvalidRequest, "input"),
    ],
)
async def test_embedding_refusals(
    provider: LocalProvider, fields: dict[str, Any], error: type[Exception], param: str
) -> None:
    with pytest.raises(error) as info:
        await provider.embed(embed_req(**fields), ctx(EMBED))
    assert getattr(info.value, "param", None) == param


async def test_list_models(provider: LocalProvider) -> None:
    chat, embedding = await provider.list_models()
    assert chat.id == CHAT and chat.context_window == 2048
    assert chat.capabilities and chat.capabilities.chat and chat.capabilities.streaming
    assert chat.capabilities.json_output and chat.capabilities.tools is False
    assert embedding.id == EMBED and embedding.embedding_dimensions == 384
    assert embedding.capabilities and embedding.capabilities.embeddings


def test_settings_are_validated(tmp_path: Path) -> None:
    http = httpx.AsyncClient()
    with pytest.raises(msgspec.ValidationError, match="n_ctxx"):
        LocalProvider({"n_ctxx": 4096}, http=http)
    with pytest.raises(msgspec.ValidationError, match="n_threads"):
        LocalProvider({"n_threads": 0}, http=http)
    with pytest.raises(ValueError, match="chat_model_path"):
        LocalProvider({"chat_model_path": str(tmp_path / "missing.gguf")}, http=http)
    gguf = tmp_path / "My-Model.Q8_0.gguf"
    gguf.write_bytes(b"")
    custom = LocalProvider({"chat_model_path": str(gguf)}, http=http)
    assert custom.paths.chat_name == "my-model.q8_0"
    named = LocalProvider({"chat_model_path": str(gguf), "chat_model_name": "mine"}, http=http)
    assert named.paths.chat_name == "mine"


async def test_start_and_aclose_lifecycle() -> None:
    async with httpx.AsyncClient() as http:
        lazy = LocalProvider({}, http=http)  # no start(): loads on first use
        out = await lazy.embed(embed_req("hi"), ctx(EMBED))
        assert len(out.data[0].embedding) == 384
        stream = lazy.stream_chat(chat_req("Write a long story.", max_tokens=1500), ctx())
        await anext(stream)
        await lazy.aclose()  # stops the running generation and frees both models
        status = lazy.workers()[0]
        assert status.state == "stopped" and status.pid is None  # the worker process is gone
        with pytest.raises(UpstreamError, match="shut down"):
            async for _ in stream:  # the open stream ends with an error, it does not hang
                pass
        with pytest.raises(UpstreamError, match="shutting down"):
            await lazy.chat(chat_req(), ctx())
        await lazy.aclose()  # idempotent
