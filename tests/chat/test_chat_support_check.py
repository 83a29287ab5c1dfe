"""Verified or flagged: each answer says whether the passages it cites support what it says,
checked with the real embedder over the real index (chat._citations.check_support), and the
figures it gives that no cited passage holds are named."""
from chat import Assistant, GenerationConfig
from chat._citations import NOT_FOUND_NOTE, figures, unsupported_figures
from chat._terminal import format_sources, verdict_line, without_disclaimer
from chat.config import ChatConfig


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
