"""OpenAI Chat Completions request → Gemini ``generateContent`` request (pure functions).

Mappings follow upstreams.md §2 (python-genai ``types.py``; LiteLLM
``vertex_ai/gemini/transformation.py``) and Google's OpenAI compatibility page:

- ``system`` / ``developer`` messages → ``system_instruction`` (all of them, in order);
  ``user`` → ``user``, ``assistant`` → ``model``; ``tool`` (and legacy ``function``) →
  a ``function_response`` part in a ``user`` turn, its name recovered from the assistant
  tool call with the same id; consecutive turns of one role merged into one.
- content parts: text; ``image_url`` data URLs → ``inline_data``; ``gs://`` and Files API
  URLs → ``file_data``; other http(s) URLs → ``inline_data`` of the bytes the provider
  fetched (:func:`remote_images` lists them); ``input_audio`` → ``inline_data``
  ``audio/<format>``; ``file`` with ``file_data`` (a data URL or bare base64 PDF) → ``inline_data``.
- ``tools`` → ``function_declarations`` with ``parameters_json_schema``; ``tool_choice``
  auto/none/required/named → ``AUTO``/``NONE``/``ANY``/``ANY`` + ``allowed_function_names``.
- ``stop``, ``temperature``, ``top_p``, ``top_k``, ``seed``, penalties, ``max_completion_tokens``
  (or ``max_tokens``), ``n`` (``candidate_count``), ``logprobs`` / ``top_logprobs``
  (``response_logprobs`` / ``logprobs``); ``response_format`` json_object →
  ``response_mime_type: application/json``, json_schema → ``+ response_json_schema``.
- ``reasoning_effort`` → ``thinking_config``: ``thinking_budget`` (Gemini 2.x) or
  ``thinking_level`` (models in ``level_models``), with ``include_thoughts`` unless ``none``.
- thought signatures come back from tool call ids and ``reasoning_details``
  (:mod:`hexgate_gemini.signatures`); automatic function calling is always off.

Errors: :class:`hexgate.errors.InvalidRequest` naming the offending field.
"""

from __future__ import annotations

import base64
import binascii
import json
import mimetypes
from collections.abc import Mapping
from typing import Any, NamedTuple

from google.genai import types
from msgspec import UNSET

from hexgate.errors import InvalidRequest
from hexgate.schemas.chat import (
    ChatCompletionRequest,
    ChatMessage,
    FilePart,
    ImagePart,
    InputAudioPart,
    RefusalPart,
    TextPart,
    ToolCall,
    ToolChoiceObject,
)
from hexgate_gemini import signatures
from hexgate_gemini.settings import GeminiSettings

__all__ = [
    "FetchedImage",
    "GeminiCall",
    "candidate_count",
    "is_level_model",
    "remote_images",
    "thinking_config",
    "to_gemini",
]


class FetchedImage(NamedTuple):
    """An http(s) image the provider downloaded: its MIME type and bytes."""

    mime_type: str
    data: bytes


class GeminiCall(NamedTuple):
    """What ``client.aio.models.generate_content[_stream]`` takes besides the model id."""

    contents: list[types.Content]
    config: types.GenerateContentConfig


_FILES_API_MARK = "generativelanguage.googleapis.com/"


def _is_remote(url: str) -> bool:
    """True for an http(s) URL the gateway must fetch (not a data URL, not a Files API URI)."""
    return url.startswith(("http://", "https://")) and not (_FILES_API_MARK in url and "/files/" in url)


def remote_images(request: ChatCompletionRequest) -> list[str]:
    """The http(s) image URLs in user messages that must be fetched and inlined, each once, in order."""
    urls: dict[str, None] = {}
    for message in request.messages:
        if message.role == "user" and isinstance(message.content, list):
            for part in message.content:
                if isinstance(part, ImagePart) and _is_remote(part.image_url.url):
                    urls[part.image_url.url] = None
    return list(urls)


def is_level_model(model: str, settings: GeminiSettings) -> bool:
    """True when ``model`` takes ``thinking_level`` (Gemini 3) rather than ``thinking_budget``."""
    name = model.removeprefix("models/").rpartition("/")[2]
    return any(name.startswith(prefix) for prefix in settings.level_models)


_EFFORTS = ("none", "minimal", "low", "medium", "high", "xhigh")


