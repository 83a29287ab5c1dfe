"""The decline threshold separates in-domain from general questions, on the real index."""
import numpy as np

from builder._calibrate import MIN_IN_DOMAIN_RECALL, calibrate, choose_threshold, general_questions


def test_general_questions_are_many_and_off_topic():
    questions = general_questions()
    assert len(questions) >= 140 and len(set(questions)) == len(questions)
    assert not [q for q in questions if any(w in q.lower() for w in ("clinic", "doctor", "appointment", "invoice", "expense"))]


def test_threshold_lies_between_separable_sets():
    inside, outside = np.array([0.6, 0.65, 0.7, 0.8]), np.array([0.1, 0.2, 0.3])
    t, stats = choose_threshold(inside, outside)
    assert 0.3 < t < 0.6
    assert stats["in_domain_answered"] == 1.0 and stats["general_declined"] == 1.0


def test_threshold_keeps_answering_most_in_domain_questions_when_sets_overlap():
    rng = np.random.default_rng(0)
    inside, outside = rng.normal(0.5, 0.1, 200), rng.normal(0.4, 0.1, 200)
    t, stats = choose_threshold(inside, outside)
    assert stats["in_domain_answered"] >= MIN_IN_DOMAIN_RECALL
    assert (inside >= t).mean() >= MIN_IN_DOMAIN_RECALL


def test_calibration_on_a_real_index(built):
    from knowledge import load_index

    folder, _ = built
    kb = load_index(folder / "build" / "index")
    cal = calibrate(kb, ["When are you open on Saturday?", "How much is a consultation?", "Is there parking?"], k=2, mode="hybrid")
    assert cal.stats["in_domain"] == 3 and cal.stats["general"] >= 140
    assert cal.stats["in_domain_answered"] >= MIN_IN_DOMAIN_RECALL
    assert cal.stats["in_domain_similarity"]["p50"] > cal.stats["general_similarity"]["p50"]
