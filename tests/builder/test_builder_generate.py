"""The build's own greedy answers (held-out F1, automatic DPO pairs) come from chat's batched
loop: the same answers at any batch size, and the ones transformers' generate writes alone."""
import torch

from builder._generate import generate, load_model, load_tokenizer
from chat import GenerationConfig
from chat._backends import generation_kwargs

QUESTIONS = ["When do you open?", "How much is a flu shot for a child?", "Where do I park?", "hi",
             "Do you see walk-in patients on weekends?", "What should I bring to my first visit?"]


def test_build_answers_match_at_every_batch_size_and_generate_alone(tiny_model_dir):
    model, tokenizer = load_model(tiny_model_dir), load_tokenizer(tiny_model_dir)
    chats = [[{"role": "system", "content": "Be brief."}, {"role": "user", "content": q}] for q in QUESTIONS]
    one = generate(model, tokenizer, chats, max_new_tokens=10, batch_size=1)
    assert generate(model, tokenizer, chats, max_new_tokens=10, batch_size=8) == one
    gen = GenerationConfig(max_new_tokens=10, repetition_penalty=1.1)
    for chat, answer in zip(chats, one):
        ids = tokenizer.apply_chat_template(chat, add_generation_prompt=True, return_tensors="pt", return_dict=True)
        out = model.generate(**ids, pad_token_id=tokenizer.pad_token_id, **generation_kwargs(gen, ids["input_ids"].shape[1], model, tokenizer))
        assert tokenizer.decode(out[0, ids["input_ids"].shape[1]:], skip_special_tokens=True).strip() == answer
