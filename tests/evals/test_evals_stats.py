"""Bootstrap intervals and paired comparisons: sane intervals, no difference between identical
variants, a clear difference found and worded the right way round."""
import numpy as np
import pytest

from evals._aggregate import Comparison
from evals._stats import Stat, estimate, paired_difference


def test_interval_contains_the_mean_and_narrows_with_more_questions():
    rng = np.random.default_rng(1)
    small = (rng.random(30) < 0.6).astype(float)
    large = (rng.random(600) < 0.6).astype(float)
    e_small = estimate(Stat("ratio"), small, np.ones_like(small), seed=0)
    e_large = estimate(Stat("ratio"), large, np.ones_like(large), seed=0)
    for e, data in ((e_small, small), (e_large, large)):
        assert e.value == pytest.approx(data.mean())
        assert e.low < e.value < e.high
    assert (e_large.high - e_large.low) < (e_small.high - e_small.low) / 2
    assert e_small.n == 30


def test_ratio_only_counts_questions_the_metric_applies_to():
    num = np.array([1.0, 0.0, 0.0, 1.0])
    den = np.array([1.0, 1.0, 0.0, 0.0])  # only the first two apply
    e = estimate(Stat("ratio"), num, den, seed=0)
    assert e.value == 0.5 and e.n == 2
    assert estimate(Stat("ratio"), num, np.zeros(4)).value is None


def test_percentile_estimate():
    values = np.arange(1.0, 101.0)
    e = estimate(Stat("percentile", 50), values, np.ones(100), seed=0)
    assert e.value == pytest.approx(50.5) and e.low < 50.5 < e.high
    e95 = estimate(Stat("percentile", 95), values, np.ones(100), seed=0)
    assert e95.value == pytest.approx(np.percentile(values, 95))


def test_identical_variants_show_no_significant_difference():
    rng = np.random.default_rng(2)
    scores = rng.random(80)
    ones = np.ones(80)
    d = paired_difference(Stat("ratio"), (scores, ones), (scores.copy(), ones), seed=0)
    assert d.diff == 0.0 and not d.significant
    c = Comparison("f1", "base+rag", "tuned+rag", d, True)
    assert c.winner is None and "no significant difference" in c.sentence()


def test_noisy_but_equal_variants_are_not_called_different():
    rng = np.random.default_rng(3)
    a, b = rng.random(60), rng.random(60)  # same distribution, different draws
    d = paired_difference(Stat("ratio"), (a, np.ones(60)), (b, np.ones(60)), seed=0)
    assert d.low < 0 < d.high and not d.significant


def test_a_clear_improvement_is_significant_and_worded_right():
    rng = np.random.default_rng(4)
    base = rng.random(100) * 0.5
    tuned = base + 0.2 + rng.random(100) * 0.05  # better on every question
    d = paired_difference(Stat("ratio"), (base, np.ones(100)), (tuned, np.ones(100)), seed=0)
    assert d.significant and d.low > 0.19
    c = Comparison("f1", "base+rag", "tuned+rag", d, True)
    assert c.winner == "tuned+rag"
    assert c.sentence().startswith(f"tuned+rag beats base+rag on f1 by {d.diff:.3f} (95% CI ")
    # lower is better for latency: the variant with the larger time loses
    slow = Comparison("total_p50", "base+rag", "tuned+rag",
                      paired_difference(Stat("percentile", 50), (tuned, np.ones(100)), (base, np.ones(100)), seed=0), False)
    assert slow.winner == "tuned+rag"
    lo, hi = map(float, slow.sentence().split("95% CI ")[1].split(";")[0].split(".."))
    assert 0 < lo <= abs(slow.difference.diff) <= hi  # the improvement and its interval, both positive
    worse = Comparison("f1", "tuned+rag", "base+rag", paired_difference(Stat("ratio"), (tuned, np.ones(100)), (base, np.ones(100)), seed=0), True)
    assert worse.winner == "tuned+rag" and worse.sentence().startswith("tuned+rag beats base+rag on f1 by ")
    lo, hi = map(float, worse.sentence().split("95% CI ")[1].split(";")[0].split(".."))
    assert 0.19 < lo <= -worse.difference.diff <= hi


def test_a_difference_on_too_few_questions_is_not_significant():
    # one question, or four, differing by the same amount: the interval collapses onto the
    # difference, but that is no evidence
    for n in (1, 4):
        d = paired_difference(Stat("ratio"), (np.zeros(n), np.ones(n)), (np.ones(n), np.ones(n)), seed=0)
        assert d.low == d.high == 1.0 and not d.significant
    d = paired_difference(Stat("ratio"), (np.zeros(5), np.ones(5)), (np.ones(5), np.ones(5)), seed=0)
    assert d.significant

