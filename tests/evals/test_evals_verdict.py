"""The report's one-sentence verdict and its one significance rule: a difference is called
better or worse exactly when its paired 95% interval excludes 0, in the verdict, the
comparison sentences and the regressions alike."""
from evals._report import comparison_sentence, regressions, verdict


def summary(*comparisons, split="test", metrics=None):
    return {"variants": ["extract", "base+rag", "tuned+rag"], "split": split, "metrics": metrics or {},
            "comparisons": [dict(headline=True, p_holm=None, significant=False, **c) for c in comparisons]}


def cmp(metric, a, b, diff, low, high, n=120):
    return {"metric": metric, "a": a, "b": b, "diff": diff, "low": low, "high": high, "n": n}


def test_verdict_says_better_worse_or_unclear_by_the_interval():
    better = summary(cmp("f1", "base+rag", "tuned+rag", 0.09, 0.03, 0.15))
    assert verdict(better) == "tuned+rag answers better than base+rag: F1 +0.09, 95% CI 0.03..0.15, 120 test questions."
    worse = summary(cmp("f1", "tuned+rag", "base+rag", 0.09, 0.03, 0.15))  # stored the other way round
    assert verdict(worse).startswith("tuned+rag answers worse than base+rag: F1 -0.09, 95% CI -0.15..-0.03")
    unclear = summary(cmp("f1", "base+rag", "tuned+rag", 0.02, -0.04, 0.08, n=20))
    assert verdict(unclear).startswith("No clear difference between tuned+rag and base+rag") and "includes 0" in verdict(unclear)
    assert verdict({"variants": ["base+rag"], "comparisons": []}) == ""


def test_an_interval_excluding_zero_is_a_difference_everywhere_and_tiny_bounds_keep_their_digits():
    latency = cmp("ttft_p50", "base+rag", "tuned+rag", -7.6, -11.5, -3.7)
    assert comparison_sentence(latency).startswith("tuned+rag is better than base+rag on first word, median (s)")
    tiny = cmp("total_p50", "base+rag", "tuned+rag", -0.01, -0.02, -0.0001)
    assert "..-0.0001" in comparison_sentence(tiny)  # not an interval "ending at 0.000"
    holm = {**cmp("accuracy", "base+rag", "tuned+rag", 0.1, 0.01, 0.2), "headline": True, "p_holm": 0.2, "significant": False}
    assert "could be chance" in comparison_sentence(holm)


def test_regressions_are_listed_with_both_values():
    s = summary(cmp("accuracy", "base+rag", "tuned+rag", -0.333, -0.6, -0.1, n=9),
                metrics={"accuracy": {"base+rag": {"value": 0.333}, "tuned+rag": {"value": 0.0}}})
    assert regressions(s) == ["tuned+rag is worse than base+rag on accuracy: 0.333 -> 0.000 (-0.333, 95% CI -0.600..-0.100, n=9)"]
    assert regressions(summary(cmp("accuracy", "base+rag", "tuned+rag", -0.3, -0.6, 0.1))) == []


def test_below_the_extractive_floor_only_answers_and_declines_count():
    """extract writes nothing, so a model being slower than it, or adding fewer markers, is no
    regression; answering worse than it is."""
    s = summary(cmp("f1", "extract", "base+rag", -0.06, -0.12, -0.01, n=21),
                cmp("total_p50", "extract", "tuned+rag", 20.0, 13.0, 30.0),
                cmp("cites_gold", "extract", "tuned+rag", -0.8, -0.9, -0.6),
                cmp("ttft_p50", "base+rag", "tuned+rag", 1.8, 1.0, 4.0))
    assert [r.split(":")[0] for r in regressions(s)] == ["base+rag is worse than extract on F1",
                                                         "tuned+rag is worse than base+rag on first word, median (s)"]
