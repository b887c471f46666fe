"""Pure mapping between OpenAI chat requests and a Gradio endpoint; no I/O.

- :func:`plan_endpoint` reads an app's API description (:mod:`hexgate_gradio.wire`) and decides which
  endpoint to call and which of its parameters take the message, the history, the system prompt and
  the sampling settings, by the parameters' names, labels and types (Gradio's ``view_api``), so a
  Space needs no hand-written flags. An explicit mapping from config overrides the guess.
- :func:`conversation` and :func:`build_args` turn an OpenAI request into ``predict(*args)``.
- :func:`extract_text` reads the answer out of whatever the endpoint returns (a string, a message
  dict, a chatbot history).
- :class:`Differ` turns the cumulative values a streaming Space yields into OpenAI deltas.
- :func:`retry_after_seconds` and :func:`classify_message` read ZeroGPU and queue errors.

Sources: gradio ``client/python/gradio_client/{client,utils}.py`` (``view_api``, ``construct_args``,
``apply_diff``), ``gradio/chat_interface.py`` (the ``/chat`` wiring: ``[textbox, chatbot_state] +
additional_inputs``, history hidden in ``gr.State``), Hugging Face's chatbot Space templates, and
ZeroGPU's quota messages (``../shared/upstreams.md`` §5).
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Literal

import msgspec

from hexgate.errors import InvalidRequest, Unsupported
from hexgate.schemas.chat import ChatCompletionRequest, ChatMessage, TextPart
from hexgate_gradio.wire import ApiInfo, EndpointInfo, ParameterInfo

__all__ = [
    "FIELDS",
    "Conversation",
    "Differ",
    "Plan",
    "PlanError",
    "Slot",
    "build_args",
    "classify_message",
    "clean_message",
    "conversation",
    "extract_text",
    "normalise_space",
    "plan_endpoint",
    "retry_after_seconds",
    "sampling_values",
]

Field = Literal[
    "message", "history", "system", "max_tokens", "temperature", "top_p", "top_k", "repetition_penalty", "seed"
]
FIELDS: tuple[Field, ...] = (
    "message",
    "history",
    "system",
    "max_tokens",
    "temperature",
    "top_p",
    "top_k",
    "repetition_penalty",
    "seed",
)
"""The OpenAI-side fields a parameter can take (``params`` keys in config)."""

_NUMERIC: frozenset[str] = frozenset({"max_tokens", "temperature", "top_p", "top_k", "repetition_penalty", "seed"})

# Names (``parameter_name`` or label, normalised to snake_case) each field answers to, most usual
# first: HF chatbot template (message, system_message, max_tokens, temperature, top_p), the gemma /
# llama Space template (max_new_tokens, top_k, repetition_penalty), text-generation-webui-style apps.
_NAMES: dict[str, tuple[str, ...]] = {
    "message": (
        "message",
        "input",
        "prompt",
        "query",
        "text",
        "question",
        "user_message",
        "user_input",
        "user_prompt",
        "input_text",
        "msg",
        "inputs",
        "instruction",
    ),
    "history": ("history", "chat_history", "chatbot", "messages", "conversation", "chat"),
    "system": (
        "system_prompt",
        "system_message",
        "system",
        "sys_prompt",
        "system_instruction",
        "system_instructions",
        "instructions",
    ),
    "max_tokens": (
        "max_tokens",
        "max_new_tokens",
        "max_output_tokens",
        "max_completion_tokens",
        "max_length",
        "max_gen_len",
        "max_generation_tokens",
        "maximum_tokens",
        "max_new_token",
        "new_tokens",
    ),
    "temperature": ("temperature", "temp"),
    "top_p": ("top_p", "topp", "nucleus_sampling"),
    "top_k": ("top_k", "topk"),
    "repetition_penalty": ("repetition_penalty", "repeat_penalty", "rep_penalty", "repetition"),
    "seed": ("seed", "random_seed"),
}
# Fields whose names also match as a prefix (``top_p_nucleus_sampling``, ``max_new_tokens_slider``).
_PREFIX_OK: frozenset[str] = frozenset({"system", "max_tokens", "temperature", "top_p", "top_k", "repetition_penalty"})
# Endpoints worth calling when the config names none, best first.
_PREFERRED_ENDPOINTS = ("/chat", "/respond", "/generate", "/predict", "/run", "/infer", "/answer", "/bot")
_TEXT_COMPONENTS = frozenset({"textbox", "markdown", "chatbot", "json", "html", "code", "label"})

Kind = Literal["text", "multimodal", "messages", "tuples", "number", "int", "other"]


class PlanError(ValueError):
    """The API description offers nothing hexgate can call; the message says what to configure."""


class Slot(msgspec.Struct, frozen=True, kw_only=True):
    """Where one OpenAI field goes: the parameter's position, name and the value shape it takes."""

    index: int
    name: str
    kind: Kind
    minimum: float | None = None
    maximum: float | None = None


