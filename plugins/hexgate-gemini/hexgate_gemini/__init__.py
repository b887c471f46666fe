"""hexgate provider: Google Gemini through the official google-genai SDK (work in progress)."""
