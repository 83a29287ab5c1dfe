"""kill -9 at each stage of a build: the previous build keeps serving, the next run resumes.

One chain on the builder tests' tiny assistant (a 2-layer Llama, the real MiniLM embedder):
a complete build, then new documents and conversations, then a build killed during embedding,
one killed right after its first SFT checkpoint, one killed mid-DPO and one killed after the
merged model was written but before it was swapped in. After each kill the previous build
loads and answers; the last run finishes from where the killed ones stopped.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from builder_fixtures import make_folder

REPO = Path(__file__).resolve().parents[2]
KILLER = Path(__file__).with_name("kill_build.py")


def _killed_build(folder: Path, stage: str, resume: bool = True) -> None:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    out = subprocess.run([sys.executable, str(KILLER), str(folder), stage, *(["--resume"] if resume else [])],
                         capture_output=True, text=True, env=env, timeout=600)
    assert out.returncode == -9, f"{stage}: expected SIGKILL, got {out.returncode}\n{out.stderr[-3000:]}"


def _serves(folder: Path, build_id: str) -> None:
    """The previous build loads, with its id, and answers from its tuned model over the index."""
    from chat import Assistant

    assistant = Assistant.load(folder)
    assert assistant.build_id == build_id
    answer = list(assistant.stream("When are you open on Saturday?", variant="tuned+rag"))[-1]
    assert answer.variant == "tuned+rag" and answer.sources


def _stage(folder: Path, name: str) -> dict:
    path = folder / "build" / "stages" / f"{name}.json"
    return json.loads(path.read_text()) if path.exists() else {}


def test_kill9_at_each_stage_keeps_the_previous_build_and_resumes(tmp_path, tiny_model_dir):
    from builder import build
    from builder.config import load_config
    from chat.manifest import read_manifest

    folder = make_folder(tmp_path / "harbor", tiny_model_dir)
    yaml_path = folder / "assistant.yaml"
    yaml_path.write_text(yaml_path.read_text().replace("  top_k: 2\n", "  top_k: 2\n  batch_size: 1\n"), encoding="utf-8")
    build(folder, load_config(folder), quiet=True)
    _, first_id = read_manifest(folder / "build")
    first_chunks = _stage(folder, "index")["result"]["chunks"]

    # New inputs: every stage has work to do.
    (folder / "docs" / "dentist.md").write_text(
        "# Dental care\n\n" + "\n\n".join(f"Dental service {i}: check-ups on weekday {i}, cleaning included." for i in range(40)),
        encoding="utf-8")
    with open(folder / "data" / "conversations.jsonl", "a", encoding="utf-8") as fh:
        fh.write(json.dumps({"messages": [{"role": "user", "content": "Do you do dental check-ups?"},
                                          {"role": "assistant", "content": "Dental service 1: check-ups on weekday 1."}]}) + "\n")

    _killed_build(folder, "index")
    _serves(folder, first_id)
    assert (folder / "build" / "index" / ".embed-progress" / "keys.txt").read_text().count("\n") == 2

    _killed_build(folder, "sft")
    _serves(folder, first_id)
    index = _stage(folder, "index")["result"]
    new_chunks = index["chunks"] - first_chunks
    assert new_chunks > 2 and index["embedded"] == new_chunks - 2  # the two saved batches were not redone
    assert not (folder / "build" / "index" / ".embed-progress").exists()

    _killed_build(folder, "dpo")
    _serves(folder, first_id)
    assert _stage(folder, "sft")["result"]["resumed_from"]  # SFT went on from the killed run's checkpoint

    _killed_build(folder, "export")
    _serves(folder, first_id)
    assert list((folder / "build").glob("model.tmp-*"))

    summary = build(folder, load_config(folder), resume=True, quiet=True)
    ran = {s.name for s in summary.stages if s.status == "ran"}
    assert {"index", "data", "sft"}.isdisjoint(ran) and "export" in ran  # only what the kills left undone
    _, last_id = read_manifest(folder / "build")
    assert last_id != first_id
    _serves(folder, last_id)
    assert not list((folder / "build").glob("model.tmp-*"))