class Plan(msgspec.Struct, frozen=True, kw_only=True):
    """How to call one endpoint: its name, a value for every parameter, and the mapped slots."""

    api_name: str
    parameters: tuple[str, ...]
    """Each parameter's name (``parameter_name`` or label), in call order."""
    defaults: tuple[Any, ...]
    """What to pass for a parameter no field fills: config's ``fixed``, else the app's default."""
    slots: dict[str, Slot]
    """Field name (see :data:`FIELDS`) → slot."""
    returns: int
    """How many values the endpoint returns (the client hands back a tuple when more than one)."""
    output: int
    """Which returned value holds the answer."""


# ---------------------------------------------------------------- planning


def normalise_space(space: str) -> str:
    """A Space id or app URL as ``gradio_client.Client`` takes it: ``https://huggingface.co/spaces/o/n``
    becomes ``o/n``; other URLs and ids are kept. Raises :class:`ValueError` on an empty or odd value."""
    space = space.strip()
    match = re.match(r"^https?://(?:www\.)?huggingface\.co/spaces/([^/]+/[^/?#]+)", space)
    if match:
        return match.group(1)
    if space.startswith(("http://", "https://")):
        return space
    if re.fullmatch(r"[A-Za-z0-9][\w.-]*/[\w.-]+", space):
        return space
    raise ValueError(f"space {space!r} is neither a Space id ('owner/name') nor an http(s) URL")


