"""hexgate: one OpenAI-compatible endpoint in front of every model provider."""

__version__ = "0.1.0"
