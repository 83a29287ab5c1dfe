"""The decline threshold separates in-domain from general questions, on the real index."""
import numpy as np

from builder._calibrate import MIN_IN_DOMAIN_RECALL, calibrate, choose_threshold, general_questions
from builder_fixtures import QA


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


def test_in_domain_questions_the_coverage_check_declines_count_against_recall():
    inside, outside = np.linspace(0.5, 0.9, 20), np.array([0.1, 0.2, 0.3, 0.51])
    gap = np.zeros(20, dtype=bool)
    t, stats = choose_threshold(inside, outside, gap)
    assert 0.51 < t < 0.52 and stats["in_domain_answered"] == 0.95  # one in-domain question for the 0.51 general one
    gap[-2:] = True  # the coverage check declines two: the threshold may not cost another
    t, stats = choose_threshold(inside, outside, gap)
    assert t < 0.5 and stats["in_domain_answered"] == 0.9 and stats["general_declined"] == 0.75


NAMED = ["Is Harbor Clinic open on Saturday?", "Does Harbor Clinic take Private Insurance?",
         "How much is a consultation at Harbor Clinic?", "When do you give flu shots?"]


def test_near_domain_questions_swap_the_key_term_for_a_name_the_documents_lack(built):
    from chat._coverage import CoverageCheck, normalise, tokens
    from knowledge import load_index

    from builder._calibrate import key_term, near_domain_entities, near_domain_questions

    folder, _ = built
    kb = load_index(folder / "build" / "index")
    check = CoverageCheck(kb)
    assert key_term(NAMED[0], check).text == "Harbor Clinic"
    near = near_domain_questions(kb, NAMED, check)
    assert near and {n["from"] for n in near} <= set(NAMED)
    for n in near:
        assert n["entity"] in near_domain_entities() and n["entity"] in n["question"] and n["term"] not in n["question"]
        assert n["question"].replace(n["entity"], n["term"]) == n["from"]
        words = normalise(tokens(n["entity"]))
        assert not all(check.vocabulary.has(w) for w in words) or check.missing(f"Tell me about {n['entity']}")
    assert any(check.missing(n["question"], kb.search(n["question"], k=2)) for n in near)


def test_calibration_records_the_near_domain_negatives_and_both_checks(built):
    from knowledge import load_index

    folder, _ = built
    kb = load_index(folder / "build" / "index")
    cal = calibrate(kb, NAMED, k=2, mode="hybrid")
    s = cal.stats
    assert cal.coverage is True and s["near_domain"] >= 1 and s["coverage"] is True
    assert 0 <= s["near_domain_declined_similarity"] <= s["near_domain_declined"] <= 1
    assert s["near_domain_declined"] > s["near_domain_declined_similarity"] or s["near_domain_declined"] == 1
    assert s["in_domain_answered"] >= MIN_IN_DOMAIN_RECALL and s["in_domain_declined_coverage"] == 0
    sample = s["near_domain_samples"][0]
    assert {"question", "entity", "replaced", "similarity", "declined_by"} <= set(sample)
    assert "coverage check" in cal.method


def test_coverage_check_is_off_where_it_declines_the_assistants_own_questions(built):
    from knowledge import load_index

    folder, _ = built
    kb = load_index(folder / "build" / "index")
    own = ["Is the Zorblax wing open on Saturday?", "Does the Zorblax desk take private insurance?", "Is Zorblax parking free?"]
    cal = calibrate(kb, own, k=2, mode="hybrid")
    assert cal.coverage is False and cal.stats["in_domain_declined_coverage"] == 1.0
    assert "coverage check off" in cal.method


def test_the_build_records_the_decline_gate_in_the_manifest(built):
    from chat import read_manifest

    folder, summary = built
    manifest, _ = read_manifest(folder / "build")
    stats = manifest.decline.stats
    assert {"near_domain", "in_domain_answered", "general_declined", "in_domain_declined_coverage", "coverage"} <= set(stats)
    assert manifest.decline.coverage is stats["coverage"] and stats["in_domain_answered"] >= MIN_IN_DOMAIN_RECALL


def test_the_users_declines_weigh_as_much_as_the_general_questions_however_few():
    inside = np.array([0.30, 0.45, 0.5, 0.55, 0.6, 0.65, 0.7, 0.75, 0.8, 0.85, 0.9, 0.92, 0.95, 0.97, 0.98, 0.99])
    general, own = np.linspace(0.0, 0.2, 150), np.array([0.33, 0.35, 0.4, 0.6])
    t, _ = choose_threshold(inside, general)
    assert 0.2 < t < 0.30  # general questions alone: the lowest gap
    t, stats = choose_threshold(inside, general, also_decline=own)
    assert 0.40 < t < 0.45  # three of the four declined, for one in-domain question
    assert stats["in_domain_answered"] == 15 / 16 and stats["general_declined"] == 1.0


def test_the_users_declined_questions_are_questions_to_decline_and_follow_ups_are_searched_as_served():
    from types import SimpleNamespace

    from builder._build import _user_questions
    from chat.config import DEFAULT_DECLINE_MESSAGE

    def conv(*turns):
        roles = ["user", "assistant"] * len(turns)
        return SimpleNamespace(messages=[{"role": r, "content": t} for r, t in zip(roles, turns)])

    convs = [conv("When are you open?", "8 to 18.", "And on Sunday?", "Closed."),
             conv("Do you offer Botox?", DEFAULT_DECLINE_MESSAGE),
             conv("Is there a dermatologist?", "The documents do not cover dermatology; please call us.")]
    answered, declined = _user_questions(convs, DEFAULT_DECLINE_MESSAGE)
    assert answered == ["When are you open?", "When are you open?\nAnd on Sunday?"]  # the follow-up with its question
    assert declined == ["Do you offer Botox?", "Is there a dermatologist?"]


def test_calibration_counts_the_users_declined_questions(built):
    from knowledge import load_index

    folder, _ = built
    kb = load_index(folder / "build" / "index")
    declined = ["Do you offer Botox injections?", "Can I get LASIK eye surgery at Harbor Clinic?", "Do you sell Nike shoes?"]
    cal = calibrate(kb, NAMED + [q for q, _ in QA], k=2, mode="hybrid", declined=declined)
    assert cal.stats["declined_by_user"] == 3 and cal.stats["declined_by_user_declined"] >= 2 / 3
    assert cal.stats["in_domain_answered"] >= MIN_IN_DOMAIN_RECALL
    assert "3 questions the user's conversations answer with a decline" in cal.method
    assert calibrate(kb, NAMED, k=2, mode="hybrid").stats["declined_by_user_declined"] is None
