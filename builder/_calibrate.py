"""The decline threshold: below what retrieval similarity does the assistant say "not in my documents"?

It is set from the assistant's own data, never from an eval suite (that would tune to the test):
the best cosine similarity (max Hit.similarity, the figure chat/ compares) of the user questions
in data/conversations.jsonl -- questions the assistant exists to answer -- against that of a
built-in set of general-knowledge and small-talk questions no domain's documents answer
(builder/data/general_questions.txt).
"""
from __future__ import annotations

from importlib import resources

import numpy as np

from chat.manifest import DeclineCalibration

MIN_IN_DOMAIN_RECALL = 0.9  # answer at least this share of the domain's own questions
FALLBACK_THRESHOLD = 0.35  # with no conversations to learn from (chat/'s own fallback figure)


def general_questions() -> list[str]:
    text = resources.files("builder").joinpath("data/general_questions.txt").read_text(encoding="utf-8")
    return [line.strip() for line in text.splitlines() if line.strip() and not line.startswith("#")]


def best_similarity(kb, questions: list[str], k: int, mode: str | None) -> np.ndarray:
    return np.array([max((h.similarity for h in kb.search(q, k=k, mode=mode)), default=0.0) for q in questions], dtype=float)


def _quantiles(x: np.ndarray) -> dict:
    if len(x) == 0:
        return {}
    return {f"p{q}": round(float(np.percentile(x, q)), 4) for q in (5, 10, 25, 50, 75, 90, 95)}


def choose_threshold(inside: np.ndarray, outside: np.ndarray) -> tuple[float, dict]:
    """The cut that best separates the two sets (Youden's J: in-domain answered + general declined),
    among cuts that still answer MIN_IN_DOMAIN_RECALL of the in-domain questions. Cuts sit halfway
    between neighbouring observed scores, so a question scoring exactly the same lands the same way."""
    values = np.unique(np.concatenate([inside, outside]))
    cuts = np.concatenate([[values[0] - 1e-3], (values[:-1] + values[1:]) / 2, [values[-1] + 1e-3]])
    best, best_j = float(cuts[0]), -1.0
    for t in cuts:
        recall = float((inside >= t).mean())
        rejection = float((outside < t).mean())
        if recall < MIN_IN_DOMAIN_RECALL:
            break  # cuts only rise from here
        j = recall + rejection - 1
        if j > best_j + 1e-12:
            best, best_j = float(t), j
    stats = {
        "in_domain_answered": round(float((inside >= best).mean()), 4),
        "general_declined": round(float((outside < best).mean()), 4),
        "youden_j": round(best_j, 4),
    }
    return best, stats


def calibrate(kb, in_domain: list[str], k: int, mode: str | None) -> DeclineCalibration:
    outside_q = general_questions()
    outside = best_similarity(kb, outside_q, k, mode)
    inside = best_similarity(kb, in_domain, k, mode)
    stats = {"in_domain": len(in_domain), "general": len(outside_q), "k": k, "mode": mode,
             "in_domain_similarity": _quantiles(inside), "general_similarity": _quantiles(outside)}  # fmt: skip
    if len(inside) == 0:
        return DeclineCalibration(
            threshold=FALLBACK_THRESHOLD,
            method="fallback: no data/conversations.jsonl user questions to calibrate on",
            stats=stats,
        )
    threshold, fit = choose_threshold(inside, outside)
    return DeclineCalibration(
        threshold=round(threshold, 4),
        method=(
            "best retrieval similarity (max Hit.similarity over the served top-k) of the user questions in "
            "data/conversations.jsonl vs builder/data/general_questions.txt; threshold maximises Youden's J "
            f"(answered in-domain + declined general - 1) subject to answering >= {MIN_IN_DOMAIN_RECALL:.0%} of in-domain questions"
        ),
        stats={**stats, **fit},
    )