def _norm(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_")


def _names(param: ParameterInfo) -> list[str]:
    return [n for n in (_norm(param.parameter_name or ""), _norm(param.label)) if n]


def _kind(param: ParameterInfo) -> Kind:
    py = param.python_type.type.lower()
    component = param.component.lower()
    if component == "multimodaltextbox" or ("text:" in py and "files" in py):
        return "multimodal"
    if component == "chatbot" or py.startswith(("list[", "list", "tuple[")):
        return "messages" if "role" in py else "tuples"
    if py in ("int",):
        return "int"
    if component in ("slider", "number") or py in ("float", "int | float", "float | int"):
        return "number"
    if py == "str" or component in ("textbox", "textarea", "code"):
        return "text"
    return "other"


def _fits(field: str, kind: Kind) -> bool:
    if field == "message":
        return kind in ("text", "multimodal")
    if field == "history":
        return kind in ("messages", "tuples")
    if field == "system":
        return kind == "text"
    if field == "seed":
        return kind in ("int", "number")
    return kind in ("int", "number")


_RANGE = re.compile(r"between\s+(-?\d+(?:\.\d+)?(?:e-?\d+)?)\s+and\s+(-?\d+(?:\.\d+)?(?:e-?\d+)?)", re.IGNORECASE)


def _range(param: ParameterInfo) -> tuple[float | None, float | None]:
    description = param.type.get("description", "") if isinstance(param.type, dict) else ""
    match = _RANGE.search(str(description))
    if not match:
        return None, None
    return float(match.group(1)), float(match.group(2))


def _slot(index: int, param: ParameterInfo, kind: Kind | None = None) -> Slot:
    low, high = _range(param)
    return Slot(
        index=index,
        name=param.parameter_name or param.label or f"argument {index}",
        kind=kind or _kind(param),
        minimum=low,
        maximum=high,
    )


def _guess_slots(endpoint: EndpointInfo) -> dict[str, Slot]:
    params = endpoint.parameters
    kinds = [_kind(p) for p in params]
    slots: dict[str, Slot] = {}
    used: set[int] = set()
    for prefix in (False, True):
        for field in FIELDS:
            if field in slots or (prefix and field not in _PREFIX_OK):
                continue
            for synonym in _NAMES[field]:
                hit = next(
                    (
                        i
                        for i, p in enumerate(params)
                        if i not in used
                        and _fits(field, kinds[i])
                        and any(n == synonym or (prefix and n.startswith(synonym + "_")) for n in _names(p))
                    ),
                    None,
                )
                if hit is not None:
                    slots[field] = _slot(hit, params[hit], kinds[hit])
                    used.add(hit)
                    break
    if "message" not in slots:  # a plain Interface with an odd label: its first free text input
        hit = next((i for i, k in enumerate(kinds) if i not in used and k in ("text", "multimodal")), None)
        if hit is not None:
            slots["message"] = _slot(hit, params[hit], kinds[hit])
    return slots


def _endpoint_score(api_name: str, endpoint: EndpointInfo) -> tuple[int, int, int]:
    slots = _guess_slots(endpoint)
    preferred = _PREFERRED_ENDPOINTS.index(api_name) if api_name in _PREFERRED_ENDPOINTS else len(_PREFERRED_ENDPOINTS)
    return (int("message" in slots and bool(endpoint.returns)), len(slots), -preferred)


def _param_index(endpoint: EndpointInfo, name: str) -> int | None:
    for i, p in enumerate(endpoint.parameters):
        if name in (p.parameter_name, p.label):
            return i
    wanted = _norm(name)
    return next((i for i, p in enumerate(endpoint.parameters) if wanted in _names(p)), None)


def _output_index(endpoint: EndpointInfo) -> int:
    for i, r in enumerate(endpoint.returns):
        if r.component.lower() in _TEXT_COMPONENTS or "str" in r.python_type.type:
            return i
    return 0


def plan_endpoint(
    api: ApiInfo,
    *,
    api_name: str | None = None,
    params: Mapping[str, str] | None = None,
    fixed: Mapping[str, Any] | None = None,
    output: int | None = None,
) -> Plan:
    """Choose the endpoint and map OpenAI fields onto its parameters.

    ``api_name`` picks the endpoint (with or without the leading ``/``); otherwise the named endpoint
    with a message-like input and the most mappable parameters wins (``/chat``, ``/respond`` … break
    ties). ``params`` maps a field of :data:`FIELDS` to a parameter name (``""`` stops sending that
    field) and overrides the guess; ``fixed`` sets constant values for parameters by name; ``output``
    picks which returned value holds the text. Numeric sliders keep their ``between A and B`` range so
    values are clamped into it.

    Raises :class:`PlanError` when the endpoint or a named parameter does not exist, or when no
    parameter can take the message.
    """
    named = api.named_endpoints
    if not named:
        raise PlanError("the app exposes no named API endpoint; it cannot be called through gradio_client")
    if api_name is not None:
        key = api_name if api_name.startswith("/") else "/" + api_name
        if key not in named:
            raise PlanError(f"the app has no endpoint {key!r}; it has {sorted(named)}")
    else:
        key = max(named, key=lambda k: _endpoint_score(k, named[k]))
    endpoint = named[key]
    slots = _guess_slots(endpoint)
    for field, target in (params or {}).items():
        if field not in FIELDS:
            raise PlanError(f"params: unknown field {field!r}; known: {', '.join(FIELDS)}")
        slots.pop(field, None)
        if not target:
            continue
        index = _param_index(endpoint, target)
        if index is None:
            raise PlanError(f"params.{field}: endpoint {key} has no parameter {target!r}; it has {_listing(endpoint)}")
        for other, slot in list(slots.items()):
            if slot.index == index:
                del slots[other]
        param = endpoint.parameters[index]
        kind = _kind(param)
        if field == "message" and kind not in ("text", "multimodal"):
            kind = "text"
        slots[field] = _slot(index, param, kind)
    if "message" not in slots:
        raise PlanError(
            f"endpoint {key} has no parameter that takes the message ({_listing(endpoint)}); "
            "name one with params.message"
        )
    defaults: list[Any] = []
    for p in endpoint.parameters:
        if p.parameter_has_default:
            defaults.append(p.parameter_default)
        else:
            defaults.append([] if _kind(p) in ("messages", "tuples") else None)
    for name, value in (fixed or {}).items():
        index = _param_index(endpoint, name)
        if index is None:
            raise PlanError(f"fixed: endpoint {key} has no parameter {name!r}; it has {_listing(endpoint)}")
        defaults[index] = value
        for other, slot in list(slots.items()):
            if slot.index == index and other != "message":
                del slots[other]
    if output is not None and not 0 <= output < max(1, len(endpoint.returns)):
        raise PlanError(f"output: endpoint {key} returns {len(endpoint.returns)} value(s), not index {output}")
    return Plan(
        api_name=key,
        parameters=tuple(p.parameter_name or p.label or f"argument {i}" for i, p in enumerate(endpoint.parameters)),
        defaults=tuple(defaults),
        slots=slots,
        returns=len(endpoint.returns),
        output=output if output is not None else _output_index(endpoint),
    )


def _listing(endpoint: EndpointInfo) -> str:
    names = [p.parameter_name or p.label or "?" for p in endpoint.parameters]
    return "parameters: " + (", ".join(names) if names else "none")


# ---------------------------------------------------------------- request → arguments


class Conversation(msgspec.Struct, frozen=True, kw_only=True):
    """An OpenAI ``messages`` list split the way chat apps take it."""

    system: str
    """System and developer messages, joined by blank lines ("" when none)."""
    turns: tuple[tuple[str, str], ...]
    """Earlier turns as (role, text): ``user``, ``assistant`` or ``tool``."""
    message: str
    """The last user message (the whole transcript when the conversation does not end with one)."""


def _text_of(message: ChatMessage, index: int) -> str:
    if isinstance(message.content, list):
        for part in message.content:
            if not isinstance(part, TextPart):
                kind = getattr(type(part).__struct_config__, "tag", "non-text")
                raise Unsupported(
                    f"messages[{index}]: only text content reaches a Gradio app through hexgate, not {kind!r} parts",
                    param=f"messages[{index}].content",
                )
    text = message.text()
    if message.role == "assistant" and not text and message.tool_calls:
        raise Unsupported("tool calls do not reach a Gradio app through hexgate", param=f"messages[{index}]")
    return text


def conversation(request: ChatCompletionRequest) -> Conversation:
    """Split ``request.messages`` into system prompt, earlier turns and the last user message.

    Raises :class:`Unsupported` for non-text content parts and tools (Gradio chat apps take text),
    :class:`InvalidRequest` for ``n`` other than 1.
    """
    if isinstance(request.n, int) and request.n != 1:
        raise InvalidRequest("a Gradio app answers one choice per request; 'n' must be 1", param="n")
    if request.tools and request.tool_choice != "none":
        raise Unsupported("Gradio apps do not take tools; send the request without 'tools'", param="tools")
    system: list[str] = []
    turns: list[tuple[str, str]] = []
    for i, m in enumerate(request.messages):
        text = _text_of(m, i)
        if m.role in ("system", "developer"):
            system.append(text)
        elif m.role in ("user", "assistant"):
            turns.append((m.role, text))
        else:
            turns.append(("tool", text))
    if turns and turns[-1][0] == "user":
        message = turns.pop()[1]
    else:
        message, turns = _transcript(turns, ""), []
    return Conversation(system="\n\n".join(s for s in system if s), turns=tuple(turns), message=message)


_LABELS = {"user": "User", "assistant": "Assistant", "tool": "Tool result", "system": "System"}


def _transcript(turns: Iterable[tuple[str, str]], last: str) -> str:
    lines = [f"{_LABELS[role]}: {text}" for role, text in turns]
    if last:
        lines.append(f"User: {last}")
    return "\n\n".join(lines)


def _clamp(value: float, slot: Slot) -> float:
    if slot.minimum is not None and value < slot.minimum:
        value = slot.minimum
    if slot.maximum is not None and value > slot.maximum:
        value = slot.maximum
    return value


def sampling_values(request: ChatCompletionRequest, *, repetition_penalty: float | None = None) -> dict[str, float]:
    """The numeric fields the client set: ``max_tokens`` (``max_completion_tokens`` first),
    ``temperature``, ``top_p``, ``top_k``, ``seed`` and ``repetition_penalty`` (not OpenAI's; read from
    the raw body by the provider, as vLLM and TGI clients send it)."""
    values: dict[str, float] = {}
    max_out = request.max_output()
    if max_out is not None:
        values["max_tokens"] = max_out
    for field in ("temperature", "top_p", "top_k", "seed"):
        value = getattr(request, field)
        if isinstance(value, int | float) and not isinstance(value, bool):
            values[field] = value
    if repetition_penalty is not None:
        values["repetition_penalty"] = repetition_penalty
    return values


def build_args(plan: Plan, convo: Conversation, values: Mapping[str, float]) -> list[Any]:
    """Positional arguments for ``Client.submit(*args, api_name=plan.api_name)``.

    The message goes in its slot (``{"text", "files"}`` for a multimodal box). Earlier turns go in
    the history parameter when the endpoint has one (OpenAI-style message dicts or ``[user, bot]``
    pairs, as the component's type says); otherwise (``gr.ChatInterface`` keeps history in a hidden
    ``gr.State``) they are written into the message as a ``User: …`` / ``Assistant: …`` transcript.
    The system prompt goes in its slot, else at the top of that transcript. Numbers are clamped into
    the slider's range and rounded for integer inputs; fields the endpoint lacks are dropped.
    """
    args = list(plan.defaults)
    slots = plan.slots
    history = slots.get("history")
    prior: list[tuple[str, str]] = list(convo.turns)
    system = convo.system
    if system and "system" in slots:
        args[slots["system"].index] = system
        system = ""
    if history is not None:
        args[history.index] = _history_value(prior, history.kind)
        prior = []
    if system:
        prior.insert(0, ("system", system))
    message = _transcript(prior, convo.message) if prior else convo.message
    slot = slots["message"]
    args[slot.index] = {"text": message, "files": []} if slot.kind == "multimodal" else message
    for field, value in values.items():
        target = slots.get(field)
        if target is None or field not in _NUMERIC:
            continue
        number = _clamp(float(value), target)
        args[target.index] = round(number) if target.kind == "int" or field in ("top_k", "seed") else number
    return args


def _history_value(turns: Sequence[tuple[str, str]], kind: Kind) -> list[Any]:
    if kind == "messages":
        return [{"role": "assistant" if r == "assistant" else "user", "content": t} for r, t in turns]
    pairs: list[list[str | None]] = []
    for role, text in turns:
        if role == "assistant":
            if pairs and pairs[-1][1] is None:
                pairs[-1][1] = text
            else:
                pairs.append([None, text])
        elif pairs and pairs[-1][1] is None:
            pairs[-1][0] = f"{pairs[-1][0]}\n\n{text}"
        else:
            pairs.append([text, None])
    return pairs


# ---------------------------------------------------------------- outputs → text


def extract_text(value: Any, plan: Plan) -> str:
    """The answer text in one output of the endpoint.

    The client returns a tuple when the endpoint has several outputs (``plan.output`` picks one). A
    string is the answer; a message dict gives its ``content``; a chatbot history (message dicts or
    ``[user, bot]`` pairs) gives its last assistant turn; ``{"text": …}`` gives the text; ``None`` is
    empty; anything else is rendered with ``str``.
    """
    if plan.returns > 1 and isinstance(value, tuple | list) and len(value) == plan.returns:
        value = value[plan.output]
    return _text(value)


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, dict):
        if "content" in value:
            return _text(value["content"])
        if "text" in value:
            return _text(value["text"])
        if "value" in value:
            return _text(value["value"])
        return ""
    if isinstance(value, list | tuple):
        if value and all(isinstance(v, dict) and "role" in v for v in value):
            tail: list[str] = []
            for v in reversed(value):
                if v.get("role") != "assistant":
                    break
                tail.append(_text(v.get("content")))
            return "".join(reversed(tail))
        if value and all(isinstance(v, list | tuple) and len(v) == 2 for v in value):
            return _text(value[-1][1])
        return "".join(_text(v) for v in value if isinstance(v, str | dict))
    return str(value)


