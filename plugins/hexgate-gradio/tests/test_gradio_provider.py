"""The provider in-process against the real Gradio server (tests/gradio_app.py): token fallback,
proxy, config overrides, stop sequences, settings validation."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import msgspec
import pytest
from gradio_client.exceptions import AuthenticationError  # type: ignore[import-untyped]
from hexgate_gradio import GradioProvider

from hexgate.errors import UpstreamAuthError, UpstreamError
from hexgate.protocol import CallContext
from hexgate.schemas.chat import ChatCompletionRequest
from hexgate.testing import Reply, StubUpstream

DEFAULT_HEADER = "[system=You are a friendly Chatbot. max_tokens=512 temperature=0.7 top_p=0.95 history=0]"


@pytest.fixture(autouse=True)
def _quiet(monkeypatch: pytest.MonkeyPatch, quiet_env: dict[str, str]) -> None:
    for name, value in quiet_env.items():
        monkeypatch.setenv(name, value)


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient() as client:
        yield client


def ctx(model: str, token: str | None = None) -> CallContext:
    return CallContext(request_id="req_test", model=model, timeout=30.0, client_token=token)


def chat_request(text: str, **extra: Any) -> ChatCompletionRequest:
    return msgspec.convert(
        {"model": "m", "messages": [{"role": "user", "content": text}], **extra}, ChatCompletionRequest
    )


class RecordingProvider(GradioProvider):
    """Refuses every token but None, as an app behind auth refuses a bad Hugging Face token."""

    tried: list[str | None]

    def _make_client(self, src: str, token: str | None) -> Any:
        self.tried.append(token)
        if token is not None:
            raise AuthenticationError(f"Could not load {src} as credentials were not provided. Please login.")
        return super()._make_client(src, token)


@pytest.fixture
def recording(gradio_app: str, http: httpx.AsyncClient) -> Iterator[type[RecordingProvider]]:
    RecordingProvider.tried = []
    yield RecordingProvider


async def test_client_token_refused_then_anonymous(
    gradio_app: str, http: httpx.AsyncClient, recording: type[RecordingProvider]
) -> None:
    settings = {"models": {"chat": f"{gradio_app}/chat"}, "hf_token": "hf_configured0000"}
    provider = recording(settings, http=http)
    try:
        completion = await provider.chat(chat_request("hi"), ctx("chat", token="hf_clienttoken0000"))
        assert completion.choices[0].message.content == DEFAULT_HEADER + " echo: hi"
        assert recording.tried == ["hf_clienttoken0000", None]  # the caller's HF token first, then anonymous
    finally:
        await provider.aclose()
    # a fresh provider: the first one's pool may already hold an anonymous client, which would be reused
    recording.tried.clear()
    provider = recording(settings, http=http)
    try:
        await provider.chat(chat_request("hi"), ctx("chat", token="test-key"))
        assert recording.tried == ["hf_configured0000", None]  # not an HF token: the configured one is used
    finally:
        await provider.aclose()


async def test_auth_failure_without_fallback_is_502(
    gradio_app: str, http: httpx.AsyncClient, recording: type[RecordingProvider]
) -> None:
    class Refusing(RecordingProvider):
        def _make_client(self, src: str, token: str | None) -> Any:
            self.tried.append(token)
            raise AuthenticationError("Could not load the app as credentials were not provided. Please login.")

    provider = Refusing({"models": {"chat": f"{gradio_app}/chat"}, "hf_token": "hf_configured0000"}, http=http)
    with pytest.raises(UpstreamAuthError) as info:
        await provider.chat(chat_request("hi"), ctx("chat"))
    assert info.value.status == 502 and "hf_configured" not in info.value.message
    assert Refusing.tried == ["hf_configured0000", None]
    await provider.aclose()


async def test_proxy_setting_carries_the_connections(http: httpx.AsyncClient) -> None:
    with StubUpstream({"GET *": Reply(502, b"bad gateway", headers={"content-type": "text/plain"})}) as proxy:
        provider = GradioProvider(
            {"models": {"chat": "http://127.0.0.1:9/chat"}, "proxy": proxy.url, "hf_token": "hf_secret00000000"},
            http=http,
        )
        with pytest.raises(UpstreamError) as info:
            await provider.chat(chat_request("hi"), ctx("chat"))
        await provider.aclose()
    assert info.value.status == 502
    assert "hf_secret" not in info.value.message
    # a forward proxy receives the absolute URL of the app
    assert proxy.requests and proxy.requests[0].path == "http://127.0.0.1:9/chat/config"


async def test_config_mapping_and_fixed_values(gradio_app: str, http: httpx.AsyncClient) -> None:
    settings = {
        "models": {
            "chat": {
                "space": f"{gradio_app}/chat",
                "api_name": "/respond",
                "params": {"system": "", "temperature": "top_p"},
                "fixed": {"Max new tokens": 7},
            }
        }
    }
    provider = GradioProvider(settings, http=http)
    request = msgspec.convert(
        {
            "model": "m",
            "messages": [{"role": "system", "content": "S"}, {"role": "user", "content": "q"}],
            "temperature": 0.4,
            "max_tokens": 99,
        },
        ChatCompletionRequest,
    )
    try:
        completion = await provider.chat(request, ctx("chat"))
    finally:
        await provider.aclose()
    # system no longer has a parameter: it is written into the message; temperature goes to top_p;
    # max tokens is fixed at 7 whatever the client asks
    assert completion.choices[0].message.content == (
        "[system=You are a friendly Chatbot. max_tokens=7 temperature=0.7 top_p=0.4 history=0]"
        " echo: System: S\n\nUser: q"
    )


async def test_stop_sequence_ends_the_stream(gradio_app: str, http: httpx.AsyncClient) -> None:
    provider = GradioProvider({"models": {"chat": f"{gradio_app}/chat"}, "poll_interval": 0.01}, http=http)
    try:
        chunks = [
            c async for c in provider.stream_chat(chat_request("one two three four five", stop=["three"]), ctx("chat"))
        ]
        completion = await provider.chat(chat_request("one two three four five", stop="three"), ctx("chat"))
    finally:
        await provider.aclose()
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == DEFAULT_HEADER + " echo: one two "
    assert chunks[-1].choices[0].finish_reason == "stop"
    assert completion.choices[0].message.content == DEFAULT_HEADER + " echo: one two "


async def test_unknown_endpoint_names_the_known_ones(gradio_app: str, http: httpx.AsyncClient) -> None:
    provider = GradioProvider({"models": {"chat": {"space": f"{gradio_app}/chat", "api_name": "chat"}}}, http=http)
    with pytest.raises(UpstreamError, match=r"has no endpoint '/chat'; it has \['/respond'\]"):
        await provider.chat(chat_request("hi"), ctx("chat"))
    await provider.aclose()


@pytest.mark.parametrize(
    ("settings", "error", "message"),
    [
        ({"models": {"m": "owner/x"}, "proxy": "ftp://proxy"}, ValueError, "proxy must start with"),
        ({"models": {"m": "not a space"}}, ValueError, r"models\.m\.space"),
        ({"models": {"m": {"space": "o/x", "colour": 1}}}, msgspec.ValidationError, "colour"),
        ({"max_sessions": 0}, ValueError, "max_sessions"),
    ],
)
async def test_settings_are_checked(
    settings: dict[str, Any], error: type[Exception], message: str, http: httpx.AsyncClient
) -> None:
    with pytest.raises(error, match=message):
        GradioProvider(settings, http=http)


async def test_list_models_needs_no_network(http: httpx.AsyncClient) -> None:
    provider = GradioProvider(
        {"models": {"gemma-2-9b": {"space": "huggingface-projects/gemma-2-9b-it", "context_window": 8192}}},
        http=http,
    )
    [model] = await provider.list_models()
    assert (model.id, model.owned_by, model.display_name, model.context_window) == (
        "gemma-2-9b",
        "huggingface-projects",
        "huggingface-projects/gemma-2-9b-it",
        8192,
    )
