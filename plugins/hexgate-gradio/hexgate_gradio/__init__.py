"""hexgate provider: Gradio chat apps on Hugging Face Spaces through gradio_client (work in progress)."""
