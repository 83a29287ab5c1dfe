"""End to end with the real packaged SmolLM2-135M: a short build must lower the held-out loss."""
import json

import pytest

from builder import build
from builder.config import load_config

from builder_fixtures import make_folder

E2E_YAML = """\
name: Harbor Clinic
knowledge:
  chunk_size: 64
  chunk_overlap: 8
  top_k: 2
builder:
  base_model: smollm2-135m-instruct
  eval_split: 0.2
  min_conversations: 4
  eval_max_new_tokens: 24
  sft:
    epochs: 2
    max_length: 256
    learning_rate: 0.001
  dpo:
    max_length: 256
    max_pairs: 4
    max_auto_pairs: 2
    auto_pairs_f1_threshold: 1.0  # any answer short of the reference word for word becomes a pair
    eval_pairs: 2
"""


@pytest.mark.e2e
def test_real_model_build_improves_held_out_loss(tmp_path, real_base_model):
    from transformers import AutoModelForCausalLM

    folder = make_folder(tmp_path / "harbor", "unused")
    (folder / "assistant.yaml").write_text(E2E_YAML)
    summary = build(folder, load_config(folder), quiet=True)
    ev = summary.evaluation
    assert ev["tuned"]["eval_loss"] < ev["base"]["eval_loss"]
    # Automatic pairs from the real model's own answers. After 2 epochs at this rate the SFT
    # model repeats held-in answers word for word (no pair to make), so ask the base model.
    from builder._dpo import auto_pairs
    from builder._common import read_jsonl

    rows = read_jsonl(folder / "build" / "data" / "sft_train.jsonl")
    pairs = auto_pairs(str(real_base_model), None, rows, load_config(folder))
    assert pairs and all(p["source"] == "auto" for p in pairs)
    reference = {r["messages"][-1]["content"] for r in rows}
    assert all(p["chosen"][0]["content"] in reference and p["rejected"][0]["content"] not in reference for p in pairs)
    manifest = json.loads((folder / "build" / "manifest.json").read_text())
    assert manifest["base_model"] == "smollm2-135m-instruct" and manifest["model_dir"] == "model"
    model = AutoModelForCausalLM.from_pretrained(folder / "build" / "model")
    assert model.config.num_hidden_layers == 30
