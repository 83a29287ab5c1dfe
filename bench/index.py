"""Benchmarks for the knowledge base: indexing throughput, incremental re-index, query latency
and retrieval quality, each against a baseline measured in the same run.

    .venv/bin/python bench/index.py            # everything (~10 min on 2 CPU cores)
    .venv/bin/python bench/index.py --quick    # small sizes (~3 min)
    .venv/bin/python bench/index.py --only quality

Every figure is printed with its baseline and ratio and appended to bench/results.jsonl.
Retrieval quality uses the real data in ../shared/data beside the project (or --data DIR): each domain's
docs/ and its answerable eval questions (answer_type != decline).
"""
from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

from knowledge import Chunk, KnowledgeBase, KnowledgeConfig, build_index, index_from_vectors, load_embedder, load_index, rrf  # noqa: E402

from _results import make_recorder  # noqa: E402  (bench/ is on sys.path when a script runs)
COMMAND = "bench/index.py"


record = make_recorder(COMMAND)


def corpus_files(data: Path, limit: int | None = None) -> list[Path]:
    files = sorted(p for domain in ("clinic", "finance") for p in (data / domain / "docs").rglob("*.md"))
    return files[:limit] if limit else files


def copy_corpus(files: list[Path], dest: Path, data: Path) -> Path:
    docs = dest / "docs"
    for f in files:
        target = docs / f.relative_to(data)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(f, target)
    return docs


# --- 1. indexing throughput ---------------------------------------------------------------


def bench_throughput(data: Path, tmp: Path, quick: bool) -> None:
    """Whole pipeline (read, chunk, embed, write FAISS + BM25) vs bare SentenceTransformer.encode on
    the very same texts, same model, same batch size, same process."""
    cfg = KnowledgeConfig()
    embedder = load_embedder(cfg.embedder)
    embedder.model  # load before timing either side
    docs = copy_corpus(corpus_files(data, 40 if quick else 120), tmp / "throughput", data)
    embedder.encode(["warm up"] * 8)
    t = time.perf_counter()
    report = build_index(docs, tmp / "throughput" / "index", cfg, progress=False, embedder=embedder)
    pipeline_s = time.perf_counter() - t
    kb = load_index(tmp / "throughput" / "index", cfg, embedder=embedder)
    from knowledge import embedding_text

    texts = [embedding_text(c, cfg.chunk_context) for c in kb.chunks]
    t = time.perf_counter()
    embedder.model.encode(texts, batch_size=cfg.batch_size, normalize_embeddings=True, convert_to_numpy=True)
    raw_s = time.perf_counter() - t
    n = report.n_chunks
    record("index.throughput", n / pipeline_s, "chunks/s", baseline=n / raw_s,
           note=f"{n} chunks from {len(report.indexed)} files; baseline = SentenceTransformer.encode on the same texts")  # fmt: skip


# --- 2. incremental re-index --------------------------------------------------------------


