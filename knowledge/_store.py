"""The index on disk, written so that a reader never sees half of it.

    build/index/CURRENT          name of the live version (replaced atomically with os.replace)
    build/index/v-.../           one complete version:
        manifest.json            embedder, dimension, chunking settings, a content hash per file
        chunks.jsonl             one Chunk per line, aligned with the rows below
        embeddings.npy           float32 (n_chunks, dimension), unit rows; reused by incremental builds
        dense.faiss              FAISS index over those rows (flat / HNSW / IVF, inner product)
        bm25/                    bm25s index over the same texts

A build writes a new `v-...partial` folder beside the live one, renames it when complete,
then points CURRENT at it. A build that fails or is killed at any moment leaves CURRENT
pointing at the previous, complete version; the leftover folder is removed by the next build.
"""
from __future__ import annotations

import json
import math
import os
import re
import shutil
import time
import uuid
from pathlib import Path

import numpy as np

from . import files
from .errors import IndexError_

CURRENT = "CURRENT"
FORMAT_VERSION = 1
BM25_STOPWORDS = "en"


def current_version(index_dir: Path) -> Path | None:
    """The live version folder, or None when nothing was built yet."""
    pointer = index_dir / CURRENT
    if not pointer.is_file():
        return None
    version = index_dir / pointer.read_text(encoding="utf-8").strip()
    return version if (version / "manifest.json").is_file() else None


def new_version_dir(index_dir: Path) -> Path:
    index_dir.mkdir(parents=True, exist_ok=True)
    name = f"v-{time.strftime('%Y%m%dT%H%M%S')}-{uuid.uuid4().hex[:6]}.partial"
    path = index_dir / name
    path.mkdir()
    return path


def commit_version(index_dir: Path, partial: Path) -> Path:
    """Make `partial` the live version in one atomic step, then drop the versions before the one
    it replaces. The replaced version is kept until the next commit, so a reader that read
    CURRENT just before the swap can still open it. Callers hold the folder lock (_lock.py):
    two writers interleaving here could each delete the other's version."""
    previous = current_version(index_dir)
    final = partial.with_name(partial.name.removesuffix(".partial"))
    os.replace(partial, final)
    files.write_text_atomic(index_dir / CURRENT, final.name + "\n")
    for old in index_dir.iterdir():
        if old.is_dir() and old.name.startswith("v-") and old not in (final, previous) and not old.name.endswith(".partial"):
            shutil.rmtree(old, ignore_errors=True)
    return final


def remove_stale_partials(index_dir: Path, older_than_s: float = 0.0) -> None:
    """Folders left by builds that failed or were killed."""
    if not index_dir.is_dir():
        return
    now = time.time()
    for old in index_dir.iterdir():
        if old.is_dir() and old.name.endswith(".partial") and now - old.stat().st_mtime >= older_than_s:
            shutil.rmtree(old, ignore_errors=True)


def write_json(path: Path, data) -> None:
    files.write_json(path, data, indent=1)