def thinking_config(effort: str | None, *, model: str, settings: GeminiSettings) -> types.ThinkingConfig | None:
    """``reasoning_effort`` → ``ThinkingConfig`` (None when neither the request nor the settings ask).

    Raises :class:`InvalidRequest` for an effort outside ``none | minimal | low | medium | high | xhigh``.
    """
    if effort is None:
        return types.ThinkingConfig(include_thoughts=True) if settings.include_thoughts else None
    if effort not in _EFFORTS:
        raise InvalidRequest(
            f"'reasoning_effort' must be one of {', '.join(_EFFORTS)}; got {effort!r}", param="reasoning_effort"
        )
    thoughts = effort != "none"
    if is_level_model(model, settings):
        level = getattr(settings.thinking_levels, effort)
        return types.ThinkingConfig(include_thoughts=thoughts, thinking_level=types.ThinkingLevel(level.upper()))
    budget: int = getattr(settings.thinking_budgets, effort)
    return types.ThinkingConfig(include_thoughts=thoughts and budget != 0, thinking_budget=budget)


def candidate_count(request: ChatCompletionRequest, settings: GeminiSettings) -> int:
    """How many candidates one upstream call asks for (1 when ``n`` is served by fan-out)."""
    n = request.n if isinstance(request.n, int) else 1
    return 1 if settings.n_strategy == "fan_out" else n


# ---------------------------------------------------------------- content parts


def _data_url(url: str, where: str) -> types.Blob:
    head, sep, payload = url.partition(",")
    if not (sep and head.startswith("data:") and head.endswith(";base64")):
        raise InvalidRequest(f"'{where}' must be an http(s) URL or a data:<mime>;base64,<data> URL", param=where)
    mime = head[5:-7] or "application/octet-stream"
    try:
        data = base64.b64decode(payload, validate=True)
    except binascii.Error:
        raise InvalidRequest(f"'{where}' holds invalid base64 data", param=where) from None
    return types.Blob(mime_type=mime, data=data)


def _guess_mime(url: str, default: str) -> str:
    guessed, _ = mimetypes.guess_type(url.split("?", 1)[0])
    return guessed or default


def _image(url: str, where: str, images: Mapping[str, FetchedImage]) -> types.Part:
    if url.startswith("data:"):
        return types.Part(inline_data=_data_url(url, where))
    if url.startswith("gs://") or (url.startswith("https://") and not _is_remote(url)):
        return types.Part(file_data=types.FileData(file_uri=url, mime_type=_guess_mime(url, "image/jpeg")))
    if _is_remote(url):
        fetched = images.get(url)
        if fetched is None:
            raise InvalidRequest(f"the image at '{where}' was not fetched", param=where)
        return types.Part(inline_data=types.Blob(mime_type=fetched.mime_type, data=fetched.data))
    raise InvalidRequest(f"'{where}' must be an http(s), gs:// or data: URL", param=where)


def _user_parts(message: ChatMessage, where: str, images: Mapping[str, FetchedImage]) -> list[types.Part]:
    content = message.content
    if isinstance(content, str):
        return [types.Part(text=content)] if content else []
    if not isinstance(content, list):
        return []
    parts: list[types.Part] = []
    for j, part in enumerate(content):
        at = f"{where}.content[{j}]"
        if isinstance(part, TextPart):
            if part.text:
                parts.append(types.Part(text=part.text))
        elif isinstance(part, ImagePart):
            parts.append(_image(part.image_url.url, f"{at}.image_url.url", images))
        elif isinstance(part, InputAudioPart):
            try:
                audio = base64.b64decode(part.input_audio.data, validate=True)
            except binascii.Error:
                raise InvalidRequest(f"'{at}.input_audio.data' is not base64", param=f"{at}.input_audio.data") from None
            parts.append(types.Part(inline_data=types.Blob(mime_type=f"audio/{part.input_audio.format}", data=audio)))
        elif isinstance(part, FilePart):
            parts.append(_file(part, at))
        elif isinstance(part, RefusalPart):
            parts.append(types.Part(text=part.refusal))
    return parts


def _file(part: FilePart, at: str) -> types.Part:
    data = part.file.file_data
    if not isinstance(data, str):
        raise InvalidRequest(
            f"'{at}.file' needs 'file_data'; uploaded file ids are not supported by Gemini", param=f"{at}.file"
        )
    if data.startswith("data:"):
        return types.Part(inline_data=_data_url(data, f"{at}.file.file_data"))
    name = part.file.filename if isinstance(part.file.filename, str) else ""
    try:
        raw = base64.b64decode(data, validate=True)
    except binascii.Error:
        raise InvalidRequest(f"'{at}.file.file_data' is not base64", param=f"{at}.file.file_data") from None
    return types.Part(inline_data=types.Blob(mime_type=_guess_mime(name, "application/pdf"), data=raw))


