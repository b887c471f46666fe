"""hexgate provider: Anthropic's Messages API through the official ``anthropic`` SDK.

Three rooms: :mod:`.provider` (I/O through the client the core hands in), :mod:`.translate`
(pure OpenAI ⇄ Anthropic mapping of requests and answers) with :mod:`.stream` (the pure stream
event state machine), and :mod:`.wire` (msgspec Structs of Anthropic's answers).
Settings: :mod:`.settings`.
"""

from hexgate_anthropic.provider import AnthropicProvider
from hexgate_anthropic.settings import AnthropicSettings, ThinkingBudgets

__all__ = ["AnthropicProvider", "AnthropicSettings", "ThinkingBudgets"]
