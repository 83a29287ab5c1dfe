"""Groundedness with the real packaged MiniLM on a hand-labelled set: the chosen threshold
must separate supported from unsupported sentences (see evals/_ground.py for the figures)."""
import pytest

from evals._ground import GROUNDED_THRESHOLD, Grounder, claim_sentences
from grounding_cases import CASES


def test_threshold_separates_the_labelled_sentences(minilm):
    grounder = Grounder(minilm)
    supported, unsupported = [], []
    for case in CASES:
        supported += grounder.similarities(" ".join(case["supported"]), case["context"])
        unsupported += grounder.similarities(" ".join(case["unsupported"]), case["context"])
    assert len(supported) == sum(len(c["supported"]) for c in CASES)
    assert min(supported) >= GROUNDED_THRESHOLD, sorted(supported)[:3]
    assert max(unsupported) < GROUNDED_THRESHOLD, sorted(unsupported)[-3:]
    # and with a margin, so the threshold is not fitted to a single sentence
    assert min(supported) - max(unsupported) > 0.05


def test_score_is_the_share_of_supported_claims(minilm):
    case = CASES[0]
    answer = f"{case['supported'][0]} [1] {case['unsupported'][0]} {case['supported'][1]} [2] Yes."
    assert len(claim_sentences(answer)) == 3  # "Yes." makes no claim
    assert Grounder(minilm).score(answer, case["context"]) == pytest.approx(2 / 3)
    assert Grounder(minilm).score("Yes.", case["context"]) is None
