"""hexgate provider: the Hexin / HiThink backend (chat, streaming, Responses, embeddings, models).

Entry point: ``[project.entry-points."hexgate.providers"] hexin = "hexgate_hexin:HexinProvider"``.
"""

from hexgate_hexin.provider import HexinProvider, HexinSettings

__all__ = ["HexinProvider", "HexinSettings"]
