"""The Responses ⇄ Chat bridge, pure: chat chunks in, Responses events out (real chat captures
in ``plugins/hexgate-openai/tests/fixtures/``, copied from ../shared/fixtures/vercel-ai, Apache-2.0);
Responses requests in, chat requests out. Every event must be accepted by the official SDK's own
(pydantic) types."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import msgspec
import pytest
from openai.types.responses import ResponseStreamEvent
from pydantic import TypeAdapter

from hexgate import bridge
from hexgate.errors import InvalidRequest, UpstreamRateLimited
from hexgate.plugin_kit import completion_as_chunks
from hexgate.schemas import chat as c
from hexgate.schemas import responses as r

FIXTURES = Path(__file__).parents[1] / "plugins" / "hexgate-openai" / "tests" / "fixtures"
SDK_EVENT: TypeAdapter[Any] = TypeAdapter(ResponseStreamEvent)


def capture(name: str) -> list[c.ChatCompletionChunk]:
    """A chat capture as the chunks a provider yields (nulls in deltas dropped, as plugins normalise them)."""
    chunks = []
    for line in (FIXTURES / f"{name}.chunks.txt").read_text().splitlines():
        raw = json.loads(line)
        for choice in raw["choices"]:
            choice["delta"] = {k: v for k, v in choice["delta"].items() if v is not None}
            choice.pop("logprobs", None)
        chunks.append(msgspec.convert(raw, c.ChatCompletionChunk))
    return chunks


def chunk(
    delta: c.Delta | None = None, finish: str | None = None, usage: c.Usage | None = None
) -> c.ChatCompletionChunk:
    choices = [c.ChunkChoice(index=0, delta=delta or c.Delta(), finish_reason=finish)] if delta or finish else []
    return c.ChatCompletionChunk(id="x", created=1, model="m", choices=choices, usage=usage or msgspec.UNSET)


def run(
    chunks: list[c.ChatCompletionChunk], request: r.ResponseRequest | None = None
) -> tuple[list[dict[str, Any]], r.Response]:
    """Every event as the client receives it (JSON), checked against the SDK's types; and the final response."""
    request = request or r.ResponseRequest(model="p/m", input="hi")
    builder = bridge.EventBuilder(bridge.response_template(request, response_id="resp_1", model="p/m"), prompt_tokens=5)
    events = builder.start()
    for piece in chunks:
        events += builder.feed(piece)
    events += builder.finish()
    return wire(events), builder.response


def wire(events: list[r.ResponseStreamEvent]) -> list[dict[str, Any]]:
    out = []
    for event in events:
        data = json.loads(msgspec.json.encode(event))
        assert data["type"] == r.event_type(event)
        SDK_EVENT.validate_python(data)  # the SDK's own model for that type accepts it as is
        out.append(data)
    assert [e["sequence_number"] for e in out] == list(range(len(out)))
    return out


def kinds(events: list[dict[str, Any]]) -> list[str]:
    squashed: list[str] = []
    for e in events:
        if e["type"].endswith(".delta") and squashed and squashed[-1] == e["type"] + "*":
            continue
        squashed.append(e["type"] + ("*" if e["type"].endswith(".delta") else ""))
    return squashed


def test_text_stream_follows_openai_order() -> None:
    usage = c.Usage(prompt_tokens=7, completion_tokens=3, total_tokens=10)
    events, final = run(
        [
            chunk(c.Delta(role="assistant", content="")),
            chunk(c.Delta(content="Hel")),
            chunk(c.Delta(content="lo")),
            chunk(finish="stop"),
            chunk(usage=usage),
        ]
    )
    assert kinds(events) == [
        "response.created",
        "response.in_progress",
        "response.output_item.added",
        "response.content_part.added",
        "response.output_text.delta*",
        "response.output_text.done",
        "response.content_part.done",
        "response.output_item.done",
        "response.completed",
    ]
    assert events[0]["response"]["status"] == "in_progress" and events[0]["response"]["output"] == []
    assert "".join(e["delta"] for e in events if e["type"] == "response.output_text.delta") == "Hello"
    done = events[-1]["response"]
    assert done["status"] == "completed"
    assert done["output"][0]["content"][0]["text"] == "Hello"
    assert done["usage"] == {
        "input_tokens": 7,
        "output_tokens": 3,
        "total_tokens": 10,
        "input_tokens_details": {"cached_tokens": 0, "cache_write_tokens": 0},
        "output_tokens_details": {"reasoning_tokens": 0},
    }
    assert final.status == "completed"


