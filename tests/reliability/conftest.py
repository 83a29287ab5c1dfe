"""Fixtures for the reliability suite: the cases an attacker or a clumsy user found, kept as tests.

The suite reuses the knowledge tests' fake embedder (fast, counts its calls) and the builder
tests' tiny assistant folder; each behaviour is also exercised with the real parts where a user
would meet it (real MiniLM in the kill -9 build test, the real Gradio server in the API tests).
"""
from __future__ import annotations

import sys
from pathlib import Path

import pytest

_TESTS = Path(__file__).resolve().parents[1]
for sub in ("knowledge", "builder", "app"):
    if str(_TESTS / sub) not in sys.path:
        sys.path.insert(0, str(_TESTS / sub))

from knowledge_fixtures import FakeEmbedder  # noqa: E402

DOCS = {
    "hours.md": "# Opening hours\n\nThe clinic is open Monday to Friday from 8am to 6pm, and on Saturday from 9am to 1pm.\n",
    "billing.md": "# Billing\n\nWe accept cash, debit cards and all major credit cards. Invoices are sent by email.\n",
    "vaccines.txt": "Flu vaccines are given every autumn from October. Book by phone or at the front desk.\n",
}


@pytest.fixture
def folder(tmp_path) -> Path:
    """An assistant folder with three small documents and no build."""
    docs = tmp_path / "clinic" / "docs"
    docs.mkdir(parents=True)
    for name, text in DOCS.items():
        (docs / name).write_text(text, encoding="utf-8")
    return tmp_path / "clinic"


@pytest.fixture
def fake_embedder() -> FakeEmbedder:
    return FakeEmbedder()


@pytest.fixture
def kcfg():
    from knowledge import KnowledgeConfig

    return KnowledgeConfig(chunk_size=40, chunk_overlap=8, batch_size=2)
