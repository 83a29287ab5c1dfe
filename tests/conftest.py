"""Shared fixtures. Package-specific ones live in tests/<package>/conftest.py.

Every test runs offline (HF_HUB_OFFLINE=1) with TAILOR_HOME pointed at a per-session folder,
so no test reads or writes the user's ~/.cache/tailor. The packaged SmolLM2 is converted
from GGUF once per session (~20 s) and shared: unit tests only take its tokenizer and build
a tiny random Llama around it; the few end-to-end tests use the real weights.
"""
import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

from pathlib import Path

import pytest


@pytest.fixture(scope="session", autouse=True)
def tailor_home(tmp_path_factory):
    """A private TAILOR_HOME for the session (converted models land here, not in ~/.cache)."""
    home = Path(os.environ.get("TAILOR_TEST_HOME") or tmp_path_factory.mktemp("tailor_home"))
    old = os.environ.get("TAILOR_HOME")
    os.environ["TAILOR_HOME"] = str(home)
    yield home
    if old is None:
        os.environ.pop("TAILOR_HOME", None)
    else:
        os.environ["TAILOR_HOME"] = old


@pytest.fixture(scope="session")
def real_base_model(tailor_home) -> str:
    """Path of the packaged SmolLM2-135M-Instruct as a float checkpoint (converted once per session)."""
    from chat.models import resolve_model

    return resolve_model("smollm2-135m-instruct")


@pytest.fixture(scope="session")
def tiny_model_dir(real_base_model, tmp_path_factory) -> str:
    """A 2-layer random Llama with SmolLM2's real tokenizer and chat template: fast to train and
    generate with, and tokenizes exactly like the default model."""
    import torch
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    tokenizer = AutoTokenizer.from_pretrained(real_base_model)
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=2048,
        tie_word_embeddings=True,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    torch.manual_seed(0)
    model = LlamaForCausalLM(config)
    out = tmp_path_factory.mktemp("tiny_llama")
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    return str(out)


@pytest.fixture(scope="session")
def minilm():
    """The real packaged embedder (all-MiniLM-L6-v2), loaded once per session: what the knowledge
    base, the support checks and the groundedness metric use."""
    from knowledge import load_embedder

    return load_embedder("all-minilm-l6-v2")
