"""`tailor init NAME`: a new assistant folder with a commented assistant.yaml to edit.

The template sets every section's common keys with the reason for each default, so a new user
reads what can be changed where it is changed; everything else keeps its default.
"""
from __future__ import annotations

from pathlib import Path

from knowledge.errors import InputError
from knowledge.files import write_text_atomic
from knowledge.folder import AssistantFolder

ASSISTANT_YAML_TEMPLATE = """\
# {name}: a Tailor assistant. Every key is optional; delete what you don't change.
# Unknown keys are errors, so a typo never goes unnoticed.
name: {name}

knowledge:
  embedder: all-minilm-l6-v2   # packaged model; or a local folder / Hugging Face id
  chunk_size: 300              # tokens per chunk (measured best on long filings; see docs/BENCHMARKS.md)
  chunk_overlap: 0             # tokens shared by neighbouring chunks (chunks already end at sentence breaks)
  search_mode: hybrid          # dense | bm25 | hybrid (both, fused by reciprocal rank)
  top_k: 4                     # chunks given to the model per question

chat:
  # system_prompt: "You are the front desk of ..."   # {{name}} is replaced by the name above
  decline_message: "I'm sorry, I can't find that in my documents."
  # disclaimer: "This assistant does not give medical advice."
  escalation: []               # e.g. - name: emergency
                               #        patterns: ["chest pain", "can't breathe"]
                               #        message: "Call 911 now."

generation:
  backend: local               # local (in-process) | openai (an OpenAI-compatible server: vLLM, llama.cpp)
  max_new_tokens: 200
  temperature: 0.0             # 0 = greedy, reproducible answers

builder:
  base_model: smollm2-135m-instruct   # packaged alias, a local folder, or a Hugging Face id
  lora_r: 16                   # adapter rank: more capacity, more memory
  eval_split: 0.1              # share of conversations held out to measure the tuned model
  sft:
    epochs: 1                  # passes over the conversations; more helps small data, costs CPU time
  dpo:
    enabled: true

privacy:
  redact: true                 # mask emails, phone numbers and long digit runs in saved votes
"""


def init_folder(folder: str | Path) -> Path:
    """Create FOLDER with docs/, data/, evals/ and a commented assistant.yaml named after it;
    InputError when FOLDER already has an assistant.yaml (it is never overwritten)."""
    where = AssistantFolder(folder)
    if where.config.exists():
        raise InputError(f"{where.config} already exists; edit it, or choose another NAME")
    for sub in (where.docs, where.data, where.evals):
        sub.mkdir(parents=True, exist_ok=True)
    write_text_atomic(where.config, ASSISTANT_YAML_TEMPLATE.format(name=where.root.name))
    return where.root
