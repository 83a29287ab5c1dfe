"""Building the index: scan docs/, reuse what has not changed, embed the rest, swap atomically.

Files are read one at a time and only their chunks are kept. A file whose content hash is
the one recorded in the last manifest (with the same embedder and chunking settings) reuses
its chunks and stored embeddings without being read again, so re-indexing an unchanged
folder makes no embedding call and never loads the model. A changed file is re-chunked, and
only its chunks whose text is new are embedded.
"""
from __future__ import annotations

import hashlib
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from . import _store
from ._chunk import CHUNKER_VERSION, chunk_document, embedding_text
from ._embed import Embedder, load_embedder
from ._lock import folder_lock
from ._load import SUPPORTED, Unreadable, load_document
from ._types import Chunk
from .config import KnowledgeConfig
from .errors import IndexError_, InputError

PROGRESS_DIR = ".embed-progress"  # vectors embedded by a run that has not committed yet (see _Progress)


@dataclass
class IndexReport:
    """What `tailor index` did, file by file."""

    index_dir: str
    added: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)  # source -> reason
    warnings: list[str] = field(default_factory=list)
    n_chunks: int = 0
    n_embedded: int = 0  # chunks sent to the embedder in this run
    seconds: float = 0.0
    version: str = ""

    @property
    def indexed(self) -> list[str]:
        return self.added + self.changed + self.unchanged

    def summary(self) -> str:
        lines = [
            f"Indexed {len(self.indexed)} files into {self.index_dir}: "
            f"{len(self.added)} added, {len(self.changed)} changed, {len(self.unchanged)} unchanged, "
            f"{len(self.removed)} removed, {len(self.skipped)} skipped.",
            f"{self.n_chunks} chunks ({self.n_embedded} embedded in this run) in {self.seconds:.1f} s.",
        ]
        for source, reason in sorted(self.skipped.items()):
            lines.append(f"  skipped {source}: {reason}")
        for source in self.removed:
            lines.append(f"  removed {source}")
        for warning in self.warnings:
            lines.append(f"  warning: {warning}")
        return "\n".join(lines)

    def to_dict(self) -> dict:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


