"""Reasoning in the client's dialect, through the official ``openai`` client: ``reasoning_content``,
``reasoning``, ``think_tags`` (reassembled from the stream) and ``none``, chosen per request
(header), per virtual key, per alias and per server default; ``reasoning_details`` (the signature)
keeps coming back in every format."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from hexgate.testing import RecordedRequest, Reply, StubUpstream

pytestmark = pytest.mark.e2e

THOUGHT = ["Six times ", "seven is ", "forty-two."]
ANSWER = ["The answer", " is 42."]
DETAIL = {"type": "reasoning.text", "text": "".join(THOUGHT), "signature": "sig-abc", "format": "anthropic-claude-v1"}
SSE = {"content-type": "text/event-stream", "connection": "close"}


def _chunk(delta: dict[str, Any], finish: str | None = None) -> bytes:
    body = {
        "id": "chatcmpl-r",
        "object": "chat.completion.chunk",
        "created": 1,
        "model": "m",
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    }
    return f"data: {json.dumps(body)}\n\n".encode()


def _upstream(rig: Any) -> Any:
    def answer(request: RecordedRequest) -> Reply:
        if not request.json().get("stream"):
            message = {"reasoning_content": "".join(THOUGHT), "reasoning_details": [DETAIL]}
            body = rig.openai_completion("".join(ANSWER), **message)
            return Reply(200, json.dumps(body).encode(), headers=dict(rig.JSON))
        frames = [_chunk({"role": "assistant", "content": ""})]
        frames += [_chunk({"reasoning_content": t}) for t in THOUGHT[:-1]]
        # the signature rides with the last reasoning piece (OpenRouter's way)
        last = {**DETAIL, "text": THOUGHT[-1]}
        frames.append(_chunk({"reasoning_content": THOUGHT[-1], "reasoning_details": [last]}))
        frames += [_chunk({"content": t}) for t in ANSWER]
        frames += [_chunk({}, finish="stop"), b"data: [DONE]\n\n"]
        return Reply(200, frames, headers=dict(SSE))

    return answer


def _config(url: str, server_format: str | None = None) -> str:
    server = f'[server]\nreasoning_format = "{server_format}"\n' if server_format else ""
    return f"""{server}
[providers.oa]
plugin = "openai"
base_url = "{url}/v1"
api_key = "k"

