"""Batched generation (chat/_batching.py): answers decoded together are token for token the
answers `model.generate` writes alone, and one request's failure, slowness or departure
leaves the others in its batch untouched."""
import threading

import pytest
import torch

from chat import GenerationConfig
from chat._backends import generation_kwargs, load_model
from chat._batching import Batcher, CitationOrder, Request, generate_all

QUESTIONS = [
    "When do you open on Saturday?",
    "How much is a flu shot, and does insurance cover it for children under twelve?",
    "Where can I park?",
    "Do you take walk-ins?",
    "hello",
    "Can I bring my dog to the appointment if he is a service animal?",
    "What is a tetanus booster?",
    "Who do I call after hours?",
]


def prompts(tokenizer, questions=QUESTIONS) -> list[list[int]]:
    return [tokenizer.apply_chat_template([{"role": "user", "content": q}], add_generation_prompt=True, return_dict=True)["input_ids"]
            for q in questions]


def alone(model, tokenizer, prompt: list[int], gen) -> list[int]:
    """The reference: transformers' own generate, one prompt, chat's settings."""
    ids = torch.tensor([prompt])
    out = model.generate(input_ids=ids, attention_mask=torch.ones_like(ids), pad_token_id=tokenizer.pad_token_id,
                         **generation_kwargs(gen, len(prompt), model, tokenizer))
    return out[0, len(prompt):].tolist()


@pytest.fixture(scope="module")
def tiny(tiny_model_dir):
    loaded = load_model(tiny_model_dir)
    return loaded.model, loaded.tokenizer


@pytest.fixture(scope="module")
def gen():
    return GenerationConfig(max_new_tokens=12)  # greedy, repetition_penalty 1.1 on the answer's own tokens


@pytest.fixture(scope="module")
def reference(tiny, gen):
    model, tokenizer = tiny
    return [alone(model, tokenizer, p, gen) for p in prompts(tokenizer)]


def test_a_citation_marker_comes_after_what_it_cites(tiny):
    _, tokenizer = tiny
    eos = tokenizer.convert_tokens_to_ids("<|im_end|>")
    marker = tokenizer.encode(" [1]", add_special_tokens=False)[0]
    order = CitationOrder(tokenizer, {eos})
    assert marker in order.markers and tokenizer.encode("[", add_special_tokens=False)[0] in order.markers
    assert tokenizer.encode(" The", add_special_tokens=False)[0] not in order.markers

    def choose(answer: str, favourite: int) -> int:
        scores = torch.zeros(len(tokenizer))
        scores[favourite] = 10.0
        scores[tokenizer.encode(" The", add_special_tokens=False)[0]] = 5.0
        return int(order.row(tokenizer.encode(answer, add_special_tokens=False), scores).argmax())

    assert choose("", marker) != marker and choose("", eos) != eos  # no bare '[1]', no empty answer
    assert choose("Dumping syndrome is", marker) != marker  # not inside a sentence
    assert choose("Dumping syndrome is a condition.", marker) == marker  # after the sentence it cites
    assert choose("It is. [1]", marker) != marker  # markers do not count as words
    assert choose("Dumping syndrome is a condition. [1]", eos) == eos


def test_greedy_token_ids_at_batch_1_and_8_match_generate_alone(tiny, gen, reference):
    model, tokenizer = tiny
    assert generate_all(model, tokenizer, prompts(tokenizer), gen, max_batch=1) == reference
    assert generate_all(model, tokenizer, prompts(tokenizer), gen, max_batch=8) == reference
    # 3 at a time: rows leave and others take their place mid-batch
    assert generate_all(model, tokenizer, prompts(tokenizer), gen, max_batch=3) == reference


def test_requests_joining_a_running_batch_get_the_same_tokens(tiny, gen, reference):
    """Through the serving loop: 8 requests submitted from 8 threads join whenever they arrive."""
    model, tokenizer = tiny
    loop = Batcher(model, tokenizer, max_batch=8)
    got: dict[int, list[int]] = {}

    def ask(i: int, prompt: list[int]) -> None:
        got[i] = list(loop.submit(Request.from_config(prompt, gen)).tokens())

    threads = [threading.Thread(target=ask, args=(i, p)) for i, p in enumerate(prompts(tokenizer))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert [got[i] for i in range(len(QUESTIONS))] == reference
    loop.close()


def test_a_failing_request_does_not_break_the_others(tiny, gen, reference):
    model, tokenizer = tiny
    loop = Batcher(model, tokenizer, max_batch=8)
    ps = prompts(tokenizer)
    good = [loop.submit(Request.from_config(p, gen)) for p in ps[:3]]
    # fails in its prefill: a token id the model has no embedding for
    bad_prompt = loop.submit(Request.from_config(ps[3][:-1] + [len(tokenizer) + 10], gen))
    # fails mid-batch, at its second token: a repetition penalty transformers refuses
    bad_step = loop.submit(Request(ps[4], max_new_tokens=12, repetition_penalty=-1.0))
    more = [loop.submit(Request.from_config(p, gen)) for p in ps[5:]]
    with pytest.raises(IndexError):
        list(bad_prompt.tokens())
    with pytest.raises(ValueError, match="penalty"):
        list(bad_step.tokens())
    assert [list(r.tokens()) for r in good] == reference[:3]
    assert [list(r.tokens()) for r in more] == reference[5:]
    loop.close()


def test_a_slow_reader_or_a_long_answer_does_not_hold_the_others_back(tiny, gen, reference):
    model, tokenizer = tiny
    loop = Batcher(model, tokenizer, max_batch=8)
    ps = prompts(tokenizer)
    long_gen = gen.model_copy(update={"max_new_tokens": 400})
    unread = loop.submit(Request.from_config(ps[0], gen))  # nobody reads it until the end
    long = loop.submit(Request.from_config(ps[1], long_gen))
    others = [loop.submit(Request.from_config(p, gen)) for p in ps[2:]]
    assert [list(r.tokens()) for r in others] == reference[2:]
    assert not long.done.is_set()  # still writing its 400 tokens while the short ones are all done
    assert list(unread.tokens()) == reference[0]
    long.cancel()  # its reader leaves: the row is dropped at the next step
    assert long.done.wait(timeout=60) and len(long.generated) < 400
    assert long.generated[:12] == alone(model, tokenizer, ps[1], gen)
    loop.close()


def test_the_real_model_batched_writes_what_it_writes_alone(real_base_model):
    """SmolLM2-135M-Instruct itself, 8 questions at once: greedy token ids as generate alone."""
    loaded = load_model(real_base_model)
    gen = GenerationConfig(max_new_tokens=16)
    ps = prompts(loaded.tokenizer)
    reference = [alone(loaded.model, loaded.tokenizer, p, gen) for p in ps]
    assert generate_all(loaded.model, loaded.tokenizer, ps, gen, max_batch=8) == reference


def test_a_model_whose_cache_cannot_be_stacked_answers_one_at_a_time(tiny):
    """A sliding-window cache (Mistral-style) cannot be padded into a batch: its requests take
    turns, with the same answers."""
    from transformers import MistralConfig, MistralForCausalLM

    _, tokenizer = tiny
    torch.manual_seed(0)
    model = MistralForCausalLM(MistralConfig(vocab_size=len(tokenizer), hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                                             num_attention_heads=4, num_key_value_heads=2, sliding_window=32,
                                             eos_token_id=tokenizer.eos_token_id)).eval()
    gen = GenerationConfig(max_new_tokens=6)
    ps = prompts(tokenizer)[:3]
    assert generate_all(model, tokenizer, ps, gen, max_batch=8) == [alone(model, tokenizer, p, gen) for p in ps]
