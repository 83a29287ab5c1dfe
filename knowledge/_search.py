"""Searching a built index: dense (FAISS), BM25 (bm25s), or both fused by reciprocal rank.

Dense search finds paraphrases ("when are you open" -> "opening hours"); BM25 finds rare exact
terms (drug names, account codes, "10-K 2019") that an embedding blurs. Reciprocal rank fusion
adds 1/(60 + rank) from each list, so neither score scale dominates and a chunk found by both
rises to the top. An optional cross-encoder then reorders the fused candidates.
"""
from __future__ import annotations

import threading
from functools import lru_cache
from pathlib import Path

import numpy as np

from . import _store
from ._chunk import embedding_text
from ._embed import Embedder, load_embedder, resolve_embedder
from ._types import Chunk, Hit
from .config import KnowledgeConfig
from .errors import ConfigError, IndexError_, InputError

MODES = ("dense", "bm25", "hybrid")
RRF_K = 60  # the constant from Cormack et al. (2009); damps the head of each list


class KnowledgeBase:
    """A loaded index. Thread-safe for search (FAISS and bm25s searches are read-only)."""

    def __init__(self, version_dir: Path, manifest: dict, chunks: list[Chunk], embeddings: np.ndarray,
                 dense, bm25, embedder: Embedder, cfg: KnowledgeConfig):  # fmt: skip
        self.version_dir = version_dir
        self.manifest = manifest
        self.chunks = chunks
        self.embeddings = embeddings
        self.embedder = embedder
        self.cfg = cfg
        self._dense = dense
        self._bm25 = bm25
        self._reranker = None
        self._lock = threading.Lock()

    @property
    def version(self) -> str:
        """Names this build of the index (changes on every `tailor index` that changed something)."""
        return self.version_dir.name

    def __len__(self) -> int:
        return len(self.chunks)

    def sources(self) -> dict[str, int]:
        """source -> number of chunks, in index order."""
        counts: dict[str, int] = {}
        for chunk in self.chunks:
            counts[chunk.source] = counts.get(chunk.source, 0) + 1
        return counts

    def search(self, query: str, k: int | None = None, mode: str | None = None) -> list[Hit]:
        """The `k` best chunks for `query`, best first. A query longer than the embedder reads
        is cut at its limit (for BM25 too, so both modes see the same question)."""
        if not isinstance(query, str) or not query.strip():
            raise InputError("the search query is empty; ask a question or give some words to look for")
        mode = mode or self.cfg.search_mode
        if mode not in MODES:
            raise InputError(f"unknown search mode '{mode}'; use one of {', '.join(MODES)}")
        k = self.cfg.top_k if k is None else int(k)
        if k < 1:
            raise InputError(f"k must be at least 1 (got {k})")
        k = min(k, len(self.chunks))
        query = self.embedder.truncate(query.strip())
        qvec = self.embedder.encode([query])[0]
        n_candidates = min(len(self.chunks), max(k, self.cfg.candidates))
        scores: dict[int, dict[str, float]] = {}
        ranked: list[int] = []
        if mode in ("dense", "hybrid"):
            dense = self._dense_candidates(qvec, n_candidates)
            for i, s in dense:
                scores.setdefault(i, {})["dense"] = s
        if mode in ("bm25", "hybrid"):
            lexical = self._bm25_candidates(query, n_candidates)
            for i, s in lexical:
                scores.setdefault(i, {})["bm25"] = s
        if mode == "dense":
            ranked = [i for i, _ in dense]
            final = {i: scores[i]["dense"] for i in ranked}
        elif mode == "bm25":
            ranked = [i for i, _ in lexical]
            final = {i: scores[i]["bm25"] for i in ranked}
        else:
            fused = rrf([[i for i, _ in dense], [i for i, _ in lexical]])
            for i, s in fused.items():
                scores[i]["rrf"] = s
            dense_rank = {i: r for r, (i, _) in enumerate(dense)}
            ranked = sorted(fused, key=lambda i: (-fused[i], dense_rank.get(i, len(dense)), i))  # ties: the dense order
            final = fused
        if self.cfg.reranker and ranked:
            ranked = ranked[:n_candidates]
            rerank = self._rerank(query, ranked)
            for i, s in zip(ranked, rerank):
                scores[i]["rerank"] = float(s)
            order = sorted(range(len(ranked)), key=lambda j: -rerank[j])  # stable: ties keep the fused order
            ranked = [ranked[j] for j in order]
            final = {i: scores[i]["rerank"] for i in ranked}
        ranked = ranked[:k]
        sims = self._similarities(qvec, ranked)
        return [
            Hit(chunk=self.chunks[i], score=float(final[i]), similarity=float(s), rank=r, scores=scores[i])
            for r, (i, s) in enumerate(zip(ranked, sims), start=1)
        ]

    def _dense_candidates(self, qvec: np.ndarray, n: int) -> list[tuple[int, float]]:
        distances, ids = _store.search_one(self._dense, qvec[None, :].astype(np.float32), n)
        return [(int(i), float(d)) for i, d in zip(ids[0], distances[0]) if i >= 0]

    def _bm25_candidates(self, query: str, n: int) -> list[tuple[int, float]]:
        """Chunks sharing at least one (stemmed, non-stop) word with the query, best first."""
        scores = _store.bm25_scores(self._bm25, query)
        if not scores.any():
            return []
        n = min(n, int((scores > 0).sum()))
        top = np.argpartition(-scores, n - 1)[:n]
        top = top[np.lexsort((top, -scores[top]))]
        return [(int(i), float(scores[i])) for i in top]

    def _similarities(self, qvec: np.ndarray, ids: list[int]) -> np.ndarray:
        if not ids:
            return np.zeros(0, dtype=np.float32)
        return np.asarray(self.embeddings[np.asarray(ids)], dtype=np.float32) @ qvec

    def _rerank(self, query: str, ids: list[int]) -> np.ndarray:
        with self._lock:
            if self._reranker is None:
                self._reranker = load_reranker(self.cfg.reranker)
        pairs = [(query, embedding_text(self.chunks[i], self.cfg.chunk_context)) for i in ids]
        return np.asarray(self._reranker.predict(pairs, batch_size=32, show_progress_bar=False), dtype=np.float32).reshape(-1)

    def as_retriever(self, k: int | None = None, mode: str | None = None):
        """This knowledge base as a langchain-core retriever (composable in runnable chains)."""
        from ._retriever import KnowledgeRetriever

        return KnowledgeRetriever(kb=self, k=k, mode=mode)


