"""hexgate provider for any OpenAI-compatible upstream (entry point ``openai``).

OpenAI, the Hugging Face router, DeepSeek, MiniMax, Ollama ``/v1``, vLLM and llama.cpp
servers: one ``[providers.<id>]`` table with ``plugin = "openai"`` and a ``base_url`` each.
Rooms: ``provider.py`` (I/O), ``translate.py`` (pure mapping), ``wire.py`` (what upstreams
send), ``responses.py`` (native Responses pass-through, to come).
"""

from hexgate_openai.provider import OpenAIProvider, OpenAISettings

__all__ = ["OpenAIProvider", "OpenAISettings"]
