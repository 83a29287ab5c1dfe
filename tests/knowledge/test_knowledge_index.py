"""Chunking, incremental builds, atomic swaps, search modes, reranking and the LangChain adapter
(fast: the fake embedder; the real-model counterparts are in test_knowledge_real.py)."""
from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

import knowledge._store as store
from knowledge import KnowledgeConfig, build_index, chunk_document, load_document, load_index, rrf
from knowledge.errors import IndexError_, InputError


def _build(folder: Path, cfg, embedder):
    return build_index(folder / "docs", folder / "build" / "index", cfg, progress=False, embedder=embedder)


def _kb(folder: Path, embedder, cfg=None):
    return load_index(folder / "build" / "index", cfg, embedder=embedder)


LONG_MD = "# Handbook\n\n" + "\n\n".join(
    f"## Topic {t}\n\n" + " ".join(f"Sentence {t}.{s} about topic {t} with some filler words." for s in range(12))
    for t in range(6)
)


def test_chunks_respect_size_and_overlap_in_tokens(tmp_path, fake_embedder):
    path = tmp_path / "handbook.md"
    path.write_text(LONG_MD, encoding="utf-8")
    doc = load_document(path, "handbook.md")
    chunks = chunk_document(doc, fake_embedder.count_tokens, chunk_size=30, chunk_overlap=10)
    assert len(chunks) > 6
    assert all(fake_embedder.count_tokens(c.text) <= 30 for c in chunks)
    overlapping = 0
    for a, b in zip(chunks, chunks[1:]):
        if b.start < a.end and a.headings == b.headings:  # neighbours in one section share a tail
            shared = doc.text[b.start : a.end]
            assert fake_embedder.count_tokens(shared) <= 10
            overlapping += 1
    assert overlapping > 0
    no_overlap = chunk_document(doc, fake_embedder.count_tokens, chunk_size=30, chunk_overlap=0)
    assert all(b.start >= a.end for a, b in zip(no_overlap, no_overlap[1:]))


def test_chunk_size_is_capped_by_the_embedder_limit(tmp_path, fake_embedder):
    path = tmp_path / "handbook.md"
    path.write_text(LONG_MD, encoding="utf-8")
    doc = load_document(path, "handbook.md")
    chunks = chunk_document(doc, fake_embedder.count_tokens, chunk_size=500, chunk_overlap=0, max_tokens=40)
    from knowledge import embedding_text

    assert all(fake_embedder.count_tokens(embedding_text(c)) <= 40 for c in chunks)


def test_chunk_ids_are_stable_and_local_to_edits(corpus, cfg, fake_embedder):
    _build(corpus, cfg, fake_embedder)
    first = {c.id: c for c in _kb(corpus, fake_embedder).chunks}
    assert len(first) == len(_kb(corpus, fake_embedder).chunks)  # unique
    shutil.rmtree(corpus / "build")
    _build(corpus, cfg, fake_embedder)
    assert {c.id for c in _kb(corpus, fake_embedder).chunks} == set(first)  # same content, same ids
    guide = corpus / "docs" / "guide.md"
    guide.write_text(guide.read_text().replace("forty", "fifty"), encoding="utf-8")  # not in guide: no-op
    guide.write_text(guide.read_text().replace("We take cards and cash.", "We take cards only."), encoding="utf-8")
    _build(corpus, cfg, fake_embedder)
    second = {c.id for c in _kb(corpus, fake_embedder).chunks}
    changed = set(first) - second
    assert changed and all(first[i].source == "guide.md" for i in changed)
    assert {i for i in first if first[i].source != "guide.md"} <= second


def test_incremental_embeds_only_what_changed(corpus, cfg, fake_embedder):
    full = _build(corpus, cfg, fake_embedder)
    assert full.n_embedded == full.n_chunks > 0
    calls = fake_embedder.calls

    same = _build(corpus, cfg, fake_embedder)
    assert fake_embedder.calls == calls  # not a single embedding call
    assert same.n_embedded == 0 and len(same.unchanged) == 5 and not same.added

    (corpus / "docs" / "parking.txt").write_text("Parking notes\n\nParking is now free for patients.\n", encoding="utf-8")
    (corpus / "docs" / "new.md").write_text("# New\n\nA new page about telehealth visits.\n", encoding="utf-8")
    (corpus / "docs" / "vaccines.html").unlink()
    fake_embedder.texts.clear()
    again = _build(corpus, cfg, fake_embedder)
    assert again.changed == ["parking.txt"] and again.added == ["new.md"] and again.removed == ["vaccines.html"]
    assert all("Parking is now free" in t or "telehealth" in t for t in fake_embedder.texts)
    kb = _kb(corpus, fake_embedder)
    assert "vaccines.html" not in kb.sources()
    assert kb.search("telehealth visits", k=1, mode="bm25")[0].source == "new.md"
    # stored vectors of reused chunks are exactly the ones embedded before
    for i, chunk in enumerate(kb.chunks):
        if chunk.source == "guide.md":
            from knowledge import embedding_text

            expected = fake_embedder.encode([embedding_text(chunk)])[0]
            assert np.allclose(kb.embeddings[i], expected, atol=1e-6)


