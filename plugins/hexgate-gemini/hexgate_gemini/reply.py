"""Gemini ``GenerateContentResponse`` → OpenAI completion and stream chunks (pure).

Mappings (upstreams.md §2; captures in ``shared/fixtures/vercel-ai/google--*``):

- text parts → ``content``; ``thought: true`` parts → ``reasoning_content``; ``function_call``
  parts → ``tool_calls`` with ids ``call_…`` (or Gemini's own id) carrying the part's
  ``thought_signature`` (:mod:`hexgate_gemini.signatures`); a signature on any other part →
  ``reasoning_details``. Streamed calls arrive whole, so each becomes one delta with
  ``index``, ``id``, ``type``, ``name`` and the whole JSON ``arguments``; calls streamed in
  pieces (``partial_args`` / ``will_continue``, Vertex) are assembled first. Several calls get
  indexes 0, 1, … per choice.
- ``finish_reason``: STOP → ``stop``, or ``tool_calls`` whenever calls were made (Gemini says
  STOP); MAX_TOKENS → ``length``; SAFETY, RECITATION, LANGUAGE, OTHER, BLOCKLIST,
  PROHIBITED_CONTENT, SPII, IMAGE_*, MODEL_ARMOR, JAILBREAK → ``content_filter``; a
  ``prompt_feedback.block_reason`` with no candidates → one ``content_filter`` choice.
- ``logprobsResult`` (``chosenCandidates`` + ``topCandidates``) → ``choices[].logprobs.content``
  (token, logprob, UTF-8 bytes, top_logprobs), on the chunk that carries those tokens.
- usage: prompt = ``promptTokenCount`` (+ ``toolUsePromptTokenCount``), completion =
  ``candidatesTokenCount + thoughtsTokenCount``, ``reasoning_tokens`` = thoughts,
  ``cached_tokens`` = ``cachedContentTokenCount``; in streams the last counted
  ``usageMetadata`` wins (it is cumulative) and rides on the last chunk.
"""

from __future__ import annotations

import itertools
import json
import re
import uuid
from typing import Any

from google.genai import types

from hexgate.schemas.chat import (
    AssistantMessage,
    ChatCompletion,
    ChatCompletionChunk,
    Choice,
    ChunkChoice,
    CompletionTokensDetails,
    Delta,
    FunctionCall,
    FunctionCallDelta,
    PromptTokensDetails,
    ReasoningDetail,
    ToolCall,
    ToolCallDelta,
    Usage,
)
from hexgate_gemini import signatures

__all__ = ["StreamTranslator", "add_usage", "finish_reason", "to_completion", "to_logprobs", "to_usage"]

_FILTERED = frozenset(
    {
        "SAFETY",
        "RECITATION",
        "LANGUAGE",
        "OTHER",
        "BLOCKLIST",
        "PROHIBITED_CONTENT",
        "SPII",
        "IMAGE_SAFETY",
        "IMAGE_PROHIBITED_CONTENT",
        "IMAGE_RECITATION",
        "IMAGE_OTHER",
        "MODEL_ARMOR",
        "JAILBREAK",
    }
)


def _name(value: Any) -> str | None:
    if value is None:
        return None
    return str(getattr(value, "value", value)).upper()


def finish_reason(reason: Any, *, made_calls: bool) -> str:
    """Gemini ``finishReason`` (enum or string, None when absent) → OpenAI ``finish_reason``."""
    name = _name(reason)
    if name == "MAX_TOKENS":
        return "length"
    if name in _FILTERED:
        return "content_filter"
    return "tool_calls" if made_calls else "stop"


def to_usage(meta: types.GenerateContentResponseUsageMetadata | None) -> Usage | None:
    """``usageMetadata`` → :class:`Usage`; None when it holds no token counts (Vertex's early chunks)."""
    if meta is None or (meta.prompt_token_count is None and meta.candidates_token_count is None):
        return None
    prompt = (meta.prompt_token_count or 0) + (meta.tool_use_prompt_token_count or 0)
    thoughts = meta.thoughts_token_count or 0
    completion = (meta.candidates_token_count or 0) + thoughts
    return Usage(
        prompt_tokens=prompt,
        completion_tokens=completion,
        total_tokens=prompt + completion,
        prompt_tokens_details=PromptTokensDetails(cached_tokens=meta.cached_content_token_count or 0),
        completion_tokens_details=CompletionTokensDetails(reasoning_tokens=thoughts),
    )


