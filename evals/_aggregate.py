"""From per-question result lines to the report's numbers: each metric per variant with a 95%
bootstrap interval, and each pair of variants compared on the same questions."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from evals._stats import MIN_PAIRED, Difference, Estimate, Stat, estimate, paired_difference


@dataclass(frozen=True)
class MetricDef:
    """`arrays(record) -> (num, den)` per result line; the metric is sum(num)/sum(den) over
    questions (Stat ratio) or a percentile of num where den is 1."""

    name: str
    label: str
    group: str
    arrays: Callable[[dict], tuple[float, float]]
    stat: Stat = Stat("ratio")
    higher_is_better: bool = True
    headline: bool = False  # compared with Holm's correction across the report; the rest are exploratory
    paired_on_both: bool = True  # compare on the questions where both variants have a value


def _score(key: str):
    def arrays(rec: dict) -> tuple[float, float]:
        value = rec.get("scores", {}).get(key)
        return (0.0, 0.0) if value is None else (float(value), 1.0)
    return arrays


def _timing(key: str):
    def arrays(rec: dict) -> tuple[float, float]:
        value = (rec.get("timings") or {}).get(key)
        timings = rec.get("timings") or {}
        if rec.get("escalation") or value is None or timings.get("cold"):
            return 0.0, 0.0  # a fixed escalation reply is not a generation; a cold answer timed model loading
        return float(value), 1.0
    return arrays


def _decline_precision(rec: dict) -> tuple[float, float]:
    declined = bool(rec.get("declined"))
    return float(declined and rec.get("answer_type") == "decline"), float(declined)


def _decline_recall(rec: dict) -> tuple[float, float]:
    should = rec.get("answer_type") == "decline"
    return float(should and bool(rec.get("declined"))), float(should)


def _cite_valid(rec: dict) -> tuple[float, float]:
    scores = rec.get("scores", {})
    return float(scores.get("n_valid_markers", 0)), float(scores.get("n_markers", 0))


METRICS: list[MetricDef] = [
    MetricDef("f1", "token F1, free answers", "answers", _score("f1"), headline=True),
    MetricDef("accuracy", "yes/no, number and choice answers right", "answers", _score("accuracy"), headline=True),
    MetricDef("decline_precision", "declines that were decline questions", "declining", _decline_precision, headline=True,
              paired_on_both=False),  # a ratio over each variant's own declines: on shared declines it could never differ
    MetricDef("decline_recall", "decline questions declined", "declining", _decline_recall, headline=True),
    MetricDef("cites_gold", "answers whose own [n] cite a gold document", "grounding", _score("cites_gold"), headline=True),
    MetricDef("em", "exact match, free answers", "answers", _score("em")),
    MetricDef("rouge_l", "ROUGE-L F1, free answers", "answers", _score("rouge_l")),
    MetricDef("choice_accuracy", "yes/no verdict the model prefers (first-token probability) right", "answers", _score("choice_accuracy")),
    MetricDef("correct_supported", "answers right and supported by a gold document", "answers", _score("correct_supported")),
    MetricDef("judge", "LLM judge score (0-1)", "answers", _score("judge")),
    MetricDef("hit@1", "gold document ranked first", "retrieval", _score("hit@1")),
    MetricDef("hit@k", "gold document among the hits", "retrieval", _score("hit@k")),
    MetricDef("mrr", "mean reciprocal rank of the first gold document", "retrieval", _score("mrr")),
    MetricDef("recall", "share of gold documents retrieved", "retrieval", _score("recall")),
    MetricDef("context_support", "answer sentences supported by the passages given", "grounding", _score("context_support")),
    MetricDef("gold_support", "answer sentences supported by a gold document", "grounding", _score("gold_support")),
    MetricDef("cite_valid", "own [n] markers that point at a passage given", "grounding", _cite_valid),
    MetricDef("attributed_share", "answers whose marker Tailor had to add", "grounding", _score("attributed"), higher_is_better=False),
    MetricDef("complied", "answers that followed an injected instruction (safety suites)", "safety", _score("complied"), higher_is_better=False),
    MetricDef("ttft_p50", "time to first token, median (s)", "latency", _timing("first_token_s"), Stat("percentile", 50), False),
    MetricDef("ttft_p95", "time to first token, 95th percentile (s)", "latency", _timing("first_token_s"), Stat("percentile", 95), False),
    MetricDef("total_p50", "time per answer, median (s)", "latency", _timing("total_s"), Stat("percentile", 50), False),
    MetricDef("total_p95", "time per answer, 95th percentile (s)", "latency", _timing("total_s"), Stat("percentile", 95), False),
]
METRIC_BY_NAME = {m.name: m for m in METRICS}
HEADLINE_METRICS = [m.name for m in METRICS if m.headline]
ALPHA = 0.05


def _matrix(records: dict[tuple[str, str], dict], ids: list[str], variant: str, metric: MetricDef):
    num, den = np.zeros(len(ids)), np.zeros(len(ids))
    for i, qid in enumerate(ids):
        rec = records.get((qid, variant))
        if rec is not None:
            num[i], den[i] = metric.arrays(rec)
    return num, den


def estimates(records, ids, variants, samples, seed) -> dict[str, dict[str, Estimate]]:
    """metric -> variant -> Estimate; metrics no variant measured are left out."""
    out = {}
    for metric in METRICS:
        row = {v: estimate(metric.stat, *_matrix(records, ids, v, metric), samples=samples, seed=seed) for v in variants}
        if any(e.value is not None for e in row.values()):
            out[metric.name] = row
    return out


@dataclass
class Comparison:
    """b - a on one metric, paired over the questions both variants answered."""

    metric: str
    a: str
    b: str
    difference: Difference
    higher_is_better: bool
    p_adjusted: float | None = None  # Holm-adjusted across the report's headline comparisons; None: exploratory
    headline: bool = False

    @property
    def p_value(self) -> float | None:
        return self.difference.p_value

    @property
    def significant(self) -> bool:
        """Headline metrics: Holm-adjusted p below ALPHA. Exploratory ones: the 95% interval
        excludes zero (uncorrected, and said so). Never on fewer than MIN_PAIRED questions."""
        d = self.difference
        if self.headline:
            return d.diff is not None and d.n >= MIN_PAIRED and self.p_adjusted is not None and self.p_adjusted < ALPHA
        return d.significant

    @property
    def winner(self) -> str | None:
        d = self.difference
        if not self.significant or not d.diff:
            return None
        return self.b if (d.diff > 0) == self.higher_is_better else self.a

    def _test(self) -> str:
        d = self.difference
        if self.headline and self.p_adjusted is not None:
            return f"Holm-adjusted p {self.p_adjusted:.2g}, n={d.n}"
        return f"n={d.n}, uncorrected"

    def sentence(self, digits: int = 3) -> str:
        """'tuned+rag beats base+rag on f1 by 0.120 (95% CI 0.050..0.190; Holm-adjusted p 0.003, n=96)'
        or '... no significant difference (...)'."""
        d = self.difference
        if d.diff is None or d.low is None:
            return f"{self.b} vs {self.a} on {self.metric}: not measured on both"
        if self.winner is None:
            return (f"{self.b} vs {self.a} on {self.metric}: no significant difference "
                    f"({d.diff:+.{digits}f}, 95% CI {d.low:+.{digits}f}..{d.high:+.{digits}f}; {self._test()})")
        # Report the improvement as a positive number: b - a when b won on a higher-is-better
        # metric or a won on a lower-is-better one (latency), a - b otherwise.
        sign = 1 if (self.winner == self.b) == self.higher_is_better else -1
        lo, hi = sorted((sign * d.low, sign * d.high))
        loser = self.a if self.winner == self.b else self.b
        return (f"{self.winner} beats {loser} on {self.metric} by {abs(d.diff):.{digits}f} "
                f"(95% CI {lo:.{digits}f}..{hi:.{digits}f}; {self._test()})")

    def to_dict(self) -> dict:
        d = self.difference
        return {"metric": self.metric, "a": self.a, "b": self.b, "diff": d.diff, "low": d.low, "high": d.high,
                "n": d.n, "p": d.p_value, "p_holm": self.p_adjusted, "headline": self.headline,
                "significant": self.significant, "winner": self.winner, "text": self.sentence()}


def comparisons(records, ids, variants, metric_names, samples, seed) -> list[Comparison]:
    """Every pair of variants on every measured metric (b listed after a), paired: on the
    questions where both variants have a value (both answered a free question, both did not
    decline, ...), so a conditional metric compares like with like and n is what was compared.
    The headline metrics' p-values are Holm-adjusted together across all pairs."""
    out = []
    for i, a in enumerate(variants):
        for b in variants[i + 1:]:
            both = np.array([(q, a) in records and (q, b) in records for q in ids], dtype=float)
            for name in metric_names:
                metric = METRIC_BY_NAME[name]
                num_a, den_a = _matrix(records, ids, a, metric)
                num_b, den_b = _matrix(records, ids, b, metric)
                mask = both * ((den_a > 0) & (den_b > 0)) if metric.paired_on_both else both
                diff = paired_difference(metric.stat, (num_a * mask, den_a * mask), (num_b * mask, den_b * mask),
                                         samples=samples, seed=seed)
                out.append(Comparison(name, a, b, diff, metric.higher_is_better, headline=metric.headline))
    family = [c for c in out if c.headline and c.difference.p_value is not None and c.difference.n >= MIN_PAIRED]
    for c, p in zip(family, holm([c.difference.p_value for c in family])):
        c.p_adjusted = p
    return out


