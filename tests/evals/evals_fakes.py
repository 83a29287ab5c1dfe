"""Fakes for the evals tests: a scripted assistant shaped like chat.Assistant (its answers
are set per question and variant, so every metric's right value is known), and a tiny
bag-of-words embedder. tests/evals/test_evals_real.py runs the same path through a real
retrieval-only chat.Assistant with a real index."""
from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from knowledge import Chunk, Hit


@dataclass
class FakeAnswer:
    text: str
    declined: bool = False
    escalation: str | None = None
    sources: list = field(default_factory=list)
    hits: list = field(default_factory=list)
    chunk_ids: list = field(default_factory=list)
    variant: str = "base"
    build_id: str | None = None
    timings: dict = field(default_factory=dict)
    dropped: dict = field(default_factory=dict)
    evidence: dict = field(default_factory=dict)
    own_text: str | None = None  # None: the whole text is the model's (no marker added by Tailor)
    attributed: int | None = None


def make_hits(docs: list[tuple[str, str]]) -> list[Hit]:
    """Hits in rank order from (source, text) pairs."""
    hits = []
    for rank, (source, text) in enumerate(docs, start=1):
        chunk = Chunk(id=hashlib.sha1(f"{source}{text}".encode()).hexdigest()[:12], text=text, source=source)
        hits.append(Hit(chunk=chunk, score=1.0 / rank, similarity=0.9 - 0.1 * rank, rank=rank))
    return hits


class FakeAssistant:
    """`script[(question, variant)]` is the reply text, or a dict of FakeAnswer fields; anything
    unscripted gets `default`. RAG variants get `hits[question]` as their retrieved context."""

    def __init__(self, variants=("base", "base+rag"), script=None, hits=None, build_id="build-1", default="I am not sure.",
                 fail_after: int | None = None):
        self.variants = list(variants)
        self.script = script or {}
        self.hits = hits or {}
        self.build_id = build_id
        self.default = default
        self.calls: list[tuple[str, str]] = []
        self.fail_after = fail_after

    def answer(self, question, history=None, variant=None, on_token=None):
        if self.fail_after is not None and len(self.calls) >= self.fail_after:
            raise KeyboardInterrupt
        self.calls.append((question, variant))
        reply = self.script.get((question, variant), self.default)
        fields = {"text": reply} if isinstance(reply, str) else dict(reply)
        n = len(self.calls)
        fields.setdefault("timings", {"retrieval_s": 0.01, "first_token_s": 0.1 * n, "total_s": 0.5 * n, "new_tokens": 10})
        if variant.endswith("+rag") or variant == "extract":
            fields.setdefault("hits", make_hits(self.hits.get(question, [])))
        return FakeAnswer(variant=variant, build_id=self.build_id, **fields)


class BagOfWordsEmbedder:
    """Hashes words into 512 buckets: sentences sharing words are similar, others are not."""

    def encode(self, texts):
        out = np.zeros((len(texts), 512), dtype=np.float32)
        for i, text in enumerate(texts):
            for word in re.findall(r"[a-z0-9]+", text.lower()):
                out[i, int(hashlib.md5(word.encode()).hexdigest(), 16) % 512] += 1.0
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        return out / np.where(norms > 0, norms, 1)


def write_suite(path: Path, rows: list[dict]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