def add_usage(a: Usage | None, b: Usage | None) -> Usage | None:
    """The sum of two usages (for ``n`` by fan-out)."""
    if a is None or b is None:
        return a or b

    def detail(x: Usage, kind: str, key: str) -> int:
        obj = getattr(x, kind)
        value = getattr(obj, key, 0) if obj else 0
        return value if isinstance(value, int) else 0

    return Usage(
        prompt_tokens=a.prompt_tokens + b.prompt_tokens,
        completion_tokens=a.completion_tokens + b.completion_tokens,
        total_tokens=a.total_tokens + b.total_tokens,
        prompt_tokens_details=PromptTokensDetails(
            cached_tokens=detail(a, "prompt_tokens_details", "cached_tokens")
            + detail(b, "prompt_tokens_details", "cached_tokens")
        ),
        completion_tokens_details=CompletionTokensDetails(
            reasoning_tokens=detail(a, "completion_tokens_details", "reasoning_tokens")
            + detail(b, "completion_tokens_details", "reasoning_tokens")
        ),
    )


def _token(candidate: types.LogprobsResultCandidate) -> dict[str, Any]:
    token = candidate.token or ""
    return {"token": token, "logprob": candidate.log_probability or 0.0, "bytes": list(token.encode())}


def to_logprobs(result: types.LogprobsResult | None) -> dict[str, Any] | None:
    """Gemini ``logprobsResult`` → OpenAI ``choices[].logprobs`` (None when there is none)."""
    if result is None or not result.chosen_candidates:
        return None
    tops = result.top_candidates or []
    content = []
    for i, chosen in enumerate(result.chosen_candidates):
        entry = _token(chosen)
        alternatives = (tops[i].candidates if i < len(tops) else None) or []
        entry["top_logprobs"] = [_token(a) for a in alternatives]
        content.append(entry)
    return {"content": content, "refusal": None}


# ---------------------------------------------------------------- one candidate's parts → deltas

_PATH_STEP = re.compile(r"\.([^.\[\]]+)|\[(\d+)\]|\['([^']*)'\]|\[\"([^\"]*)\"\]")


def _path(json_path: str) -> list[str | int]:
    steps: list[str | int] = []
    for m in _PATH_STEP.finditer(json_path.removeprefix("$")):
        key, idx, q1, q2 = m.groups()
        steps.append(int(idx) if idx is not None else (key if key is not None else (q1 if q1 is not None else q2)))
    return steps


def _partial_value(arg: types.PartialArg) -> Any:
    if arg.string_value is not None:
        return arg.string_value
    if arg.number_value is not None:
        number = arg.number_value
        return int(number) if number.is_integer() else number
    if arg.bool_value is not None:
        return arg.bool_value
    return None


class _Pending:
    """A function call streamed in pieces: ``name`` + ``will_continue``, then ``partial_args``
    (JSON path + value, strings continued while ``will_continue``), ended by a part without
    ``will_continue`` (Vertex ``streamFunctionCallArguments``; capture
    ``google--google-stream-tool-call-arguments``)."""

    def __init__(self, call: types.FunctionCall, signature: bytes | None) -> None:
        self.name = call.name
        self.id = call.id
        self.signature = signature
        self.args: dict[str, Any] = {}
        self._open: set[str] = set()

    def add(self, call: types.FunctionCall, signature: bytes | None) -> None:
        self.name = self.name or call.name
        self.id = self.id or call.id
        self.signature = self.signature or signature
        for arg in call.partial_args or []:
            self._set(arg)
        if call.args:
            self.args.update(call.args)

    def _set(self, arg: types.PartialArg) -> None:
        where = arg.json_path or "$"
        steps = _path(where)
        if not steps:
            return
        node: Any = self.args
        for step, following in itertools.pairwise(steps):
            fresh: Any = [] if isinstance(following, int) else {}
            if isinstance(step, int) and isinstance(node, list):
                while len(node) <= step:
                    node.append(None)
                node[step] = node[step] if node[step] is not None else fresh
                node = node[step]
            elif isinstance(node, dict):
                node = node.setdefault(str(step), fresh)
        last = steps[-1]
        value = _partial_value(arg)
        if isinstance(node, list) and isinstance(last, int):
            while len(node) <= last:
                node.append(None)
            current = node[last]
        elif isinstance(node, dict):
            current = node.get(str(last))
        else:
            return
        if where in self._open and isinstance(current, str) and isinstance(value, str):
            value = current + value
        if isinstance(node, list) and isinstance(last, int):
            node[last] = value
        elif isinstance(node, dict):
            node[str(last)] = value
        if arg.will_continue:
            self._open.add(where)
        else:
            self._open.discard(where)


