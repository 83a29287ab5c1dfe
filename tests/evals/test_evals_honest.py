"""Evals that cannot flatter the tuned model: one hand-made case per rule, each with a right
answer worked out by hand (equal evidence, own citations, support, pairing and Holm, numbers,
verdicts and choice accuracy, the extractive floor, dev/test splits, leakage, one token F1).
The real-model counterparts are in test_evals_real.py and tests/chat/test_chat_assistant.py."""
import json

import numpy as np
import pytest
from typer.testing import CliRunner

from evals import EvalItem, LeakChecker, load_suite, read_eval_texts, run_eval, score_answer, split_items, token_f1
from evals._aggregate import holm
from evals._suite import is_bare_number
from evals._leakage import leaked_in_build
from evals._runner import read_results
from evals._suite import suite_suggestions
from evals._aggregate import comparisons
from evals_fakes import FakeAnswer, FakeAssistant, make_hits, write_suite

DOC = "The clinic opens at 9 am on Saturdays. Parking is free for two hours."


def item(**kw) -> EvalItem:
    base = {"id": "q", "question": "When do you open on Saturday?", "answer": "We open at 9 am on Saturdays.",
            "answer_type": "free", "gold_docs": ["hours.md"]}
    return EvalItem(**{**base, **kw})


# --- 2. citations: only the markers the model wrote -------------------------------------------

def test_a_marker_tailor_added_is_not_the_models_citation(embedder):
    hits = make_hits([("hours.md", DOC)])
    added = FakeAnswer(text="We open at 9 am on Saturdays. [1]", hits=hits, variant="base+rag")
    added.own_text, added.attributed = "We open at 9 am on Saturdays.", 1
    rec = score_answer(item(), "base+rag", added)
    assert rec["scores"]["n_markers"] == 0 and "cites_gold" in rec["scores"] and rec["scores"]["cites_gold"] == 0.0
    assert rec["scores"]["attributed"] == 1.0
    own = FakeAnswer(text="We open at 9 am on Saturdays [1].", hits=hits, variant="base+rag")
    own.own_text, own.attributed = own.text, None
    rec = score_answer(item(), "base+rag", own)
    assert rec["scores"]["cites_gold"] == 1.0 and rec["scores"]["attributed"] == 0.0
    invented = FakeAnswer(text="We open at 9 [4].", hits=hits, variant="base+rag")
    invented.own_text = invented.text
    rec = score_answer(item(), "base+rag", invented)
    assert (rec["scores"]["n_markers"], rec["scores"]["n_valid_markers"]) == (1, 0)  # cite_valid can be below 1


# --- 3. support by the context, by a gold document, and correct-and-supported ------------------

def test_support_by_the_context_is_not_support_by_the_gold_document(embedder):
    from evals._ground import Grounder

    wrong_doc = "Flu shots cost 38 dollars at the front desk."
    hits = make_hits([("vaccines.md", wrong_doc)])
    copied = FakeAnswer(text="Flu shots cost 38 dollars at the front desk.", hits=hits, variant="base+rag")
    rec = score_answer(item(), "base+rag", copied, grounder=Grounder(embedder), gold_texts=[DOC])
    s = rec["scores"]
    assert s["context_support"] == 1.0  # it copied the passage it was given ...
    assert s["gold_support"] == 0.0  # ... which is not the document that answers the question
    assert s["correct_supported"] == 0.0
    right = FakeAnswer(text="The clinic opens at 9 am on Saturdays.", hits=make_hits([("hours.md", DOC)]), variant="base+rag")
    s = score_answer(item(), "base+rag", right, grounder=Grounder(embedder), gold_texts=[DOC])["scores"]
    assert s["gold_support"] == 1.0 and s["f1"] >= 0.5 and s["correct_supported"] == 1.0


# --- 4. paired on shared values, Holm over the headline metrics ----------------------------------

def _rec(qid, variant, **scores):
    return {"id": qid, "variant": variant, "answer_type": "free", "scores": scores, "declined": False, "timings": {}}


def test_a_conditional_metric_is_compared_only_where_both_variants_have_it():
    # a has context_support on q1..q6; b only on q1..q3 (it declined the rest). On the shared
    # three they are equal, so the paired difference is 0 over n=3, not b's mean minus a's mean.
    records = {}
    for i in range(1, 7):
        records[(f"q{i}", "a")] = _rec(f"q{i}", "a", context_support=1.0 if i <= 3 else 0.0)
        records[(f"q{i}", "b")] = _rec(f"q{i}", "b", **({"context_support": 1.0} if i <= 3 else {}))
    ids = [f"q{i}" for i in range(1, 7)]
    (comp,) = comparisons(records, ids, ["a", "b"], ["context_support"], 200, 0)
    assert comp.difference.n == 3 and comp.difference.diff == 0.0


