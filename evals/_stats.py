"""Bootstrap confidence intervals, for one variant and for the difference between two.

Every Tailor metric is either a ratio of sums over questions (a mean is sum(score)/count;
declining precision is sum(declined and should decline)/sum(declined)) or a percentile of
latencies, so one resampling routine covers them all. Paired comparisons resample the
same questions for both variants, which removes the question-difficulty noise that makes
two independent intervals overlap even when one variant is clearly better.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

CONFIDENCE = 0.95
MIN_PAIRED = 5  # fewer questions measured on both variants is never called a difference


@dataclass
class Estimate:
    """A metric's value on the questions answered, with its 95% bootstrap interval; None where
    the metric does not apply (e.g. hit@1 without gold documents), and `n` the questions it used."""

    value: float | None
    low: float | None
    high: float | None
    n: int

    def to_dict(self) -> dict:
        return {"value": self.value, "low": self.low, "high": self.high, "n": self.n}

    def fmt(self, digits: int = 2) -> str:
        if self.value is None:
            return "-"
        if self.low is None or self.high is None:
            return f"{self.value:.{digits}f}"
        return f"{self.value:.{digits}f} ({self.low:.{digits}f}-{self.high:.{digits}f})"


@dataclass(frozen=True)
class Stat:
    """How a metric reduces per-question arrays: `ratio` is sum(num)/sum(den); `percentile`
    is the q-th percentile of `num` over questions where `den` is 1."""

    kind: str  # "ratio" | "percentile"
    q: float = 50.0


def _reduce(stat: Stat, num: np.ndarray, den: np.ndarray) -> np.ndarray:
    """Reduce along the last axis; arrays may carry a leading bootstrap axis."""
    if stat.kind == "ratio":
        top, bottom = np.where(den > 0, num, 0.0).sum(axis=-1), den.sum(axis=-1)
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(bottom > 0, top / np.where(bottom > 0, bottom, 1), np.nan)
    # Percentile over the questions where den > 0, row by row: sort with the others pushed to
    # the end, then interpolate linearly (numpy's default method). np.nanpercentile does the
    # same but is ~50x slower on a (resamples x questions) array.
    valid = den > 0
    ordered = np.sort(np.where(valid, num, np.inf), axis=-1)
    count = valid.sum(axis=-1)
    pos = np.maximum(count - 1, 0) * stat.q / 100.0
    lo = np.floor(pos).astype(int)
    hi = np.minimum(lo + 1, np.maximum(count - 1, 0))
    low_v = np.take_along_axis(ordered, np.expand_dims(lo, -1), axis=-1).squeeze(-1)
    high_v = np.take_along_axis(ordered, np.expand_dims(hi, -1), axis=-1).squeeze(-1)
    with np.errstate(invalid="ignore"):
        out = low_v + (high_v - low_v) * (pos - lo)
    return np.where(count > 0, out, np.nan)


def _interval(samples: np.ndarray) -> tuple[float | None, float | None]:
    samples = samples[~np.isnan(samples)]
    if samples.size == 0:
        return None, None
    alpha = (1 - CONFIDENCE) / 2
    low, high = np.quantile(samples, [alpha, 1 - alpha])
    return float(low), float(high)


def _indices(n: int, samples: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, n, size=(samples, n))


def estimate(stat: Stat, num, den, samples: int = 1000, seed: int = 0) -> Estimate:
    """The metric on all questions and its percentile-bootstrap interval over resampled questions."""
    num, den = np.asarray(num, dtype=float), np.asarray(den, dtype=float)
    used = int((den > 0).sum())
    if used == 0:
        return Estimate(None, None, None, 0)
    value = float(_reduce(stat, num, den))
    idx = _indices(len(num), samples, seed)
    low, high = _interval(_reduce(stat, num[idx], den[idx]))
    return Estimate(value, low, high, used)


@dataclass
class Difference:
    """metric(b) - metric(a) on the questions both answered, with a paired bootstrap interval."""

    diff: float | None
    low: float | None
    high: float | None
    n: int
    p_value: float | None = None  # two-sided, from the bootstrap's standard error (normal approximation)

    @property
    def significant(self) -> bool:
        """True when the 95% interval excludes zero (an all-zero interval is no difference) on at
        least MIN_PAIRED questions: with fewer, every resample repeats the same few questions
        and the interval collapses onto the observed difference, which proves nothing."""
        return (self.low is not None and self.high is not None and self.n >= MIN_PAIRED
                and (self.low > 0 or self.high < 0))


def paired_difference(stat: Stat, a: tuple, b: tuple, samples: int = 1000, seed: int = 0) -> Difference:
    """Resample questions once and score both variants on the same resample each time."""
    num_a, den_a = (np.asarray(x, dtype=float) for x in a)
    num_b, den_b = (np.asarray(x, dtype=float) for x in b)
    used = int(((den_a > 0) & (den_b > 0)).sum())
    if used == 0 or (den_a > 0).sum() == 0 or (den_b > 0).sum() == 0:
        return Difference(None, None, None, 0)
    diff = float(_reduce(stat, num_b, den_b) - _reduce(stat, num_a, den_a))
    idx = _indices(len(num_a), samples, seed)
    boot = _reduce(stat, num_b[idx], den_b[idx]) - _reduce(stat, num_a[idx], den_a[idx])
    low, high = _interval(boot)
    return Difference(diff, low, high, used, _p_value(diff, boot))


def _p_value(diff: float, boot: np.ndarray) -> float | None:
    """Two-sided p for "no difference": the observed difference over the bootstrap's standard
    error, read off the normal distribution. Unlike counting resamples on each side of zero it
    resolves the small p-values a Holm correction over many comparisons needs."""
    boot = boot[~np.isnan(boot)]
    if boot.size < 2 or np.isnan(diff):
        return None
    se = float(boot.std(ddof=1))
    if se == 0.0:
        return 1.0 if diff == 0 else 0.0
    return float(math.erfc(abs(diff) / se / math.sqrt(2)))
