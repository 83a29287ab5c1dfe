"""Loading models for the build's own use, and batched greedy answers and losses.

The build generates in two places: automatic DPO pairs (the SFT model's own answers) and the
held-out comparison of the base and tuned models. Both render prompts with the serving chat
template and decode greedily in chat's batched loop (chat/_batching.py), the same one that
serves concurrent users: several times faster on a CPU than one question at a time, and the
same answers.
"""
from __future__ import annotations

import math

import torch

from chat import generate_all
from chat.config import GenerationConfig

from ._common import use_bf16, use_cuda


def device() -> str:
    return "cuda" if use_cuda() else "cpu"


def load_model(path: str, adapter: str | None = None):
    """A model for inference: `path` (base or merged), with `adapter` merged in when given."""
    from transformers import AutoModelForCausalLM

    dtype = torch.bfloat16 if use_bf16() else torch.float32
    model = AutoModelForCausalLM.from_pretrained(path, dtype=dtype)
    if adapter is not None:
        from peft import PeftModel

        model = PeftModel.from_pretrained(model, adapter).merge_and_unload()
    return model.to(device()).eval()


def load_tokenizer(path: str):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(path)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def generate(model, tokenizer, prompts: list[list[dict]], max_new_tokens: int, repetition_penalty: float = 1.1, batch_size: int = 16) -> list[str]:
    """Greedy answers to chat prompts (each a messages list ending with the user's turn),
    decoded `batch_size` at a time by chat's batched loop, the one that serves."""
    gen = GenerationConfig(max_new_tokens=max_new_tokens, repetition_penalty=repetition_penalty)  # temperature 0: greedy
    ids = [tokenizer.apply_chat_template(p, add_generation_prompt=True, return_dict=True)["input_ids"] for p in prompts]
    answers = generate_all(model, tokenizer, ids, gen, max_batch=batch_size)
    return [tokenizer.decode(a, skip_special_tokens=True).strip() for a in answers]


@torch.no_grad()
def answer_loss(model, tokenizer, rows: list[dict]) -> float:
    """Mean negative log-likelihood per token of each row's last answer (and its end-of-turn
    token), given everything before it: the held-out loss, computed the same way for any model."""
    total, count = 0.0, 0
    for row in rows:
        prompt = tokenizer.apply_chat_template(row["messages"][:-1], tokenize=False, add_generation_prompt=True)
        full = tokenizer.apply_chat_template(row["messages"], tokenize=False)
        prompt_ids = tokenizer(prompt, add_special_tokens=False)["input_ids"]
        ids = tokenizer(full, add_special_tokens=False)["input_ids"]
        input_ids = torch.tensor([ids], device=model.device)
        logits = model(input_ids=input_ids).logits[0, :-1].float()
        targets = input_ids[0, 1:]
        start = len(prompt_ids) - 1
        # The answer's tokens run to the end-of-turn token; a trailing newline after it is template glue.
        end = len(ids) - 1
        while end > start + 1 and tokenizer.decode([ids[end]]).strip() == "":
            end -= 1
        nll = torch.nn.functional.cross_entropy(logits[start:end], targets[start:end], reduction="sum")
        total += nll.item()
        count += end - start
    return total / count if count else math.nan