def file_hash(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def scan_docs(docs_dir: Path, refused: dict[str, str] | None = None) -> list[tuple[str, Path]]:
    """(source, path) for every file under docs/, in a stable order; hidden files left out.

    Symbolic links are resolved: a file link whose target lies inside docs/ is read like any
    file; anything that leads outside docs/ (a link to /etc/passwd, a folder link), a folder link
    and a broken link are not read, and are listed in `refused` (source -> reason) instead, so
    a knowledge base never holds what was not put in docs/."""
    if not docs_dir.is_dir():
        raise InputError(
            f"{docs_dir}: no such folder; put your documents ({', '.join(sorted(SUPPORTED))}) in it, then run `tailor index` again"
        )
    refused = {} if refused is None else refused
    root = docs_dir.resolve()
    files = []
    for dirpath, dirnames, filenames in os.walk(docs_dir):  # does not descend into folder links
        base = Path(dirpath)
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for name in [*dirnames, *filenames]:
            path = base / name
            rel = path.relative_to(docs_dir).as_posix()
            if name.startswith("."):
                continue
            if path.is_symlink():
                target = path.resolve()
                inside = target == root or root in target.parents
                if not target.exists():
                    refused[rel] = f"broken link (to {os.readlink(path)}); remove it or copy the file into docs/"
                elif not inside:
                    refused[rel] = f"link to {target}, outside docs/; Tailor only indexes files inside docs/ (copy the file in instead)"
                elif target.is_dir():
                    refused[rel] = "link to a folder inside docs/ (its files are indexed where they are)"
                else:
                    files.append((rel, path))
                continue
            if name in filenames and path.is_file():
                files.append((rel, path))
    files.sort()
    if not files:
        raise InputError(
            f"{docs_dir} is empty; put your documents ({', '.join(sorted(SUPPORTED))}) in it, then run `tailor index` again"
        )
    return files


def _first_copies(digests: dict[str, str], old_files: dict) -> dict[str, str]:
    """For each content hash, the one file indexed: the one indexed last time if it is still
    there (so citations do not jump between copies), else the first in path order."""
    keep: dict[str, str] = {}
    for source, digest in digests.items():
        current = keep.get(digest)
        if current is None or (source in old_files and current not in old_files):
            keep[digest] = source
    return keep


def chunk_settings(cfg: KnowledgeConfig, embedder: Embedder) -> dict:
    return {
        "chunk_size": cfg.chunk_size,
        "chunk_overlap": cfg.chunk_overlap,
        "chunk_context": cfg.chunk_context,
        "chunker": CHUNKER_VERSION,
    }


def _previous(index_dir: Path, embedder: Embedder, settings: dict):
    """The live version's manifest, chunks by source and embeddings, or Nones when it cannot be reused."""
    version = _store.current_version(index_dir)
    if version is None:
        return None, {}, None
    try:
        manifest = _store.read_manifest(version)
    except IndexError_:
        return None, {}, None
    if manifest.get("embedder_path") != embedder.path or manifest.get("chunking") != settings:
        return manifest, {}, None  # other embedder or chunking: everything is rebuilt
    by_source: dict[str, list[tuple[Chunk, int]]] = {}
    for row, data in enumerate(_store.read_chunks(version)):
        chunk = Chunk.from_dict(data)
        by_source.setdefault(chunk.source, []).append((chunk, row))
    return manifest, by_source, _store.read_embeddings(version)


def build_index(
    docs_dir: str | Path,
    index_dir: str | Path,
    cfg: KnowledgeConfig | None = None,
    progress: bool = True,
    embedder: Embedder | None = None,
) -> IndexReport:
    """Index every document under `docs_dir` into `index_dir` (incremental, atomic swap), holding
    the folder's lock (index_dir/../.lock) so no other index run or build commits meanwhile."""
    docs_dir, index_dir = Path(docs_dir), Path(index_dir)
    with folder_lock(index_dir.parent, "index"):
        return _build_index(docs_dir, index_dir, cfg or KnowledgeConfig(), progress, embedder)


def _build_index(docs_dir: Path, index_dir: Path, cfg: KnowledgeConfig, progress: bool, embedder: Embedder | None) -> IndexReport:
    started = time.perf_counter()
    refused: dict[str, str] = {}
    files = scan_docs(docs_dir, refused)
    embedder = embedder or load_embedder(cfg.embedder)
    settings = chunk_settings(cfg, embedder)
    old_manifest, old_chunks, old_embeddings = _previous(index_dir, embedder, settings)
    old_files = (old_manifest or {}).get("files", {})
    report = IndexReport(index_dir=str(index_dir))
    report.skipped.update(refused)
    _store.remove_stale_partials(index_dir, older_than_s=3600)

    chunks: list[Chunk] = []
    rows: list[int | None] = []  # row in the old embeddings, or None: to embed
    file_records: dict[str, dict] = {}
    # Empty files are left out of the content hashes: two of them are not "the same document".
    digests = {source: file_hash(path) for source, path in files if path.suffix.lower() in SUPPORTED and path.stat().st_size > 0}
    keep = _first_copies(digests, old_files)
    bar = _progress(len(files), progress, "Reading")
    for source, path in files:
        bar.update(1)
        if path.suffix.lower() not in SUPPORTED:
            report.skipped[source] = f"unsupported file type '{path.suffix or path.name}'"
            continue
        if source not in digests:
            report.skipped[source] = "empty file"
            continue
        digest = digests[source]
        if keep[digest] != source:
            report.skipped[source] = f"same content as {keep[digest]} (indexed once)"
            continue
        previous = old_files.get(source)
        if previous and previous.get("sha256") == digest and source in old_chunks:
            for chunk, row in old_chunks[source]:
                chunks.append(chunk)
                rows.append(row)
            file_records[source] = previous
            report.unchanged.append(source)
            continue
        try:
            doc = load_document(path, source)
        except Unreadable as exc:
            report.skipped[source] = str(exc)
            report.warnings.append(f"{source}: {exc}")
            continue
        report.warnings.extend(doc.warnings)
        new = chunk_document(doc, embedder.count_tokens, cfg.chunk_size, cfg.chunk_overlap, context=cfg.chunk_context)
        del doc  # one document in memory at a time
        if not new:
            report.skipped[source] = "no text found (only whitespace or markup)"
            continue
        chunks.extend(new)
        rows.extend([None] * len(new))
        file_records[source] = {"sha256": digest, "chunks": len(new), "bytes": path.stat().st_size}
        (report.changed if source in old_files else report.added).append(source)
    bar.close()
    report.removed = sorted(set(old_files) - set(file_records) - set(report.skipped))
    if not chunks:
        reasons = "; ".join(f"{s}: {r}" for s, r in sorted(report.skipped.items())[:10])
        raise InputError(f"{docs_dir}: no document could be indexed ({reasons}); add .md, .txt, .html, .pdf or .docx files with text")

    texts = [embedding_text(c, cfg.chunk_context) for c in chunks]
    saved = _Progress(index_dir / PROGRESS_DIR, embedder.path)
    embeddings = _embeddings(chunks, texts, rows, old_chunks, old_embeddings, embedder, cfg, progress, report, saved)

    manifest = {
        "format": _store.FORMAT_VERSION,
        "embedder": embedder.name,
        "embedder_path": embedder.path,
        "dimension": int(embeddings.shape[1]),
        "chunking": settings,
        "index_type": cfg.index_type,
        "n_chunks": len(chunks),
        "files": file_records,
        "skipped": report.skipped,
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    partial = _store.new_version_dir(index_dir)
    try:
        _store.write_version(partial, manifest, chunks, embeddings, texts, cfg.index_type)
        final = _store.commit_version(index_dir, partial)
    except BaseException:
        import shutil

        shutil.rmtree(partial, ignore_errors=True)
        raise
    saved.clear()
    report.version = final.name
    report.n_chunks = len(chunks)
    report.seconds = time.perf_counter() - started
    return report


class _Progress:
    """Vectors embedded so far by a run that has not committed, so a killed run's successor
    re-embeds at most one batch. Two append-only files: vectors.f32 (rows, float32) and keys.txt
    (a hash of each row's text, one per line), each batch written vectors first, then keys, both
    fsynced; a row counts once both are complete. Cleared when a version commits."""

    def __init__(self, folder: Path, embedder_path: str):
        self.folder = folder
        self.tag = hashlib.sha256(str(embedder_path).encode()).hexdigest()[:16]

    @staticmethod
    def key(text: str) -> str:
        return hashlib.sha256(text.encode("utf-8")).hexdigest()[:32]

    def load(self) -> dict[str, np.ndarray]:
        """key -> vector for every complete row written with this embedder."""
        try:
            meta = (self.folder / "embedder.txt").read_text(encoding="utf-8").split()
            if len(meta) != 2 or meta[0] != self.tag:
                return {}
            dim = int(meta[1])
            keys = (self.folder / "keys.txt").read_text(encoding="utf-8").split("\n")[:-1]  # last piece: torn or empty
            vectors = np.fromfile(self.folder / "vectors.f32", dtype=np.float32)
        except (OSError, ValueError):
            return {}
        n = min(len(keys), vectors.size // dim)
        vectors = vectors[: n * dim].reshape(n, dim)
        return {k: vectors[i] for i, k in enumerate(keys[:n])}

    def append(self, texts: list[str], vectors: np.ndarray) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        meta = self.folder / "embedder.txt"
        line = f"{self.tag} {vectors.shape[1]}\n"
        if not meta.is_file() or meta.read_text(encoding="utf-8") != line:
            self.clear()
            self.folder.mkdir(parents=True, exist_ok=True)
            meta.write_text(line, encoding="utf-8")
        for name, data in (("vectors.f32", np.ascontiguousarray(vectors, dtype=np.float32).tobytes()),
                           ("keys.txt", "".join(self.key(t) + "\n" for t in texts).encode())):
            with open(self.folder / name, "ab") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())

    def clear(self) -> None:
        import shutil

        shutil.rmtree(self.folder, ignore_errors=True)


def _embeddings(chunks, texts, rows, old_chunks, old_embeddings, embedder, cfg, progress, report, saved: _Progress) -> np.ndarray:
    """Old rows for reused chunks; for the rest, a stored vector with the same text when there is
    one (an edit elsewhere in a changed file, or a batch an interrupted run already embedded),
    else a fresh embedding, saved batch by batch as it is made."""
    reusable: dict[str, int] = {}
    if old_embeddings is not None:
        for items in old_chunks.values():
            for chunk, row in items:
                reusable.setdefault(embedding_text(chunk, cfg.chunk_context), row)
    todo: dict[str, list[int]] = {}
    for i, row in enumerate(rows):
        if row is None:
            row = reusable.get(texts[i])
            rows[i] = row
        if row is None:
            todo.setdefault(texts[i], []).append(i)
    dim = old_embeddings.shape[1] if old_embeddings is not None and not todo else None
    fresh = None
    if todo:
        unique = list(todo)
        done = saved.load()
        vectors: dict[str, np.ndarray] = {t: done[k] for t in unique if (k := saved.key(t)) in done}
        missing = [t for t in unique if t not in vectors]
        bar = _progress(len(missing), progress, "Embedding", unit="chunk")
        for at in range(0, len(missing), cfg.batch_size):  # one batch per call: a kill loses at most one
            group = missing[at : at + cfg.batch_size]
            encoded = embedder.encode(group, batch_size=cfg.batch_size)
            saved.append(group, encoded)
            vectors.update(zip(group, encoded))
            bar.update(len(group))
        bar.close()
        fresh = np.stack([vectors[t] for t in unique]).astype(np.float32)
        dim = fresh.shape[1]
        report.n_embedded = len(missing)
    out = np.empty((len(chunks), dim), dtype=np.float32)
    for i, row in enumerate(rows):
        if row is not None:
            out[i] = old_embeddings[row]
    if fresh is not None:
        for j, text in enumerate(todo):
            out[todo[text]] = fresh[j]
    return out


def _progress(total: int, enabled: bool, desc: str, unit: str = "file"):
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, unit=unit, disable=not enabled, leave=False)


def index_from_vectors(folder: Path, chunks: list[Chunk], vectors: np.ndarray, embedder, cfg: KnowledgeConfig, index_type: str = "flat"):
    """A knowledge base in FOLDER from chunks whose vectors are already computed (by EMBEDDER),
    without reading documents: for benchmarks at sizes no document folder has, and for callers
    that embed elsewhere."""
    from ._search import KnowledgeBase

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    manifest = {"format": _store.FORMAT_VERSION, "embedder": embedder.name, "embedder_path": embedder.path,
                "dimension": int(vectors.shape[1]), "chunking": {}, "index_type": index_type, "n_chunks": len(chunks), "files": {}}
    _store.write_version(folder, manifest, chunks, vectors, [c.text for c in chunks], index_type)
    return KnowledgeBase(folder, manifest, chunks, _store.read_embeddings(folder), _store.load_faiss(folder),
                         _store.load_bm25(folder / "bm25"), embedder, cfg)
