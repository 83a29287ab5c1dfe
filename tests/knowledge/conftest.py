"""Fixtures for the knowledge base: a small corpus of every supported format, a fake embedder
that counts its calls, and tiny real models.

The fake embedder makes unit tests fast and lets them count embedding calls; every behaviour
tested with it is also tested once with the real packaged MiniLM (test_knowledge_real.py).
"""
from __future__ import annotations

from pathlib import Path

import pytest
from knowledge_fixtures import GUIDE_MD, NOTES_TXT, PAGE_HTML, PDF_PAGES, FakeEmbedder, make_docx, make_pdf

from knowledge import KnowledgeConfig


@pytest.fixture
def corpus(tmp_path) -> Path:
    """An assistant folder with docs/ of every supported format (and a nested folder)."""
    docs = tmp_path / "clinic" / "docs"
    (docs / "policies").mkdir(parents=True)
    (docs / "guide.md").write_text(GUIDE_MD, encoding="utf-8")
    (docs / "parking.txt").write_text(NOTES_TXT, encoding="utf-8")
    (docs / "vaccines.html").write_text(PAGE_HTML, encoding="utf-8")
    make_pdf(docs / "report.pdf", PDF_PAGES)
    make_docx(docs / "policies" / "cancellation.docx")
    return tmp_path / "clinic"


@pytest.fixture
def fake_embedder() -> FakeEmbedder:
    return FakeEmbedder()


@pytest.fixture
def cfg() -> KnowledgeConfig:
    return KnowledgeConfig(chunk_size=40, chunk_overlap=8)


@pytest.fixture(scope="session")
def tiny_cross_encoder(tmp_path_factory) -> str:
    """A 2-layer random BERT cross-encoder with MiniLM's real tokenizer, saved to a folder."""
    import torch
    from transformers import AutoTokenizer, BertConfig, BertForSequenceClassification

    from knowledge._embed import resolve_embedder

    tokenizer = AutoTokenizer.from_pretrained(resolve_embedder("all-minilm-l6-v2"))
    config = BertConfig(
        vocab_size=tokenizer.vocab_size,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=512,
        num_labels=1,
    )
    torch.manual_seed(0)
    model = BertForSequenceClassification(config)
    out = tmp_path_factory.mktemp("tiny_cross_encoder")
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    return str(out)
