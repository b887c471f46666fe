"""Embeddings (``batchEmbedContents``) and the model list (``GET models``) through a running gateway,
the official openai client in front, a stub of the Gemini API behind."""

from __future__ import annotations

import json

import openai
import pytest

from hexgate.testing import Reply, StubUpstream

pytestmark = pytest.mark.e2e

VECTORS = [[0.25, -0.5, 0.125], [1.0, 0.0, -0.75]]  # exactly representable in float32


def embedding_route(stub: StubUpstream) -> None:
    body = json.dumps({"embeddings": [{"values": v} for v in VECTORS]}).encode()
    stub.routes["POST /v1/models/gemini-embedding-001:batchEmbedContents"] = Reply(body=body)


@pytest.mark.parametrize("encoding", ["base64", "float"])
def test_embeddings(client: openai.OpenAI, stub: StubUpstream, encoding: str) -> None:
    embedding_route(stub)
    if encoding == "base64":  # the openai SDK's default: it asks for base64 and decodes it itself
        result = client.embeddings.create(model="gemini/gemini-embedding-001", input=["hello", "world"], dimensions=3)
    else:
        result = client.embeddings.create(
            model="gemini/gemini-embedding-001", input=["hello", "world"], dimensions=3, encoding_format="float"
        )
    assert [d.embedding for d in result.data] == VECTORS
    assert [d.index for d in result.data] == [0, 1]
    assert result.usage.prompt_tokens > 0
    sent = stub.requests[0].json()
    assert [r["content"]["parts"] for r in sent["requests"]] == [[{"text": "hello"}], [{"text": "world"}]]
    assert {r["outputDimensionality"] for r in sent["requests"]} == {3}


def test_token_arrays_are_refused(client: openai.OpenAI, stub: StubUpstream) -> None:
    embedding_route(stub)
    with pytest.raises(openai.BadRequestError) as caught:
        client.embeddings.create(model="gemini/gemini-embedding-001", input=[[1, 2, 3]])
    assert "text only" in caught.value.message
    assert stub.requests == []


def test_models_carry_capabilities(client: openai.OpenAI, stub: StubUpstream) -> None:
    listing = {
        "models": [
            {
                "name": "models/gemini-2.5-flash",
                "displayName": "Gemini 2.5 Flash",
                "inputTokenLimit": 1048576,
                "outputTokenLimit": 65536,
                "supportedGenerationMethods": ["generateContent", "countTokens", "createCachedContent"],
                "thinking": True,
            },
            {
                "name": "models/gemini-embedding-001",
                "displayName": "Gemini Embedding 001",
                "inputTokenLimit": 2048,
                "outputTokenLimit": 1,
                "supportedGenerationMethods": ["embedContent", "countTextTokens"],
            },
        ]
    }
    stub.routes["GET /v1/models"] = Reply(body=json.dumps(listing).encode())
    models = {m.id: m.to_dict() for m in client.models.list()}
    flash = models["gemini/gemini-2.5-flash"]
    assert flash["context_window"] == 1048576
    assert flash["max_output_tokens"] == 65536
    assert flash["display_name"] == "Gemini 2.5 Flash"
    assert flash["capabilities"] == {"chat": True, "embeddings": False, "streaming": True, "reasoning": True}
    embed = models["gemini/gemini-embedding-001"]
    assert embed["capabilities"]["embeddings"] is True
    assert embed["capabilities"]["chat"] is False
