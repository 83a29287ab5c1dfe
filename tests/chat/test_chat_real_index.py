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