def rrf(rankings: list[list[int]], k: int = RRF_K) -> dict[int, float]:
    """Reciprocal rank fusion: sum over lists of 1 / (k + rank)."""
    fused: dict[int, float] = {}
    for ranking in rankings:
        for rank, i in enumerate(ranking, start=1):
            fused[i] = fused.get(i, 0.0) + 1.0 / (k + rank)
    return fused


@lru_cache(maxsize=2)
def load_reranker(name: str):
    from sentence_transformers import CrossEncoder

    path = resolve_embedder(name)
    try:
        return CrossEncoder(path)
    except (OSError, ValueError) as exc:
        raise ConfigError(
            f"knowledge.reranker: cannot load '{name}' ({exc}); give a local CrossEncoder folder or an id already "
            "in the Hugging Face cache, or remove the setting"
        ) from exc


def load_index(index_dir: str | Path, cfg: KnowledgeConfig | None = None, embedder: Embedder | None = None) -> KnowledgeBase:
    """The live index in `index_dir`. With `cfg`, its embedder must be the one the index was built
    with: vectors from two models are not comparable, so a mismatch is an error, not bad results."""
    index_dir = Path(index_dir)
    for attempt in range(3):  # an index run may swap versions while this one loads: read CURRENT again
        before = _store.current_version(index_dir)
        try:
            return _load_version(index_dir, cfg, embedder)
        except IndexError_:
            moved = _store.current_version(index_dir) != before or (before is not None and not before.is_dir())
            if attempt == 2 or not moved:
                raise
    raise AssertionError("unreachable")  # pragma: no cover


def _load_version(index_dir: Path, cfg: KnowledgeConfig | None, embedder: Embedder | None) -> KnowledgeBase:
    version = _store.current_version(index_dir)
    if version is None:
        raise IndexError_(f"{index_dir}: no knowledge base here yet; run `tailor index FOLDER` to build it")
    manifest = _store.read_manifest(version)
    if cfg is not None:
        wanted = embedder.name if embedder is not None else cfg.embedder
        wanted_path = embedder.path if embedder is not None else resolve_embedder(cfg.embedder)
        if wanted != manifest["embedder"] and wanted_path != manifest.get("embedder_path"):
            raise IndexError_(
                f"{index_dir} was built with embedder '{manifest['embedder']}' but knowledge.embedder is '{wanted}'; "
                "run `tailor index FOLDER` to rebuild it with the new embedder (or set knowledge.embedder back)"
            )
    cfg = cfg or KnowledgeConfig(embedder=manifest["embedder"], index_type=manifest.get("index_type", "flat"))
    embedder = embedder or load_embedder(cfg.embedder)
    try:
        chunks = [Chunk.from_dict(d) for d in _store.read_chunks(version)]
        embeddings = _store.read_embeddings(version)
        dense = _store.load_faiss(version)
        bm25 = _store.load_bm25(version / "bm25")
    except (OSError, ValueError, RuntimeError, KeyError, TypeError) as exc:
        raise IndexError_(f"{version} is damaged ({type(exc).__name__}: {exc}); rebuild it with `tailor index FOLDER`") from exc
    if len(chunks) != embeddings.shape[0] or dense.ntotal != len(chunks):
        raise IndexError_(f"{version} is inconsistent (chunks, vectors and FAISS disagree); rebuild it with `tailor index FOLDER`")
    if embeddings.shape[1] != manifest["dimension"]:
        raise IndexError_(f"{version}: embeddings have dimension {embeddings.shape[1]}, manifest says {manifest['dimension']}; rebuild it")
    return KnowledgeBase(version, manifest, chunks, embeddings, dense, bm25, embedder, cfg)