class _Candidate:
    """Turns one candidate's parts into OpenAI deltas, numbering its tool calls."""

    def __init__(self, *, parallel_tool_calls: bool) -> None:
        self.calls = 0
        self.finish: Any = None
        self.finished = False
        self._parallel = parallel_tool_calls
        self._pending: _Pending | None = None

    def parts(self, parts: list[types.Part]) -> list[Delta]:
        deltas: list[Delta] = []
        for part in parts:
            call = part.function_call
            signature = part.thought_signature or None
            if call is not None:
                if self._pending is None and (call.will_continue or call.partial_args):
                    self._pending = _Pending(call, signature)
                    continue
                if self._pending is not None:
                    self._pending.add(call, signature)
                    if call.will_continue:
                        continue
                    done, self._pending = self._pending, None
                    deltas += self._call(done.name or "", done.id, done.args, done.signature)
                    continue
                deltas += self._call(call.name or "", call.id, call.args or {}, signature)
                continue
            details = [signatures.detail(signature)] if signature else None
            if part.text:
                if part.thought:
                    deltas.append(Delta(reasoning_content=part.text))
                    if details:
                        deltas.append(Delta(reasoning_details=details))
                else:
                    deltas.append(
                        Delta(content=part.text, reasoning_details=details) if details else Delta(content=part.text)
                    )
            elif details:
                deltas.append(Delta(reasoning_details=details))
        return deltas

    def flush(self) -> list[Delta]:
        """Deltas still held (a call streamed in pieces whose end never came)."""
        if self._pending is None:
            return []
        done, self._pending = self._pending, None
        return self._call(done.name or "", done.id, done.args, done.signature)

    def _call(self, name: str, call_id: str | None, args: dict[str, Any], signature: bytes | None) -> list[Delta]:
        if self.calls and not self._parallel:
            return []
        index = self.calls
        self.calls += 1
        arguments = json.dumps(args, ensure_ascii=False, separators=(",", ":"))
        full_id = signatures.join_id(call_id or signatures.new_call_id(), signature)
        tool = ToolCallDelta(
            index=index, id=full_id, type="function", function=FunctionCallDelta(name=name, arguments=arguments)
        )
        return [Delta(tool_calls=[tool])]

    def reason(self) -> str:
        return finish_reason(self.finish, made_calls=self.calls > 0)


def _response_id(response: types.GenerateContentResponse) -> str:
    return f"chatcmpl-{response.response_id}" if response.response_id else f"chatcmpl-{uuid.uuid4().hex}"


def _blocked(response: types.GenerateContentResponse) -> bool:
    feedback = response.prompt_feedback
    return feedback is not None and feedback.block_reason is not None


# ---------------------------------------------------------------- non-stream


def _message(deltas: list[Delta]) -> AssistantMessage:
    content = "".join(d.content for d in deltas if isinstance(d.content, str))
    reasoning = "".join(d.reasoning_content for d in deltas if isinstance(d.reasoning_content, str))
    calls = [
        ToolCall(id=str(t.id), function=FunctionCall(name=str(t.function.name), arguments=str(t.function.arguments)))
        for d in deltas
        for t in d.tool_calls or []
        if isinstance(t.function, FunctionCallDelta)
    ]
    details: list[ReasoningDetail] = [r for d in deltas for r in d.reasoning_details or []]
    message = AssistantMessage(content=content or None)
    if reasoning:
        message.reasoning_content = reasoning
    if calls:
        message.tool_calls = calls
    if details:
        message.reasoning_details = details
    return message