def test_reasoning_capture_becomes_a_reasoning_item_first() -> None:
    chunks = capture("deepseek--chat--deepseek-reasoning")
    events, final = run(chunks)
    assert kinds(events)[:9] == [
        "response.created",
        "response.in_progress",
        "response.output_item.added",
        "response.reasoning_summary_part.added",
        "response.reasoning_summary_text.delta*",
        "response.reasoning_summary_text.done",
        "response.reasoning_summary_part.done",
        "response.output_item.done",
        "response.output_item.added",
    ]
    reasoning = "".join(x.choices[0].delta.reasoning_content or "" for x in chunks if x.choices)
    text = "".join(x.choices[0].delta.content or "" for x in chunks if x.choices)
    assert [item.__struct_config__.tag for item in final.output] == ["reasoning", "message"]
    rs, msg = final.output
    assert isinstance(rs, r.ReasoningItem) and rs.summary == [r.SummaryText(text=reasoning)]
    assert isinstance(msg, r.Message) and msg.text() == text
    deltas = [e for e in events if e["type"] == "response.reasoning_summary_text.delta"]
    assert {(e["output_index"], e["summary_index"]) for e in deltas} == {(0, 0)}
    assert final.usage is not None
    assert (final.usage.input_tokens, final.usage.output_tokens) == (18, 219)
    assert final.usage.output_tokens_details.reasoning_tokens == 205


def test_tool_call_capture_becomes_function_call_items() -> None:
    events, final = run(capture("deepseek--chat--deepseek-tool-call"))
    assert kinds(events)[-5:] == [
        "response.output_item.added",
        "response.function_call_arguments.delta*",
        "response.function_call_arguments.done",
        "response.output_item.done",
        "response.completed",
    ]
    call = final.output[-1]
    assert isinstance(call, r.FunctionCallItem)
    added = next(
        e for e in events if e["type"] == "response.output_item.added" and e["item"]["type"] == "function_call"
    )
    assert added["item"]["arguments"] == "" and added["item"]["call_id"] == call.call_id
    args = "".join(e["delta"] for e in events if e["type"] == "response.function_call_arguments.delta")
    assert args == call.arguments and json.loads(call.arguments)
    done = next(e for e in events if e["type"] == "response.function_call_arguments.done")
    assert (done["arguments"], done["name"]) == (call.arguments, call.name)
    assert final.usage is not None and final.usage.input_tokens_details.cached_tokens == 320


def test_parallel_tool_calls_after_text() -> None:
    calls = [
        c.ToolCallDelta(index=0, id="call_a", type="function", function=c.FunctionCallDelta(name="f", arguments="")),
        c.ToolCallDelta(
            index=1, id="call_b", type="function", function=c.FunctionCallDelta(name="g", arguments='{"y"')
        ),
    ]
    events, final = run(
        [
            chunk(c.Delta(content="Checking.")),
            chunk(c.Delta(tool_calls=calls)),
            chunk(c.Delta(tool_calls=[c.ToolCallDelta(index=0, function=c.FunctionCallDelta(arguments='{"x": 1}'))])),
            chunk(c.Delta(tool_calls=[c.ToolCallDelta(index=1, function=c.FunctionCallDelta(arguments=": 2}"))])),
            chunk(finish="tool_calls"),
        ]
    )
    message, a, b = final.output
    assert isinstance(message, r.Message) and message.text() == "Checking."
    assert isinstance(a, r.FunctionCallItem) and (a.call_id, a.name, a.arguments) == ("call_a", "f", '{"x": 1}')
    assert isinstance(b, r.FunctionCallItem) and (b.call_id, b.name, b.arguments) == ("call_b", "g", '{"y": 2}')
    # the message closed before the first call opened
    order = [(e["type"], e.get("output_index")) for e in events if "output_item" in e["type"]]
    assert order == [
        ("response.output_item.added", 0),
        ("response.output_item.done", 0),
        ("response.output_item.added", 1),
        ("response.output_item.added", 2),
        ("response.output_item.done", 1),
        ("response.output_item.done", 2),
    ]


def test_length_finish_is_incomplete_and_missing_usage_is_estimated() -> None:
    events, final = run([chunk(c.Delta(content="a" * 40)), chunk(finish="length")])
    assert events[-1]["type"] == "response.incomplete"
    assert events[-1]["response"]["incomplete_details"] == {"reason": "max_output_tokens"}
    assert final.output[0].status == "incomplete"  # type: ignore[union-attr]
    assert final.usage is not None and (final.usage.input_tokens, final.usage.output_tokens) == (5, 10)