def test_changed_settings_rebuild_everything(corpus, cfg, fake_embedder):
    _build(corpus, cfg, fake_embedder)
    report = _build(corpus, cfg.model_copy(update={"chunk_size": 60}), fake_embedder)
    assert report.n_embedded > 0 and not report.unchanged


def test_failed_build_leaves_the_previous_index_usable(corpus, cfg, fake_embedder, monkeypatch):
    _build(corpus, cfg, fake_embedder)
    before = [h.id for h in _kb(corpus, fake_embedder).search("Saturday opening hours", k=3, mode="hybrid")]
    (corpus / "docs" / "new.md").write_text("# New\n\nSomething new about Saturday.\n", encoding="utf-8")

    def crash(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(store, "build_bm25", crash)  # fails after chunks and embeddings were written
    with pytest.raises(RuntimeError, match="disk full"):
        _build(corpus, cfg, fake_embedder)
    index_dir = corpus / "build" / "index"
    assert not [p for p in index_dir.iterdir() if p.name.endswith(".partial")]
    kb = _kb(corpus, fake_embedder)
    assert "new.md" not in kb.sources()
    assert [h.id for h in kb.search("Saturday opening hours", k=3, mode="hybrid")] == before


def test_killed_build_leftovers_do_not_break_loading(corpus, cfg, fake_embedder):
    _build(corpus, cfg, fake_embedder)
    index_dir = corpus / "build" / "index"
    partial = store.new_version_dir(index_dir)  # as a build killed mid-write leaves it
    (partial / "chunks.jsonl").write_text('{"half": ', encoding="utf-8")
    assert len(_kb(corpus, fake_embedder)) > 0
    store.remove_stale_partials(index_dir)
    assert not partial.exists()


def test_missing_index_and_embedder_mismatch_are_clear_errors(corpus, cfg, fake_embedder):
    with pytest.raises(IndexError_, match="run `tailor index FOLDER`"):
        load_index(corpus / "build" / "index", cfg)
    _build(corpus, cfg, fake_embedder)
    with pytest.raises(IndexError_, match="built with embedder 'fake-bow'.*knowledge.embedder is 'all-minilm-l6-v2'"):
        load_index(corpus / "build" / "index", KnowledgeConfig())
    from knowledge_fixtures import FakeEmbedder

    with pytest.raises(IndexError_, match="built with embedder 'fake-bow'"):
        load_index(corpus / "build" / "index", cfg, embedder=FakeEmbedder(name="other-model"))


def test_search_modes_and_similarity(corpus, cfg, fake_embedder):
    _build(corpus, cfg, fake_embedder)
    kb = _kb(corpus, fake_embedder)
    query = "are you open on Saturday"
    qvec = fake_embedder.encode([query])[0]
    for mode in ("dense", "bm25", "hybrid"):
        hits = kb.search(query, k=3, mode=mode)
        assert [h.rank for h in hits] == list(range(1, len(hits) + 1))
        assert hits[0].source == "guide.md" and "Saturday" in hits[0].text
        assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)
        for hit in hits:  # similarity is the cosine in every mode
            row = kb.chunks.index(hit.chunk)
            assert hit.similarity == pytest.approx(float(kb.embeddings[row] @ qvec), abs=1e-5)
    dense = kb.search(query, k=3, mode="dense")
    assert [h.score for h in dense] == pytest.approx([h.similarity for h in dense])
    assert kb.search("zzzz qqqq", k=3, mode="bm25") == []  # no shared word: nothing, not noise


def test_a_search_leaves_torch_on_every_thread_it_had(corpus, cfg, fake_embedder):
    """FAISS and torch share one OpenMP runtime: a search runs FAISS on one thread, and must not
    leave torch (training, generation) on one thread after it."""
    import torch

    _build(corpus, cfg, fake_embedder)
    threads = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        kb = _kb(corpus, fake_embedder)
        assert kb.search("are you open on Saturday", k=3, mode="dense")
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(threads)