def test_holm_adjusts_step_down():
    # sorted 0.01, 0.02, 0.04 over 3 tests: 0.03, 0.04, 0.04 (monotone)
    assert holm([0.04, 0.01, 0.02]) == pytest.approx([0.04, 0.03, 0.04])
    assert holm([0.5, 0.9]) == pytest.approx([1.0, 1.0])  # 0.5 x 2 caps at 1; the larger p never falls below it


def test_a_headline_difference_needs_the_holm_corrected_p():
    rng = np.random.default_rng(0)
    ids = [f"q{i}" for i in range(40)]
    records = {}
    for q in ids:
        base = float(rng.random() * 0.5)
        records[(q, "a")] = _rec(q, "a", f1=base)
        records[(q, "b")] = _rec(q, "b", f1=base + 0.3)  # clearly better
        records[(q, "c")] = _rec(q, "c", f1=base + (0.02 if rng.random() < 0.6 else -0.02))  # noise
    comps = comparisons(records, ids, ["a", "b", "c"], ["f1"], 500, 0)
    ab = next(c for c in comps if (c.a, c.b) == ("a", "b"))
    assert ab.headline and ab.p_adjusted is not None and ab.p_adjusted < 0.05 and ab.winner == "b"
    assert "Holm-adjusted p" in ab.sentence()
    ac = next(c for c in comps if (c.a, c.b) == ("a", "c"))
    assert ac.p_adjusted >= ac.p_value and (ac.winner is None) == (ac.p_adjusted >= 0.05)


# --- 5. numbers are numbers ----------------------------------------------------------------------

def test_a_bare_number_reference_is_scored_by_number_matching(tmp_path):
    assert is_bare_number("$1577.00") and is_bare_number("35%") and is_bare_number("12 days")
    assert not is_bare_number("Capex was $1,577 million.") and not is_bare_number("2018; 2019")
    bare = item(question="What was capex in 2022?", answer="$1577.00", gold_docs=[])
    rec = score_answer(bare, "base", FakeAnswer(text="Capex was $1,577 million."))
    assert rec["scores"] == {"accuracy": 1.0} and rec["scored_as"] == "number"
    assert token_f1("Capex was $1,577 million.", "$1577.00") == 0.0  # what F1 would have said
    suite = write_suite(tmp_path / "evals" / "fin.jsonl", [
        {"id": "a", "question": "Capex?", "answer": "$1577.00", "answer_type": "free"},
        {"id": "b", "question": "Who audits?", "answer": "KPMG audits the accounts.", "answer_type": "free"}])
    notes = suite_suggestions(load_suite(suite))
    assert len(notes) == 1 and notes[0].startswith(f"{suite}:1:") and '"answer_type": "number"' in notes[0]


def test_eval_check_lists_bare_numbers_and_the_split(tmp_path):
    import app

    (tmp_path / "docs").mkdir()
    write_suite(tmp_path / "evals" / "fin.jsonl", [
        {"id": "a", "question": "Capex?", "answer": "$1577.00", "answer_type": "free"},
        {"id": "b", "question": "Is it audited?", "answer": "yes", "answer_type": "yes_no"}])
    result = CliRunner().invoke(app.cli, ["eval", str(tmp_path), "--check"])
    assert result.exit_code == 0, result.output
    assert "2 questions (1 free, 1 yes_no)" in result.output and "dev /" in result.output
    assert "fin.jsonl:1: the reference '$1577.00' is a bare number" in result.output


# --- 6. yes/no: choice accuracy from the model's first-token probabilities ----------------------

def test_choice_accuracy_reads_the_preferred_option_not_the_wording():
    yn = item(answer_type="yes_no", answer="no", question="Is year of surgery a predictor?")
    rec = score_answer(yn, "base", FakeAnswer(text="Patients with no prior surgery did better."), choice={"Yes": 0.3, "No": 0.7})
    assert rec["scores"]["accuracy"] == 0.0  # no stated verdict: the phrasing earns nothing
    assert rec["scores"]["choice_accuracy"] == 1.0 and rec["choice"] == {"Yes": 0.3, "No": 0.7}


class ChoosingAssistant(FakeAssistant):
    def choice_probabilities(self, question, options, variant=None, history=None):
        if variant == "extract":
            return None  # no model, no probabilities (as chat.Assistant)
        return {o: (0.9 if o == "Yes" else 0.1 / (len(options) - 1)) for o in options}


# --- 7 and 8. the extract floor in every report, dev/test splits --------------------------------

