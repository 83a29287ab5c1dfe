"""The real packaged MiniLM: the counterpart of every fake-embedder test that matters."""
from __future__ import annotations

import numpy as np
import pytest

from knowledge import KnowledgeConfig, build_index, embedding_text, load_index

pytestmark = pytest.mark.e2e


@pytest.fixture
def real_kb(corpus, minilm):
    cfg = KnowledgeConfig()
    report = build_index(corpus / "docs", corpus / "build" / "index", cfg, progress=False, embedder=minilm)
    return report, load_index(corpus / "build" / "index", cfg)


def test_real_embedder_finds_the_hours_in_every_mode(real_kb):
    _, kb = real_kb
    for mode in ("dense", "bm25", "hybrid"):
        top = kb.search("when are you open on saturday", k=3, mode=mode)[0]
        assert top.source == "guide.md" and "Saturday" in top.text, mode
        assert top.chunk.headings[0] == "Riverside Clinic Guide"
    hit = kb.search("dermatology appointments", k=1, mode="hybrid")[0]
    assert (hit.source, hit.page) == ("report.pdf", 2)


def test_real_vectors_are_unit_length_and_similarity_is_cosine(real_kb, minilm):
    _, kb = real_kb
    assert kb.embeddings.shape == (len(kb), 384)
    assert np.allclose(np.linalg.norm(kb.embeddings, axis=1), 1.0, atol=1e-4)
    query = "how much is the yellow fever vaccine"
    qvec = minilm.encode([query])[0]
    for hit in kb.search(query, k=3, mode="bm25"):
        row = kb.chunks.index(hit.chunk)
        assert hit.similarity == pytest.approx(float(kb.embeddings[row] @ qvec), abs=1e-4)
    # chunk size is counted in MiniLM word pieces
    assert all(minilm.count_tokens(c.text) <= KnowledgeConfig().chunk_size for c in kb.chunks)
    assert minilm.count_tokens(embedding_text(kb.chunks[0])) > minilm.count_tokens(kb.chunks[0].text)


def test_real_unchanged_reindex_never_calls_the_model(real_kb, corpus, minilm, monkeypatch):
    calls = []
    monkeypatch.setattr(type(minilm), "encode", lambda self, *a, **k: calls.append(a) or np.zeros((0, 384)))
    report = build_index(corpus / "docs", corpus / "build" / "index", KnowledgeConfig(), progress=False, embedder=minilm)
    assert report.n_embedded == 0 and calls == [] and len(report.unchanged) == 5


def test_real_long_query_is_truncated_to_the_model_limit(real_kb, minilm):
    _, kb = real_kb
    long_query = "when are you open on saturday? " + "please tell me more " * 600
    assert len(long_query) >= 10_000
    cut = minilm.truncate(long_query)
    assert minilm.count_tokens(cut) <= minilm.content_tokens < minilm.count_tokens(long_query)
    assert long_query.startswith(cut)
    hits = kb.search(long_query, k=2, mode="hybrid")
    assert len(hits) == 2
