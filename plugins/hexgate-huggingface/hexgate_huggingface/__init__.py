"""hexgate provider: local Hugging Face models through transformers and sentence-transformers (work in progress)."""
