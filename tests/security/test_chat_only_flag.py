"""Issue 12, finding 7: one request for an unknown model must not switch a provider to "chat-only".

vLLM and Ollama serve ``/v1/responses`` and answer 404 for a model they do not have (vLLM:
``{"error": {"message": "The model `x` does not exist.", "type": "NotFoundError", "code": 404}}``,
older ones the same fields at the top level; Ollama: ``model "x" not found, try pulling it first``).
That 404 is the client's error; the next request for a served model must still reach the upstream's
own ``/v1/responses``. Only an answer that says the route is missing (FastAPI's ``{"detail": "Not
Found"}``, Go's ``404 page not found``) makes the provider bridge over chat from then on.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator

import openai
import pytest

from hexgate.testing import INPROCESS_BASE_URL, RecordedRequest, Reply, StubUpstream, inprocess_client

VLLM_NO_MODEL = {
    "error": {"message": "The model `nope` does not exist.", "type": "NotFoundError", "param": None, "code": 404}
}
VLLM_OLD_NO_MODEL = {
    "object": "error",
    "message": "The model `nope` does not exist.",
    "type": "NotFoundError",
    "code": 404,
}
OLLAMA_NO_MODEL = {"error": {"message": 'model "nope" not found, try pulling it first', "type": "not_found_error"}}
CHAT = {
    "id": "chatcmpl-1",
    "object": "chat.completion",
    "created": 1,
    "model": "served",
    "choices": [{"index": 0, "message": {"role": "assistant", "content": "from chat"}, "finish_reason": "stop"}],
}


def native(missing_model: dict[str, object]) -> Callable[[RecordedRequest], Reply]:
    def answer(request: RecordedRequest) -> Reply:
        if request.json()["model"] != "served":
            return Reply(404, json.dumps(missing_model).encode())
        body = {
            "id": "resp_native",
            "object": "response",
            "created_at": 1,
            "status": "completed",
            "model": "served",
            "output": [
                {
                    "type": "message",
                    "id": "msg_1",
                    "role": "assistant",
                    "status": "completed",
                    "content": [{"type": "output_text", "text": "from responses", "annotations": []}],
                }
            ],
        }
        return Reply(body=json.dumps(body).encode())

    return answer


def chat(request: RecordedRequest) -> Reply:
    if request.json()["model"] != "served":
        return Reply(404, json.dumps(VLLM_NO_MODEL).encode())
    return Reply(body=json.dumps(CHAT).encode())


def stub(responses: Reply | Callable[[RecordedRequest], Reply]) -> StubUpstream:
    return StubUpstream({"POST /v1/responses": responses, "POST /v1/chat/completions": chat})


@pytest.fixture(scope="module")
def upstreams() -> Iterator[dict[str, StubUpstream]]:
    stubs = {
        "vllm": stub(native(VLLM_NO_MODEL)),
        "vllmold": stub(native(VLLM_OLD_NO_MODEL)),
        "ollama": stub(native(OLLAMA_NO_MODEL)),
        "fastapi": stub(Reply(404, b'{"detail":"Not Found"}')),
        "gin": stub(Reply(404, b"404 page not found", headers={"content-type": "text/plain"})),
    }
    for s in stubs.values():
        s.start()
    yield stubs
    for s in stubs.values():
        s.stop()


@pytest.fixture(scope="module")
def client(upstreams: dict[str, StubUpstream]) -> Iterator[openai.OpenAI]:
    config = "".join(
        f'[providers.{name}]\nplugin = "openai"\nbase_url = "{s.url}/v1"\napi_key = "k"\n\n'
        for name, s in upstreams.items()
    )
    with inprocess_client(config) as http:
        yield openai.OpenAI(base_url=f"{INPROCESS_BASE_URL}/v1", api_key="x", max_retries=0, http_client=http)


def paths(upstream: StubUpstream) -> list[str]:
    return [r.path for r in upstream.requests]


@pytest.mark.parametrize("name", ["vllm", "vllmold", "ollama"])
def test_an_unknown_model_leaves_the_native_route_in_use(
    client: openai.OpenAI, upstreams: dict[str, StubUpstream], name: str
) -> None:
    with pytest.raises(openai.NotFoundError, match="nope"):
        client.responses.create(model=f"{name}/nope", input="hi")
    answer = client.responses.create(model=f"{name}/served", input="hi")
    assert answer.output_text == "from responses"
    assert paths(upstreams[name])[-1] == "/v1/responses"


@pytest.mark.parametrize("name", ["fastapi", "gin"])
def test_a_missing_route_makes_the_provider_chat_only(
    client: openai.OpenAI, upstreams: dict[str, StubUpstream], name: str
) -> None:
    assert client.responses.create(model=f"{name}/served", input="hi").output_text == "from chat"
    assert client.responses.create(model=f"{name}/served", input="hi").output_text == "from chat"
    assert paths(upstreams[name]) == ["/v1/responses", "/v1/chat/completions", "/v1/chat/completions"]
