"""Tailor's knowledge base: documents in docs/ -> chunks -> FAISS + BM25 index in build/index/.

    from knowledge import build_index, load_index
    report = build_index("clinic/docs", "clinic/build/index", cfg.knowledge)
    kb = load_index("clinic/build/index", cfg.knowledge)
    for hit in kb.search("when are you open on saturday", k=4):
        print(hit.rank, hit.score, hit.source, hit.page, hit.text[:80])

The helpers live in _-prefixed modules; this file is the API other packages use.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Iterator

from ._build import IndexReport, build_index, index_from_vectors
from ._chunk import chunk_document, embedding_text
from ._embed import Embedder, load_embedder
from .files import jsonl_lines
from ._load import SUPPORTED, Document, load_document
from ._lock import folder_lock
from ._search import MODES, KnowledgeBase, load_index, rrf
from ._types import Chunk, Hit
from .config import KnowledgeConfig
from .errors import InputError

__all__ = [
    "Chunk", "Hit", "IndexReport", "KnowledgeBase", "KnowledgeConfig", "Embedder", "Document", "MODES", "SUPPORTED",
    "build_index", "load_index", "load_embedder", "load_document", "chunk_document", "embedding_text", "rrf",
    "folder_lock", "index_from_vectors", "docs_dir", "index_dir", "format_hits", "hits_json", "read_queries", "search_many",
]  # fmt: skip


def docs_dir(folder: str | Path) -> Path:
    """Where an assistant folder keeps its documents."""
    return Path(folder) / "docs"


def index_dir(folder: str | Path) -> Path:
    """Where an assistant folder's knowledge base lives (rebuildable, under build/)."""
    return Path(folder) / "build" / "index"


def format_hits(hits: list[Hit], snippet_chars: int = 160) -> str:
    """Rank, score, source (with page) and a one-line snippet per hit: what `tailor search` prints."""
    if not hits:
        return "No matching chunks."
    lines = []
    for hit in hits:
        snippet = " ".join(hit.text.split())
        if len(snippet) > snippet_chars:
            snippet = snippet[: snippet_chars - 1].rstrip() + "…"
        where = hit.chunk.label
        if hit.chunk.headings:
            where += f" § {hit.chunk.headings[-1]}"
        lines.append(f"{hit.rank:>2}. {hit.score:.4f}  {where}\n    {snippet}")
    return "\n".join(lines)


def read_queries(path: str | Path) -> Iterator[tuple[int, dict]]:
    """(line number, row) for each query in a JSONL file whose rows have a `question` (an eval suite works as is)."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: no such file; give a JSONL file with one {{\"question\": ...}} per line")
    for number, line in jsonl_lines(path):
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise InputError(f"{path}:{number}: not valid JSON ({exc.msg}); each line must be one JSON object") from exc
        except RecursionError:
            raise InputError(f"{path}:{number}: JSON nested too deeply; each line must be one flat JSON object") from None
        if not isinstance(row, dict) or not isinstance(row.get("question"), str) or not row["question"].strip():
            raise InputError(f"{path}:{number}: needs a non-empty string field 'question'")
        yield number, row


def hits_json(question: str, hits: list[Hit], id: str | None = None) -> dict:
    """The JSON object `tailor search --json` prints for one query."""
    out = {"question": question, "hits": [h.to_dict() for h in hits]}
    return {"id": id, **out} if id is not None else out


def search_many(
    kb: KnowledgeBase, queries_file: str | Path, k: int | None = None, mode: str | None = None
) -> Iterator[tuple[dict, list[Hit]]]:
    """(row, hits) for each query line, in order, so an eval suite is answered in one process
    without reloading the index. Every line is validated before the first search."""
    rows = list(read_queries(queries_file))
    for _, row in rows:
        yield row, kb.search(row["question"], k=k, mode=mode)

# Adding documents to docs/ from outside (the app's uploads), checked against SUPPORTED.
from ._upload import MAX_UPLOAD_FILES, MAX_UPLOAD_MB, UPLOAD_SUFFIXES, add_document, add_documents, document_rows, safe_upload_name

__all__ += ["MAX_UPLOAD_FILES", "MAX_UPLOAD_MB", "UPLOAD_SUFFIXES", "add_document", "add_documents", "document_rows", "safe_upload_name"]
