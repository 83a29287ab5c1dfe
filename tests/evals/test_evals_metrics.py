"""Each per-answer metric on hand-made cases whose right value is worked out by hand."""
import pytest

from evals import exact_match, numbers_match, parse_number, rouge_l, text_declines, token_f1
from evals._metrics import choice_correct, citation_markers, citation_scores, parse_choice, parse_yes_no, retrieval_scores


def test_exact_match_normalizes_case_punctuation_articles_and_citations():
    assert exact_match("The Clinic opens at 9 a.m. [1]", "clinic opens at 9 am") == 1.0
    assert exact_match("**Nine** o'clock", "nine oclock") == 1.0
    assert exact_match("opens at 10", "opens at 9") == 0.0


def test_token_f1_known_values():
    # pred {cat, sat}, ref {cat, sat, down}: P = 1, R = 2/3 -> F1 = 0.8
    assert token_f1("The cat sat.", "cat sat down") == pytest.approx(0.8)
    # one shared token of 4 and 2: P = 1/4, R = 1/2 -> F1 = 1/3
    assert token_f1("a dog runs very fast", "dog sleeps") == pytest.approx(1 / 3)
    assert token_f1("completely different", "nothing shared") == 0.0
    assert token_f1("", "") == 1.0


def test_rouge_l_uses_word_order():
    # LCS of "cat sat on mat" and "cat on mat" is 3: P = 3/4, R = 1 -> 6/7
    assert rouge_l("the cat sat on the mat", "the cat on the mat") == pytest.approx(6 / 7)
    # same bag of words, reversed order: F1 is 1 but the LCS is 1 of 3 tokens
    assert token_f1("one two three", "three two one") == 1.0
    assert rouge_l("one two three", "three two one") == pytest.approx(1 / 3)


@pytest.mark.parametrize("text, verdict", [
    ("Yes, the study found a clear effect.", "yes"),
    ("**Yes.** It does.", "yes"),
    ("No.", "no"),
    ("No, it is not.", "no"),
    ("The answer is no, according to [2].", "no"),
    ("Answer: yes", "yes"),
    ("Not necessarily; it depends on the dose.", "maybe"),
    ("It depends on the patient's age.", "maybe"),
    ("Maybe.", "maybe"),
    ("Certainly not.", "no"),
    ("Indeed, the year of surgery matters.", "yes"),
    ("Based on the results, yes, it predicts outcome.", "yes"),
    # Only a stated verdict counts: a negation inside a statement is not a "no".
    ("The year of surgery is not a predictor of outcome.", None),
    ("Surgery year doesn't predict outcome.", None),
    ("No evidence links the two.", None),
    ("Patients with no prior surgery had better outcomes.", None),
    ("No prior surgery was linked to better outcomes.", None),
    ("After weighing the trials, no.", "no"),
    ("No doubt, it helps.", "yes"),
    ("The year of surgery predicts outcome.", None),  # affirmative without a verdict: unparseable
    ("Correct dosing matters a lot.", None),  # "Correct" opening a sentence is not a verdict
    ("", None),
])
def test_parse_yes_no(text, verdict):
    assert parse_yes_no(text) == verdict


@pytest.mark.parametrize("text, value", [
    ("$1,234.5", 1234.5),
    ("35 dollars", 35.0),
    ("2.5%", 2.5),
    ("1.2 million", 1.2e6),
    ("$2,018mn", 2.018e9),
    ("$3bn", 3e9),
    ("5k", 5000.0),
    ("thirty-five", 35.0),
    ("two hundred and five", 205.0),
    ("-4.5", -4.5),
    ("no number here", None),
])
def test_parse_number(text, value):
    got = parse_number(text)
    assert (got.value if got else None) == (pytest.approx(value) if value is not None else None)


def test_numbers_match_with_tolerance_scales_and_percent():
    assert numbers_match("Revenue was $1,235 last year.", "$1,234.5") is True  # within 1%
    assert numbers_match("Revenue was $1,300.", "$1,234.5") is False
    assert numbers_match("Adjusted EBITDA was 2,018 million [1].", "$2,018mn") is True
    assert numbers_match("It was 2,018.", "$2,018mn") is True  # scale left implicit
    assert numbers_match("It came to 2.02 billion dollars.", "$2,018mn") is True
    assert numbers_match("The rate is 2.5%.", "0.025") is True  # a share written either way
    assert numbers_match("In 2022 the fee was thirty-five dollars.", "35") is True  # any stated number
    assert numbers_match("About 35.4.", "35") is True  # the reference's precision counts
    assert numbers_match("36", "35") is False
    assert numbers_match("no figure at all", "35") is False
    assert numbers_match("35", "3.5", rel_tol=0.0) is False
    assert numbers_match("anything", "no number") is None


def test_parse_choice_by_letter_and_text():
    choices = ["London", "Paris", "Rome"]
    assert parse_choice("B) Paris", choices) == 1
    assert parse_choice("(c)", choices) == 2
    assert parse_choice("The answer is **B**.", choices) == 1
    assert parse_choice("I would say Rome.", choices) == 2
    assert parse_choice("A lot of people think so", choices) is None  # the article "A" is not option A
    assert choice_correct("Option B", "Paris", choices) is True
    assert choice_correct("London, surely", "B", choices) is False
    assert choice_correct("It is paris.", "Paris") is True  # no options listed: the reference text must appear


def test_text_declines():
    msg = "I'm sorry, I can't find that in my documents."
    assert text_declines(msg + " I can help with: fees.", msg)
    assert text_declines("The documents do not mention the parking fee.")
    assert text_declines("That is not covered in the documents provided.")
    assert not text_declines("The fee is 35 dollars [1].")
    assert text_declines("No, I’m not able to provide that answer.")
    assert text_declines("I couldn't find anything about horses.")
    # a company or a statement lacking something is an answer, not a decline
    assert not text_declines("Corning does not have positive working capital. Its statements do not include cash.")
    assert not text_declines("Based on the provided information, no. It does not provide any details on others.")
    # a missing detail noted after two sentences of answer is not a decline
    assert not text_declines("We open at 9. We close at 5. The documents do not mention holidays.")


def test_retrieval_scores_are_document_level():
    hits = ["a.md", "a.md", "b.md", "c.md"]  # two chunks of a.md count once: docs a, b, c
    assert retrieval_scores(hits, ["a.md"]) == {"hit@1": 1.0, "hit@k": 1.0, "mrr": 1.0, "recall": 1.0}
    got = retrieval_scores(hits, ["c.md", "z.md"])
    assert got == {"hit@1": 0.0, "hit@k": 1.0, "mrr": pytest.approx(1 / 3), "recall": 0.5}
    assert retrieval_scores(hits, ["z.md"]) == {"hit@1": 0.0, "hit@k": 0.0, "mrr": 0.0, "recall": 0.0}
    assert retrieval_scores([], ["a.md"])["hit@k"] == 0.0


def test_citation_markers_and_scores():
    assert citation_markers("a [1] b [2, 3] c [4-5] d [1][2]") == [1, 2, 3, 4, 5, 1, 2]
    sources = {1: "fees.md", 2: "hours.md"}
    got = citation_scores("Fees are $35 [2]. See also [7].", sources, ["hours.md"])
    assert got == {"n_markers": 2, "n_valid_markers": 1, "cites_gold": 1.0}
    got = citation_scores("Fees are $35 [1].", sources, ["hours.md"])
    assert got["cites_gold"] == 0.0
    assert "cites_gold" not in citation_scores("No markers.", sources, [])
