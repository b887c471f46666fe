"""hexgate provider: Google Gemini (Developer API or Vertex AI) through the official google-genai SDK."""

from hexgate_gemini.provider import GeminiProvider
from hexgate_gemini.settings import GeminiSettings

__all__ = ["GeminiProvider", "GeminiSettings"]