def bench_incremental(data: Path, tmp: Path, quick: bool) -> None:
    """Full build of N files, then change 1 file and re-index: the second run should cost a few percent."""
    cfg = KnowledgeConfig()
    embedder = load_embedder(cfg.embedder)
    embedder.model
    n_files = 50 if quick else 200
    files = corpus_files(data)
    while len(files) < n_files:  # the data holds ~230 files; repeat with a suffix if ever fewer
        files = files + files
    docs = tmp / "incremental" / "docs"
    for i, f in enumerate(files[:n_files]):
        target = docs / f"{i:03d}_{f.name}"
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(f, target)
    index = tmp / "incremental" / "index"
    t = time.perf_counter()
    full = build_index(docs, index, cfg, progress=False, embedder=embedder)
    full_s = time.perf_counter() - t
    victim = sorted(docs.iterdir())[n_files // 2]
    victim.write_text(victim.read_text(encoding="utf-8") + "\n\nA paragraph added to this document after the first build.\n")
    t = time.perf_counter()
    again = build_index(docs, index, cfg, progress=False, embedder=embedder)
    inc_s = time.perf_counter() - t
    t = time.perf_counter()
    same = build_index(docs, index, cfg, progress=False, embedder=embedder)
    same_s = time.perf_counter() - t
    assert again.changed == [victim.name] and same.n_embedded == 0
    record("index.incremental_1_of_n", inc_s, "s", baseline=full_s,
           note=f"1 of {n_files} files changed: {again.n_embedded} of {full.n_chunks} chunks re-embedded; ratio = share of the full build")  # fmt: skip
    record("index.unchanged_reindex", same_s, "s", baseline=full_s, note=f"{n_files} files unchanged: 0 embeddings")


# --- 3. query latency ---------------------------------------------------------------------


def synthetic_kb(n: int, dim: int, tmp: Path, embedder, rng) -> KnowledgeBase:
    """n random unit vectors with random-word texts: fine for latency, meaningless for quality."""
    vocab = [f"w{i}" for i in range(20000)]
    words = rng.integers(0, len(vocab), size=(n, 60))
    texts = [" ".join(vocab[j] for j in row) for row in words]
    vectors = rng.standard_normal((n, dim)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    chunks = [Chunk(id=f"c{i}", text=t, source=f"doc{i // 20}.txt", start=0, end=len(t)) for i, t in enumerate(texts)]
    return index_from_vectors(tmp / f"latency_{n}", chunks, vectors, embedder, KnowledgeConfig(chunk_context=False))


def percentiles(samples: list[float]) -> tuple[float, float]:
    a = np.asarray(samples) * 1000
    return float(np.percentile(a, 50)), float(np.percentile(a, 95))


def bench_latency(tmp: Path, quick: bool) -> None:
    """kb.search end to end (query embedding included) per mode, and the vector search alone
    (FAISS flat) against NumPy brute force (matrix-vector product + argpartition)."""
    embedder = load_embedder("all-minilm-l6-v2")
    embedder.model
    rng = np.random.default_rng(0)
    queries = [f"w{rng.integers(0, 20000)} w{rng.integers(0, 20000)} what is w{rng.integers(0, 20000)}" for _ in range(60)]
    sizes = [10_000] if quick else [10_000, 100_000]
    k = 5
    for n in sizes:
        kb = synthetic_kb(n, embedder.dimension, tmp, embedder, rng)
        matrix = np.ascontiguousarray(kb.embeddings)
        qvecs = rng.standard_normal((len(queries), matrix.shape[1])).astype(np.float32)
        qvecs /= np.linalg.norm(qvecs, axis=1, keepdims=True)
        numpy_s, faiss_s = [], []
        for q in qvecs:
            t = time.perf_counter()
            scores = matrix @ q
            top = np.argpartition(-scores, k)[:k]
            top[np.argsort(-scores[top])]
            numpy_s.append(time.perf_counter() - t)
            t = time.perf_counter()
            kb._dense.search(q[None, :], k)
            faiss_s.append(time.perf_counter() - t)
        np50, np95 = percentiles(numpy_s)
        f50, f95 = percentiles(faiss_s)
        record(f"latency.vector_search_p50@{n}", f50, "ms", baseline=np50, note="FAISS IndexFlatIP vs NumPy brute force, vector only")
        record(f"latency.vector_search_p95@{n}", f95, "ms", baseline=np95, note="FAISS IndexFlatIP vs NumPy brute force, vector only")
        encode_s = []
        for q in queries[:20]:
            t = time.perf_counter()
            embedder.encode([q])
            encode_s.append(time.perf_counter() - t)
        e50, _ = percentiles(encode_s)
        for mode in ("dense", "bm25", "hybrid"):
            samples = []
            for q in queries:
                t = time.perf_counter()
                kb.search(q, k=k, mode=mode)
                samples.append(time.perf_counter() - t)
            p50, p95 = percentiles(samples)
            note = f"kb.search end to end incl. query embedding (~{e50:.1f} ms of it); baseline = embedding + NumPy brute force"
            record(f"latency.{mode}_p50@{n}", p50, "ms", baseline=e50 + np50, note=note)
            record(f"latency.{mode}_p95@{n}", p95, "ms", baseline=e50 + np95, note=note)


# --- 4. retrieval quality -----------------------------------------------------------------

_WORD = re.compile(r"\w+")


def words(text: str) -> list[str]:
    return _WORD.findall(text.lower())


def context_recall(answer: str, texts: list[str]) -> float:
    """Share of the reference answer's distinct word tokens that appear in the retrieved texts."""
    wanted = set(words(answer))
    if not wanted:
        return 0.0
    found = set(words(" ".join(texts)))
    return len(wanted & found) / len(wanted)


def load_questions(domain_dir: Path) -> list[dict]:
    rows = []
    for suite in sorted((domain_dir / "evals").glob("*.jsonl")):
        for line in suite.read_text(encoding="utf-8").splitlines():
            if line.strip():
                row = json.loads(line)
                if row.get("answer_type") != "decline" and row.get("gold_docs"):
                    rows.append(row)
    return rows


def score_rankings(questions: list[dict], ranked: list[list[tuple[str, str]]]) -> dict[str, float]:
    """ranked[i] = [(source, text), ...] best first, for question i."""
    hit1 = hit5 = mrr = recall = 0.0
    for q, results in zip(questions, ranked):
        gold = set(q["gold_docs"])
        ranks = [r for r, (source, _) in enumerate(results[:10], start=1) if source in gold]
        hit1 += bool(ranks and ranks[0] == 1)
        hit5 += bool(ranks and ranks[0] <= 5)
        mrr += 1.0 / ranks[0] if ranks else 0.0
        recall += context_recall(q["answer"], [text for _, text in results[:5]])
    n = len(questions)
    return {"hit@1": hit1 / n, "hit@5": hit5 / n, "mrr@10": mrr / n, "context_recall@5": recall / n}


class PlainPipeline:
    """The baseline: fixed 180-word windows of each file's text, MiniLM, bm25s with its default
    tokenizer, reciprocal rank fusion. No structure, no headings, no stemming."""

    def __init__(self, docs: Path, embedder, window: int = 180):
        import bm25s

        self.sources, self.texts = [], []
        for path in sorted(docs.rglob("*")):
            if path.is_file():
                tokens = path.read_text(encoding="utf-8", errors="replace").split()
                for at in range(0, len(tokens), window):
                    self.sources.append(path.relative_to(docs).as_posix())
                    self.texts.append(" ".join(tokens[at : at + window]))
        self.embedder = embedder
        self.vectors = embedder.model.encode(self.texts, batch_size=64, normalize_embeddings=True, convert_to_numpy=True)
        self.bm25 = bm25s.BM25()
        self.bm25.index(bm25s.tokenize(self.texts, stopwords="en", show_progress=False), show_progress=False)

    def search(self, query: str, k: int, mode: str) -> list[tuple[str, str]]:
        import bm25s

        dense = list(np.argsort(-(self.vectors @ self.embedder.model.encode([query], normalize_embeddings=True)[0]))[:50])
        tokens = bm25s.tokenize([query], stopwords="en", show_progress=False)
        ids, _ = self.bm25.retrieve(tokens, k=min(50, len(self.texts)), show_progress=False)
        lexical = list(ids[0])
        order = {"dense": dense, "bm25": lexical}.get(mode)
        if order is None:
            fused = rrf([dense, lexical])
            order = sorted(fused, key=lambda i: -fused[i])
        return [(self.sources[i], self.texts[i]) for i in order[:k]]


def bench_quality(data: Path, tmp: Path, quick: bool, domains: list[str]) -> None:
    cfg = KnowledgeConfig()
    embedder = load_embedder(cfg.embedder)
    for domain in domains:
        questions = load_questions(data / domain)
        if quick:
            questions = questions[:: max(1, len(questions) // 40)]
        docs = data / domain / "docs"
        build_index(docs, tmp / f"quality_{domain}", cfg, progress=False, embedder=embedder)
        kb = load_index(tmp / f"quality_{domain}", cfg, embedder=embedder)
        plain = PlainPipeline(docs, embedder)
        print(f"\n{domain}: {len(questions)} answerable questions, {len(kb)} chunks (plain pipeline: {len(plain.texts)} windows)")
        print(f"{'mode':8} {'pipeline':9} {'hit@1':>6} {'hit@5':>6} {'mrr@10':>7} {'ctx_recall@5':>13}")
        for mode in ("dense", "bm25", "hybrid"):
            ours = score_rankings(questions, [[(h.source, h.text) for h in kb.search(q["question"], k=10, mode=mode)] for q in questions])
            base = score_rankings(questions, [plain.search(q["question"], 10, mode) for q in questions])
            for label, m in (("plain", base), ("tailor", ours)):
                print(f"{mode:8} {label:9} {m['hit@1']:6.3f} {m['hit@5']:6.3f} {m['mrr@10']:7.3f} {m['context_recall@5']:13.3f}")
            for metric in ("hit@1", "hit@5", "mrr@10", "context_recall@5"):
                record(f"quality.{domain}.{mode}.{metric}", ours[metric], "share", baseline=base[metric],
                       note=f"{len(questions)} questions; baseline = plain 180-word windows + MiniLM + bm25s + RRF")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes: a few minutes on 2 CPU cores")
    parser.add_argument("--only", choices=["throughput", "incremental", "latency", "quality"], action="append")
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data",
                        help="folder with clinic/ and finance/ (default: ../shared/data beside the project)")
    parser.add_argument("--domains", nargs="+", default=["clinic", "finance"])
    args = parser.parse_args()
    only = set(args.only or ["throughput", "incremental", "latency", "quality"])
    with tempfile.TemporaryDirectory(prefix="tailor_bench_index_") as tmp:
        tmp = Path(tmp)
        if "quality" in only:
            bench_quality(args.data, tmp, args.quick, args.domains)
        if "throughput" in only:
            bench_throughput(args.data, tmp, args.quick)
        if "incremental" in only:
            bench_incremental(args.data, tmp, args.quick)
        if "latency" in only:
            bench_latency(tmp, args.quick)


if __name__ == "__main__":
    main()