ROWS = [{"id": f"q{i}", "question": f"Is parking free on day {i}?", "answer": "yes", "answer_type": "yes_no",
         "gold_docs": ["parking.md"]} for i in range(24)]


def test_every_report_runs_extract_states_its_split_and_flags_a_model_below_the_floor(folder, embedder):
    write_suite(folder / "evals" / "desk.jsonl", ROWS)
    hits = {r["question"]: [("parking.md", "Parking is free for patients.")] for r in ROWS}
    script = {(r["question"], "extract"): "Yes, parking is free for patients [1]." for r in ROWS}
    script.update({(r["question"], "base+rag"): "I think it costs money." for r in ROWS})
    fake = ChoosingAssistant(variants=["extract", "base", "base+rag"], script=script, hits=hits)
    report = run_eval(folder, variants="base+rag", assistant=fake, embedder=embedder, progress=False)
    assert report.variants[0] == "extract" and report.split == "test"
    test_ids = {it.id for it in split_items(load_suite(folder / "evals"), "test")}
    assert {r["id"] for r in report.records} == test_ids and 0 < len(test_ids) < len(ROWS)
    assert all(r["split"] == "test" for r in report.records)
    assert report.value("accuracy", "extract") == 1.0 and report.value("accuracy", "base+rag") == 0.0
    assert any("base+rag scores below the extractive floor on accuracy" in f for f in report.floor_flags)
    assert report.value("choice_accuracy", "base+rag") == 1.0  # the model prefers "Yes" although it wrote no verdict
    md = (report.dir / "report.md").read_text()
    assert "(test split)" in md and "**Below the extractive floor:**" in md
    assert "Holm" in md


def test_splits_are_fixed_by_id_and_partition_the_suite():
    items = [EvalItem(id=f"x-{i}", question="q", answer="a", answer_type="free") for i in range(200)]
    dev, test = split_items(items, "dev"), split_items(items, "test")
    assert len(dev) + len(test) == 200 and not {i.id for i in dev} & {i.id for i in test}
    assert 70 < len(test) < 130  # test_share 0.5, by hash
    assert [i.id for i in split_items(items[::-1], "test")] == [i.id for i in test][::-1]  # order-free, deterministic
    assert len(split_items(items, "test", 0.2)) < len(test)
    assert split_items(items, "all") == items


# --- 9. leakage ---------------------------------------------------------------------------------

def checker_for(folder, embedder, rows: list[dict]) -> LeakChecker:
    """A LeakChecker over a suite of `rows` written to folder/evals/s.jsonl."""
    write_suite(folder / "evals" / "s.jsonl", [{"answer_type": "free", **r} for r in rows])
    return LeakChecker(read_eval_texts(folder / "evals"), embedder.encode)


def test_leak_checker_finds_copied_answers_and_asked_questions(tmp_path, embedder):
    checker = checker_for(tmp_path, embedder, [
        {"id": "a", "question": "What are the symptoms of Extragonadal Germ Cell Tumors?",
         "answer": "Signs and symptoms of extragonadal germ cell tumors include breathing problems and chest pain."}])
    copied = "As noted, signs and symptoms of extragonadal germ cell tumors include breathing problems and chest pain."
    assert checker.text_leaks(copied)
    assert not checker.text_leaks("Signs and symptoms include breathing problems.")  # a short shared phrase is not a copy
    assert checker.questions_leak(["what are the symptoms of extragonadal germ cell tumors", "Where do I park?"]) == [True, False]


def test_the_data_stage_drops_every_leaked_item_and_counts_it(tmp_path, embedder):
    from builder._inputs import Conversation, PreferencePair
    from builder._leakage import LeakReport, drop_leaks

    checker = checker_for(tmp_path, embedder, [
        {"id": "a", "question": "Who is at risk for DIC?",
         "answer": "People who have sepsis, surgery and trauma, cancer or serious complications of pregnancy are most likely to develop DIC."}])
    leaked_answer = ("People who have sepsis, surgery and trauma, cancer or serious complications of pregnancy "
                     "are most likely to develop DIC.")
    convs = [
        Conversation([{"role": "user", "content": "What causes DIC?"}, {"role": "assistant", "content": leaked_answer}], 1),
        Conversation([{"role": "user", "content": "Who is at risk for DIC?"}, {"role": "assistant", "content": "Many."}], 2),
        Conversation([{"role": "user", "content": "Where do I park?"}, {"role": "assistant", "content": "Behind the clinic."}], 3),
        Conversation([{"role": "user", "content": "Opening hours?"}, {"role": "assistant", "content": "9 to 5."}], 0,
                     {"synthesized": "heading"}),
    ]
    pairs = [PreferencePair([{"role": "user", "content": "What causes DIC?"}], "An infection.", leaked_answer, "user", 1),
             PreferencePair([{"role": "user", "content": "Parking?"}], "Free.", "Paid.", "feedback", 1)]
    report = LeakReport()
    kept_convs, kept_pairs = drop_leaks(convs, pairs, checker, report)
    assert [c.line for c in kept_convs] == [3, 0] and [p.source for p in kept_pairs] == ["feedback"]
    d = report.to_dict()
    assert d["dropped"] == {"conversations": 2, "preferences": 1}
    assert d["checked"] == {"conversations": 3, "synthesized": 1, "preferences": 1, "votes": 1}
    assert d["reasons"] == {"shares a 13-word run with an eval question or reference": 2, "asks an eval question with its answer": 1}