# ---------------------------------------------------------------- streaming


_CURSOR = re.compile("[\u2580-\u259f]+$")
"""Block elements (``▌``, ``█`` …) that Spaces append to a partial answer as a typing cursor."""


class Differ:
    """Turns the cumulative values a streaming Space yields (``response += token; yield response``)
    into the pieces an OpenAI stream sends.

    - A value that extends the previous one yields the new suffix.
    - A value that is a prefix of what was sent (the app dropped a tail) yields nothing; later
      values are compared with the longer text already sent.
    - A value that rewrites earlier text (edits, reformatted ``<think>`` blocks) cannot be taken back
      from a client that already has it: the part after the common prefix is sent as the next piece,
      and later values are compared with the rewritten value. The non-streamed answer is always the
      final value itself.
    - A typing cursor of block characters at the end of a partial value (``Hello▌``) is held back.
    - With ``stop`` sequences, the text is cut before the first one (``stopped`` turns true), and a
      tail that could be the start of one is held back until the next value shows it is not.
    """

    def __init__(self, *, stop: Sequence[str] = ()) -> None:
        self.stop = [s for s in stop if s]
        self.base = ""
        """The upstream text the client is in sync with."""
        self.sent = ""
        """Everything sent so far, joined."""
        self.stopped = False

    def cut(self, value: str, *, final: bool) -> str:
        """``value`` without a typing cursor (partials) and cut at the first stop sequence."""
        if not final:
            value = _CURSOR.sub("", value)
        hits = [i for i in (value.find(s) for s in self.stop) if i >= 0]
        if hits:
            self.stopped = True
            return value[: min(hits)]
        if not final:
            hold = max((_overlap(value, s) for s in self.stop), default=0)
            if hold:
                value = value[:-hold]
        return value

    def feed(self, value: str, *, final: bool = False) -> str:
        """The piece to send for the app's latest (cumulative) value; ``""`` when there is none."""
        value = self.cut(value, final=final or self.stopped)
        base = self.base
        if value.startswith(base):
            piece = value[len(base) :]
        elif base.startswith(value):
            return ""
        else:
            piece = value[_common_prefix(base, value) :]
        self.base = value
        self.sent += piece
        return piece


