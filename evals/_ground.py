"""Groundedness: the share of an answer's sentences that the retrieved context supports.

No NLI model ships with Tailor and nothing may be downloaded, so support is measured with
the knowledge base's own embedder: a sentence counts as supported when its cosine
similarity to the best-matching sentence of the retrieved context reaches GROUNDED_THRESHOLD.

The threshold comes from a hand-labelled set (tests/evals/grounding_cases.py) scored with
the packaged all-MiniLM-L6-v2: supported paraphrases scored 0.63-0.96, unsupported claims
on the same or another topic 0.16-0.52, so 0.60 sits in the gap. Embeddings cannot see a
contradiction that reuses the context's words ("open until 5" against "open until 6"):
groundedness catches invented topics and facts, not wrong numbers; the answer metrics do that.
"""
from __future__ import annotations

from typing import Protocol

import numpy as np

from chat import MIN_CLAIM_WORDS, SUPPORT_THRESHOLD, sentences, unit_vectors
from evals._metrics import strip_markup

GROUNDED_THRESHOLD = SUPPORT_THRESHOLD  # the one value chat's citation matching also uses
MIN_WORDS = MIN_CLAIM_WORDS  # "Yes." or "See [2]." make no claim to check


class Embedder(Protocol):
    def encode(self, texts: list[str]) -> np.ndarray: ...


def claim_sentences(answer: str) -> list[str]:
    """The answer's sentences that state something (markers and markdown removed, short ones skipped)."""
    return [s for s in sentences(strip_markup(answer)) if len(s.split()) >= MIN_WORDS]


def context_units(texts: list[str]) -> list[str]:
    """Each sentence of the context. (Adding pairs of neighbouring sentences, for claims that span
    a sentence break, tripled the tokens to embed and separated the labelled set no better.)"""
    return [s for text in texts for s in sentences(text)]


class Grounder:
    """Scores answers against their contexts, caching context embeddings across variants,
    since every RAG variant of a question usually retrieves the same chunks."""

    def __init__(self, embedder: Embedder, threshold: float = GROUNDED_THRESHOLD):
        self.embedder = embedder
        self.threshold = threshold
        self._cache: dict[str, np.ndarray] = {}

    def _embed(self, texts: list[str]) -> np.ndarray:
        missing = [t for t in dict.fromkeys(texts) if t not in self._cache]
        if missing:
            self._cache.update(zip(missing, unit_vectors(self.embedder, missing)))  # cosine even for an embedder that does not normalize
        return np.stack([self._cache[t] for t in texts])

    def similarities(self, answer: str, contexts: list[str]) -> list[float]:
        """For each claim sentence, its best cosine similarity to a context unit."""
        claims, units = claim_sentences(answer), context_units(contexts)
        if not claims:
            return []
        if not units:
            return [0.0] * len(claims)
        vectors = self._embed(claims + units)  # one encode call for both
        return (vectors[: len(claims)] @ vectors[len(claims):].T).max(axis=1).astype(float).tolist()

    def score(self, answer: str, contexts: list[str]) -> float | None:
        """Share of claim sentences supported; None when the answer makes no claim."""
        sims = self.similarities(answer, contexts)
        if not sims:
            return None
        return sum(s >= self.threshold for s in sims) / len(sims)
