"""Verified or flagged: each answer says whether the passages it cites support what it says,
checked with the real embedder over the real index (chat._citations.check_support), and the
figures it gives that no cited passage holds are named."""
from chat import Assistant, GenerationConfig
from chat._citations import NOT_FOUND_NOTE, figures, unsupported_figures
from chat import without_disclaimer
from chat._terminal import format_sources, verdict_line
from chat.config import ChatConfig
from chat_fixtures import as_hits


def scripted_assistant(real_kb, tiny_model_dir, monkeypatch, reply, **kw):
    from chat import _backends

    monkeypatch.setattr(_backends, "stream_local", lambda loaded, messages, gen, stats: iter([reply["text"]]))
    return Assistant(name="Clinic", base_model=tiny_model_dir, kb=real_kb, generation=GenerationConfig(max_new_tokens=4), **kw)


def test_figures_are_found_as_written_and_checked_against_the_passages():
    text = "A visit is $15 [1]. Call (555) 010-0199 or 555-0123 between 9am and 5:30 pm."
    assert figures(text) == ["$15", "(555) 010-0199", "555-0123", "9am", "5:30 pm"]
    fees = "Standard visit: $125. Flu shot: $38. Call 555-0123."
    assert unsupported_figures(text, [fees]) == ["$15", "(555) 010-0199", "9am", "5:30 pm"]
    assert unsupported_figures("A flu shot is $38; a visit $125.", [fees]) == []


def test_a_wrong_price_citing_the_fee_document_is_flagged(real_kb, tiny_model_dir, monkeypatch):
    reply = {"text": "A standard consultation costs 15 euros [1]."}
    assistant = scripted_assistant(real_kb, tiny_model_dir, monkeypatch, reply)
    answer = assistant.answer("How much does a standard consultation cost?")
    assert answer.sources[0].source == "fees.md" and answer.sources[0].cited
    assert answer.verified is False and answer.unsupported_figures == ["15"]
    assert answer.note.startswith(NOT_FOUND_NOTE[:-1]) and "15" in answer.note
    assert answer.sources[0].supports is False  # never "supports the answer" for a passage that does not
    assert "does not support the answer" in format_sources(answer) and "this passage supports" not in format_sources(answer)
    assert verdict_line(answer).startswith("!! Not found in the documents as stated")
    assert answer.to_dict()["verified"] is False and "Not found in the documents" in answer.to_dict()["note"]

    reply["text"] = "A standard consultation costs 60 euros [1]."
    answer = assistant.answer("How much does a standard consultation cost?")
    assert answer.verified is True and answer.unsupported_figures == [] and answer.sources[0].supports is True
    assert "this passage supports the answer" in format_sources(answer) and verdict_line(answer).startswith("ok:")


def test_an_invented_answer_is_flagged_and_its_given_passages_do_not_support_it(real_kb, tiny_model_dir, monkeypatch):
    reply = {"text": "We do not provide flu shots, but the pharmacy on Main Street sells them for 20 dollars."}
    answer = scripted_assistant(real_kb, tiny_model_dir, monkeypatch, reply).answer("Do you give flu shots?")
    assert answer.verified is False and "20" in answer.unsupported_figures and answer.unsupported_claims
    assert not any(c.attributed for c in answer.sources) and not any(c.supports for c in answer.sources)


def test_a_supported_answer_without_markers_gets_them_and_is_verified(real_kb, tiny_model_dir, monkeypatch):
    reply = {"text": "Free parking is available behind the building, with two spaces reserved for wheelchair users."}
    answer = scripted_assistant(real_kb, tiny_model_dir, monkeypatch, reply).answer("Where can I park?")
    assert answer.attributed and answer.verified is True
    assert [(c.source, c.attributed, c.supports) for c in answer.sources] == [("parking.md", True, True)]


