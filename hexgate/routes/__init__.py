"""Route handlers, one module per endpoint family."""

from hexgate.routes.chat import chat_completions
from hexgate.routes.embeddings import embeddings
from hexgate.routes.meta import health, root
from hexgate.routes.models import list_models, retrieve_model

__all__ = ["chat_completions", "embeddings", "health", "list_models", "retrieve_model", "root"]