def test_empty_answer_is_one_empty_message() -> None:
    events, final = run([chunk(finish="stop")])
    assert isinstance(final.output[0], r.Message) and final.output[0].text() == ""
    assert events[-1]["type"] == "response.completed"


def test_reasoning_details_ride_in_encrypted_content() -> None:
    detail = c.ReasoningDetail(type="reasoning.text", text="hmm", signature="sig==", format="some-upstream-v1")
    _, final = run([chunk(c.Delta(reasoning_content="hmm", reasoning_details=[detail])), chunk(c.Delta(content="ok"))])
    item = final.output[0]
    assert isinstance(item, r.ReasoningItem) and isinstance(item.encrypted_content, str)
    assert bridge.decode_reasoning_state(item.encrypted_content) == [detail]
    assert bridge.decode_reasoning_state("gAAAAB-someone-elses") == []


def test_failure_after_start_is_error_then_response_failed() -> None:
    builder = bridge.EventBuilder(
        bridge.response_template(r.ResponseRequest(model="m"), response_id="resp_2", model="m")
    )
    events = builder.start() + builder.feed(chunk(c.Delta(content="par")))
    events += builder.fail(UpstreamRateLimited("slow down", retry_after=2))
    data = wire(events)
    assert [e["type"] for e in data[-2:]] == ["error", "response.failed"]
    assert data[-2]["error"] == {
        "type": "rate_limit_error",
        "code": "rate_limit_exceeded",
        "message": "slow down",
        "param": None,
    }
    assert data[-1]["response"]["status"] == "failed"
    assert data[-1]["response"]["error"] == {"code": "rate_limit_exceeded", "message": "slow down"}


def test_completion_goes_through_the_same_builder() -> None:
    completion = c.ChatCompletion(
        id="c",
        created=1,
        model="m",
        choices=[
            c.Choice(
                index=0,
                message=c.AssistantMessage(
                    content="Done.",
                    reasoning_content="think",
                    tool_calls=[c.ToolCall(id="call_1", function=c.FunctionCall(name="f", arguments="{}"))],
                ),
                finish_reason="tool_calls",
            )
        ],
        usage=c.Usage(prompt_tokens=1, completion_tokens=2, total_tokens=3),
    )
    _, final = run(completion_as_chunks(completion))
    assert [item.__struct_config__.tag for item in final.output] == ["reasoning", "message", "function_call"]


# ---------------------------------------------------------------- requests


def request(**fields: Any) -> r.ResponseRequest:
    return r.decode_request(json.dumps({"model": "p/m", **fields}).encode())


def dump(chat: c.ChatCompletionRequest) -> dict[str, Any]:
    return json.loads(msgspec.json.encode(chat))  # type: ignore[no-any-return]


def test_request_maps_to_chat() -> None:
    req = request(
        instructions="Be terse.",
        input=[
            {"role": "developer", "content": [{"type": "input_text", "text": "Use tools."}]},
            {
                "role": "user",
                "content": [
                    {"type": "input_text", "text": "Look:"},
                    {"type": "input_image", "image_url": "data:image/png;base64,AA==", "detail": "low"},
                ],
            },
            {"type": "reasoning", "id": "rs_1", "summary": [{"type": "summary_text", "text": "plan"}]},
            {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "On it."}]},
            {"type": "function_call", "call_id": "call_1", "name": "f", "arguments": "{}"},
            {"type": "function_call", "call_id": "call_2", "name": "g", "arguments": '{"a":1}'},
            {"type": "function_call_output", "call_id": "call_1", "output": "one"},
            {"type": "function_call_output", "call_id": "call_2", "output": [{"type": "input_text", "text": "two"}]},
        ],
        tools=[{"type": "function", "name": "f", "parameters": {"type": "object"}, "strict": True}],
        tool_choice={"type": "function", "name": "f"},
        parallel_tool_calls=False,
        text={"format": {"type": "json_schema", "name": "out", "schema": {"type": "object"}, "strict": True}},
        reasoning={"effort": "low", "summary": "auto"},
        max_output_tokens=64,
        temperature=0.2,
        top_p=0.9,
        user="u1",
    )
    chat = dump(bridge.to_chat_request(req, stream=True))
    assert chat["messages"] == [
        {"role": "system", "content": "Be terse."},
        {"role": "system", "content": "Use tools."},
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "Look:"},
                {"type": "image_url", "image_url": {"url": "data:image/png;base64,AA==", "detail": "low"}},
            ],
        },
        {
            "role": "assistant",
            "content": "On it.",
            "reasoning_content": "plan",
            "tool_calls": [
                {"id": "call_1", "function": {"name": "f", "arguments": "{}"}, "type": "function"},
                {"id": "call_2", "function": {"name": "g", "arguments": '{"a":1}'}, "type": "function"},
            ],
        },
        {"role": "tool", "content": "one", "tool_call_id": "call_1"},
        {"role": "tool", "content": "two", "tool_call_id": "call_2"},
    ]
    assert chat["tools"] == [
        {"function": {"name": "f", "parameters": {"type": "object"}, "strict": True}, "type": "function"}
    ]
    assert chat["tool_choice"] == {"function": {"name": "f"}, "type": "function"}
    assert chat["parallel_tool_calls"] is False
    assert chat["response_format"] == {
        "type": "json_schema",
        "json_schema": {"name": "out", "schema": {"type": "object"}, "strict": True},
    }
    assert chat["reasoning_effort"] == "low"
    assert chat["max_completion_tokens"] == 64
    assert (chat["temperature"], chat["top_p"], chat["user"]) == (0.2, 0.9, "u1")
    assert chat["stream"] is True and chat["stream_options"] == {"include_usage": True}


