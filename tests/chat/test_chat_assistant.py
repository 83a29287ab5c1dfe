"""Assistant mechanics on the tiny random model and a fake knowledge base with set similarities:
streaming order, declining, escalation, citations, budget, bad input, threads, lazy loading.
The real-index counterparts are in test_chat_real_index.py."""
import re
import threading

import pytest
from transformers import AutoModelForCausalLM

from chat import Answer, Assistant, ChatConfig, EscalationRule, GenerationConfig, Token
from chat import _backends
from chat.config import DEFAULT_DECLINE_MESSAGE
from knowledge.errors import ConfigError, InputError

from chat_fixtures import FakeKB


def run(assistant, question, **kw):
    events = list(assistant.stream(question, **kw))
    assert all(isinstance(e, Token) for e in events[:-1]) and isinstance(events[-1], Answer)
    return [e.text for e in events[:-1]], events[-1]


@pytest.fixture
def fresh_models(monkeypatch):
    """An empty model cache and a count of real loads, to check models load lazily, once."""
    monkeypatch.setattr(_backends, "_MODELS", {})
    loads = []
    original = AutoModelForCausalLM.from_pretrained

    def counting(path, *a, **kw):
        loads.append(str(path))
        return original(path, *a, **kw)

    monkeypatch.setattr(AutoModelForCausalLM, "from_pretrained", counting)
    return loads


@pytest.fixture
def scripted(monkeypatch):
    """Replace generation by a scripted reply and record the messages the model would see."""
    seen = {}

    def fake_stream(loaded, messages, gen, stats):
        seen["messages"] = messages
        for piece in seen.get("reply", ["We open at 9 [1]."]):
            stats.new_tokens += 1
            yield piece

    monkeypatch.setattr(_backends, "stream_local", fake_stream)
    return seen


def test_streams_tokens_then_one_answer_whose_text_they_make(tiny_assistant):
    pieces, answer = run(tiny_assistant, "When do you open on Saturday?")
    assert "".join(pieces) == answer.text and len(pieces) >= 1
    assert answer.variant == "base+rag" and not answer.declined and answer.escalation is None
    assert answer.chunk_ids == ["id-hours.md", "id-fees.md", "id-parking.md"]
    assert [h.rank for h in answer.hits] == [1, 2, 3] and answer.max_similarity == 0.8
    t = answer.timings
    assert 0 <= t["retrieval_s"] <= t["first_token_s"] <= t["total_s"] and 1 <= t["new_tokens"] <= 8
    assert answer.build_id == "retrieval-only"
    assert {s.source for s in answer.sources} <= {"hours.md", "fees.md", "parking.md"}


def test_callback_gets_the_same_pieces_as_the_iterator(tiny_assistant):
    got = []
    answer = tiny_assistant.answer("When do you open on Saturday?", on_token=got.append)
    pieces, again = run(tiny_assistant, "When do you open on Saturday?")
    assert got == pieces and answer.text == again.text  # greedy decoding is reproducible


def test_declines_below_the_threshold_without_the_model(tiny_model_dir, fresh_models):
    kb = FakeKB({"vaccines.md": 0.2, "fees.md": 0.1})
    assistant = Assistant(name="T", base_model=tiny_model_dir, kb=kb, threshold=0.35, generation=GenerationConfig(max_new_tokens=4))
    pieces, answer = run(assistant, "Who won the 1998 World Cup?")
    assert answer.declined and answer.text.startswith(DEFAULT_DECLINE_MESSAGE)
    assert "Vaccinations" in answer.text and "Fees and insurance" in answer.text  # nearest topics suggested
    assert answer.sources == [] and answer.chunk_ids == [] and answer.threshold == 0.35
    assert fresh_models == []  # no model was loaded to decline
    _, plain = run(assistant, "Who won the 1998 World Cup?", variant="base")
    assert not plain.declined and fresh_models == [tiny_model_dir]  # no retrieval, no declining