def _common_prefix(a: str, b: str) -> int:
    n = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        n += 1
    return n


def _overlap(text: str, stop: str) -> int:
    """Length of the longest proper prefix of ``stop`` that ``text`` ends with."""
    for n in range(min(len(stop) - 1, len(text)), 0, -1):
        if text.endswith(stop[:n]):
            return n
    return 0


# ---------------------------------------------------------------- errors


_HTML_TAG = re.compile(r"<[^>]+>")
_RETRY_HMS = re.compile(r"retry in (\d+):(\d{1,2}):(\d{1,2})", re.IGNORECASE)
_RETRY_UNITS = re.compile(
    r"(?:retry|try again) (?:in|after) (\d+(?:\.\d+)?)\s*(s|sec|secs|seconds?|m|min|mins|minutes?|h|hours?)\b",
    re.IGNORECASE,
)
_QUOTA = re.compile(
    r"exceeded (?:your|the)(?: free)? (?:zero)?gpu quota|zerogpu quota|gpu quota exceeded|quota exceeded"
    r"|exceeded your (?:free )?quota",
    re.IGNORECASE,
)
_NO_GPU = re.compile(r"no gpu (?:was )?available|gpu task aborted", re.IGNORECASE)
_QUEUE_FULL = re.compile(r"queue is full|too many requests", re.IGNORECASE)


