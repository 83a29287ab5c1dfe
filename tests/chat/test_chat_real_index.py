"""The real counterparts of the fake-knowledge-base tests: a real FAISS + BM25 index over the
small clinic corpus, the real embedder's similarities, the fallback threshold."""
from chat import Assistant, GenerationConfig
from chat.config import DEFAULT_DECLINE_MESSAGE


def make(real_kb, tiny_model_dir, **kw):
    return Assistant(name="Clinic", base_model=tiny_model_dir, kb=real_kb, generation=GenerationConfig(max_new_tokens=4), **kw)


def test_in_domain_question_retrieves_the_hours_document(real_kb, tiny_model_dir):
    answer = make(real_kb, tiny_model_dir).answer("What time do you open on Saturday?")
    assert not answer.declined and answer.hits[0].chunk.source == "hours.md"
    assert answer.chunk_ids[0] == answer.hits[0].chunk.id and answer.sources[0].source == "hours.md"


def test_out_of_domain_question_is_declined_with_real_topics(real_kb, tiny_model_dir):
    answer = make(real_kb, tiny_model_dir).answer("Who won the 1998 World Cup?")
    assert answer.declined and answer.max_similarity < answer.threshold
    assert answer.text.startswith(DEFAULT_DECLINE_MESSAGE) and "I can help with questions about:" in answer.text
    titles = {"Opening hours", "Fees and insurance", "Parking and directions", "Vaccinations", "Patient portal"}
    assert sum(t in answer.text for t in titles) == 3


def test_follow_up_retrieves_with_the_conversation(real_kb, tiny_model_dir):
    history = [{"role": "user", "content": "What time does the clinic open on Monday?"},
               {"role": "assistant", "content": "At 8:00 [1]."}]
    assistant = make(real_kb, tiny_model_dir)
    alone = real_kb.search("and on weekends?")
    answer = assistant.answer("and on weekends?", history=history)
    assert answer.hits[0].chunk.source == "hours.md" and not answer.declined
    assert max(h.similarity for h in alone) < answer.max_similarity  # the conversation made the difference


def test_injected_document_is_retrieved_as_data_and_decline_is_unaffected(real_kb, tiny_model_dir):
    answer = make(real_kb, tiny_model_dir).answer("How do I book an appointment online?")
    assert answer.hits[0].chunk.source == "portal.md" and "PWNED" in answer.hits[0].chunk.text
    assert not answer.declined and answer.sources[0].source == "portal.md"


def test_an_answer_without_markers_is_attributed_to_the_chunk_that_supports_it(real_kb, tiny_model_dir, monkeypatch):
    """The model wrote no [n]: Tailor adds the marker of the chunk whose sentences match the
    answer's (real embedder), streams it, and flags the citation as added, not written."""
    from chat import Token, _backends

    reply = {"text": ""}

    def scripted(loaded, messages, gen, stats):
        yield reply["text"]

    monkeypatch.setattr(_backends, "stream_local", scripted)
    assistant = make(real_kb, tiny_model_dir)
    reply["text"] = "Free parking is available behind the building, and two spaces are kept for wheelchair users."
    events = list(assistant.stream("Where can I park, and when are you open on Saturday?"))
    answer = events[-1]
    n = next(c.n for c in answer.sources if c.source == "parking.md")
    assert answer.hits[0].chunk.source != "parking.md" or n == 1  # not simply the top hit
    assert answer.text == reply["text"] + f" [{n}]" and isinstance(events[-2], Token) and events[-2].text == f" [{n}]"
    assert [(c.source, c.cited, c.attributed) for c in answer.sources] == [("parking.md", True, True)]
    from chat._terminal import format_sources

    assert "marker added by Tailor" in format_sources(answer) and answer.to_dict()["sources"][0]["attributed"] is True

    reply["text"] = "The 1998 World Cup was won by France, who beat Brazil three goals to nil in the final."
    answer = assistant.answer("Where can I park, and when are you open on Saturday?")
    assert answer.text == reply["text"] and all(not c.cited and not c.attributed for c in answer.sources)

    reply["text"] = "On Saturday we open at 9:00 [1]."
    answer = assistant.answer("When are you open on Saturday?")
    assert answer.text == reply["text"] and [(c.n, c.attributed) for c in answer.sources] == [(1, False)]


def test_a_change_of_topic_retrieves_the_new_topic(real_kb, tiny_model_dir):
    history = [{"role": "user", "content": "What time do you open on Saturday?"},
               {"role": "assistant", "content": "At 9:00 [1]."}]
    answer = make(real_kb, tiny_model_dir).answer("Is parking free?", history=history)
    assert answer.retrieval_query == "Is parking free?"
    assert answer.hits[0].chunk.source == "parking.md" and "hours.md" not in answer.chunk_ids[:1]
