"""Sentence embeddings with an ONNX BERT encoder (all-MiniLM-L6-v2 int8 by default).

What sentence-transformers does for all-MiniLM-L6-v2 (its ``modules.json``: Transformer with
``max_seq_length`` 256 → mean Pooling → Normalize), without torch: the ``tokenizers`` library
encodes with truncation at 256 tokens, onnxruntime runs the encoder on one thread, the token
vectors are averaged under the attention mask and L2-normalised. Blocking; the provider runs it on
its own single-thread executor.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import onnxruntime as ort  # type: ignore[import-untyped]
from tokenizers import Tokenizer

__all__ = ["MAX_SEQ_LENGTH", "Embedder"]

MAX_SEQ_LENGTH = 256
"""sentence-transformers' ``max_seq_length`` for all-MiniLM-L6-v2; longer inputs are truncated."""
_BATCH = 32


class Embedder:
    """An ONNX encoder with inputs ``input_ids``, ``attention_mask`` (and ``token_type_ids``) and a
    ``[batch, sequence, dim]`` output. Raises ValueError when either file cannot be loaded."""

    def __init__(self, *, model: Path, tokenizer: Path, max_tokens: int = MAX_SEQ_LENGTH) -> None:
        options = ort.SessionOptions()
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.log_severity_level = 3
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        try:
            self._session = ort.InferenceSession(str(model), sess_options=options, providers=["CPUExecutionProvider"])
            self._tokenizer = Tokenizer.from_file(str(tokenizer))
        except Exception as exc:
            raise ValueError(f"cannot load the embedding model: {exc}") from None
        self._tokenizer.no_padding()
        self._tokenizer.enable_truncation(max_tokens)
        self._inputs = {i.name for i in self._session.get_inputs()}
        self.vocab_size = self._tokenizer.get_vocab_size()
        self.dimensions = self._probe_dimensions()

    def _probe_dimensions(self) -> int:
        shape = self._session.get_outputs()[0].shape
        if isinstance(shape[-1], int):
            return shape[-1]
        ids = np.array([[0, 0]], dtype=np.int64)
        return int(self._encode(ids, np.ones_like(ids)).shape[1])

    def count_tokens(self, text: str) -> int:
        """Tokens ``text`` costs after truncation, special tokens included."""
        return len(self._tokenizer.encode(text).ids)

    def embed(self, texts: list[str]) -> tuple[npt.NDArray[np.float32], int]:
        """``[len(texts), dim]`` unit vectors (float32) and the tokens read (after truncation)."""
        encodings = [self._tokenizer.encode(t) for t in texts]
        order = sorted(range(len(texts)), key=lambda i: len(encodings[i].ids))
        result = np.empty((len(texts), self.dimensions), dtype=np.float32)
        for start in range(0, len(order), _BATCH):
            batch = order[start : start + _BATCH]
            width = max(len(encodings[i].ids) for i in batch)
            ids = np.zeros((len(batch), width), dtype=np.int64)
            mask = np.zeros((len(batch), width), dtype=np.int64)
            for row, i in enumerate(batch):
                n = len(encodings[i].ids)
                ids[row, :n] = encodings[i].ids
                mask[row, :n] = 1
            result[batch] = self._encode(ids, mask)
        return result, sum(len(e.ids) for e in encodings)

    def _encode(self, ids: npt.NDArray[np.int64], mask: npt.NDArray[np.int64]) -> npt.NDArray[np.float32]:
        feed: dict[str, Any] = {"input_ids": ids, "attention_mask": mask}
        if "token_type_ids" in self._inputs:
            feed["token_type_ids"] = np.zeros_like(ids)
        hidden = np.asarray(self._session.run(None, feed)[0], dtype=np.float32)
        weights = mask[:, :, None].astype(np.float32)
        summed = (hidden * weights).sum(axis=1)
        pooled = summed / np.clip(weights.sum(axis=1), 1e-9, None)
        norms = np.linalg.norm(pooled, axis=1, keepdims=True)
        unit: npt.NDArray[np.float32] = (pooled / np.clip(norms, 1e-12, None)).astype(np.float32)
        return unit