def to_completion(
    response: types.GenerateContentResponse,
    *,
    model: str,
    created: int,
    parallel_tool_calls: bool = True,
    index_offset: int = 0,
) -> ChatCompletion:
    """One ``generateContent`` answer → a ``chat.completion``; choice indexes start at ``index_offset``."""
    choices: list[Choice] = []
    for position, candidate in enumerate(response.candidates or []):
        state = _Candidate(parallel_tool_calls=parallel_tool_calls)
        parts = candidate.content.parts if candidate.content and candidate.content.parts else []
        deltas = state.parts(parts) + state.flush()
        state.finish = candidate.finish_reason
        index = candidate.index if candidate.index is not None else position
        choices.append(
            Choice(
                index=index + index_offset,
                message=_message(deltas),
                finish_reason=state.reason(),
                logprobs=to_logprobs(candidate.logprobs_result),
            )
        )
    if not choices:
        reason = "content_filter" if _blocked(response) else "stop"
        choices.append(Choice(index=index_offset, message=AssistantMessage(content=None), finish_reason=reason))
    choices.sort(key=lambda c: c.index)
    usage = to_usage(response.usage_metadata)
    completion = ChatCompletion(
        id=_response_id(response), created=created, model=response.model_version or model, choices=choices
    )
    if usage is not None:
        completion.usage = usage
    return completion


# ---------------------------------------------------------------- stream


class StreamTranslator:
    """Feeds on ``generateContent`` stream responses, gives ``chat.completion.chunk`` s.

    Content, reasoning and tool call deltas go out as they arrive; each choice's
    ``finish_reason`` goes out from :meth:`close` (Gemini may still send a call's last
    piece or the final usage after its finishing chunk), with ``usage`` on the last chunk
    when ``with_usage``. ``id`` / ``model`` default to the first response's ``responseId``
    / ``modelVersion``.
    """

    def __init__(
        self,
        *,
        model: str,
        created: int,
        id: str | None = None,
        parallel_tool_calls: bool = True,
        index_offset: int = 0,
    ) -> None:
        self.id = id
        self.model = model
        self.created = created
        self.usage: Usage | None = None
        self._model_known = False
        self._offset = index_offset
        self._parallel = parallel_tool_calls
        self._candidates: dict[int, _Candidate] = {}
        self._blocked = False

    def _chunk(self, index: int, delta: Delta, finish: str | None = None) -> ChatCompletionChunk:
        return ChatCompletionChunk(
            id=self.id or "chatcmpl-hexgate",
            created=self.created,
            model=self.model,
            choices=[ChunkChoice(index=index + self._offset, delta=delta, finish_reason=finish)],
        )

    def feed(self, response: types.GenerateContentResponse) -> list[ChatCompletionChunk]:
        if self.id is None:
            self.id = _response_id(response)
        if not self._model_known:
            self._model_known = True
            self.model = response.model_version or self.model
        usage = to_usage(response.usage_metadata)
        if usage is not None:
            self.usage = usage
        self._blocked = self._blocked or _blocked(response)
        chunks: list[ChatCompletionChunk] = []
        for position, candidate in enumerate(response.candidates or []):
            index = candidate.index if candidate.index is not None else position
            state = self._candidates.get(index)
            if state is None:
                state = self._candidates[index] = _Candidate(parallel_tool_calls=self._parallel)
            parts = candidate.content.parts if candidate.content and candidate.content.parts else []
            emitted = [self._chunk(index, delta) for delta in state.parts(parts)]
            logprobs = to_logprobs(candidate.logprobs_result)
            if logprobs is not None:
                if not emitted:
                    emitted.append(self._chunk(index, Delta()))
                emitted[0].choices[0].logprobs = logprobs
            chunks.extend(emitted)
            if candidate.finish_reason is not None:
                state.finish = candidate.finish_reason
        return chunks

    def close(self, *, with_usage: bool = True) -> list[ChatCompletionChunk]:
        """The held deltas and every choice's finishing chunk; ``usage`` on the last one."""
        chunks: list[ChatCompletionChunk] = []
        if self.id is None:
            self.id = f"chatcmpl-{uuid.uuid4().hex}"
        if not self._candidates:
            reason = "content_filter" if self._blocked else "stop"
            chunks.append(self._chunk(0, Delta(), reason))
        for index in sorted(self._candidates):
            state = self._candidates[index]
            chunks.extend(self._chunk(index, delta) for delta in state.flush())
            chunks.append(self._chunk(index, Delta(), state.reason()))
        if with_usage and self.usage is not None:
            chunks[-1].usage = self.usage
        return chunks