def test_rrf_and_hybrid_fusion(corpus, cfg, fake_embedder):
    fused = rrf([[1, 2, 3], [3, 1, 4]], k=60)
    assert fused[1] == pytest.approx(1 / 61 + 1 / 62)
    assert fused[3] == pytest.approx(1 / 63 + 1 / 61)
    assert fused[4] == pytest.approx(1 / 63)
    assert sorted(fused, key=lambda i: -fused[i])[:2] == [1, 3]

    _build(corpus, cfg, fake_embedder)
    kb = _kb(corpus, fake_embedder)
    query = "insurance card visit"
    dense = [h.id for h in kb.search(query, k=len(kb), mode="dense")]
    lexical = [h.id for h in kb.search(query, k=len(kb), mode="bm25")]
    expected = rrf([dense, lexical])
    hybrid = kb.search(query, k=4, mode="hybrid")
    assert [h.id for h in hybrid] == sorted(expected, key=lambda i: (-expected[i], dense.index(i)))[:4]
    assert hybrid[0].scores["rrf"] == pytest.approx(expected[hybrid[0].id])
    assert "dense" in hybrid[0].scores


def test_bad_queries(corpus, cfg, fake_embedder):
    _build(corpus, cfg, fake_embedder)
    kb = _kb(corpus, fake_embedder)
    for empty in ("", "   \n"):
        with pytest.raises(InputError, match="query is empty"):
            kb.search(empty)
    with pytest.raises(InputError, match="unknown search mode"):
        kb.search("hours", mode="magic")
    long_query = "Saturday opening hours " + "blah " * 2500  # ~10,000 characters
    assert len(long_query) >= 10_000
    fake_embedder.texts.clear()
    hits = kb.search(long_query, k=2, mode="hybrid")
    assert hits and fake_embedder.count_tokens(fake_embedder.texts[-1]) <= fake_embedder.content_tokens
    assert kb.search("hours", k=999, mode="dense")  # k beyond the corpus is clamped


@pytest.mark.parametrize("index_type", ["hnsw", "ivf"])
def test_approximate_index_types(corpus, fake_embedder, index_type):
    cfg = KnowledgeConfig(chunk_size=20, chunk_overlap=0, index_type=index_type)
    _build(corpus, cfg, fake_embedder)
    kb = _kb(corpus, fake_embedder, cfg)
    assert kb.manifest["index_type"] == index_type
    hits = kb.search("dermatology appointments online", k=1, mode="dense")
    assert hits[0].source == "report.pdf" and hits[0].page == 2


def test_reranker_reorders_fused_candidates(corpus, fake_embedder, tiny_cross_encoder):
    from sentence_transformers import CrossEncoder

    from knowledge import embedding_text

    cfg = KnowledgeConfig(chunk_size=40, chunk_overlap=8, reranker=tiny_cross_encoder, candidates=8)
    _build(corpus, cfg, fake_embedder)
    kb = _kb(corpus, fake_embedder, cfg)
    query = "when can I book a vaccine appointment"
    hits = kb.search(query, k=5, mode="hybrid")
    plain = load_index(corpus / "build" / "index", cfg.model_copy(update={"reranker": None}), embedder=fake_embedder)
    fused = plain.search(query, k=8, mode="hybrid")
    model = CrossEncoder(tiny_cross_encoder)
    expected = model.predict([(query, embedding_text(h.chunk)) for h in fused])
    order = sorted(range(len(fused)), key=lambda j: -expected[j])
    assert [h.id for h in hits] == [fused[j].id for j in order][:5]
    assert [h.score for h in hits] == pytest.approx([float(expected[j]) for j in order][:5], abs=1e-4)
    assert all("rerank" in h.scores and "rrf" in h.scores for h in hits)


def test_langchain_retriever_in_a_runnable_chain(corpus, cfg, fake_embedder):
    from langchain_core.documents import Document
    from langchain_core.prompts import PromptTemplate
    from langchain_core.runnables import RunnableLambda, RunnablePassthrough

    _build(corpus, cfg, fake_embedder)
    kb = _kb(corpus, fake_embedder)
    retriever = kb.as_retriever(k=2, mode="hybrid")
    docs = retriever.invoke("opening hours on Saturday")
    assert isinstance(docs[0], Document) and docs[0].metadata["source"] == "guide.md"
    assert docs[0].metadata["headings"] == ["Riverside Clinic Guide", "Opening hours"]
    assert {"score", "similarity", "rank", "page", "start", "end"} <= set(docs[0].metadata)

    def format_docs(documents):
        return "\n".join(f"[{d.metadata['rank']}] {d.metadata['source']}: {d.page_content}" for d in documents)

    prompt = PromptTemplate.from_template("Context:\n{context}\n\nQuestion: {question}")
    chain = {"context": retriever | RunnableLambda(format_docs), "question": RunnablePassthrough()} | prompt
    rendered = chain.invoke("opening hours on Saturday").to_string()
    assert "[1] guide.md:" in rendered and "Saturday" in rendered and rendered.endswith("Question: opening hours on Saturday")
