"""The markers Tailor adds to an answer that cites nothing, measured on the hand-labelled set in
attribution_cases.py with the real packaged MiniLM: a marker must mean the passage supports every
claim of the answer, so inventions, wrong figures, made-up URLs, answers to injected commands and
recitals of the system prompt get none. docs/EVALUATION.md reports the same figures."""
from attribution_cases import CASES
from chat._citations import attribute, claims, content_words, key_terms, resolve_citations, states_nothing_new
from chat_fixtures import as_hits


def precision_recall(minilm):
    tp = fp = fn = 0
    wrong = []
    for case in CASES:
        got, want = set(attribute(case["answer"], as_hits(case["passages"]), minilm)), set(case["supported_by"])
        tp, fp, fn = tp + len(got & want), fp + len(got - want), fn + len(want - got)
        if got != want:
            wrong.append((case["kind"], case["answer"][:60], sorted(got), sorted(want)))
    return tp / max(tp + fp, 1), tp / max(tp + fn, 1), wrong


def test_added_markers_are_precise_on_the_labelled_set(minilm):
    """Before: any sentence at cosine >= 0.60 to any passage sentence got the marker (precision 0.50
    on this set: every wrong figure, made-up URL and answer to an injection was vouched for)."""
    kinds = {c["kind"] for c in CASES}
    assert {"invented", "wrong_fact", "fake_source", "injection", "prompt_recital", "mixed"} <= kinds
    precision, recall, wrong = precision_recall(minilm)
    assert precision == 1.0, wrong
    assert recall >= 0.9, wrong


def test_facts_must_appear_in_the_passage():
    passage = "Call (360) 555-0148 or write to desk@willowmere.org. Pay online at www.willowmere-clinic.org/pay."
    facts = __import__("chat._citations", fromlist=["_passage_facts"])._passage_facts(passage)
    assert states_nothing_new("Call the desk at (360) 555-0148.", facts)
    assert not states_nothing_new("Call the desk at (360) 555-0199.", facts)
    assert not states_nothing_new("Write to help@willowmere.org.", facts)
    assert not states_nothing_new("Pay online at https://willowmere-payments.example.com.", facts)
    assert states_nothing_new("You can pay online at www.willowmere-clinic.org/pay.", facts)
    assert key_terms("Open 9:00 to 13:00, three days") == {"9", "0", "13", "3"}
    assert content_words("The visits were reimbursed quickly") == {"visit", "reimburs", "quick"}


def test_claims_skip_courtesy_and_keep_short_checkable_sentences():
    assert claims("Yes. I hope this helps! Call 555-0199. We open at nine on Saturdays [1].") == [
        "Call 555-0199.", "We open at nine on Saturdays ."]


def test_no_claim_or_no_passage_adds_no_marker(minilm):
    assert attribute("Yes.", as_hits(["We open at 9."]), minilm) == []
    assert attribute("We open at 9 on Saturdays.", [], minilm) == []


def test_several_added_markers_resolve_as_added():
    hits = as_hits(["a " * 5, "b " * 5, "c " * 5])
    sources = resolve_citations("Answer. [1][3]", hits, [1, 3])
    assert [(c.n, c.cited, c.attributed) for c in sources] == [(1, True, True), (3, True, True)]
    assert [c.attributed for c in resolve_citations("Answer [2] and [3].", hits, [3])] == [False, True]