def test_declines_are_not_checked_and_the_disclaimer_is_kept_apart(real_kb, tiny_model_dir, monkeypatch):
    reply = {"text": "Free parking is available behind the building [1]."}
    assistant = scripted_assistant(real_kb, tiny_model_dir, monkeypatch, reply,
                                   chat=ChatConfig(disclaimer="Not medical advice."))
    declined = assistant.answer("Who won the 1998 World Cup?")
    assert declined.declined and declined.verified is None and declined.note == ""
    answer = assistant.answer("Where can I park?")
    assert answer.text.endswith("Not medical advice.") and answer.disclaimer == "Not medical advice."
    assert without_disclaimer(answer) == reply["text"]


def test_a_price_must_be_a_price_in_the_passage_and_a_negation_is_not_support(real_kb, tiny_model_dir, monkeypatch):
    """The clinic example's two wrong answers: "$15" against a fee list with $125 and a
    "15 minutes", and "we do not give flu shots" against a passage that says we do."""
    assert unsupported_figures("Self-pay price: $15. [2]", ["Standard visit (20 minutes) $125. Arrive 15 minutes early."]) == ["$15"]
    assert unsupported_figures("A flu shot is $38.00.", ["Standard flu shot $38"]) == []
    reply = {"text": "We do not give flu shots [1]."}
    answer = scripted_assistant(real_kb, tiny_model_dir, monkeypatch, reply).answer("Do you give flu shots?")
    assert answer.sources[0].source == "vaccines.md" and answer.verified is False
    reply["text"] = "We give flu shots every autumn [1]."
    assert scripted_assistant(real_kb, tiny_model_dir, monkeypatch, reply).answer("Do you give flu shots?").verified is True


VACCINES = ("Willowmere Family Clinic offers routine vaccines for children and adults, seasonal flu shots, and travel "
            "vaccines.\nFrom September 15 to December 15 we run a walk-in flu shot clinic on Tuesdays. No appointment is "
            "needed. Outside these times, flu shots can be given at any scheduled visit.\nStandard flu shot without "
            "insurance: $38\nMost insurance plans, including Medicare Part B, cover flu shots with no copay.")
# A fee table as a PDF page reads: each item, then its price, with durations in between.
FEES = ("Service\nSelf-pay price\nNew-patient visit (45 minutes)\n$185\nStandard visit (20 minutes)\n$125\n"
        "Adult annual physical\n$210\nPaper copy of medical records\n$15 per request\nLab draw fee, per visit (tests extra)\n$18")


def test_a_denial_of_what_the_passage_says_is_flagged(minilm):
    """"We do not provide flu shots" is close to "...cover flu shots with no copay" (both negated)
    and shares its words; the passage's plain "flu shots can be given" says the opposite."""
    from chat._citations import check_support

    hits = as_hits([VACCINES])
    denied = check_support("We do not provide flu shots [1].", hits, minilm)
    assert denied["verified"] is False and denied["supporting"] == []
    assert [c.strip() for c in denied["unsupported_claims"]] == ["We do not provide flu shots ."]
    # A true negation of the same passage is still checked as supported.
    assert check_support("No appointment is needed for the walk-in flu shot clinic [1].", hits, minilm)["verified"] is True
    assert check_support("Most insurance plans cover flu shots with no copay [1].", hits, minilm)["verified"] is True


def test_a_price_the_passage_gives_for_something_else_is_flagged(minilm):
    """"$15" is in the fee table, as the paper copy of a record, not the standard visit."""
    from chat._citations import check_support, misplaced_prices

    assert misplaced_prices("The self-pay price for a standard visit is $15.", [FEES]) == ["$15"]
    for right in ("A standard visit is $125 if you pay yourself.", "A paper copy of your records costs $15 per request.",
                  "An adult annual physical is $210 self-pay.", "There's an $18 lab draw fee per visit, plus the tests.",
                  "$58.2 million.", "Calculation: $185 - $125."):
        assert misplaced_prices(right, [FEES]) == [], right
    check = check_support("The self-pay price for a standard visit is $15 [1].", as_hits([FEES]), minilm)
    assert check["verified"] is False and check["unsupported_figures"] == ["$15"]
    # ...and the fee table is not shown as supporting the claim that states it.
    assert check["supporting"] == [] and len(check["unsupported_claims"]) == 1