def read_manifest(version: Path) -> dict:
    try:
        manifest = json.loads((version / "manifest.json").read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise IndexError_(f"{version}/manifest.json is unreadable ({exc}); rebuild with `tailor index FOLDER`") from exc
    if manifest.get("format") != FORMAT_VERSION:
        raise IndexError_(
            f"{version} was written by another Tailor version (format {manifest.get('format')}, "
            f"expected {FORMAT_VERSION}); rebuild with `tailor index FOLDER`"
        )
    return manifest


def read_chunks(version: Path) -> list[dict]:
    return files.read_jsonl(version / "chunks.jsonl", fix="rebuild with `tailor index FOLDER`")


def read_embeddings(version: Path) -> np.ndarray:
    """Memory-mapped, so a large index costs page cache rather than process memory."""
    return np.load(version / "embeddings.npy", mmap_mode="r")


# --- dense ------------------------------------------------------------------------------


def build_faiss(embeddings: np.ndarray, index_type: str):
    """Exact inner product by default; HNSW or IVF when the corpus is large enough to need them."""
    import faiss

    n, dim = embeddings.shape
    if index_type == "hnsw":
        index = faiss.IndexHNSWFlat(dim, 32, faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efConstruction = 80
    elif index_type == "ivf" and n >= 64:
        nlist = max(1, min(65536, int(4 * math.sqrt(n))))
        quantizer = faiss.IndexFlatIP(dim)
        index = faiss.IndexIVFFlat(quantizer, dim, nlist, faiss.METRIC_INNER_PRODUCT)
        train = embeddings if n <= 256 * nlist else embeddings[np.random.default_rng(0).choice(n, 256 * nlist, replace=False)]
        index.train(np.ascontiguousarray(train))
    else:  # flat (also IVF on a corpus too small to train clusters on)
        index = faiss.IndexFlatIP(dim)
    if n:
        index.add(np.ascontiguousarray(embeddings, dtype=np.float32))
    return index


def load_faiss(version: Path, use_gpu: bool = True):
    import faiss

    index = faiss.read_index(str(version / "dense.faiss"))
    if isinstance(index, faiss.IndexIVF):
        index.nprobe = min(index.nlist, 16)  # ~recall 0.95+ at a fraction of the flat cost
    elif isinstance(index, faiss.IndexHNSW):
        index.hnsw.efSearch = 64
    if use_gpu and hasattr(faiss, "get_num_gpus") and faiss.get_num_gpus() > 0 and not isinstance(index, faiss.IndexHNSW):
        return faiss.index_cpu_to_all_gpus(index)  # faiss-gpu installed and a GPU present
    return index


def search_one(index, qvec: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """FAISS search for one query vector on one OpenMP thread, the thread count restored after.

    For a single query FAISS's threads cost far more than they save (flat, 10k chunks, 2 busy
    cores: 18 ms with threads, 0.6 ms without). FAISS and torch share one OpenMP runtime, so
    leaving the count at 1 (as `faiss.omp_set_num_threads(1)` at load did) made every torch
    operation after the index loaded single-threaded too: SFT in a build trained on one of two
    cores (bench/train.py --threads)."""
    import faiss

    threads = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(1)
    try:
        return index.search(qvec, n)
    finally:
        faiss.omp_set_num_threads(threads)


# --- BM25 -------------------------------------------------------------------------------


def _stemmer():
    try:
        import Stemmer
    except ImportError:  # pragma: no cover - PyStemmer is a dependency
        return None
    return Stemmer.Stemmer("english")


# The letter run and the digit run of a mixed word: FY2019 -> FY, 2019; 10K -> 10, K.
_MIXED_PARTS = re.compile(r"[^\W\d_]+(?=\d)|(?<=[^\W\d_])\d+|\d+(?=[^\W\d_])|(?<=\d)[^\W\d_]+")


def _with_parts(text: str) -> str:
    """The text plus the letter and digit parts of its mixed words, so "FY2019" also matches "2019"
    (the whole word stays too: "3M" is a name)."""
    parts = _MIXED_PARTS.findall(text)
    return f"{text} {' '.join(parts)}" if parts else text


def _bm25s():
    """bm25s, imported without letting JAX take the GPU. When JAX is installed (GPU images often
    have it), importing bm25s runs one JAX op, and JAX's default then reserves 75% of the GPU's
    memory for the life of the process: measured on an H200, the build's SFT then failed for want of
    memory. Tailor never needs JAX (scores come from numpy), so it stays on the CPU unless the
    user's environment says otherwise."""
    os.environ.setdefault("JAX_PLATFORMS", "cpu")
    os.environ.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")
    import bm25s

    return bm25s


def bm25_tokens(texts: list[str]) -> list[list[str]]:
    """Lower-cased, stop words removed, stemmed, mixed words also split: the same for documents
    and queries. Identical texts (repeated boilerplate) are tokenized once."""
    bm25s = _bm25s()

    unique = list(dict.fromkeys(texts))
    tokens = bm25s.tokenize(
        [_with_parts(t) for t in unique], stopwords=BM25_STOPWORDS, stemmer=_stemmer(), return_ids=False, show_progress=False
    )
    if len(unique) == len(texts):
        return tokens
    by_text = dict(zip(unique, tokens))
    return [by_text[t] for t in texts]


def build_bm25(texts: list[str]):
    bm25s = _bm25s()

    retriever = bm25s.BM25()
    tokens = bm25_tokens(texts)
    retriever.index([t if t else [""] for t in tokens], show_progress=False)
    return retriever


def save_bm25(retriever, folder: Path) -> None:
    retriever.save(str(folder), show_progress=False)


def load_bm25(folder: Path):
    bm25s = _bm25s()

    return bm25s.BM25.load(str(folder), show_progress=False, mmap=False)


def bm25_scores(retriever, query: str) -> np.ndarray:
    tokens = bm25_tokens([query])[0]
    ids = retriever.get_tokens_ids(tokens)
    n = retriever.scores["num_docs"]
    if not ids:
        return np.zeros(n, dtype=np.float32)
    return np.asarray(retriever.get_scores_from_ids(ids), dtype=np.float32)


# --- one version ------------------------------------------------------------------------


def write_version(folder: Path, manifest: dict, chunks: list, embeddings: np.ndarray, texts: list[str], index_type: str) -> None:
    """Everything but the manifest first; the manifest last marks the folder complete."""
    import faiss

    with open(folder / "chunks.jsonl", "w", encoding="utf-8") as fh:
        for chunk in chunks:
            fh.write(json.dumps(chunk.to_dict(), ensure_ascii=False) + "\n")
    np.save(folder / "embeddings.npy", embeddings)
    faiss.write_index(build_faiss(embeddings, index_type), str(folder / "dense.faiss"))
    save_bm25(build_bm25(texts), folder / "bm25")
    write_json(folder / "manifest.json", manifest)
