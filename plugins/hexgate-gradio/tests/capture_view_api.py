"""Regenerate ``fixtures/view_api/*.json``: real ``Client.view_api(return_format="dict")`` answers.

Each app below copies the shape of a common kind of Space (the Hugging Face chatbot template, the
gemma/llama chat template, a Blocks chatbot whose history is a visible input, a multimodal chat, a
plain Interface, an app with odd parameter names, several apps in tabs). The script serves them on
127.0.0.1, asks ``gradio_client`` for each API description and writes it out. Run it by hand after a
Gradio upgrade: ``python plugins/hexgate-gradio/tests/capture_view_api.py``.
"""

from __future__ import annotations

import json
import os
import socket
import sys
import threading
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")

import gradio as gr
import httpx
import uvicorn
from fastapi import FastAPI
from gradio_client import Client

OUT = Path(__file__).parent / "fixtures" / "view_api"


def hf_chatbot_template() -> gr.Blocks:
    def respond(
        message: str, history: list[Any], system_message: str, max_tokens: int, temperature: float, top_p: float
    ) -> str:
        return message

    return gr.ChatInterface(
        respond,
        additional_inputs=[
            gr.Textbox(value="You are a friendly Chatbot.", label="System message"),
            gr.Slider(minimum=1, maximum=2048, value=512, step=1, label="Max new tokens"),
            gr.Slider(minimum=0.1, maximum=4.0, value=0.7, step=0.1, label="Temperature"),
            gr.Slider(minimum=0.1, maximum=1.0, value=0.95, step=0.05, label="Top-p (nucleus sampling)"),
        ],
    )


def gemma_template() -> gr.Blocks:
    def generate(
        message: str,
        chat_history: list[Any],
        max_new_tokens: int = 1024,
        temperature: float = 0.6,
        top_p: float = 0.9,
        top_k: int = 50,
        repetition_penalty: float = 1.2,
    ) -> str:
        return message

    return gr.ChatInterface(
        fn=generate,
        additional_inputs=[
            gr.Slider(label="Max new tokens", minimum=1, maximum=2048, step=1, value=1024),
            gr.Slider(label="Temperature", minimum=0.1, maximum=4.0, step=0.1, value=0.6),
            gr.Slider(label="Top-p (nucleus sampling)", minimum=0.05, maximum=1.0, step=0.05, value=0.9),
            gr.Slider(label="Top-k", minimum=1, maximum=1000, step=1, value=50),
            gr.Slider(label="Repetition penalty", minimum=1.0, maximum=2.0, step=0.05, value=1.2),
        ],
    )


def blocks_chatbot() -> gr.Blocks:
    def chat(message: str, history: list[Any], system_prompt: str) -> list[Any]:
        return [*history, {"role": "user", "content": message}, {"role": "assistant", "content": message}]

    with gr.Blocks() as demo:
        chatbot = gr.Chatbot(label="Chatbot")
        msg = gr.Textbox(label="Message")
        system = gr.Textbox(label="System prompt", value="Be helpful.")
        msg.submit(chat, [msg, chatbot, system], [chatbot], api_name="chat")
        gr.Button("Clear").click(lambda: [], None, chatbot, api_name="clear")
    return demo


def multimodal_chat() -> gr.Blocks:
    def answer(message: dict[str, Any], history: list[Any]) -> str:
        return str(message.get("text", ""))

    return gr.ChatInterface(answer, multimodal=True, api_name="chat")


def plain_interface() -> gr.Blocks:
    return gr.Interface(
        lambda prompt: prompt, gr.Textbox(label="Prompt"), gr.Textbox(label="Answer"), api_name="predict"
    )


def odd_names() -> gr.Blocks:
    def write(idea: str, creativity: float, length: int) -> tuple[str, int]:
        return idea, length

    return gr.Interface(
        write,
        [
            gr.Textbox(label="Your idea"),
            gr.Slider(0, 2, value=1, label="Creativity"),
            gr.Number(value=100, precision=0, label="Length"),
        ],
        [gr.Number(label="Words"), gr.Markdown(label="Story")]
        if False
        else [gr.Textbox(label="Story"), gr.Number(label="Words")],
        api_name="write",
    )


def tabs() -> gr.Blocks:
    def upper(text: str) -> str:
        return text.upper()

    return gr.TabbedInterface(
        [gr.Interface(upper, gr.Textbox(label="text"), gr.Textbox(), api_name="upper"), hf_chatbot_template()],
        ["Upper", "Chat"],
    )


APPS = {
    "hf_chatbot_template": hf_chatbot_template,
    "gemma_template": gemma_template,
    "blocks_chatbot": blocks_chatbot,
    "multimodal_chat": multimodal_chat,
    "plain_interface": plain_interface,
    "odd_names": odd_names,
    "tabs": tabs,
}


def main() -> None:
    app = FastAPI()
    for name, make in APPS.items():
        app = gr.mount_gradio_app(app, make(), path=f"/{name}")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    threading.Thread(target=server.run, daemon=True).start()
    base = f"http://127.0.0.1:{port}"
    for _ in range(300):
        try:
            if httpx.get(f"{base}/plain_interface/config").status_code == 200:
                break
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    OUT.mkdir(parents=True, exist_ok=True)
    for name in APPS:
        client = Client(f"{base}/{name}", False, verbose=False, download_files=False, analytics_enabled=False)
        info = client.view_api(return_format="dict", print_info=False)
        (OUT / f"{name}.json").write_text(json.dumps(info, indent=1, sort_keys=True) + "\n", encoding="utf-8")
        client.close()
        print("wrote", name, file=sys.stderr)
    server.should_exit = True


if __name__ == "__main__":
    main()
