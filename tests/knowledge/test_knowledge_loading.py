"""Loading every format with its metadata, and every kind of bad input."""
from __future__ import annotations

import gc
import weakref
from pathlib import Path

import pytest
from knowledge_fixtures import make_pdf, make_scanned_pdf

import knowledge._build as build_module
from knowledge import build_index, load_document, load_index
from knowledge.errors import InputError


def _index(folder: Path, cfg, embedder):
    report = build_index(folder / "docs", folder / "build" / "index", cfg, progress=False, embedder=embedder)
    return report, load_index(folder / "build" / "index", embedder=embedder)


def _chunk_with(kb, words: str):
    found = [c for c in kb.chunks if words in c.text]
    assert found, f"no chunk contains {words!r}"
    return found[0]


def test_every_format_is_indexed_with_its_metadata(corpus, fake_embedder):
    from knowledge import KnowledgeConfig

    report, kb = _index(corpus, KnowledgeConfig(chunk_size=20, chunk_overlap=0), fake_embedder)  # about one section a chunk
    assert sorted(report.added) == ["guide.md", "parking.txt", "policies/cancellation.docx", "report.pdf", "vaccines.html"]
    assert report.skipped == {}
    assert set(kb.sources()) == set(report.added)

    # PDF: 1-based page numbers
    assert _chunk_with(kb, "12,000 patients").page == 1
    assert _chunk_with(kb, "dermatology wing").page == 2
    # Markdown: heading trail
    saturday = _chunk_with(kb, "Saturday")
    assert saturday.headings == ["Riverside Clinic Guide", "Opening hours"]
    assert _chunk_with(kb, "cards and cash").headings == ["Riverside Clinic Guide", "Billing", "Payment"]
    assert saturday.page is None
    # HTML: headings, visible text only
    assert _chunk_with(kb, "six weeks").headings == ["Vaccination service", "Travel vaccines"]
    assert "Yellow fever | $90" in _chunk_with(kb, "Yellow fever").text
    assert not any("tracking" in c.text or "color: red" in c.text for c in kb.chunks)
    # DOCX: heading styles and tables
    assert _chunk_with(kb, "15 minutes late").headings == ["Cancellation policy", "Late arrivals"]
    assert "Second missed visit | $25" in _chunk_with(kb, "Second missed").text
    # nested folders keep their relative posix path
    assert "policies/cancellation.docx" in kb.sources()


def test_short_sections_share_a_chunk(corpus, cfg, fake_embedder):
    """With room to spare, Insurance and Payment share one chunk that keeps their heading lines;
    its trail is the one where it starts."""
    _, kb = _index(corpus, cfg, fake_embedder)
    billing = _chunk_with(kb, "cards and cash")
    assert "### Insurance" in billing.text and "### Payment" in billing.text
    assert billing.headings[:2] == ["Riverside Clinic Guide", "Billing"]


def test_offsets_point_into_the_document_text(corpus, cfg, fake_embedder):
    _, kb = _index(corpus, cfg, fake_embedder)
    texts = {}
    for chunk in kb.chunks:
        if chunk.source not in texts:
            texts[chunk.source] = load_document(corpus / "docs" / chunk.source, chunk.source).text
        assert texts[chunk.source][chunk.start : chunk.end] == chunk.text
    # for Markdown and text files the document text is the file itself
    guide = (corpus / "docs" / "guide.md").read_text(encoding="utf-8")
    saturday = _chunk_with(kb, "Saturday")
    assert guide[saturday.start : saturday.end] == saturday.text


def test_missing_or_empty_docs_is_a_clear_error(tmp_path, cfg, fake_embedder):
    with pytest.raises(InputError, match="no such folder"):
        build_index(tmp_path / "nope" / "docs", tmp_path / "index", cfg, progress=False, embedder=fake_embedder)
    (tmp_path / "docs").mkdir()
    with pytest.raises(InputError, match="is empty"):
        build_index(tmp_path / "docs", tmp_path / "index", cfg, progress=False, embedder=fake_embedder)
    (tmp_path / "docs" / "image.png").write_bytes(b"\x89PNG....")
    with pytest.raises(InputError, match="no document could be indexed.*image.png"):
        build_index(tmp_path / "docs", tmp_path / "index", cfg, progress=False, embedder=fake_embedder)