# ---------------------------------------------------------------- assistant and tool turns


def _arguments(call: ToolCall, where: str) -> dict[str, Any]:
    text = call.function.arguments.strip()
    if not text:
        return {}
    try:
        args = json.loads(text)
    except ValueError:
        raise InvalidRequest(f"'{where}' is not valid JSON", param=where) from None
    if not isinstance(args, dict):
        raise InvalidRequest(f"'{where}' must be a JSON object", param=where)
    return args


def _text_signatures(message: ChatMessage) -> list[bytes]:
    """Signatures of text parts carried in ``reasoning_details`` (other dialects' items are skipped)."""
    found: list[bytes] = []
    for item in message.reasoning_details or []:
        if item.type != "reasoning.encrypted" or not isinstance(item.data, str):
            continue
        if isinstance(item.format, str) and not item.format.startswith("google"):
            continue
        try:
            found.append(signatures.decode(item.data))
        except ValueError:
            continue
    return found


def _model_parts(message: ChatMessage, where: str, *, fallback: bytes | None) -> list[types.Part]:
    parts: list[types.Part] = []
    text = message.text() if message.content is not None else ""
    if text:
        parts.append(types.Part(text=text))
    first_call: types.Part | None = None
    for j, call in enumerate(message.tool_calls or []):
        call_id, signature = signatures.split_id(call.id)
        part = types.Part(
            function_call=types.FunctionCall(
                name=call.function.name,
                args=_arguments(call, f"{where}.tool_calls[{j}].function.arguments"),
                id=None if signatures.is_synthetic(call_id) else call_id,
            ),
            thought_signature=signature,
        )
        parts.append(part)
        first_call = first_call or part
    text_signatures = _text_signatures(message)
    if text_signatures:
        target = next((p for p in reversed(parts) if p.text is not None), None)
        target = target or next((p for p in parts if p.thought_signature is None), None)
        if target is not None and target.thought_signature is None:
            target.thought_signature = text_signatures[-1]
    if first_call is not None and first_call.thought_signature is None and fallback:
        first_call.thought_signature = fallback
    return parts


def _tool_result(message: ChatMessage, where: str, names: Mapping[str, str]) -> types.Part:
    if message.role == "function":
        name = message.name if isinstance(message.name, str) else ""
        call_id = None
    else:
        full = message.tool_call_id if isinstance(message.tool_call_id, str) else ""
        base, _ = signatures.split_id(full)
        name = names.get(full) or names.get(base) or (message.name if isinstance(message.name, str) else "")
        if not full:
            raise InvalidRequest(
                f"'{where}.tool_call_id' is required for a tool message", param=f"{where}.tool_call_id"
            )
        if not name:
            raise InvalidRequest(
                f"'{where}.tool_call_id' ({full[:40]!r}) matches no tool call of an earlier assistant message",
                param=f"{where}.tool_call_id",
            )
        call_id = None if signatures.is_synthetic(base) else base
    if not name:
        raise InvalidRequest(f"'{where}.name' is required for a function message", param=f"{where}.name")
    text = message.text()
    try:
        value = json.loads(text)
    except ValueError:
        value = None
    response = value if isinstance(value, dict) else {"output": text}
    return types.Part(function_response=types.FunctionResponse(name=name, response=response, id=call_id))


def _fallback_signature(model: str, settings: GeminiSettings) -> bytes | None:
    if not settings.missing_signature or not is_level_model(model, settings):
        return None
    try:
        return signatures.decode(settings.missing_signature)
    except ValueError:
        return None


def _contents(
    request: ChatCompletionRequest, *, model: str, settings: GeminiSettings, images: Mapping[str, FetchedImage]
) -> tuple[list[types.Content], types.Content | None]:
    system: list[types.Part] = []
    contents: list[types.Content] = []
    names: dict[str, str] = {}
    fallback = _fallback_signature(model, settings)
    for i, message in enumerate(request.messages):
        where = f"messages[{i}]"
        if message.role in ("system", "developer"):
            text = message.text()
            if text:
                system.append(types.Part(text=text))
            continue
        if message.role == "assistant":
            for call in message.tool_calls or []:
                names[call.id] = call.function.name
                names.setdefault(signatures.split_id(call.id)[0], call.function.name)
            role, parts = "model", _model_parts(message, where, fallback=fallback)
        elif message.role in ("tool", "function"):
            role, parts = "user", [_tool_result(message, where, names)]
        else:
            role, parts = "user", _user_parts(message, where, images)
        if not parts:
            continue
        if contents and contents[-1].role == role and contents[-1].parts is not None:
            contents[-1].parts.extend(parts)
        else:
            contents.append(types.Content(role=role, parts=parts))
    if not contents:
        raise InvalidRequest(
            "'messages' must hold at least one user or assistant message with content", param="messages"
        )
    return contents, types.Content(parts=system) if system else None


