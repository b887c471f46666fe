"""The llama.cpp side: a GGUF model, its chat template, and a token loop that can be stopped.

Everything here blocks and is not thread-safe: one worker thread owns a :class:`ChatEngine`
(``provider.py`` runs it on a single-thread executor). The token loop is our own, over
``Llama.generate`` (llama-cpp-python), rather than ``create_chat_completion``, so that it
counts tokens exactly (usage), checks a cancel flag before each token, and streams each
token's text as soon as it is whole UTF-8.
"""

from __future__ import annotations

import codecs
import os
import random
import threading
from collections.abc import Callable
from pathlib import Path

# llama-cpp-python's wheels are built with OpenMP (libgomp), whose threads spin at every barrier;
# on a busy machine a spinning thread waits for a descheduled one and two threads fall from ~100
# to ~2 tokens/s. Passive waiting keeps n_threads=2 safe. libgomp reads this when it loads, i.e.
# when llama_cpp is first imported; an explicit OMP_WAIT_POLICY in the environment wins.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import jinja2
import llama_cpp
import msgspec
from llama_cpp import Llama
from llama_cpp.llama_chat_format import CHATML_CHAT_TEMPLATE, Jinja2ChatFormatter
from llama_cpp.llama_grammar import JSON_GBNF, LlamaGrammar, json_schema_to_gbnf

from hexgate.errors import InvalidRequest, UpstreamError
from hexgate.plugin_kit import StopFilter
from hexgate_local.translate import JsonConstraint, Sampling

__all__ = ["ChatEngine", "Generation", "grammar_for"]


class Generation(msgspec.Struct, kw_only=True):
    """One choice: its text, why it ended (``stop | length | cancelled``) and tokens sampled."""

    text: str
    finish_reason: str
    completion_tokens: int


def grammar_for(constraint: JsonConstraint) -> LlamaGrammar:
    """A GBNF grammar for ``constraint``: the JSON Schema converted by llama-cpp-python's
    ``json_schema_to_gbnf``, or llama.cpp's generic ``json.gbnf`` when there is no schema or the
    converter cannot handle it (the fallback llama-cpp-python's own chat handlers use)."""
    if constraint.schema is not None:
        try:
            return LlamaGrammar.from_string(json_schema_to_gbnf(constraint.schema), verbose=False)
        except Exception:
            pass
    return LlamaGrammar.from_string(JSON_GBNF, verbose=False)


class ChatEngine:
    """A chat GGUF loaded in llama.cpp. Raises ValueError when the file cannot be loaded."""

    def __init__(self, *, path: Path, n_ctx: int, n_threads: int) -> None:
        self._llama = Llama(
            model_path=str(path),
            n_ctx=n_ctx,
            n_threads=n_threads,
            n_threads_batch=n_threads,
            verbose=False,
        )
        llm = self._llama
        self.n_ctx = llm.n_ctx()
        eos, bos = llm.token_eos(), llm.token_bos()
        self._eos = eos
        self._vocab = llama_cpp.llama_model_get_vocab(llm.model)
        self._formatter = Jinja2ChatFormatter(
            template=llm.metadata.get("tokenizer.chat_template") or CHATML_CHAT_TEMPLATE,
            eos_token=self._special_text(eos),
            bos_token=self._special_text(bos),
            stop_token_ids=[eos],
        )

    def _special_text(self, token: int) -> str:
        if token < 0:
            return ""
        return self._llama.detokenize([token], special=True).decode("utf-8", errors="ignore")

    def _is_end(self, token: int) -> bool:
        return token == self._eos or bool(llama_cpp.llama_vocab_is_eog(self._vocab, token))

    def prompt(self, messages: list[dict[str, str]]) -> list[int]:
        """The prompt tokens for ``messages`` through the model's chat template.

        Raises :class:`InvalidRequest` when the template refuses them (e.g. roles that must
        alternate) or when they fill the context window (code ``context_length_exceeded``).
        """
        try:
            rendered = self._formatter(messages=messages)  # type: ignore[arg-type]
        except (ValueError, TypeError, jinja2.TemplateError) as exc:
            raise InvalidRequest(f"the model's chat template refused these messages: {exc}", param="messages") from None
        tokens = self._llama.tokenize(rendered.prompt.encode("utf-8"), add_bos=not rendered.added_special, special=True)
        if len(tokens) >= self.n_ctx:
            raise InvalidRequest(
                f"This model's maximum context length is {self.n_ctx} tokens. However, your messages resulted in "
                f"{len(tokens)} tokens. Please reduce the length of the messages.",
                param="messages",
                code="context_length_exceeded",
            )
        return tokens

    def generate(
        self,
        prompt: list[int],
        *,
        sampling: Sampling,
        grammar: LlamaGrammar | None,
        cancel: threading.Event,
        on_text: Callable[[str], None] | None = None,
    ) -> Generation:
        """Sample one answer to ``prompt``, calling ``on_text`` with each settled piece of text.

        A ``seed`` makes the answer repeatable (the prompt is then evaluated afresh, without the
        cached prefix of the previous request). Stops at an end-of-generation token or a stop
        string (``stop``), at ``max_tokens`` or the end of the context window (``length``), or as
        soon as ``cancel`` is set (``cancelled``; checked before every token). Raises
        :class:`UpstreamError` if llama.cpp fails.
        """
        llm = self._llama
        budget = min(sampling.max_tokens, self.n_ctx - len(prompt))
        if sampling.seed is None:
            llm.set_seed(random.getrandbits(31))
        else:
            # A seeded request re-reads its whole prompt: reusing a cached prefix evaluates the last
            # prompt token in a smaller batch, whose float rounding can change what the seed draws.
            llm.set_seed(sampling.seed)
            llm.reset()  # type: ignore[no-untyped-call]
        decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        stops = StopFilter(sampling.stop)
        parts: list[str] = []
        count = 0
        finish = "length"
        cut = False

        def emit(text: str) -> None:
            if text:
                parts.append(text)
                if on_text is not None:
                    on_text(text)

        tokens = llm.generate(
            prompt,
            top_k=sampling.top_k,
            top_p=sampling.top_p,
            min_p=sampling.min_p,
            temp=sampling.temperature,
            repeat_penalty=sampling.repeat_penalty,
            frequency_penalty=sampling.frequency_penalty,
            presence_penalty=sampling.presence_penalty,
            grammar=grammar,
        )
        try:
            while not cancel.is_set():
                token = next(tokens, None)
                if token is None or self._is_end(token):
                    finish = "stop"
                    break
                count += 1
                text, stopped = stops.feed(decoder.decode(llm.detokenize([token])))
                emit(text)
                if stopped:
                    finish, cut = "stop", True
                    break
                if count >= budget:
                    break
            else:
                finish = "cancelled"
        except (RuntimeError, OSError) as exc:
            raise UpstreamError(f"the local model failed while generating: {exc}") from None
        finally:
            tokens.close()
        if finish != "cancelled" and not cut:
            text, stopped = stops.feed(decoder.decode(b"", final=True))
            emit(text)
            if not stopped:
                emit(stops.flush())
        return Generation(text="".join(parts), finish_reason=finish, completion_tokens=count)

    def close(self) -> None:
        """Free the model's memory."""
        self._llama.close()
