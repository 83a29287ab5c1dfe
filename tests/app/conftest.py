"""Fixtures for the app tests.

Unit tests drive the UI over a FakeAssistant (deterministic, instant streams); the API and
browser tests start a real server over the real chat and knowledge packages, on a tiny
assistant folder indexed once per session. Servers bind to 127.0.0.1 on a free port and are
closed after the test, so nothing is left listening.
"""
from __future__ import annotations

import shutil
import socket
import time
from pathlib import Path

import pytest

DOCS = {
    "hours.md": "# Opening hours\n\nThe clinic is open Monday to Friday from 8am to 6pm, and on Saturday from 9am to 1pm. "
    "We are closed on Sundays and public holidays.\n",
    "billing.md": "# Billing\n\nWe accept cash, debit cards and all major credit cards. Invoices are sent by email "
    "within two business days. Payment plans are available for treatments over 500 dollars.\n",
    "vaccines.txt": "Flu vaccines are given every autumn from October. Book a vaccine appointment by phone or at the "
    "front desk. Children under 12 need a parent present.\n",
}
SUITE = [
    {"id": "q1", "question": "When are you open on Saturday?", "answer": "9am to 1pm", "answer_type": "free", "gold_docs": ["hours.md"]},
    {"id": "q2", "question": "Who won the football world cup?", "answer": "", "answer_type": "decline", "gold_docs": []},
    {"id": "q3", "question": "Do you take credit cards?", "answer": "yes", "answer_type": "yes_no", "gold_docs": ["billing.md"]},
]


class FakeAssistant:
    """Streams a fixed answer word by word, citing one source, like chat.Assistant does."""

    variants = ["base", "base+rag", "tuned", "tuned+rag"]
    build_id = "fakebuild01"

    def __init__(self, delay: float = 0.0, disclaimer: str = ""):
        self.delay = delay
        self.disclaimer = disclaimer  # appended to every answer, as chat.Assistant does with chat.disclaimer
        self.calls: list[tuple] = []

    def stream(self, question, history=None, variant=None):
        from chat._types import Answer, Citation, Token

        self.calls.append((question, history, variant))
        text = f"{variant} answers: {question}"
        for word in text.split(" "):
            if self.delay:
                time.sleep(self.delay)
            yield Token(word + " ")
        cite = Citation(n=1, source="hours.md", page=None, snippet="open Monday to Friday", score=0.87,
                        chunk_id="c0ffee", text=DOCS["hours.md"])
        tail = f"\n\n{self.disclaimer}" if self.disclaimer else ""
        yield Answer(text=text + " " + tail, sources=[cite], variant=variant or "base+rag", build_id=self.build_id,
                     timings={"first_token_s": 0.01, "total_s": 0.05}, disclaimer=self.disclaimer)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def write_assistant(folder: Path, base_model: str) -> Path:
    """A small assistant folder: three documents, an eval suite, the tiny model as base."""
    (folder / "docs").mkdir(parents=True)
    for name, text in DOCS.items():
        (folder / "docs" / name).write_text(text, encoding="utf-8")
    (folder / "evals").mkdir()
    import json

    (folder / "evals" / "front_desk.jsonl").write_text("".join(json.dumps(r) + "\n" for r in SUITE), encoding="utf-8")
    (folder / "assistant.yaml").write_text(
        f"name: Test Clinic\nbuilder:\n  base_model: {base_model}\ngeneration:\n  max_new_tokens: 12\n", encoding="utf-8"
    )
    return folder


@pytest.fixture
def fake_folder(tmp_path) -> Path:
    """An assistant folder with documents and a suite, never indexed (the fake needs no index)."""
    return write_assistant(tmp_path / "clinic", "unused-by-fake")


@pytest.fixture
def fake_server(fake_folder):
    """The real Gradio app over a FakeAssistant, on loopback. Yields (url, folder, fake)."""
    from app import build_ui, launch
    from chat import LiveAssistant
    from builder.config import load_config

    cfg = load_config(fake_folder)
    fake = FakeAssistant(delay=0.01)
    live = LiveAssistant(fake_folder, cfg, loader=lambda folder, cfg: fake)
    demo = build_ui(fake_folder, cfg, live=live)
    port = free_port()
    launch(demo, port=port, prevent_thread_lock=True)
    try:
        yield f"http://127.0.0.1:{port}/", fake_folder, fake
    finally:
        demo.close()


@pytest.fixture(scope="session")
def real_folder(real_base_model, tiny_model_dir, tmp_path_factory) -> Path:
    """A real assistant: documents indexed with the real embedder and a fabricated build whose
    "tuned" model is the tiny random Llama (copied to build/model, with a manifest), so all four
    variants exist for side by side. The base is the real SmolLM2-135M (fast at 12 new tokens):
    a random model writes mostly whitespace, and the tests must see a visible answer."""
    from builder.config import load_config
    from chat.manifest import Manifest, write_manifest
    from knowledge import build_index

    folder = write_assistant(tmp_path_factory.mktemp("real") / "clinic", real_base_model)
    cfg = load_config(folder)
    build_index(folder / "docs", folder / "build" / "index", cfg.knowledge, progress=False)
    shutil.copytree(tiny_model_dir, folder / "build" / "model")
    write_manifest(
        folder / "build",
        Manifest(name=cfg.name, base_model=real_base_model, model_dir="model", index_dir="index",
                 chat=cfg.chat, generation=cfg.generation),
    )
    return folder


@pytest.fixture(scope="session")
def real_server(real_folder):
    """The app over the real chat.Assistant and knowledge base. Yields (url, folder, live)."""
    from app import build_ui, launch
    from chat import LiveAssistant
    from builder.config import load_config

    cfg = load_config(real_folder)
    live = LiveAssistant(real_folder, cfg)
    demo = build_ui(real_folder, cfg, live=live)
    port = free_port()
    launch(demo, port=port, prevent_thread_lock=True)
    try:
        yield f"http://127.0.0.1:{port}/", real_folder, live
    finally:
        demo.close()