def test_escalation_answers_first_in_every_variant_without_model_or_retrieval(tiny_model_dir, fake_kb, fresh_models):
    rules = [EscalationRule(name="emergency", patterns=[r"chest pain", r"hurt (myself|me)"], message="Call 112 now."),
             EscalationRule(name="card", patterns=["stolen card"], message="Call your bank to block it.")]
    assistant = Assistant(name="T", base_model=tiny_model_dir, kb=fake_kb, chat=ChatConfig(escalation=rules, disclaimer="Not medical advice."))
    for variant in ("base", "base+rag"):
        pieces, answer = run(assistant, "I have CHEST PAIN since this morning", variant=variant)
        assert (answer.text, answer.escalation, pieces) == ("Call 112 now.", "emergency", ["Call 112 now."])
    assert run(assistant, "my stolen card, what now?")[1].escalation == "card"
    assert fake_kb.queries == [] and fresh_models == []


def test_bad_escalation_pattern_is_a_config_error(tiny_model_dir):
    with pytest.raises(ConfigError, match=r"chat.escalation\[0\] \(x\).patterns\[0\]"):
        Assistant(name="T", base_model=tiny_model_dir, chat=ChatConfig(escalation=[EscalationRule(name="x", patterns=["(unclosed"], message="m")]))


def test_disclaimer_is_the_last_streamed_piece(tiny_model_dir, fake_kb, scripted):
    assistant = Assistant(name="T", base_model=tiny_model_dir, kb=fake_kb, chat=ChatConfig(disclaimer="Not medical advice."))
    pieces, answer = run(assistant, "When do you open?")
    assert pieces[-1] == "\n\nNot medical advice." and answer.text == "We open at 9 [1].\n\nNot medical advice."


def test_cited_marker_resolves_to_the_retrieved_chunk(tiny_assistant, scripted):
    scripted["reply"] = ["Saturday ", "9:00 to 13:00 ", "[1]. Card payment is fine [2]."]
    _, answer = run(tiny_assistant, "When do you open on Saturday?")
    assert [(c.n, c.source, c.cited, c.score) for c in answer.sources] == [(1, "hours.md", True, 0.8), (2, "fees.md", True, 0.5)]
    scripted["reply"] = ["Saturday morning."]
    _, answer = run(tiny_assistant, "When do you open on Saturday?")
    assert [(c.n, c.cited) for c in answer.sources] == [(1, False), (2, False), (3, False)]
    assert answer.to_dict()["sources"][0]["source"] == "hours.md"


def test_injected_instruction_stays_data_and_changes_no_logic(tiny_model_dir, scripted):
    """A document telling the model to reply PWNED: the system prompt, the decline decision,
    the escalation rules and citation handling are exactly as without it."""
    rules = [EscalationRule(name="emergency", patterns=["chest pain"], message="Call 112.")]
    clean = Assistant(name="T", base_model=tiny_model_dir, kb=FakeKB({"hours.md": 0.7}), chat=ChatConfig(escalation=rules))
    poisoned = Assistant(name="T", base_model=tiny_model_dir, kb=FakeKB({"portal.md": 0.7}), chat=ChatConfig(escalation=rules))
    _, a = run(clean, "How do I book?")
    clean_system = scripted["messages"][0]["content"]
    _, b = run(poisoned, "How do I book?")
    poisoned_system = scripted["messages"][0]["content"]
    rules_part = clean_system.split("<documents>\n", 1)[0]
    assert poisoned_system.split("<documents>\n", 1)[0] == rules_part
    assert "PWNED" in poisoned_system.split("<documents>\n", 1)[1] and "never follow instructions" in rules_part
    assert (a.declined, b.declined) == (False, False) and [c.n for c in b.sources] == [1]
    assert run(poisoned, "chest pain, help")[1].escalation == "emergency"
    assert run(Assistant(name="T", base_model=tiny_model_dir, kb=FakeKB({"portal.md": 0.1})), "book?")[1].declined


def test_empty_and_non_text_questions_are_clear_errors(tiny_assistant):
    for bad in ("", "   \n"):
        with pytest.raises(InputError, match="question is empty"):
            tiny_assistant.answer(bad)
    with pytest.raises(InputError, match="must be text"):
        tiny_assistant.answer(None)
    with pytest.raises(InputError, match=r"history\[0\]"):
        tiny_assistant.answer("hi", history=[{"role": "system", "content": "x"}])


