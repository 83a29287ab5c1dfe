"""run_eval and `tailor eval` over a scripted assistant whose every answer is known, so each
aggregated metric has a value worked out by hand. test_evals_real.py is the real counterpart."""
import json
import re

import pytest
from typer.testing import CliRunner

from evals import run_eval
from evals._runner import read_results
from evals_fakes import FakeAssistant, write_suite

DECLINE = "I'm sorry, I can't find that in my documents."
DOCS = {
    "hours.md": "We open at 9 am on Saturdays and close at noon.",
    "parking.md": "Parking in the garage is free for patients.",
    "fees.md": "A missed appointment costs $35.",
}
ROWS = [
    {"id": "sat", "question": "When do you open on Saturday?", "answer": "We open at 9 am on Saturdays.",
     "answer_type": "free", "gold_docs": ["hours.md"], "source": "front desk"},
    {"id": "park", "question": "Is parking free?", "answer": "yes", "answer_type": "yes_no", "gold_docs": ["parking.md"]},
    {"id": "fee", "question": "How much is a missed appointment?", "answer": "$35", "answer_type": "number",
     "gold_docs": ["fees.md"]},
    {"id": "horse", "question": "Do you treat horses?", "answer": "", "answer_type": "decline"},
    {"id": "cafe", "question": "Is there a cafeteria?", "answer": "", "answer_type": "decline"},
]
Q = {r["id"]: r["question"] for r in ROWS}


def hits(*names):
    return [(n, DOCS.get(n, "We have a garden.")) for n in names]


SCRIPT = {
    (Q["sat"], "base"): "We open at 9 am on Saturdays.",
    (Q["park"], "base"): "Yes.",
    (Q["fee"], "base"): "It costs 40 dollars.",
    (Q["horse"], "base"): "Yes, we treat horses.",
    (Q["cafe"], "base"): DECLINE,  # declined in words only
    (Q["sat"], "base+rag"): "We open at 9 am on Saturdays [1].",
    (Q["park"], "base+rag"): {"text": DECLINE, "declined": True},  # a wrong decline
    (Q["fee"], "base+rag"): "A missed appointment costs $35 [1].",  # right number, cites the wrong doc
    (Q["horse"], "base+rag"): {"text": DECLINE, "declined": True},
    (Q["cafe"], "base+rag"): "There is a cafeteria on the ground floor [1][5].",
}
HITS = {Q["sat"]: hits("hours.md", "fees.md"), Q["park"]: hits("fees.md", "parking.md"),
        Q["fee"]: hits("parking.md", "fees.md"), Q["horse"]: hits("garden.md"), Q["cafe"]: hits("hours.md")}


@pytest.fixture
def suite_folder(folder):
    write_suite(folder / "evals" / "desk.jsonl", ROWS)
    return folder


def run(folder, embedder, **kw):
    kw.setdefault("assistant", FakeAssistant(script=SCRIPT, hits=HITS))
    kw.setdefault("split", "all")  # five questions: the mechanics, not a held-out figure
    return run_eval(folder, embedder=embedder, progress=False, **kw)


def test_metrics_match_hand_computed_values(suite_folder, embedder):
    report = run(suite_folder, embedder)
    v = report.value
    assert report.variants == ["base", "base+rag"]
    assert any("skipped tuned, tuned+rag" in n for n in report.notes)
    # answers
    assert v("em", "base") == 1.0 and v("f1", "base+rag") == 1.0
    assert v("accuracy", "base") == pytest.approx(1 / 2)  # yes right, 40 != 35
    assert v("accuracy", "base+rag") == pytest.approx(1 / 2)  # declined yes/no is wrong, $35 right
    # declining: base declines cafe only; base+rag declines horse (right) and park (wrong)
    assert (v("decline_precision", "base"), v("decline_recall", "base")) == (1.0, 0.5)
    assert (v("decline_precision", "base+rag"), v("decline_recall", "base+rag")) == (0.5, 0.5)
    # retrieval (RAG only): gold ranks 1, 2, 2
    assert v("hit@1", "base") is None
    assert v("hit@1", "base+rag") == pytest.approx(1 / 3)
    assert v("hit@k", "base+rag") == 1.0 and v("recall", "base+rag") == 1.0
    assert v("mrr", "base+rag") == pytest.approx((1 + 0.5 + 0.5) / 3)
    # citations, on answers that did not decline: sat cites gold, fee cites parking.md
    assert v("cites_gold", "base+rag") == pytest.approx(1 / 2)
    assert v("cite_valid", "base+rag") == pytest.approx(3 / 4)  # [1], [1], [1][5]
    # support by the passages given: sat and fee restate their context, the cafeteria claim has none
    assert v("context_support", "base+rag") == pytest.approx(2 / 3)
    assert v("context_support", "base") is None
    assert v("attributed_share", "base+rag") == 0.0  # every marker here is the model's own
    # latency: base answered calls 1-5 (first token at 0.1 s x call; the last 4 at once, in any
    # order); the first, cold answer of each variant timed model loading and is left out:
    # median of 0.2, 0.3, 0.4, 0.5
    assert v("ttft_p50", "base") == pytest.approx(0.35)
    assert v("ttft_p50", "base") <= v("ttft_p95", "base") and v("total_p50", "base") <= v("total_p95", "base")
    for row in report.metrics.values():
        for est in row.values():
            if est.value is not None and est.low is not None:
                assert est.low - 1e-9 <= est.value <= est.high + 1e-9


