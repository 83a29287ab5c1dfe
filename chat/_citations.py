"""Turning the [n] markers an answer writes into the documents they point at, and naming the
supporting document for an answer that writes none.

Small models often answer from the right chunk without writing its marker. Rather than show
such an answer unsourced, `attribute` finds the chunk that supports it: each of the answer's
sentences is embedded with the knowledge base's own embedder and matched against the
sentences of every chunk the model was given; a sentence is supported by a chunk when the
cosine similarity reaches SUPPORT_THRESHOLD (the groundedness threshold of Tailor's evals,
chosen on a labelled set of supported and unsupported sentences). The chunk supporting the
most sentences (ties: the higher-ranked) gets the marker, and its citation says
`attributed=True`, so a reader can tell a marker Tailor added from one the model wrote.
"""
from __future__ import annotations

import re

import numpy as np

from chat._types import Citation

_MARKER = re.compile(r"\[(\s*\d+(?:\s*[,;]\s*\d+)*\s*)\]")
SNIPPET_CHARS = 200
# A sentence is supported by a passage at this cosine similarity to one of its sentences. Chosen
# on the labelled set in tests/evals/grounding_cases.py; evals' groundedness uses the same value.
SUPPORT_THRESHOLD = 0.60
MIN_CLAIM_WORDS = 4  # "Yes." or "See [2]." state nothing to match


def sentences(text: str) -> list[str]:
    """Split into sentences at . ! ? or line breaks; good enough for answers and chunks."""
    parts = re.split(r"(?<=[.!?])\s+(?=[\"'(\[]?[A-Z0-9])|\n+", text or "")
    return [p.strip() for p in parts if p and p.strip()]


def cited_numbers(text: str, k: int) -> list[int]:
    """The document numbers cited in `text`, in order of first mention; [1], [2, 3] and [1][4]
    all count. Numbers outside 1..k (the model invented a source) are ignored."""
    seen: list[int] = []
    for match in _MARKER.finditer(text):
        for part in re.split(r"[,;]", match.group(1)):
            n = int(part)
            if 1 <= n <= k and n not in seen:
                seen.append(n)
    return seen


def snippet(text: str, limit: int = SNIPPET_CHARS) -> str:
    """The start of a chunk on one line, cut at a word: enough to recognise the passage."""
    flat = " ".join(text.split())
    if len(flat) <= limit:
        return flat
    return flat[:limit].rsplit(" ", 1)[0] + " …"


def citation(n: int, hit, cited: bool, attributed: bool = False) -> Citation:
    chunk = hit.chunk
    return Citation(
        n=n,
        source=chunk.source,
        page=chunk.page,
        snippet=snippet(chunk.text),
        score=float(hit.score),
        chunk_id=chunk.id,
        text=chunk.text,
        similarity=float(hit.similarity),
        cited=cited,
        attributed=attributed,
    )


def attribute(text: str, hits: list, embedder, threshold: float = SUPPORT_THRESHOLD) -> int | None:
    """The [n] of the given chunk that supports the most of the answer's sentences, or None when
    no chunk supports any of them (an answer from outside the documents stays unsourced)."""
    claims = [c for c in sentences(_MARKER.sub("", text)) if len(c.split()) >= MIN_CLAIM_WORDS]
    units = [(n, u) for n, hit in enumerate(hits, start=1) for u in sentences(hit.chunk.text)]
    if not claims or not units:
        return None
    vectors = np.asarray(embedder.encode(claims + [u for _, u in units]), dtype=np.float32)
    vectors /= np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
    sims = vectors[: len(claims)] @ vectors[len(claims):].T  # claims x units
    owner = np.array([n for n, _ in units])
    best = None
    for n in range(1, len(hits) + 1):
        per_claim = sims[:, owner == n].max(axis=1) if (owner == n).any() else np.zeros(len(claims))
        key = (int((per_claim >= threshold).sum()), float(per_claim.mean()))
        if key[0] and (best is None or key > best[0]):  # strict: ties keep the higher-ranked chunk
            best = (key, n)
    return None if best is None else best[1]


def resolve_citations(text: str, hits: list, attributed: int | None = None) -> list[Citation]:
    """The sources of an answer: the hits its [n] markers name (`attributed`, when set, is the
    marker Tailor added), or, when it names none, every hit it was given, flagged `cited=False`
    (the answer came from them, it just didn't say which)."""
    numbers = cited_numbers(text, len(hits))
    if numbers:
        return [citation(n, hits[n - 1], cited=True, attributed=n == attributed) for n in numbers]
    return [citation(n, hit, cited=False) for n, hit in enumerate(hits, start=1)]
