"""A real Gradio server for the hexgate-gradio tests, run as ``python gradio_app.py <port>``.

Three apps mounted on one FastAPI app, each reachable as its own "Space" by URL:

- ``/chat``: a ``gr.ChatInterface`` shaped like Hugging Face's chatbot template (system message,
  max tokens, temperature and top_p as additional inputs) whose function streams a deterministic
  answer cumulatively (``response += word; yield response``) and echoes the parameters it got.
- ``/plain``: a ``gr.Interface`` whose function returns its answer at once (no streaming).
- ``/quota``: a ``gr.Interface`` whose function raises ZeroGPU's quota error.
- ``/broken``: a ``gr.Interface`` whose function raises an ordinary ``gr.Error``.

No share link, no analytics, no network: it listens on 127.0.0.1 only.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Iterator
from typing import Any

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")

import gradio as gr
import uvicorn
from fastapi import FastAPI

QUOTA_MESSAGE = (
    "You have exceeded your GPU quota (60s requested vs. 56s left). "
    "Sign-up on Hugging Face to get more quotas or retry in 0:09:48."
)


def respond(
    message: str,
    history: list[dict[str, Any]],
    system_message: str,
    max_tokens: float,
    temperature: float,
    top_p: float,
) -> Iterator[str]:
    """The HF chatbot template's signature; streams ``echo: <message>`` word by word, cumulatively."""
    header = (
        f"[system={system_message} max_tokens={int(max_tokens)} temperature={temperature:g} "
        f"top_p={top_p:g} history={len(history)}]"
    )
    words = [header, "echo:", *message.split(" ")]
    response = ""
    for i, word in enumerate(words):
        response += word if i == 0 else " " + word
        time.sleep(0.1)
        yield response


def plain(prompt: str) -> str:
    return f"plain answer to: {prompt}"


def quota(prompt: str) -> str:
    raise gr.Error(QUOTA_MESSAGE)


def broken(prompt: str) -> str:
    raise gr.Error("the model crashed while loading")


def build() -> FastAPI:
    chat = gr.ChatInterface(
        respond,
        additional_inputs=[
            gr.Textbox(value="You are a friendly Chatbot.", label="System message"),
            gr.Slider(minimum=1, maximum=2048, value=512, step=1, label="Max new tokens"),
            gr.Slider(minimum=0.1, maximum=4.0, value=0.7, step=0.1, label="Temperature"),
            gr.Slider(minimum=0.1, maximum=1.0, value=0.95, step=0.05, label="Top-p (nucleus sampling)"),
        ],
    )
    plain_app = gr.Interface(plain, gr.Textbox(label="Prompt"), gr.Textbox(label="Answer"), api_name="predict")
    quota_app = gr.Interface(quota, gr.Textbox(label="Prompt"), gr.Textbox(label="Answer"), api_name="predict")
    broken_app = gr.Interface(broken, gr.Textbox(label="Prompt"), gr.Textbox(label="Answer"), api_name="predict")
    app = FastAPI()
    for path, demo in (("/chat", chat), ("/plain", plain_app), ("/quota", quota_app), ("/broken", broken_app)):
        app = gr.mount_gradio_app(app, demo, path=path)
    return app


if __name__ == "__main__":
    uvicorn.run(build(), host="127.0.0.1", port=int(sys.argv[1]), log_level="warning", timeout_graceful_shutdown=2)
