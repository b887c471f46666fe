"""hexgate provider: Puter.com AI (chat and images)."""

from hexgate_puter.provider import PuterProvider, PuterSettings

__all__ = ["PuterProvider", "PuterSettings"]