def test_eval_warns_when_the_build_trained_on_an_eval_answer(folder, embedder):
    answer = "Signs and symptoms of extragonadal germ cell tumors include breathing problems and chest pain."
    write_suite(folder / "evals" / "s.jsonl", [{"id": f"a{i}", "question": f"Symptoms {i}?", "answer": answer,
                                                  "answer_type": "free"} for i in range(4)])
    data = folder / "build" / "data"
    data.mkdir(parents=True)
    (data / "sft_train.jsonl").write_text(json.dumps({"messages": [
        {"role": "system", "content": "documents ..."}, {"role": "user", "content": "Symptoms?"},
        {"role": "assistant", "content": answer}]}) + "\n")
    assert leaked_in_build(folder / "build" / "data", read_eval_texts(folder / "evals")) == 1
    fake = FakeAssistant()
    fake.folder = folder
    report = run_eval(folder, assistant=fake, embedder=embedder, progress=False, split="all")
    assert any(n.startswith("WARNING: the build trained on 1 texts") for n in report.notes)


# --- 10. one token F1 ----------------------------------------------------------------------------

def test_the_build_and_the_evals_share_one_token_f1():
    from builder._common import token_f1 as build_f1

    pair = ("We open at 9:00 a.m. on Saturdays [1].", "The clinic opens at 9:00 am on Saturday.")
    assert build_f1(*pair) == token_f1(*pair)
    assert build_f1 is token_f1


# --- 1. equal evidence, recorded in every result line -------------------------------------------

def test_results_record_the_evidence_each_variant_was_given(folder, embedder):
    write_suite(folder / "evals" / "desk.jsonl", ROWS[:4])
    fake = FakeAssistant(variants=["base", "base+rag"], hits={r["question"]: [("parking.md", "Free.")] for r in ROWS})
    real_answer = fake.answer

    def answer(question, history=None, variant=None, on_token=None):
        ans = real_answer(question, history, variant)
        ans.evidence = {"chunk_ids": [h.chunk.id for h in ans.hits], "tokens": 3} if variant.endswith("+rag") else {}
        return ans

    fake.answer = answer
    report = run_eval(folder, assistant=fake, embedder=embedder, progress=False, split="all")
    lines = read_results(report.dir / "results.jsonl")
    rag = [x for x in lines if x["variant"] == "base+rag"]
    assert rag and all(x["evidence"]["tokens"] == 3 and len(x["evidence"]["chunk_ids"]) == 1 for x in rag)
    assert all("evidence" not in x for x in lines if x["variant"] == "base")


def test_a_close_question_is_a_leak_only_when_answered_alike(tmp_path, embedder):
    """Same condition, another aspect ("How to diagnose X?" vs "What are the symptoms of X?") is
    close by embedding but not the eval item; the same question answered alike is."""
    checker = checker_for(tmp_path, embedder, [
        {"id": "a", "question": "What are the symptoms of aneurysm?", "answer": "Pain in the chest and back."},
        {"id": "b", "question": "Do you treat horses?", "answer": "", "answer_type": "decline"}])
    questions = ["What are the symptoms of an aneurysm, then?"] * 2 + ["Do you treat horses, please?"]
    answers = [["An aneurysm is diagnosed with a scan."], ["Pain in the chest and the back."], ["No."]]
    assert checker.questions_leak(questions, answers) == [False, True, True]


def test_an_over_long_suite_line_is_a_problem_naming_its_line(tmp_path):
    from knowledge.files import MAX_LINE_BYTES
    from knowledge.errors import InputError

    suite = write_suite(tmp_path / "s.jsonl", [
        {"id": "ok", "question": "Hours?", "answer": "9 to 5", "answer_type": "free"},
        {"id": "big", "question": "x" * (MAX_LINE_BYTES + 1), "answer": "y", "answer_type": "free"}])
    with pytest.raises(InputError, match=r"s\.jsonl:2: line is [\d,]+ bytes; the limit is"):
        load_suite(suite)
