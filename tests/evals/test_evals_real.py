"""The real counterpart of the scripted-assistant tests: `tailor eval` on a retrieval-only
assistant (a real FAISS index of a tiny corpus built with the packaged MiniLM, the 2-layer
tiny model as base model) end to end through the CLI."""
import json

import pytest
from typer.testing import CliRunner

DOCS = {
    "hours.md": "# Opening hours\n\nThe clinic is open Monday to Friday from 8 am to 6 pm. On Saturdays we open "
                "from 9 am to noon. We are closed on Sundays.\n",
    "fees.md": "# Fees\n\nA missed appointment without 24 hours notice costs 35 dollars. Copays are collected "
               "at check-in.\n",
    "parking.md": "# Parking\n\nPatients park free in the garage on Elm Street. Validate your ticket at the front desk.\n",
}
SUITE = [
    {"id": "sat", "question": "What are the clinic's opening hours on Saturdays?", "answer": "9 am to noon",
     "answer_type": "free", "gold_docs": ["hours.md"], "source": "hand-written"},
    {"id": "fee", "question": "How much does a missed appointment cost?", "answer": "35 dollars",
     "answer_type": "number", "gold_docs": ["fees.md"]},
    {"id": "park", "question": "Is parking in the Elm Street garage free for patients?", "answer": "yes",
     "answer_type": "yes_no", "gold_docs": ["parking.md"]},
    {"id": "moon", "question": "What is the distance from the Earth to the Moon in kilometres?", "answer": "",
     "answer_type": "decline"},
]


@pytest.fixture
def retrieval_only_folder(tmp_path, tiny_model_dir):
    from builder.config import load_config
    from knowledge import build_index

    folder = tmp_path / "desk"
    (folder / "docs").mkdir(parents=True)
    (folder / "evals").mkdir()
    for name, text in DOCS.items():
        (folder / "docs" / name).write_text(text, encoding="utf-8")
    (folder / "evals" / "desk.jsonl").write_text("".join(json.dumps(r) + "\n" for r in SUITE), encoding="utf-8")
    (folder / "assistant.yaml").write_text(
        f"name: Desk\nbuilder:\n  base_model: {tiny_model_dir}\ngeneration:\n  max_new_tokens: 8\n", encoding="utf-8"
    )
    cfg = load_config(folder)
    build_index(folder / "docs", folder / "build" / "index", cfg.knowledge, progress=False)
    return folder


def test_tailor_eval_on_a_retrieval_only_build(retrieval_only_folder):
    import app

    result = CliRunner().invoke(app.cli, ["eval", str(retrieval_only_folder), "--seed", "1", "--split", "all"])
    assert result.exit_code == 0, result.output + repr(result.exception)
    assert "base+rag" in result.output and "hit@1" in result.output
    assert "skipped tuned, tuned+rag" in result.output  # no build yet: base and base+rag only
    (report_dir,) = list((retrieval_only_folder / "build" / "reports").iterdir())
    lines = [json.loads(x) for x in (report_dir / "results.jsonl").read_text().splitlines()]
    assert len(lines) == 12 and {x["variant"] for x in lines} == {"extract", "base", "base+rag"}
    summary = json.loads((report_dir / "summary.json").read_text())
    m = summary["metrics"]
    # real retrieval finds each gold document first, and declines the off-topic question
    assert m["hit@1"]["base+rag"]["value"] == 1.0 and m["mrr"]["base+rag"]["value"] == 1.0
    assert m["decline_recall"]["base+rag"]["value"] == 1.0
    moon = next(x for x in lines if x["id"] == "moon" and x["variant"] == "base+rag")
    assert moon["declined_flag"] is True and moon["build_id"] == "retrieval-only"
    sat = next(x for x in lines if x["id"] == "sat" and x["variant"] == "base+rag")
    assert sat["source"] == "hand-written" and sat["timings"]["total_s"] > 0 and sat["hits"][0]["source"] == "hours.md"
    assert '<img src="data:image/png;base64,' in (report_dir / "report.html").read_text()


def test_tailor_eval_gives_every_rag_variant_the_same_evidence(retrieval_only_folder, tiny_model_dir):
    """A built assistant (the tiny model as its tuned model, trained on a 300-token prompt):
    base+rag, tuned+rag and extract see the same passages for every question, and each result
    line records them; yes/no questions get the models' first-token choice."""
    import shutil

    from chat import Manifest, write_manifest

    folder = retrieval_only_folder
    shutil.copytree(tiny_model_dir, folder / "build" / "model")
    write_manifest(folder / "build", Manifest(name="Desk", base_model=tiny_model_dir, model_dir="model",
                                              retrieval={"k": 3, "mode": "hybrid", "tuned_prompt_tokens": 300}))
    result = CliRunner().invoke(app_cli(), ["eval", str(folder), "--split", "all", "--variants", "base+rag,tuned+rag"])
    assert result.exit_code == 0, result.output + repr(result.exception)
    (report_dir,) = list((folder / "build" / "reports").iterdir())
    lines = [json.loads(x) for x in (report_dir / "results.jsonl").read_text().splitlines()]
    assert {x["variant"] for x in lines} == {"extract", "base+rag", "tuned+rag"}
    for q in {x["id"] for x in lines}:
        ev = {x["variant"]: x.get("evidence") for x in lines if x["id"] == q}
        if any(x["declined_flag"] for x in lines if x["id"] == q):
            continue  # declined before any prompt was made (the Moon question)
        assert ev["base+rag"] == ev["tuned+rag"] == ev["extract"] and ev["base+rag"]["chunk_ids"], (q, ev)
        assert ev["base+rag"]["prompt_budget"] == 300 and ev["base+rag"]["budget"] == 896
    park = {x["variant"]: x for x in lines if x["id"] == "park"}
    assert set(park["tuned+rag"]["choice"]) == {"Yes", "No"} and "choice" not in park["extract"]
    assert abs(sum(park["base+rag"]["choice"].values()) - 1.0) < 1e-6
    assert "extract" in (report_dir / "report.md").read_text()


def app_cli():
    import app

    return app.cli


def test_batched_eval_gives_the_answers_of_one_at_a_time(retrieval_only_folder):
    """evals.batch_size: the tiny model's greedy answers decoded 8 at a time are the ones it
    writes one question at a time, for every variant."""
    from builder.config import load_config
    from evals import run_eval

    cfg = load_config(retrieval_only_folder)
    suite = retrieval_only_folder / "evals" / "desk.jsonl"
    rows = [json.loads(x) for x in suite.read_text().splitlines()]
    more = [{**r, "id": f"{r['id']}-{i}", "question": f"{r['question']} (asked {i} times)"} for i in range(2, 4) for r in rows]
    suite.write_text("".join(json.dumps(r) + "\n" for r in rows + more), encoding="utf-8")

    def answers(batch: int) -> dict:
        run = cfg.model_copy(update={"evals": cfg.evals.model_copy(update={"batch_size": batch})})
        report = run_eval(retrieval_only_folder, run.evals, run.serving(), progress=False, split="all")
        assert {r["timings"]["batch_size"] for r in report.records} == {batch}
        return {(r["id"], r["variant"]): r["answer"] for r in report.records}

    one, eight = answers(1), answers(8)
    assert len(one) == 36 and eight == one  # 12 questions x extract, base, base+rag
