"""Route handlers, one module per endpoint family; ``ROUTE_HANDLERS`` is what the app serves.

A handler that decodes its own body declares the body's Struct as ``opt={"body": Struct}`` so that
the OpenAPI document at ``/schema`` describes it (see ``hexgate.app._document``).
"""

from hexgate.routes.chat import chat_completions
from hexgate.routes.embeddings import embeddings
from hexgate.routes.images import image_file, image_generations
from hexgate.routes.messages import count_tokens, create_message
from hexgate.routes.meta import health, root
from hexgate.routes.models import list_models, retrieve_model
from hexgate.routes.playground import playground_asset, providers_status
from hexgate.routes.responses import create_response, delete_response, list_input_items, retrieve_response

__all__ = ["ROUTE_HANDLERS"]

ROUTE_HANDLERS = [
    chat_completions,
    embeddings,
    create_response,
    create_message,
    count_tokens,
    retrieve_response,
    delete_response,
    list_input_items,
    image_generations,
    image_file,
    list_models,
    retrieve_model,
    health,
    root,
    playground_asset,
    providers_status,
]
