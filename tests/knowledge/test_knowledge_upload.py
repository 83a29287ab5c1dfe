"""Adding documents to docs/ from outside (the app's uploads) and listing what docs/ holds.

An upload's name comes from a browser: names that could write outside docs/ are refused, and
the file types accepted are exactly the loader's (SUPPORTED), so an upload is never refused for
a type `tailor index` reads, nor accepted for one it cannot."""
import os

import pytest

from knowledge import MAX_UPLOAD_MB, SUPPORTED, add_document, add_documents, build_index, document_rows
from knowledge._upload import MAX_UPLOAD_FILES, safe_upload_name
from knowledge.errors import InputError


@pytest.mark.parametrize(
    "name, message",
    [
        ("../../etc/passwd", "may not contain folders"),
        ("..\\evil.md", "may not contain folders"),
        ("sub/notes.md", "may not contain folders"),
        ("..", "may not contain folders"),
        (".hidden.md", "start with '.'"),
        ("", "no file name"),
        ("tool.exe", r"unsupported file type \.exe"),
        ("README", r"unsupported file type \(none\)"),
    ],
)
def test_unsafe_or_unsupported_names_are_refused(name, message):
    with pytest.raises(InputError, match=message):
        safe_upload_name(name)


def test_supported_names_keep_their_name():
    assert safe_upload_name("Price list (2024).PDF") == "Price list (2024).PDF"
    assert safe_upload_name("notes.md") == "notes.md"
    assert safe_upload_name("a;b|c.txt") == "a_b_c.txt"


def test_every_type_the_loader_reads_can_be_uploaded():
    for suffix in SUPPORTED:
        assert safe_upload_name(f"doc{suffix}") == f"doc{suffix}"
    assert safe_upload_name("notes.markdown") == "notes.markdown"  # once refused: the app had its own, shorter list
    with pytest.raises(InputError) as refused:
        safe_upload_name("tool.exe")
    assert all(suffix in str(refused.value) for suffix in SUPPORTED)  # the message lists what is accepted


def test_add_document_copies_into_docs_and_replaces(tmp_path):
    docs = tmp_path / "clinic" / "docs"
    src = tmp_path / "upload" / "hours.md"
    src.parent.mkdir()
    src.write_text("v1", encoding="utf-8")
    dest = add_document(docs, src)
    assert dest == docs / "hours.md" and dest.read_text() == "v1"
    src.write_text("v2", encoding="utf-8")
    add_document(docs, src)
    assert dest.read_text() == "v2"
    assert sorted(p.name for p in docs.iterdir()) == ["hours.md"]  # no temp file left behind
    umask = os.umask(0)
    os.umask(umask)
    assert dest.stat().st_mode & 0o777 == 0o666 & ~umask  # an ordinary file, like one copied in by hand


def test_add_document_takes_the_name_given(tmp_path):
    src = tmp_path / "tmpab12cd"
    src.write_text("# Parking\n\nBehind the building.\n", encoding="utf-8")
    assert add_document(tmp_path / "docs", src, name="parking.markdown") == tmp_path / "docs" / "parking.markdown"


def test_add_document_refuses_traversal_empty_and_oversized(tmp_path):
    docs = tmp_path / "docs"
    src = tmp_path / "x.md"
    src.write_text("secret", encoding="utf-8")
    with pytest.raises(InputError, match="may not contain folders"):
        add_document(docs, src, name="../../etc/passwd.md")
    assert not (tmp_path / "etc").exists()
    empty = tmp_path / "empty.md"
    empty.write_bytes(b"")
    with pytest.raises(InputError, match="is empty"):
        add_document(docs, empty)
    big = tmp_path / "big.txt"
    with open(big, "wb") as fh:
        fh.truncate(MAX_UPLOAD_MB * 1024 * 1024 + 1)
    with pytest.raises(InputError, match=f"limit is {MAX_UPLOAD_MB} MB"):
        add_document(docs, big)
    assert not docs.exists() or not any(docs.iterdir())


def test_add_documents_adds_the_good_files_and_reports_each_refused_one(tmp_path):
    docs = tmp_path / "docs"
    good, bad = tmp_path / "hours.md", tmp_path / "virus.exe"
    good.write_text("Open 9 to 5.", encoding="utf-8")
    bad.write_bytes(b"MZ")
    added, refused = add_documents(docs, [bad, good])
    assert added == ["hours.md"] and len(refused) == 1 and "unsupported file type .exe" in refused[0]
    assert sorted(p.name for p in docs.iterdir()) == ["hours.md"]
    with pytest.raises(InputError, match=f"upload at most {MAX_UPLOAD_FILES} at a time"):
        add_documents(docs, [good] * (MAX_UPLOAD_FILES + 1))


def test_document_rows_mark_unindexed_and_removed_files(tmp_path):
    docs = tmp_path / "docs"
    docs.mkdir()
    for name in ("hours.md", "billing.md", "notes.markdown", ".draft.md", "logo.png"):
        (docs / name).write_text("x", encoding="utf-8")
    rows = document_rows(docs, {"hours.md": 2, "gone.md": 1})
    assert ["hours.md", 2] in rows
    assert ["billing.md", "not indexed"] in rows and ["notes.markdown", "not indexed"] in rows
    assert ["gone.md", "1 (file removed; re-index)"] in rows
    assert not any(r[0] in (".draft.md", "logo.png") for r in rows)  # what the loader would not read
    assert document_rows(tmp_path / "missing", {}) == []


def test_an_uploaded_markdown_file_is_indexed(tmp_path, cfg, fake_embedder):
    """The point of checking against SUPPORTED: what the upload accepts, the index reads."""
    src = tmp_path / "upload.markdown"
    src.write_text("# Parking\n\nThe clinic has free parking behind the building.\n", encoding="utf-8")
    docs = tmp_path / "clinic" / "docs"
    add_document(docs, src, name="parking.markdown")
    report = build_index(docs, tmp_path / "clinic" / "build" / "index", cfg, progress=False, embedder=fake_embedder)
    assert "parking.markdown" in report.added