def clean_message(message: str, *, limit: int = 500) -> str:
    """An app's error message as plain text: HTML tags removed, entities decoded, spaces collapsed."""
    text = html.unescape(_HTML_TAG.sub("", message))
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def retry_after_seconds(message: str) -> float | None:
    """The wait an error message asks for: ``retry in 0:09:48`` → 588.0, ``try again in 30 seconds``
    → 30.0, ``retry in 2 minutes`` → 120.0; None when it names none."""
    match = _RETRY_HMS.search(message)
    if match:
        h, m, s = (int(g) for g in match.groups())
        return float(h * 3600 + m * 60 + s)
    match = _RETRY_UNITS.search(message)
    if match:
        amount, unit = float(match.group(1)), match.group(2).lower()
        return amount * (3600 if unit.startswith("h") else 60 if unit.startswith("m") else 1)
    return None


def classify_message(message: str) -> Literal["quota", "no_gpu", "queue_full", "app"]:
    """What an app's error message means: ZeroGPU ``quota`` exhausted (429), ``no_gpu`` free right now
    (503), ``queue_full`` (429), or an ordinary ``app`` error (502)."""
    if _QUOTA.search(message):
        return "quota"
    if _NO_GPU.search(message):
        return "no_gpu"
    if _QUEUE_FULL.search(message):
        return "queue_full"
    return "app"