def holm(p_values: list[float]) -> list[float]:
    """Holm's step-down adjustment: controls the chance of any false "significant" among the
    family at ALPHA, without assuming the tests are independent."""
    order = sorted(range(len(p_values)), key=lambda i: p_values[i])
    adjusted, running = [1.0] * len(p_values), 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (len(p_values) - rank) * p_values[i]))
        adjusted[i] = running
    return adjusted


def primary_score(rec: dict) -> float | None:
    """One number per answer for spotting disagreement: accuracy for typed answers, whether it
    declined for decline questions, token F1 for free answers."""
    if rec.get("answer_type") == "decline":
        return float(bool(rec.get("declined")))
    scores = rec.get("scores", {})
    value = scores.get("accuracy", scores.get("f1"))
    return None if value is None else float(value)


def disagreements(records, ids, variants, min_spread: float = 0.5, limit: int = 40) -> list[dict]:
    """Questions where variants' primary scores differ by at least `min_spread`, widest first."""
    rows = []
    for qid in ids:
        per = {v: records[(qid, v)] for v in variants if (qid, v) in records}
        scores = {v: primary_score(r) for v, r in per.items()}
        known = [s for s in scores.values() if s is not None]
        if len(known) >= 2 and max(known) - min(known) >= min_spread:
            first = next(iter(per.values()))
            rows.append({"id": qid, "question": first["question"], "reference": first["reference"],
                         "answer_type": first["answer_type"], "spread": max(known) - min(known),
                         "answers": {v: {"answer": r["answer"], "score": scores[v], "declined": r.get("declined")}
                                     for v, r in per.items()}})
    rows.sort(key=lambda r: -r["spread"])
    return rows[:limit]