# ---------------------------------------------------------------- tools and config


def _tools(request: ChatCompletionRequest) -> tuple[list[types.Tool] | None, types.ToolConfig | None]:
    declared = [t.function for t in request.tools or []]
    tools = None
    if declared:
        tools = [
            types.Tool(
                function_declarations=[
                    types.FunctionDeclaration(
                        name=f.name,
                        description=f.description if isinstance(f.description, str) else None,
                        parameters_json_schema=f.parameters if isinstance(f.parameters, dict) else None,
                    )
                    for f in declared
                ]
            )
        ]
    choice = request.tool_choice
    if choice is UNSET:
        return tools, None
    names = None
    if isinstance(choice, ToolChoiceObject):
        if choice.function.name not in {f.name for f in declared}:
            raise InvalidRequest(
                f"'tool_choice' names function {choice.function.name!r}, which is not in 'tools'",
                param="tool_choice",
            )
        mode, names = types.FunctionCallingConfigMode.ANY, [choice.function.name]
    elif choice == "none":
        mode = types.FunctionCallingConfigMode.NONE
    elif not declared:
        raise InvalidRequest(f"'tool_choice' {choice!r} needs 'tools'", param="tool_choice")
    elif choice == "required":
        mode = types.FunctionCallingConfigMode.ANY
    else:
        mode = types.FunctionCallingConfigMode.AUTO
    if not declared:
        return None, None
    config = types.FunctionCallingConfig(mode=mode, allowed_function_names=names)
    return tools, types.ToolConfig(function_calling_config=config)


def _response_format(request: ChatCompletionRequest) -> tuple[str | None, Any]:
    fmt = request.response_format
    if fmt is UNSET or fmt.type == "text":
        return None, None
    if fmt.type == "json_object":
        return "application/json", None
    schema = fmt.json_schema.schema if fmt.json_schema is not UNSET else UNSET
    if not isinstance(schema, dict):
        raise InvalidRequest("'response_format.json_schema.schema' is required", param="response_format.json_schema")
    return "application/json", schema


def _opt(value: Any) -> Any:
    return None if value is UNSET else value


def to_gemini(
    request: ChatCompletionRequest,
    *,
    model: str,
    settings: GeminiSettings,
    images: Mapping[str, FetchedImage] | None = None,
) -> GeminiCall:
    """The Gemini contents and config for ``request`` (``model`` is the upstream id).

    ``images`` holds the bytes of every URL :func:`remote_images` listed.
    Raises :class:`InvalidRequest` for what Gemini cannot take (``logit_bias``, more than 5
    stop sequences, bad tool arguments, a tool result matching no call …).
    """
    if request.logit_bias:
        raise InvalidRequest("'logit_bias' is not supported by Gemini", param="logit_bias")
    stops = request.stop_list()
    if len(stops) > 5:
        raise InvalidRequest("Gemini takes at most 5 stop sequences", param="stop")
    contents, system = _contents(request, model=model, settings=settings, images=images or {})
    tools, tool_config = _tools(request)
    mime, schema = _response_format(request)
    n = candidate_count(request, settings)
    effort = request.reasoning_effort if isinstance(request.reasoning_effort, str) else None
    config = types.GenerateContentConfig(
        system_instruction=system,
        temperature=_opt(request.temperature),
        top_p=_opt(request.top_p),
        top_k=_opt(request.top_k),
        candidate_count=n if n > 1 else None,
        max_output_tokens=request.max_output(),
        stop_sequences=stops or None,
        presence_penalty=_opt(request.presence_penalty),
        frequency_penalty=_opt(request.frequency_penalty),
        seed=_opt(request.seed),
        response_logprobs=True if request.logprobs is True else None,
        logprobs=request.top_logprobs if request.logprobs is True and isinstance(request.top_logprobs, int) else None,
        response_mime_type=mime,
        response_json_schema=schema,
        tools=tools,  # type: ignore[arg-type]
        tool_config=tool_config,
        thinking_config=thinking_config(effort, model=model, settings=settings),
        automatic_function_calling=types.AutomaticFunctionCallingConfig(disable=True),
    )
    return GeminiCall(contents=contents, config=config)