def test_unsupported_types_are_listed_and_skipped(corpus, cfg, fake_embedder):
    (corpus / "docs" / "photo.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    (corpus / "docs" / "sheet.xlsx").write_bytes(b"PK\x03\x04")
    report, kb = _index(corpus, cfg, fake_embedder)
    assert set(report.skipped) == {"photo.jpg", "sheet.xlsx"}
    assert "unsupported file type '.jpg'" in report.skipped["photo.jpg"]
    assert "skipped photo.jpg" in report.summary()
    assert len(report.added) == 5


def test_corrupt_pdf_and_docx_warn_and_the_rest_are_indexed(corpus, cfg, fake_embedder):
    (corpus / "docs" / "broken.pdf").write_bytes(b"%PDF-1.4\n1 0 obj << /Type /Catalog >> garbage")
    (corpus / "docs" / "broken.docx").write_bytes(b"this is not a zip file")
    report, kb = _index(corpus, cfg, fake_embedder)
    assert "corrupt or unreadable PDF" in report.skipped["broken.pdf"]
    assert "corrupt or unreadable DOCX" in report.skipped["broken.docx"]
    assert any(w.startswith("broken.pdf:") for w in report.warnings)
    assert any(w.startswith("broken.docx:") for w in report.warnings)
    assert len(report.added) == 5 and "report.pdf" in kb.sources()


def test_pdf_without_text_layer_says_it_needs_ocr(corpus, cfg, fake_embedder):
    make_scanned_pdf(corpus / "docs" / "scan.pdf")
    report, _ = _index(corpus, cfg, fake_embedder)
    assert "needs OCR" in report.skipped["scan.pdf"]
    assert any("scan.pdf" in w and "OCR" in w for w in report.warnings)


def test_pdf_with_some_blank_pages_names_them(tmp_path, cfg, fake_embedder):
    docs = tmp_path / "docs"
    docs.mkdir()
    make_pdf(docs / "mixed.pdf", ["First page has text.", "", "Third page has text too."])
    report = build_index(docs, tmp_path / "index", cfg, progress=False, embedder=fake_embedder)
    kb = load_index(tmp_path / "index", embedder=fake_embedder)
    assert sorted(c.page for c in kb.chunks) == [1, 3]
    assert any("mixed.pdf: pages 2" in w and "OCR" in w for w in report.warnings)


def test_non_utf8_text_is_read_with_a_warning(corpus, cfg, fake_embedder):
    (corpus / "docs" / "legacy.txt").write_bytes("Café opening times: Monday – Friday".encode("cp1252"))
    report, kb = _index(corpus, cfg, fake_embedder)
    assert "legacy.txt" in report.added
    assert "Café opening times: Monday – Friday" in _chunk_with(kb, "opening times").text
    assert any("legacy.txt: not UTF-8" in w for w in report.warnings)


def test_empty_file_is_skipped(corpus, cfg, fake_embedder):
    (corpus / "docs" / "empty.md").write_text("", encoding="utf-8")
    (corpus / "docs" / "blank.txt").write_text("   \n\n  \n", encoding="utf-8")
    report, kb = _index(corpus, cfg, fake_embedder)
    assert report.skipped["empty.md"] == "empty file"
    assert "no text" in report.skipped["blank.txt"]
    assert "empty.md" not in kb.sources()


def test_same_content_in_two_places_is_indexed_once(corpus, cfg, fake_embedder):
    (corpus / "docs" / "copy").mkdir()
    (corpus / "docs" / "copy" / "guide-again.md").write_bytes((corpus / "docs" / "guide.md").read_bytes())
    report, kb = _index(corpus, cfg, fake_embedder)
    assert "same content as copy/guide-again.md" in report.skipped["guide.md"]  # first in path order
    assert "guide.md" not in kb.sources()
    assert sum("Saturday" in c.text for c in kb.chunks) == 1
    # once indexed, a copy keeps its place when another copy appears
    (corpus / "docs" / "a-third-copy.md").write_bytes((corpus / "docs" / "guide.md").read_bytes())
    again, _ = _index(corpus, cfg, fake_embedder)
    assert "same content as copy/guide-again.md" in again.skipped["a-third-copy.md"]
    assert again.n_embedded == 0


def test_50mb_text_file_is_indexed_one_file_at_a_time(tmp_path, fake_embedder, monkeypatch):
    """A 50 MB file goes through; only one document is ever held in memory at a time."""
    from knowledge import KnowledgeConfig

    docs = tmp_path / "docs"
    docs.mkdir()
    paragraph = " ".join(f"word{i % 997} line{i % 13}" for i in range(120)) + "\n\n"
    repeats = 50 * 1024 * 1024 // len(paragraph) + 1
    with open(docs / "big.txt", "w", encoding="utf-8") as fh:
        for i in range(repeats):
            fh.write(paragraph)
    assert (docs / "big.txt").stat().st_size >= 50 * 1024 * 1024
    (docs / "small.md").write_text("# Small\n\nA small file after the big one.\n", encoding="utf-8")

    alive: list[weakref.ref] = []
    peak = 0
    real_load = build_module.load_document

    def tracking_load(path, source):
        nonlocal peak
        gc.collect()
        alive[:] = [r for r in alive if r() is not None]
        peak = max(peak, len(alive))
        doc = real_load(path, source)
        alive.append(weakref.ref(doc))
        return doc

    monkeypatch.setattr(build_module, "load_document", tracking_load)
    cfg = KnowledgeConfig(chunk_size=4000, chunk_overlap=0)
    report = build_index(docs, tmp_path / "index", cfg, progress=False, embedder=fake_embedder)
    assert report.added == ["big.txt", "small.md"]
    assert peak == 0  # the previous document was released before the next was read
    assert report.n_chunks > 1000
    # identical passages are embedded once
    assert report.n_embedded < report.n_chunks
