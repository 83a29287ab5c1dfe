"""Tailor's knowledge base: documents in docs/ -> chunks -> FAISS + BM25 index in build/index/.

    from knowledge import build_index, load_index
    report = build_index("clinic/docs", "clinic/build/index", cfg.knowledge)
    kb = load_index("clinic/build/index", cfg.knowledge)
    for hit in kb.search("when are you open on saturday", k=4):
        print(hit.rank, hit.score, hit.source, hit.page, hit.text[:80])

The helpers live in _-prefixed modules; this file is the API other packages use.
"""
from __future__ import annotations

from pathlib import Path
from typing import Iterator

from ._build import IndexReport, build_index, index_from_vectors
from ._chunk import chunk_document, embedding_text
from ._embed import Embedder, load_embedder
from ._load import SUPPORTED, Document, load_document
from ._lock import folder_lock
from ._search import KnowledgeBase, load_index, rrf
from ._types import Chunk, Hit
from ._upload import MAX_UPLOAD_MB, UPLOAD_SUFFIXES, add_document, add_documents, document_rows
from .config import KnowledgeConfig
from .errors import InputError
from .files import jsonl_objects

__all__ = [
    "Chunk", "Hit", "IndexReport", "KnowledgeBase", "KnowledgeConfig", "Embedder", "Document", "SUPPORTED",
    "build_index", "load_index", "load_embedder", "load_document", "chunk_document", "embedding_text", "rrf",
    "folder_lock", "index_from_vectors", "search_many",
    # adding documents to docs/ from outside (the app's uploads), checked against SUPPORTED
    "MAX_UPLOAD_MB", "UPLOAD_SUFFIXES", "add_document", "add_documents", "document_rows",
]  # fmt: skip
# Also public: knowledge.files (atomic writes, JSONL), knowledge.folder (the assistant folder's
# layout), knowledge.errors (the error family); every package uses them.


def read_queries(path: str | Path) -> Iterator[tuple[int, dict]]:
    """(line number, row) for each query in a JSONL file whose rows have a `question` (an eval suite works as is)."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: no such file; give a JSONL file with one {{\"question\": ...}} per line")
    for number, row in jsonl_objects(path, fix="each line must be one JSON object"):
        if not isinstance(row, dict) or not isinstance(row.get("question"), str) or not row["question"].strip():
            raise InputError(f"{path}:{number}: needs a non-empty string field 'question'")
        yield number, row


def search_many(
    kb: KnowledgeBase, queries_file: str | Path, k: int | None = None, mode: str | None = None
) -> Iterator[tuple[dict, list[Hit]]]:
    """(row, hits) for each query line, in order, so an eval suite is answered in one process
    without reloading the index. Every line is validated before the first search."""
    rows = list(read_queries(queries_file))
    for _, row in rows:
        yield row, kb.search(row["question"], k=k, mode=mode)