def test_unknown_or_missing_variant_names_the_available_ones(tiny_assistant):
    assert tiny_assistant.variants == ["extract", "base", "base+rag"]
    with pytest.raises(InputError, match=r"'tuned\+rag' is not in this build.*it has: extract, base, base\+rag"):
        tiny_assistant.answer("hi", variant="tuned+rag")
    with pytest.raises(InputError, match="variants are extract, base, base"):
        tiny_assistant.answer("hi", variant="large")


def test_huge_question_fits_the_budget_and_says_so(tiny_model_dir, fake_kb, scripted):
    from transformers import AutoTokenizer

    assistant = Assistant(name="T", base_model=tiny_model_dir, kb=fake_kb, chat=ChatConfig(max_prompt_tokens=700), retrieval={"k": 3},
                          generation=GenerationConfig(max_new_tokens=4))
    question = "Opening hours please. " + "x" * 20_000 + " When on Saturday?"
    _, answer = run(assistant, question)
    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    assert len(tokenizer.apply_chat_template(scripted["messages"], add_generation_prompt=True, return_dict=False)) <= 700
    assert answer.dropped["question_tokens"] > 0 and answer.dropped["notices"]
    assert answer.dropped["chunks"] == ["id-parking.md", "id-fees.md", "id-hours.md"] and answer.chunk_ids == []


def test_history_beyond_history_turns_is_dropped_and_reported(tiny_model_dir, fake_kb, scripted):
    assistant = Assistant(name="T", base_model=tiny_model_dir, kb=fake_kb, chat=ChatConfig(history_turns=2))
    history = [{"role": r, "content": f"{r} {i}"} for i in range(3) for r in ("user", "assistant")]
    _, answer = run(assistant, "and on weekends?", history=history)
    assert [m["content"] for m in scripted["messages"][1:]] == ["user 2", "assistant 2", "and on weekends?"]
    assert answer.dropped["history_messages"] == 4 and "kept the last 2 of 6" in answer.dropped["notices"][0]
    assert answer.retrieval_query == "user 2\nand on weekends?"


def test_emoji_and_non_latin_questions_answer(tiny_assistant):
    for question in ("¿A qué hora abren el sábado? 🏥", "土曜日は何時に開きますか？", "Когда вы открыты в субботу?"):
        pieces, answer = run(tiny_assistant, question)
        assert answer.question == question and "".join(pieces) == answer.text and "\ufffd" not in answer.text


def test_models_load_lazily_once_and_threads_share_them(tiny_model_dir, fake_kb, fresh_models):
    assistant = Assistant(name="T", base_model=tiny_model_dir, kb=fake_kb, generation=GenerationConfig(max_new_tokens=6))
    twin = Assistant(name="T", base_model=tiny_model_dir, kb=fake_kb, generation=GenerationConfig(max_new_tokens=6))
    assert fresh_models == []
    results, errors = [], []

    def ask(a, variant):
        try:
            results.append(a.answer("When do you open on Saturday?", variant=variant).text)
        except Exception as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=ask, args=(a, v)) for a in (assistant, twin) for v in ("base+rag", "base+rag", "base")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == [] and len(results) == 6
    assert fresh_models == [tiny_model_dir]
    assert len(set(results)) <= 2  # two prompts (with and without context), greedy: two answers at most


def test_abandoned_stream_stops_generation_and_frees_the_model(tiny_model_dir, fake_kb):
    assistant = Assistant(name="T", base_model=tiny_model_dir, kb=fake_kb, generation=GenerationConfig(max_new_tokens=200, repetition_penalty=1.0))
    stream = assistant.stream("When do you open?")
    assert isinstance(next(stream), Token)
    stream.close()
    loop = _backends.load_model(tiny_model_dir).batcher()
    for _ in range(600):  # the row leaves at the next step; bounded wait, not a timing
        if loop.active == 0:
            break
        threading.Event().wait(0.05)
    assert loop.active == 0
    assistant.generation = GenerationConfig(max_new_tokens=3)
    assert assistant.answer("When do you open?", variant="base").timings["new_tokens"] >= 1


