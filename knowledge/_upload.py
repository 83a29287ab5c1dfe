"""Adding documents to docs/ from outside (the app's uploads), and listing what docs/ holds.

An upload's name comes from a browser, so it is checked before anything is written: no folders,
no '..', no hidden names, and only the file types the loader reads (`SUPPORTED`, the loader's
own list, so the two never disagree). The copy is atomic: an index run sees the old document
or the new one, never half of it.
"""
from __future__ import annotations

import re
from pathlib import Path

from ._load import SUPPORTED
from .errors import InputError, TailorError
from .files import write_bytes_atomic

UPLOAD_SUFFIXES = tuple(sorted(SUPPORTED))  # what an upload may be: what the loader reads
MAX_UPLOAD_MB = 20  # one document; larger files are usually scans or exports that index badly
MAX_UPLOAD_FILES = 20  # documents per upload


def safe_upload_name(name: str | None) -> str:
    """The file name an upload gets in docs/, or InputError. Names with folders or '..' are
    refused outright (not silently flattened), so no upload can write outside docs/."""
    raw = (name or "").strip()
    if not raw:
        raise InputError("the upload has no file name; rename the file and upload it again")
    if "/" in raw or "\\" in raw or raw in (".", "..") or raw.startswith(".") or "\x00" in raw:
        raise InputError(f"{raw!r}: file names may not contain folders, '..' or start with '.'; upload the file itself under a plain name")
    suffix = Path(raw).suffix.lower()
    if suffix not in SUPPORTED:
        raise InputError(f"{raw!r}: unsupported file type {suffix or '(none)'}; Tailor reads {' '.join(UPLOAD_SUFFIXES)}")
    return re.sub(r"[^\w .()+-]", "_", raw)


def add_document(docs: str | Path, src: str | Path, name: str | None = None) -> Path:
    """Copy one uploaded file into DOCS under a safe name (NAME, else the file's own), atomically;
    an existing document of that name is replaced. Returns the new document's path."""
    src = Path(src)
    fname = safe_upload_name(name if name is not None else src.name)
    size = src.stat().st_size
    if size == 0:
        raise InputError(f"{fname!r} is empty; upload a document with text in it")
    if size > MAX_UPLOAD_MB * 1024 * 1024:
        raise InputError(f"{fname!r} is {size / 2**20:.1f} MB; the limit is {MAX_UPLOAD_MB} MB per file (split it, or copy it into docs/ by hand)")
    docs = Path(docs)
    docs.mkdir(parents=True, exist_ok=True)
    dest = docs / fname
    if dest.resolve().parent != docs.resolve():  # belt and braces after the name checks
        raise InputError(f"{fname!r}: refusing to write outside {docs}")
    return write_bytes_atomic(dest, src.read_bytes())  # its temp file starts with '.': never indexed


def add_documents(docs: str | Path, files: list[str | Path]) -> tuple[list[str], list[str]]:
    """Add each file to DOCS: (names added, one message per file refused). More than
    MAX_UPLOAD_FILES at once is an InputError and adds nothing."""
    if len(files) > MAX_UPLOAD_FILES:
        raise InputError(f"{len(files)} files chosen; upload at most {MAX_UPLOAD_FILES} at a time.")
    added, refused = [], []
    for path in files:
        try:
            added.append(add_document(docs, path).name)
        except TailorError as exc:
            refused.append(str(exc))
    return added, refused


def document_rows(docs: str | Path, sources: dict[str, int]) -> list[list]:
    """Every readable file in DOCS with its chunk count in the index (SOURCES): 'not indexed'
    until the next index run, and indexed files since removed, marked as such."""
    docs = Path(docs)
    files = sorted(
        p.relative_to(docs).as_posix()
        for p in docs.rglob("*")
        if p.is_file() and p.suffix.lower() in SUPPORTED and not p.name.startswith(".")
    ) if docs.is_dir() else []
    rows = [[f, sources[f] if f in sources else "not indexed"] for f in files]
    rows += [[f, f"{n} (file removed; re-index)"] for f, n in sorted(sources.items()) if f not in set(files)]
    return rows