def test_results_lines_hold_answers_scores_and_extra_fields(suite_folder, embedder):
    report = run(suite_folder, embedder)
    lines = read_results(report.dir / "results.jsonl")
    assert len(lines) == 10
    first = next(r for r in lines if r["id"] == "sat" and r["variant"] == "base+rag")
    for key in ("question", "reference", "answer_type", "answer", "declined", "sources", "scores", "timings", "hits"):
        assert key in first
    assert first["source"] == "front desk"  # kept from the suite line
    assert first["hits"][0]["source"] == "hours.md" and first["scores"]["hit@1"] == 1.0
    assert report.dir.parent == suite_folder / "build" / "reports" and report.dir.name.startswith("desk-")


def test_report_files_are_written_and_html_is_self_contained(suite_folder, embedder):
    report = run(suite_folder, embedder)
    html = (report.dir / "report.html").read_text()
    md = (report.dir / "report.md").read_text()
    assert '<img src="data:image/png;base64,' in html
    assert not re.search(r"(src|href)=[\"']?https?://", html) and "<script src" not in html
    assert "(f1): " in md and "base+rag" in md
    assert "## Where variants disagree" in md and "horse" in md  # base answered it, base+rag declined
    summary = json.loads((report.dir / "summary.json").read_text())
    assert summary["metrics"]["decline_recall"]["base"]["value"] == 0.5


def test_against_runs_the_other_builds_variants(suite_folder, embedder):
    other = FakeAssistant(variants=["base+rag"], script=SCRIPT, hits=HITS, build_id="build-0")
    report = run(suite_folder, embedder, against=suite_folder / "build", other=other)
    assert report.variants == ["base", "base+rag", "other:base+rag"]
    assert {v for _, v in other.calls} == {"base+rag"} and len(other.calls) == 5
    # identical answers: no significant difference on any quality metric
    assert not [c for c in report.significant() if {c.a, c.b} == {"base+rag", "other:base+rag"}
                and not c.metric.startswith(("ttft", "total"))]


def test_limit_states_sample_and_seed(suite_folder, embedder):
    report = run(suite_folder, embedder, limit=3, seed=7)
    assert report.n_questions == 3
    assert sum(r["answer_type"] == "decline" for r in report.records) // 2 == 1
    assert "sample of **3** of the 5 questions of the **all** split (seed 7)" in (report.dir / "report.md").read_text()


def test_interrupted_run_resumes_where_it_stopped(suite_folder, embedder):
    with pytest.raises(KeyboardInterrupt):
        run(suite_folder, embedder, assistant=FakeAssistant(script=SCRIPT, hits=HITS, fail_after=4))
    (first_dir,) = list((suite_folder / "build" / "reports").iterdir())
    assert len(read_results(first_dir / "results.jsonl")) == 4
    with open(first_dir / "results.jsonl", "a") as fh:
        fh.write('{"id": "cut mid-li')  # what a kill during a write leaves
    again = FakeAssistant(script=SCRIPT, hits=HITS)
    report = run(suite_folder, embedder, assistant=again, resume=True)
    assert report.dir == first_dir
    assert len(again.calls) == 6  # only the answers not yet scored
    assert len(report.records) == 10 and report.value("decline_recall", "base+rag") == 0.5
    # a new build invalidates the kept answers: everything is answered again
    rebuilt = FakeAssistant(script=SCRIPT, hits=HITS, build_id="build-2")
    run(suite_folder, embedder, assistant=rebuilt, resume=True)
    assert len(rebuilt.calls) == 10


def test_cli_fail_under_exit_code(suite_folder, embedder, monkeypatch):
    import chat
    import app

    class Loader:
        @staticmethod
        def load(path, cfg=None):
            return FakeAssistant(script=SCRIPT, hits=HITS)

    monkeypatch.setattr(chat, "Assistant", Loader, raising=False)
    monkeypatch.setattr("evals._runner._kb_embedder", lambda assistant: embedder)
    runner = CliRunner()
    ok = runner.invoke(app.cli, ["eval", str(suite_folder), "--split", "all", "--fail-under", "base:f1=0.9", "--fail-under", "accuracy=0.5"])
    assert ok.exit_code == 0, ok.output
    assert "decline_recall" in ok.output and "0.500 (" in ok.output  # the table, with intervals
    bad = runner.invoke(app.cli, ["eval", str(suite_folder), "--split", "all", "--variants", "base+rag", "--fail-under", "decline_precision=0.9"])
    assert bad.exit_code == 1
    assert "gate failed" in bad.output and "base+rag:decline_precision = 0.500 is under 0.9" in bad.output
    typo = runner.invoke(app.cli, ["eval", str(suite_folder), "--split", "all", "--fail-under", "f2=0.3"])
    assert typo.exit_code == 1 and "unknown metric 'f2'" in str(typo.exception)