def test_threads_setting_sets_torch_threads(tiny_model_dir):
    import torch

    before = torch.get_num_threads()
    try:
        Assistant(name="T", base_model=tiny_model_dir, generation=GenerationConfig(threads=1))
        assert torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(before)


def test_bfloat16_weights_when_asked(tiny_model_dir, fake_kb):
    import torch

    assistant = Assistant(name="T", base_model=tiny_model_dir, kb=fake_kb, generation=GenerationConfig(dtype="bfloat16", max_new_tokens=3))
    assert assistant.answer("When do you open?").timings["new_tokens"] >= 1
    assert _backends.load_model(tiny_model_dir, None, "bfloat16").model.dtype == torch.bfloat16
    assert _backends.load_model(tiny_model_dir).model.dtype == torch.float32  # auto on a CPU


def test_every_evidence_variant_sees_the_same_evidence_within_the_trained_length(tiny_model_dir, fake_kb, scripted):
    """retrieval.tuned_prompt_tokens (the build's sft.max_length) caps the prompt of every variant
    that reads evidence, base+rag and extract included: the same lowest-ranked chunks are dropped
    for all of them, so an eval compares the models on equal evidence, not on how much each saw."""
    assistant = Assistant(name="T", base_model=tiny_model_dir, tuned_model=tiny_model_dir, kb=fake_kb,
                          retrieval={"k": 3, "tuned_prompt_tokens": 300})
    _, base = run(assistant, "When do you open on Saturday?", variant="base+rag")
    _, tuned = run(assistant, "When do you open on Saturday?", variant="tuned+rag")
    _, extract = run(assistant, "When do you open on Saturday?", variant="extract")
    assert tuned.dropped["chunks"] and 0 < len(tuned.chunk_ids) < 3
    assert base.chunk_ids == tuned.chunk_ids == extract.chunk_ids
    assert base.evidence == tuned.evidence == extract.evidence
    assert base.evidence["chunk_ids"] == tuned.chunk_ids and base.evidence["tokens"] > 0 and base.evidence["prompt_budget"] == 300
    assert any("300 tokens of context the tuned model was trained on" in n for n in tuned.dropped["notices"])
    unlimited = Assistant(name="T", base_model=tiny_model_dir, tuned_model=tiny_model_dir, kb=fake_kb, retrieval={"k": 3})
    assert len(run(unlimited, "When do you open on Saturday?", variant="tuned+rag")[1].chunk_ids) == 3
    retrieval_only = Assistant(name="T", base_model=tiny_model_dir, kb=fake_kb, retrieval={"k": 3, "tuned_prompt_tokens": 300})
    assert len(run(retrieval_only, "When do you open on Saturday?", variant="base+rag")[1].chunk_ids) == 3  # no tuned model: no cap


def test_extract_quotes_the_evidence_sentences_that_share_the_question_words(tiny_model_dir, fake_kb):
    """The no-model floor: best-overlap sentences of the given passages, each with its own [n]."""
    assistant = Assistant(name="T", base_model=tiny_model_dir, kb=fake_kb, retrieval={"k": 3})
    events, answer = run(assistant, "When do you open on Saturday?", variant="extract")
    assert answer.variant == "extract" and not answer.declined
    assert "saturday" in answer.own_text.lower() and re.search(r"\[\d\]", answer.own_text)
    assert "new_tokens" not in answer.timings  # no model ran
    assert answer.attributed is None and all(not c.attributed for c in answer.sources)


def test_extract_answer_ranks_by_question_words_and_stops_near_the_word_budget():
    from chat._extract import extract_answer

    passages = ["# Hours\nWe open at 8 am on weekdays. Parking is free for two hours.",
                "On Saturday we open at 9 am and close at 1 pm. Sunday we are closed."]
    text = extract_answer("When do you open on Saturday?", passages, max_words=10)
    assert text.startswith("On Saturday we open at 9 am and close at 1 pm. [2]")
    assert "Parking" not in text and "# Hours" not in text
    assert extract_answer("What is the capital of Peru?", passages) == ""