def test_a_time_the_restating_sentence_gives_otherwise_is_flagged(minilm):
    """Every figure of "open on Saturday 8:30 am - 12:30 pm" is in the hours page (12:30 pm is when
    the phones close), but the sentence saying the same thing gives 1:00 pm."""
    from chat._citations import check_support, conflicting_figures

    hours = ("## Saturday hours\nWe are open on Saturday from 8:30 am to 1:00 pm. The last walk-in registration on a "
             "Saturday is at 12:30 pm.\nOur phone lines are answered Monday to Friday 8:00 am – 5:30 pm and Saturday 8:30 am – 12:30 pm.")
    wrong = check_support("We are open on Saturday from 8:30 am – 12:30 pm [1].", as_hits([hours]), minilm)
    assert wrong["verified"] is False and wrong["unsupported_figures"] == ["12:30 pm"]
    assert conflicting_figures("We are open on Saturday from 8:30 am to 1 pm.", [hours], minilm) == []
    assert check_support("On Saturday we are open from 8:30 am to 1:00 pm [1].", as_hits([hours]), minilm)["verified"] is True
    # A claim listing several days restates several sentences: the Saturday one does not judge the weekdays.
    week = "| Day | Clinic hours |\n| Monday to Thursday | 7:30 am – 7:00 pm |\n| Friday | 7:30 am – 5:00 pm |\n"
    listing = "We are open Monday to Thursday 7:30 am – 7:00 pm, Friday 7:30 am – 5:00 pm and Saturday 8:30 am – 1:00 pm [1]."
    assert check_support(listing, as_hits([hours + "\n" + week]), minilm)["unsupported_figures"] == []
    # The closest sentence in meaning is about other days: it does not judge a Saturday claim.
    short = "The clinic is open Monday to Friday from 8 am to 6 pm. On Saturdays we open from 9 am to noon."
    assert conflicting_figures("On Saturdays the clinic opens at 9 am and closes at noon.", [short], minilm) == []
    assert check_support("On Saturdays the clinic opens at 9 am and closes at noon.", as_hits([short]), minilm)["verified"] is True
    assert check_support("On Saturdays the clinic opens at 10 am and closes at noon.", as_hits([short]), minilm)["verified"] is False


def test_a_price_named_only_by_the_question_and_an_answer_of_labels_are_flagged(minilm):
    """"The self-pay price is $55." names no service: the question's "standard visit" places it (the
    table's header "Self-pay price" must not); an answer that only copies a passage's label says nothing."""
    from chat._citations import check_support, misplaced_prices

    table = "Service Self-pay price Sports physical (never billed to insurance) $55 Standard visit (20 minutes) $125"
    assert misplaced_prices("The self-pay price is $55.", [table], "What is the self-pay price for a standard visit?") == ["$55"]
    assert misplaced_prices("The self-pay price is $125.", [table], "What is the self-pay price for a standard visit?") == []
    # Columns of one row share its label: "$2.1 million" is the 2018 compensation expense.
    row = "Stock-based compensation expense was $2.3 million, $2.1 million and $1.9 million in 2019, 2018 and 2017."
    assert misplaced_prices("The stock-based compensation expense was $2.1 million in 2018.", [row]) == []
    echo = check_support("[1] (Vaccinations – Willowmere Family Clinic (vaccines.html)) [2]", as_hits([VACCINES, table]), minilm)
    assert echo["verified"] is False and echo["unsupported_claims"] == []
    assert check_support("Yes [1].", as_hits([VACCINES]), minilm)["verified"] is None  # says something, nothing to check