def test_own_reasoning_state_goes_back_as_reasoning_details() -> None:
    detail = c.ReasoningDetail(type="reasoning.text", text="t", signature="s")
    req = request(
        input=[
            {"type": "reasoning", "summary": [], "encrypted_content": bridge.encode_reasoning_state([detail])},
            {"type": "function_call", "call_id": "call_1", "name": "f", "arguments": "{}"},
            {"type": "function_call_output", "call_id": "call_1", "output": "x"},
        ]
    )
    messages = dump(bridge.to_chat_request(req, stream=False))["messages"]
    assert messages[0]["reasoning_details"] == [{"type": "reasoning.text", "text": "t", "signature": "s"}]
    assert "stream_options" not in dump(bridge.to_chat_request(req, stream=False))


@pytest.mark.parametrize(
    ("fields", "param"),
    [
        ({"input": "hi", "tools": [{"type": "web_search"}]}, "tools[0]"),
        ({"input": [{"type": "web_search_call", "id": "ws_1", "status": "completed"}]}, "input[0]"),
        ({"input": [{"type": "item_reference", "id": "msg_1"}]}, "input[0]"),
        (
            {"input": [{"role": "user", "content": [{"type": "input_image", "file_id": "file_1"}]}]},
            "input[0].content[0]",
        ),
        (
            {
                "input": "hi",
                "tools": [{"type": "function", "name": "f"}],
                "tool_choice": {"type": "mcp", "server_label": "x"},
            },
            "tool_choice",
        ),
        ({"input": []}, "input"),
    ],
)
def test_what_chat_cannot_express_is_a_400_naming_it(fields: dict[str, Any], param: str) -> None:
    with pytest.raises(InvalidRequest) as info:
        bridge.to_chat_request(request(**fields), stream=False)
    assert info.value.status == 400 and info.value.param == param


def test_builtin_items_from_history_are_left_out() -> None:
    history = r.decode_items(
        [msgspec.Raw(b'{"type":"web_search_call","id":"ws_1"}'), msgspec.Raw(b'{"role":"user","content":"earlier"}')]
    )
    chat = dump(bridge.to_chat_request(request(input="now"), history=history, stream=False))
    assert chat["messages"] == [{"role": "user", "content": "earlier"}, {"role": "user", "content": "now"}]


def test_decode_request_reads_untyped_messages_and_keeps_unknown_kinds() -> None:
    req = request(
        input=[{"role": "user", "content": "hi"}, {"type": "computer_call_output", "call_id": "c"}],
        tools=[{"type": "mcp", "server_label": "x"}, {"type": "function", "name": "f"}],
    )
    assert isinstance(req.input, list)
    assert [r.item_type(i) for i in req.input] == ["message", "computer_call_output"]
    assert isinstance(req.tools, list) and isinstance(req.tools[0], r.OtherTool) and req.tools[0].kind == "mcp"
    with pytest.raises(r.ItemError) as info:
        r.decode_request(b'{"model":"m","input":[{"role":"user","content":5}]}')
    assert info.value.path == "input[0].content"
