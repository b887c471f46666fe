"""Table tests for hexgate_gradio.translate against real ``view_api`` dicts (fixtures/view_api/,
captured from Gradio 6 apps by capture_view_api.py) and one Gradio-4-shaped dict."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import msgspec
import pytest
from hexgate_gradio.translate import (
    Differ,
    Plan,
    PlanError,
    build_args,
    classify_message,
    clean_message,
    conversation,
    extract_text,
    normalise_space,
    plan_endpoint,
    retry_after_seconds,
    sampling_values,
)
from hexgate_gradio.wire import ApiInfo, parse_api_info

from hexgate.errors import InvalidRequest, Unsupported
from hexgate.schemas.chat import ChatCompletionRequest

FIXTURES = Path(__file__).parent / "fixtures" / "view_api"


def api(name: str) -> ApiInfo:
    return parse_api_info(json.loads((FIXTURES / f"{name}.json").read_text(encoding="utf-8")))


# A Gradio 4 app as view_api described it then: labels only (no parameter_name), a tuples Chatbot.
GRADIO4_BLOCKS: dict[str, Any] = {
    "named_endpoints": {
        "/chat": {
            "parameters": [
                {"label": "Input", "component": "Textbox", "python_type": {"type": "str", "description": ""}},
                {
                    "label": "Chatbot",
                    "component": "Chatbot",
                    "python_type": {"type": "Tuple[str | Dict(file: filepath, alt_text: str | None) | None]"},
                },
                {
                    "label": "Max Generation Tokens",
                    "component": "Slider",
                    "python_type": {"type": "float", "description": ""},
                    "type": {"type": "number", "description": "numeric value between 0 and 4096"},
                },
            ],
            "returns": [{"label": "Chatbot", "component": "Chatbot", "python_type": {"type": "Tuple[...]"}}],
        }
    },
    "unnamed_endpoints": {},
}


def request(messages: list[dict[str, Any]], **extra: Any) -> ChatCompletionRequest:
    return msgspec.convert({"model": "m", "messages": messages, **extra}, ChatCompletionRequest)


def slot_names(plan: Plan) -> dict[str, str]:
    return {field: slot.name for field, slot in plan.slots.items()}


# ---------------------------------------------------------------- planning


@pytest.mark.parametrize(
    ("fixture", "api_name", "slots"),
    [
        (
            "hf_chatbot_template",
            "/respond",
            {
                "message": "message",
                "system": "system_message",
                "max_tokens": "max_tokens",
                "temperature": "temperature",
                "top_p": "top_p",
            },
        ),
        (
            "gemma_template",
            "/generate",
            {
                "message": "message",
                "max_tokens": "max_new_tokens",
                "temperature": "temperature",
                "top_p": "top_p",
                "top_k": "top_k",
                "repetition_penalty": "repetition_penalty",
            },
        ),
        ("blocks_chatbot", "/chat", {"message": "message", "history": "history", "system": "system_prompt"}),
        ("multimodal_chat", "/chat", {"message": "message"}),
        ("plain_interface", "/predict", {"message": "prompt"}),
        ("odd_names", "/write", {"message": "idea"}),
        (
            "tabs",
            "/respond",
            {
                "message": "message",
                "system": "system_message",
                "max_tokens": "max_tokens",
                "temperature": "temperature",
                "top_p": "top_p",
            },
        ),
    ],
)
def test_plan_guesses_endpoint_and_fields(fixture: str, api_name: str, slots: dict[str, str]) -> None:
    plan = plan_endpoint(api(fixture))
    assert plan.api_name == api_name
    assert slot_names(plan) == slots


def test_plan_reads_kinds_ranges_and_defaults() -> None:
    plan = plan_endpoint(api("hf_chatbot_template"))
    assert plan.defaults == (None, "You are a friendly Chatbot.", 512, 0.7, 0.95)
    assert (plan.slots["max_tokens"].minimum, plan.slots["max_tokens"].maximum) == (1.0, 2048.0)
    assert (plan.slots["top_p"].minimum, plan.slots["top_p"].maximum) == (0.1, 1.0)
    assert plan.slots["message"].kind == "text"
    assert plan_endpoint(api("multimodal_chat")).slots["message"].kind == "multimodal"
    assert plan_endpoint(api("blocks_chatbot")).slots["history"].kind == "messages"
    assert plan_endpoint(api("blocks_chatbot")).defaults[1] == []


def test_plan_gradio4_labels_and_tuples() -> None:
    plan = plan_endpoint(parse_api_info(GRADIO4_BLOCKS))
    assert slot_names(plan) == {"message": "Input", "history": "Chatbot", "max_tokens": "Max Generation Tokens"}
    assert plan.slots["history"].kind == "tuples"
    assert plan.slots["max_tokens"].maximum == 4096.0


def test_config_mapping_overrides_the_guess() -> None:
    plan = plan_endpoint(
        api("odd_names"),
        params={"temperature": "Creativity", "max_tokens": "length"},
        fixed={},
    )
    assert slot_names(plan) == {"message": "idea", "temperature": "creativity", "max_tokens": "length"}
    assert plan.slots["max_tokens"].kind == "int"
    assert plan.output == 0 and plan.returns == 2


def test_config_can_switch_fields_off_and_fix_values() -> None:
    plan = plan_endpoint(api("gemma_template"), params={"top_k": ""}, fixed={"temperature": 0.2})
    assert "top_k" not in plan.slots and "temperature" not in plan.slots
    assert plan.defaults[2] == 0.2


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"api_name": "/nope"}, "has no endpoint '/nope'"),
        ({"params": {"message": "missing"}}, "has no parameter 'missing'"),
        ({"params": {"colour": "message"}}, "unknown field 'colour'"),
        ({"fixed": {"missing": 1}}, "has no parameter 'missing'"),
        ({"output": 3}, "not index 3"),
    ],
)
def test_plan_errors_name_what_to_fix(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(PlanError, match=message):
        plan_endpoint(api("hf_chatbot_template"), **kwargs)


def test_plan_without_message_parameter() -> None:
    with pytest.raises(PlanError, match=r"params\.message"):
        plan_endpoint(api("blocks_chatbot"), api_name="clear")
    assert plan_endpoint(api("tabs"), api_name="upper").slots["message"].name == "text"


@pytest.mark.parametrize(
    ("space", "src"),
    [
        ("huggingface-projects/gemma-2-9b-it", "huggingface-projects/gemma-2-9b-it"),
        ("https://huggingface.co/spaces/huggingface-projects/gemma-2-9b-it", "huggingface-projects/gemma-2-9b-it"),
        ("http://127.0.0.1:7860/chat", "http://127.0.0.1:7860/chat"),
        (" owner/name.v2 ", "owner/name.v2"),
    ],
)
def test_normalise_space(space: str, src: str) -> None:
    assert normalise_space(space) == src


@pytest.mark.parametrize("space", ["", "just-a-name", "ftp://x/y"])
def test_normalise_space_refuses(space: str) -> None:
    with pytest.raises(ValueError, match="neither a Space id"):
        normalise_space(space)


# ---------------------------------------------------------------- request → arguments


def test_args_hf_template_with_system_and_sampling() -> None:
    plan = plan_endpoint(api("hf_chatbot_template"))
    req = request(
        [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "hello"}],
        max_tokens=4096,
        temperature=0,
        top_p=0.5,
    )
    args = build_args(plan, conversation(req), sampling_values(req))
    # max_tokens and temperature clamped into the sliders' ranges
    assert args == ["hello", "Be brief.", 2048.0, 0.1, 0.5]


def test_args_history_serialised_when_hidden() -> None:
    plan = plan_endpoint(api("gemma_template"))
    req = request(
        [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "hi"},
            {"role": "assistant", "content": "hello!"},
            {"role": "user", "content": [{"type": "text", "text": "and "}, {"type": "text", "text": "now?"}]},
        ],
        max_completion_tokens=64,
        top_k=40,
    )
    args = build_args(plan, conversation(req), sampling_values(req, repetition_penalty=1.1))
    assert args[0] == "System: Be brief.\n\nUser: hi\n\nAssistant: hello!\n\nUser: and now?"
    assert args[1:] == [64.0, 0.6, 0.9, 40, 1.1]


def test_args_history_parameter_messages() -> None:
    plan = plan_endpoint(api("blocks_chatbot"))
    req = request(
        [
            {"role": "developer", "content": "Be brief."},
            {"role": "user", "content": "hi"},
            {"role": "assistant", "content": "hello!"},
            {"role": "user", "content": "bye"},
        ]
    )
    assert build_args(plan, conversation(req), {}) == [
        "bye",
        [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello!"}],
        "Be brief.",
    ]


def test_args_history_parameter_tuples_and_no_system_slot() -> None:
    plan = plan_endpoint(parse_api_info(GRADIO4_BLOCKS))
    req = request(
        [
            {"role": "system", "content": "S"},
            {"role": "user", "content": "a"},
            {"role": "user", "content": "b"},
            {"role": "assistant", "content": "c"},
            {"role": "assistant", "content": "d"},
            {"role": "user", "content": "e"},
        ],
        max_tokens=100,
    )
    args = build_args(plan, conversation(req), sampling_values(req))
    assert args == ["System: S\n\nUser: e", [["a\n\nb", "c"], [None, "d"]], 100.0]


def test_args_multimodal_and_single_user_message() -> None:
    plan = plan_endpoint(api("multimodal_chat"))
    req = request([{"role": "user", "content": "look"}], temperature=0.3)
    assert build_args(plan, conversation(req), sampling_values(req)) == [{"text": "look", "files": []}]


def test_conversation_not_ending_with_user_becomes_transcript() -> None:
    convo = conversation(request([{"role": "user", "content": "q"}, {"role": "assistant", "content": "partial"}]))
    assert convo.message == "User: q\n\nAssistant: partial" and convo.turns == ()


@pytest.mark.parametrize(
    ("extra", "error", "param"),
    [
        ({"n": 2}, InvalidRequest, "n"),
        (
            {"tools": [{"type": "function", "function": {"name": "f"}}]},
            Unsupported,
            "tools",
        ),
    ],
)
def test_conversation_refuses_what_apps_cannot_take(extra: dict[str, Any], error: type[Exception], param: str) -> None:
    with pytest.raises(error) as info:
        conversation(request([{"role": "user", "content": "x"}], **extra))
    assert getattr(info.value, "param", None) == param


def test_conversation_refuses_images() -> None:
    req = request(
        [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "data:image/png;base64,AA"}}]}]
    )
    with pytest.raises(Unsupported, match="image_url"):
        conversation(req)


def test_tools_with_choice_none_are_ignored() -> None:
    req = request(
        [{"role": "user", "content": "x"}],
        tools=[{"type": "function", "function": {"name": "f"}}],
        tool_choice="none",
    )
    assert conversation(req).message == "x"


# ---------------------------------------------------------------- outputs


@pytest.mark.parametrize(
    ("fixture", "value", "text"),
    [
        ("hf_chatbot_template", "plain text", "plain text"),
        ("hf_chatbot_template", {"role": "assistant", "content": "from a message"}, "from a message"),
        ("hf_chatbot_template", None, ""),
        ("hf_chatbot_template", 42, "42"),
        (
            "blocks_chatbot",
            [
                {"role": "user", "content": "q"},
                {"role": "assistant", "content": "think", "metadata": {"title": "Thinking"}},
                {"role": "assistant", "content": [{"type": "text", "text": " answer"}]},
            ],
            "think answer",
        ),
        ("blocks_chatbot", [["q", "a1"], ["q2", "a2"]], "a2"),
        ("odd_names", ("the story", 2.0), "the story"),
        ("multimodal_chat", {"text": "t", "files": []}, "t"),
    ],
)
def test_extract_text(fixture: str, value: Any, text: str) -> None:
    assert extract_text(value, plan_endpoint(api(fixture))) == text


def test_extract_text_output_index_from_config() -> None:
    plan = plan_endpoint(api("odd_names"), output=1)
    assert extract_text(("story", 2.0), plan) == "2.0"


# ---------------------------------------------------------------- streaming


@pytest.mark.parametrize(
    ("values", "pieces", "sent"),
    [
        (["He", "Hello", "Hello, world"], ["He", "llo", ", world"], "Hello, world"),
        (["Hello", "Hello"], ["Hello", ""], "Hello"),
        # the app dropped a tail, then grew again: nothing twice
        (["Hello wor", "Hello", "Hello world"], ["Hello wor", "", "ld"], "Hello world"),
        # a rewrite: what follows the common prefix is sent; later values diff against the rewrite
        (["<think>a", "Thinking: a", "Thinking: ab"], ["<think>a", "Thinking: a", "b"], "<think>aThinking: ab"),
        # a typing cursor is held back
        (["Hel▌", "Hello wo▌", "Hello world"], ["Hel", "lo wo", "rld"], "Hello world"),
    ],
)
def test_differ(values: list[str], pieces: list[str], sent: str) -> None:
    differ = Differ()
    out = [differ.feed(v, final=i == len(values) - 1) for i, v in enumerate(values)]
    assert out == pieces
    assert differ.sent == sent


def test_differ_stop_sequences() -> None:
    differ = Differ(stop=["STOP", "\n\n"])
    assert differ.feed("one ST") == "one "  # "ST" may start "STOP": held back
    assert differ.feed("one STa") == "STa"
    assert not differ.stopped
    assert differ.feed("one STa two STOP three") == " two "
    assert differ.stopped
    assert differ.base == "one STa two "


def test_differ_final_value_keeps_cursor_glyphs() -> None:
    differ = Differ()
    assert differ.feed("a▌") == "a"
    assert differ.feed("a▌", final=True) == "▌"


# ---------------------------------------------------------------- errors


QUOTA_1 = (
    "You have exceeded your GPU quota (60s requested vs. 56s left). "
    "Sign-up on Hugging Face to get more quotas or retry in 0:09:48."
)
QUOTA_2 = (
    'You have exceeded your GPU quota (60s requested vs. 56s left). <a style="white-space: nowrap" '
    'href="https://huggingface.co/join" target="_blank">Create a free account</a> to get more usage quota.'
)


@pytest.mark.parametrize(
    ("message", "kind", "wait"),
    [
        (QUOTA_1, "quota", 588.0),
        (QUOTA_2, "quota", None),
        ("ZeroGPU quota exceeded", "quota", None),
        ("You have exceeded your free GPU quota. Try again in 30 seconds", "quota", 30.0),
        ("No GPU was available after 60s. Retry later", "no_gpu", None),
        ("Queue is full! Please try again.", "queue_full", None),
        ("retry in 1:00:00 please", "app", 3600.0),
        ("try again after 2 minutes", "app", 120.0),
        ("division by zero", "app", None),
    ],
)
def test_error_messages(message: str, kind: str, wait: float | None) -> None:
    assert classify_message(message) == kind
    assert retry_after_seconds(message) == wait


def test_clean_message_strips_html() -> None:
    assert clean_message(QUOTA_2).endswith("Create a free account to get more usage quota.")
    assert clean_message("a &amp; b\n\n c") == "a & b c"
    assert len(clean_message("x" * 1000)) == 500
