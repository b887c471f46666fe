"""End to end: the official openai client → a running hexgate → the Puter plugin → a stub that
speaks Puter's documented wire format (conftest.py). What a user would check: text, reasoning,
tool calls, usage numbers, statuses and envelopes, the images' bytes."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import httpx
import openai
import pytest

from hexgate.testing import StubUpstream, check_stream

if TYPE_CHECKING:
    from conftest import PuterWire

pytestmark = pytest.mark.e2e

WEATHER_TOOLS: list[Any] = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "Weather for a city",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
        },
    }
]


@pytest.fixture(scope="module")
def client(puter_gateway: str) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(base_url=f"{puter_gateway}/v1", api_key="unused-by-config", max_retries=0) as c:
        yield c


def _last_driver_call(stub: StubUpstream, interface: str) -> dict[str, Any]:
    for req in reversed(stub.requests):
        if req.path == "/drivers/call" and req.json()["interface"] == interface:
            assert req.headers["content-type"] == "text/plain;actually=json"
            return req.json()  # type: ignore[no-any-return]
    raise AssertionError(f"no {interface} call recorded")


def _stream(client: openai.OpenAI, model: str, text: str, **kw: Any) -> list[dict[str, Any]]:
    stream = client.chat.completions.create(
        model=model, messages=[{"role": "user", "content": text}], stream=True, **kw
    )
    return [chunk.model_dump(exclude_unset=True) for chunk in stream]


# ---------------------------------------------------------------- chat, driver API


def test_chat_plain(client: openai.OpenAI, puter_stub: StubUpstream, puter_wire: PuterWire) -> None:
    done = client.chat.completions.create(
        model="puter/gpt-5-nano",
        messages=[{"role": "developer", "content": "Be brief."}, {"role": "user", "content": "hello"}],
        temperature=0.2,
        max_completion_tokens=50,
    )
    assert done.choices[0].message.content == "Hello there"
    assert done.choices[0].finish_reason == "stop"
    assert done.usage is not None
    assert (done.usage.prompt_tokens, done.usage.completion_tokens, done.usage.total_tokens) == (12, 5, 17)
    call = _last_driver_call(puter_stub, "puter-chat-completion")
    assert (call["driver"], call["method"], call["auth_token"], call["test_mode"]) == (
        "ai-chat",
        "complete",
        puter_wire.token,
        False,
    )
    args = call["args"]
    assert (args["model"], args["stream"], args["temperature"], args["max_tokens"]) == ("gpt-5-nano", False, 0.2, 50)
    assert args["messages"] == [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "hello"}]


def test_chat_streamed_text_and_usage(client: openai.OpenAI, puter_stub: StubUpstream) -> None:
    chunks = _stream(client, "puter/gpt-5-nano", "hello", stream_options={"include_usage": True})
    assert check_stream(chunks) == []
    assert "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"]) == "Hello there"
    assert chunks[-1]["choices"] == []
    assert chunks[-1]["usage"] == {"prompt_tokens": 12, "completion_tokens": 5, "total_tokens": 17}
    assert [c["choices"][0]["finish_reason"] for c in chunks if c["choices"]][-1] == "stop"
    assert _last_driver_call(puter_stub, "puter-chat-completion")["args"]["stream"] is True


def test_chat_streamed_reasoning(client: openai.OpenAI) -> None:
    chunks = _stream(client, "puter/gpt-5-nano", "think")
    assert check_stream(chunks) == []
    deltas = [c["choices"][0]["delta"] for c in chunks if c["choices"]]
    assert "".join(d.get("reasoning_content") or "" for d in deltas) == "The user greets me."
    assert "".join(d.get("content") or "" for d in deltas) == "Hi!"
    assert all("usage" not in c or c["usage"] is None for c in chunks)  # not asked for


def test_chat_plain_reasoning_and_metered_usage(client: openai.OpenAI) -> None:
    done = client.chat.completions.create(model="puter/gpt-5-nano", messages=[{"role": "user", "content": "think"}])
    message = done.model_dump()["choices"][0]["message"]
    assert (message["content"], message["reasoning_content"]) == ("Hi!", "Greeting.")
    assert done.usage is not None and (done.usage.prompt_tokens, done.usage.completion_tokens) == (7, 9)


def test_chat_streamed_tool_calls(client: openai.OpenAI, puter_stub: StubUpstream) -> None:
    chunks = _stream(client, "puter/gpt-5-nano", "weather in Paris?", tools=WEATHER_TOOLS)
    assert check_stream(chunks) == []
    calls: dict[int, dict[str, str]] = {}
    for c in chunks:
        for call in c["choices"][0]["delta"].get("tool_calls") or [] if c["choices"] else []:
            slot = calls.setdefault(call["index"], {"id": "", "name": "", "arguments": ""})
            slot["id"] += call.get("id") or ""
            slot["name"] += call["function"].get("name") or ""
            slot["arguments"] += call["function"].get("arguments") or ""
    assert calls[0]["id"] == "call_w1" and calls[0]["name"] == "get_weather"
    assert json.loads(calls[0]["arguments"]) == {"city": "Paris", "unit": "c"}
    assert calls[1]["id"] == "call_w2" and json.loads(calls[1]["arguments"]) == {"tz": "Europe/Paris"}
    assert [c["choices"][0]["finish_reason"] for c in chunks if c["choices"]][-1] == "tool_calls"
    args = _last_driver_call(puter_stub, "puter-chat-completion")["args"]
    assert args["tools"][0]["function"]["name"] == "get_weather"


def test_chat_plain_tool_call_and_tool_result_history(client: openai.OpenAI, puter_stub: StubUpstream) -> None:
    done = client.chat.completions.create(
        model="puter/gpt-5-nano",
        messages=[{"role": "user", "content": "weather in Paris?"}],
        tools=WEATHER_TOOLS,
    )
    choice = done.choices[0]
    assert choice.finish_reason == "tool_calls"
    assert choice.message.tool_calls is not None
    call = choice.message.tool_calls[0]
    assert call.id == "call_w1" and call.function.name == "get_weather"  # type: ignore[union-attr]
    assert json.loads(call.function.arguments) == {"city": "Paris"}  # type: ignore[union-attr]
    client.chat.completions.create(
        model="puter/gpt-5-nano",
        messages=[
            {"role": "user", "content": "weather in Paris?"},
            {"role": "assistant", "content": None, "tool_calls": [call.model_dump()]},  # type: ignore[list-item]
            {"role": "tool", "tool_call_id": "call_w1", "content": "18 C"},
            {"role": "user", "content": "hello"},
        ],
        tools=WEATHER_TOOLS,
    )
    sent = _last_driver_call(puter_stub, "puter-chat-completion")["args"]["messages"]
    sent_call = sent[1]["tool_calls"][0]
    assert (sent_call["id"], sent_call["function"]["name"]) == ("call_w1", "get_weather")
    assert json.loads(sent_call["function"]["arguments"]) == {"city": "Paris"}
    assert sent[2] == {"role": "tool", "content": "18 C", "tool_call_id": "call_w1"}


def test_image_parts_set_vision(client: openai.OpenAI, puter_stub: StubUpstream, puter_wire: PuterWire) -> None:
    url = "data:image/png;base64," + base64.b64encode(puter_wire.images["red"]).decode()
    client.chat.completions.create(
        model="puter/gpt-5-nano",
        messages=[
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "hello, what is this?"},
                    {"type": "image_url", "image_url": {"url": url}},
                ],
            }
        ],
    )
    args = _last_driver_call(puter_stub, "puter-chat-completion")["args"]
    assert args["vision"] is True
    assert args["messages"][0]["content"][1] == {"type": "image_url", "image_url": {"url": url}}


def test_models_list(client: openai.OpenAI) -> None:
    models = {m.id: m.model_dump() for m in client.models.list()}
    nano = models["puter/gpt-5-nano"]
    assert (nano["display_name"], nano["context_window"], nano["max_output_tokens"]) == ("GPT-5 nano", 400000, 128000)
    assert nano["owned_by"] == "openai"
    assert models["puter/claude-sonnet-4-5"]["context_window"] == 200000
    assert "puter/deepseek-chat" in models
    assert models["puter/gpt-image-1-mini"]["capabilities"] == {"chat": False}
    assert "puteroai/gpt-5-nano" in models and "puteroai/claude-sonnet-4-5" not in models


# ---------------------------------------------------------------- errors


@pytest.mark.parametrize(
    ("word", "error", "status", "code"),
    [
        ("broke", openai.RateLimitError, 429, "insufficient_quota"),  # success:false with HTTP 200
        ("badauth", openai.InternalServerError, 502, "token_auth_failed"),  # success:false with HTTP 200
        ("http401", openai.InternalServerError, 502, "token_auth_failed"),
        ("ratelimit", openai.RateLimitError, 429, "rate_limit_exceeded"),
        ("badparam", openai.BadRequestError, 400, "field_invalid"),
        ("crash", openai.InternalServerError, 502, "internal_error"),
        ("overloaded", openai.InternalServerError, 503, "upstream_overloaded"),
        ("weird", openai.InternalServerError, 502, "something_new"),
    ],
)
def test_chat_errors_map_to_status(
    client: openai.OpenAI, word: str, error: type[openai.APIStatusError], status: int, code: str, puter_wire: PuterWire
) -> None:
    with pytest.raises(error) as caught:
        client.chat.completions.create(model="puter/gpt-5-nano", messages=[{"role": "user", "content": word}])
    assert caught.value.status_code == status
    body = caught.value.body
    assert isinstance(body, dict) and body["code"] == code
    assert puter_wire.token not in json.dumps(body)
    if word == "ratelimit":
        assert caught.value.response.headers["retry-after"] == "30"


@pytest.mark.parametrize(("word", "code"), [("broke", "insufficient_quota"), ("limited", "insufficient_quota")])
def test_stream_error_line_before_any_text_is_a_429(client: openai.OpenAI, word: str, code: str) -> None:
    with pytest.raises(openai.RateLimitError) as caught:
        _stream(client, "puter/gpt-5-nano", word)
    assert caught.value.status_code == 429
    assert isinstance(caught.value.body, dict) and caught.value.body["code"] == code


def test_stream_error_line_midway_ends_the_stream_with_an_error(client: openai.OpenAI) -> None:
    seen: list[str] = []
    with pytest.raises(openai.APIError) as caught:
        for chunk in client.chat.completions.create(
            model="puter/gpt-5-nano", messages=[{"role": "user", "content": "midfail"}], stream=True
        ):
            seen.append(chunk.choices[0].delta.content or "")
    assert "".join(seen) == "Start"
    assert "upstream model crashed" in caught.value.message


def test_stream_http_failure_keeps_its_status(client: openai.OpenAI) -> None:
    with pytest.raises(openai.RateLimitError) as caught:
        _stream(client, "puter/gpt-5-nano", "ratelimit")
    assert caught.value.response.headers["retry-after"] == "30"


def test_client_disconnect_closes_the_upstream_stream(puter_gateway: str, puter_stub: StubUpstream) -> None:
    before = puter_stub.disconnects
    with openai.OpenAI(base_url=f"{puter_gateway}/v1", api_key="x", max_retries=0) as c:
        stream = c.chat.completions.create(
            model="puter/gpt-5-nano", messages=[{"role": "user", "content": "slow"}], stream=True
        )
        first = next(iter(stream))
        assert first.choices[0].delta.content == "tick "
        stream.close()
    assert puter_stub.wait_for(lambda: puter_stub.disconnects > before, timeout=20)


def test_client_token_is_passed_on_when_none_is_configured(
    puter_gateway: str, puter_stub: StubUpstream, puter_wire: PuterWire
) -> None:
    with openai.OpenAI(base_url=f"{puter_gateway}/v1", api_key=puter_wire.client_token, max_retries=0) as c:
        done = c.chat.completions.create(model="puterbyo/gpt-5-nano", messages=[{"role": "user", "content": "hello"}])
        assert done.choices[0].message.content == "Hello there"
        assert _last_driver_call(puter_stub, "puter-chat-completion")["auth_token"] == puter_wire.client_token
    with openai.OpenAI(base_url=f"{puter_gateway}/v1", api_key="wrong-client-token", max_retries=0) as c:
        with pytest.raises(openai.AuthenticationError) as caught:
            c.chat.completions.create(model="puterbyo/gpt-5-nano", messages=[{"role": "user", "content": "hello"}])
        assert caught.value.status_code == 401
        assert "wrong-client-token" not in json.dumps(caught.value.body)


# ---------------------------------------------------------------- chat, OpenAI-compatible endpoint


def test_openai_mode_plain(client: openai.OpenAI, puter_stub: StubUpstream, puter_wire: PuterWire) -> None:
    done = client.chat.completions.create(model="puteroai/gpt-5-nano", messages=[{"role": "user", "content": "hello"}])
    message = done.model_dump()["choices"][0]["message"]
    assert (message["content"], message["reasoning_content"]) == ("Hello from OpenAI mode", "Mode check.")
    assert done.usage is not None and done.usage.total_tokens == 15
    req = next(r for r in reversed(puter_stub.requests) if r.path.endswith("/chat/completions"))
    assert req.path == "/puterai/openai/v1/chat/completions"
    assert req.headers["authorization"] == f"Bearer {puter_wire.token}"
    assert req.json()["model"] == "gpt-5-nano"


def test_openai_mode_streamed(client: openai.OpenAI, puter_stub: StubUpstream) -> None:
    chunks = _stream(client, "puteroai/gpt-5-nano", "hello", stream_options={"include_usage": True})
    assert check_stream(chunks) == []
    deltas = [c["choices"][0]["delta"] for c in chunks if c["choices"]]
    assert "".join(d.get("content") or "" for d in deltas) == "Hello from OpenAI mode"
    assert "".join(d.get("reasoning_content") or "" for d in deltas) == "Mode check."
    assert chunks[-1]["usage"]["total_tokens"] == 15
    req = next(r for r in reversed(puter_stub.requests) if r.path.endswith("/chat/completions"))
    assert req.json()["stream_options"] == {"include_usage": True}


def test_openai_mode_errors(client: openai.OpenAI) -> None:
    with pytest.raises(openai.RateLimitError):
        client.chat.completions.create(model="puteroai/gpt-5-nano", messages=[{"role": "user", "content": "broke"}])
    with pytest.raises(openai.APIError) as caught:
        _stream(client, "puteroai/gpt-5-nano", "midfail")
    assert "upstream model crashed" in caught.value.message


# ---------------------------------------------------------------- images


def test_images_b64_json(client: openai.OpenAI, puter_stub: StubUpstream, puter_wire: PuterWire) -> None:
    answer = client.images.generate(
        model="puter/gpt-image-1-mini",
        prompt="red fox",
        n=2,
        size="1536x1024",
        quality="low",
        response_format="b64_json",
    )
    assert answer.data is not None and len(answer.data) == 2
    for item in answer.data:
        assert item.b64_json is not None and item.url is None
        assert base64.b64decode(item.b64_json) == puter_wire.images["red"]
    assert answer.output_format == "png"
    call = _last_driver_call(puter_stub, "puter-image-generation")
    assert (call["driver"], call["method"], call["auth_token"]) == ("ai-image", "generate", puter_wire.token)
    assert call["args"] == {
        "prompt": "red fox",
        "model": "gpt-image-1-mini",
        "quality": "low",
        "ratio": {"w": 3, "h": 2},
    }


def test_images_default_format_is_b64_json(client: openai.OpenAI, puter_wire: PuterWire) -> None:
    answer = client.images.generate(model="puter/gpt-image-1-mini", prompt="blue sky")
    assert answer.data is not None and answer.data[0].b64_json is not None
    assert base64.b64decode(answer.data[0].b64_json) == puter_wire.images["blue"]


def test_images_url(client: openai.OpenAI, puter_gateway: str, puter_wire: PuterWire) -> None:
    answer = client.images.generate(model="puter/gpt-image-1-mini", prompt="blue sky", response_format="url")
    assert answer.data is not None
    item = answer.data[0]
    assert item.b64_json is None and item.url is not None
    assert item.url.startswith(f"{puter_gateway}/v1/images/files/") and item.url.endswith(".png")
    got = httpx.get(item.url)
    assert got.status_code == 200
    assert got.headers["content-type"] == "image/png"
    assert got.content == puter_wire.images["blue"]


def test_images_errors(client: openai.OpenAI) -> None:
    with pytest.raises(openai.RateLimitError) as caught:
        client.images.generate(model="puter/gpt-image-1-mini", prompt="broke")
    assert isinstance(caught.value.body, dict) and caught.value.body["code"] == "insufficient_quota"
    with pytest.raises(openai.InternalServerError) as auth:
        client.images.generate(model="puter/gpt-image-1-mini", prompt="http401")
    assert auth.value.status_code == 502
    with pytest.raises(openai.BadRequestError) as size:
        client.images.generate(model="puter/gpt-image-1-mini", prompt="red", size="huge")
    assert isinstance(size.value.body, dict) and size.value.body["param"] == "size"


def test_images_on_a_provider_without_them(client: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        client.images.generate(model="echo/echo", prompt="red")
    assert isinstance(caught.value.body, dict) and caught.value.body["code"] == "unsupported"