[models.tagged]
target = "oa/m"
reasoning_format = "think_tags"
"""


def _extra(obj: Any) -> dict[str, Any]:
    return dict(obj.model_extra or {})


def _check_json(message: Any, fmt: str) -> None:
    extra = _extra(message)
    thought, answer = "".join(THOUGHT), "".join(ANSWER)
    assert extra["reasoning_details"][0]["signature"] == "sig-abc"
    if fmt == "reasoning_content":
        assert extra["reasoning_content"] == thought and "reasoning" not in extra and message.content == answer
    elif fmt == "reasoning":
        assert extra["reasoning"] == thought and "reasoning_content" not in extra and message.content == answer
    elif fmt == "think_tags":
        assert message.content == f"<think>{thought}</think>{answer}"
        assert "reasoning" not in extra and "reasoning_content" not in extra
    else:
        assert message.content == answer and "reasoning" not in extra and "reasoning_content" not in extra


def _check_stream(chunks: list[Any], fmt: str) -> None:
    deltas = [c.choices[0].delta for c in chunks if c.choices]
    content = "".join(d.content or "" for d in deltas)
    fields = {k for d in deltas for k in _extra(d)}
    thought, answer = "".join(THOUGHT), "".join(ANSWER)
    signatures = [s["signature"] for d in deltas for s in _extra(d).get("reasoning_details", [])]
    assert signatures == ["sig-abc"]
    if fmt in ("reasoning_content", "reasoning"):
        other = "reasoning" if fmt == "reasoning_content" else "reasoning_content"
        assert "".join(_extra(d).get(fmt, "") for d in deltas) == thought and other not in fields
        assert content == answer
    elif fmt == "think_tags":
        assert content == f"<think>{thought}</think>{answer}"  # reassembled
        texts = [d.content for d in deltas if d.content]
        assert texts[0] == "<think>" + THOUGHT[0]  # the opening rides on the first reasoning delta
        assert texts[len(THOUGHT)] == "</think>" + ANSWER[0]  # the closing before the first content delta
        assert not fields & {"reasoning", "reasoning_content"}
    else:
        assert content == answer and not fields & {"reasoning", "reasoning_content"}


FORMATS = ["reasoning_content", "reasoning", "think_tags", "none"]


@pytest.mark.parametrize("fmt", FORMATS)
async def test_each_format_by_request_header(rig: Any, fmt: str) -> None:
    with StubUpstream({"POST *": _upstream(rig)}) as stub:
        async with rig.serve(_config(stub.url)) as gateway:
            headers = {"x-hexgate-reasoning-format": fmt}
            messages: Any = [{"role": "user", "content": "6*7?"}]
            done = await gateway.client.chat.completions.create(model="oa/m", messages=messages, extra_headers=headers)
            _check_json(done.choices[0].message, fmt)
            stream = await gateway.client.chat.completions.create(
                model="oa/m", messages=messages, stream=True, extra_headers=headers
            )
            _check_stream([c async for c in stream], fmt)
            # the signature goes back upstream on the next turn, whatever the format
            turn = done.choices[0].message.model_dump(exclude_unset=True)
            await gateway.client.chat.completions.create(
                model="oa/m", messages=[*messages, turn, {"role": "user", "content": "sure?"}], extra_headers=headers
            )
    sent = stub.requests[-1].json()["messages"][1]
    assert sent["reasoning_details"][0]["signature"] == "sig-abc"


async def test_precedence_header_over_key_over_alias_over_server(rig: Any) -> None:
    with StubUpstream({"POST *": _upstream(rig)}) as stub:
        config = _config(stub.url, server_format="reasoning").replace(
            "[server]\n", '[server]\nadmin_key = "admin-secret"\n'
        )
        async with rig.serve(config) as gateway:
            async with httpx.AsyncClient(base_url=gateway.base) as raw:
                created = await raw.post(
                    "/admin/keys",
                    json={"name": "webui", "reasoning_format": "none"},
                    headers={"authorization": "Bearer admin-secret"},
                )
                assert created.status_code == 201, created.text
                plain = await raw.post(
                    "/admin/keys", json={"name": "plain"}, headers={"authorization": "Bearer admin-secret"}
                )
            keyed = gateway.client.with_options(api_key=created.json()["key"])
            unkeyed = gateway.client.with_options(api_key=plain.json()["key"])
            messages: Any = [{"role": "user", "content": "6*7?"}]

            async def message(client: Any, model: str, fmt: str | None = None) -> Any:
                headers = {"x-hexgate-reasoning-format": fmt} if fmt else None
                done = await client.chat.completions.create(model=model, messages=messages, extra_headers=headers)
                return done.choices[0].message

            _check_json(await message(unkeyed, "oa/m"), "reasoning")  # the server's default
            _check_json(await message(unkeyed, "tagged"), "think_tags")  # the alias's
            _check_json(await message(keyed, "tagged"), "none")  # the key's, over the alias's
            _check_json(await message(keyed, "tagged", "reasoning_content"), "reasoning_content")  # the header's


async def test_an_unknown_format_is_a_400_naming_the_header(rig: Any) -> None:
    with StubUpstream({"POST *": _upstream(rig)}) as stub:
        async with rig.serve(_config(stub.url)) as gateway, httpx.AsyncClient(base_url=gateway.base) as raw:
            answer = await raw.post(
                "/v1/chat/completions",
                json={"model": "oa/m", "messages": [{"role": "user", "content": "x"}]},
                headers={"x-hexgate-reasoning-format": "xml"},
            )
    assert answer.status_code == 400
    assert answer.json()["error"]["param"] == "x-hexgate-reasoning-format"
    assert not stub.requests
