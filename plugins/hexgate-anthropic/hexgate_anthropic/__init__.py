"""hexgate provider: Anthropic Messages API through the official anthropic SDK (work in progress)."""
