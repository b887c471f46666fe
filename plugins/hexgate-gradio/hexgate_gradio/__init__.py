"""hexgate provider: Gradio chat apps on Hugging Face Spaces (or any Gradio URL) through gradio_client.

Entry point ``gradio = "hexgate_gradio:GradioProvider"``; ``provider.py`` does the I/O,
``translate.py`` the pure OpenAI ⇄ Gradio mapping, ``wire.py`` reads the app's API description.
"""

from hexgate_gradio.provider import GradioProvider, GradioSettings, SpaceModel

__all__ = ["GradioProvider", "GradioSettings", "SpaceModel"]
