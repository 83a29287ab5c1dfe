"""Tailor's command line (`tailor ...`) and its Gradio app (`tailor serve`).

Both are thin adapters over the packages: each command loads the assistant's config once
and calls one library function. Every TailorError becomes a clear message and exit code 1
here, in `main()`, and nowhere else.
"""
from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Optional

import typer

from knowledge.errors import TailorError

cli = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    help="Turn a folder of documents into a domain assistant.",
)


@cli.callback()
def _root() -> None:
    """Turn a folder of documents into a domain assistant: index, build, chat, eval, serve."""

ASSISTANT_YAML_TEMPLATE = """\
# {name}: a Tailor assistant. Every key is optional; delete what you don't change.
# Unknown keys are errors, so a typo never goes unnoticed.
name: {name}

knowledge:
  embedder: all-minilm-l6-v2   # packaged model; or a local folder / Hugging Face id
  chunk_size: 256              # tokens per chunk (MiniLM reads 256 at most)
  chunk_overlap: 32            # tokens shared by neighbouring chunks
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
    epochs: 3
  dpo:
    enabled: true

privacy:
  redact: true                 # mask emails, phone numbers and long digit runs in saved votes
"""


def _load(folder: Path):
    """The assistant folder's config, loaded once per command."""
    from builder.config import load_config

    if not folder.is_dir():
        raise TailorError(f"{folder}: no such assistant folder; create one with `tailor init NAME`")
    return load_config(folder)


@cli.command()
def init(name: str = typer.Argument(..., help="Folder to create for the new assistant.")) -> None:
    """Scaffold a new assistant folder with a commented assistant.yaml."""
    folder = Path(name)
    if (folder / "assistant.yaml").exists():
        raise TailorError(f"{folder / 'assistant.yaml'} already exists; edit it, or choose another NAME")
    for sub in ("docs", "data", "evals"):
        (folder / sub).mkdir(parents=True, exist_ok=True)
    (folder / "assistant.yaml").write_text(ASSISTANT_YAML_TEMPLATE.format(name=folder.name), encoding="utf-8")
    typer.echo(
        f"Created {folder}/ with assistant.yaml, docs/, data/ and evals/.\n"
        f"Next: put your documents in {folder}/docs/, then run `tailor index {folder}`."
    )


# --- knowledge commands: index, search -------------------------------------------------
# (owned by the knowledge package work)

# --- chat commands: chat, ask -----------------------------------------------------------
# (owned by the chat package work)

# --- builder commands: build, export ----------------------------------------------------
# (owned by the builder package work)

# --- evals command: eval ----------------------------------------------------------------
# (owned by the evals package work)

# --- app: serve and the Gradio UI -------------------------------------------------------
# (owned by the app work)


def main() -> None:
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    try:
        cli()  # click handles usage errors and Ctrl-C itself (exit codes 2 and 1)
    except TailorError as exc:
        typer.secho(f"error: {exc}", fg=typer.colors.RED, err=True)
        sys.exit(1)


if __name__ == "__main__":
    main()
