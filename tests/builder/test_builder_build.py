"""`tailor build` on the tiny model: training changes the weights, stages cache, an interrupted
build leaves the previous one usable and resumes, bad input stops the build with nothing lost."""
import dataclasses
import json
import re
import shutil

import pytest
from safetensors.torch import load_file

from builder import build, export_gguf
from builder.config import load_config
from knowledge.errors import ConfigError, InputError

from builder_fixtures import make_folder, write_jsonl


def lora_tensors(adapter_dir):
    return {k: v for k, v in load_file(adapter_dir / "adapter_model.safetensors").items() if "lora_" in k}


def statuses(summary):
    return {s.name: s.status for s in summary.stages}


def test_build_trains_exports_and_records(built):
    from transformers import AutoModelForCausalLM

    from builder._common import training_precision

    folder, summary = built
    assert statuses(summary) == dict.fromkeys(("index", "base", "data", "sft", "dpo", "calibrate", "export", "evaluate"), "ran")
    b = folder / "build"
    # LoRA B matrices start at zero: non-zero ones mean SFT changed the weights, and DPO changed them again.
    sft, dpo = lora_tensors(b / "adapters" / "sft"), lora_tensors(b / "adapters" / "dpo")
    assert any(v.abs().sum() > 0 for k, v in sft.items() if "lora_B" in k)
    assert sft.keys() == dpo.keys() and any(not (sft[k] == dpo[k]).all() for k in sft)
    assert not list(b.glob("model.tmp-*")) and not list(b.glob("model.old-*"))
    AutoModelForCausalLM.from_pretrained(b / "model")  # plain Hugging Face format

    manifest = json.loads((b / "manifest.json").read_text())
    assert manifest["model_dir"] == "model" and manifest["adapter_dir"] == "adapters/dpo" and manifest["index_dir"] == "index"
    assert manifest["retrieval"] == {"k": 2, "mode": "hybrid", "tuned_prompt_tokens": 512}  # sft.max_length of the fixture
    assert manifest["decline"]["threshold"] > 0 and "general_questions" in manifest["decline"]["method"]
    record = manifest["record"]
    assert record["sft"]["train_loss"] > 0 and record["sft"]["tokens_per_s"] > 0
    # Trained in this machine's arithmetic (builder.precision auto), recorded where a reader finds it.
    assert record["training_precision"] == record["sft"]["precision"] == record["dpo"]["precision"] == training_precision("auto")
    dpo = record["dpo"]
    assert dpo["pairs"]["user"] == 6 and "feedback" not in dpo["pairs"]
    assert 0 <= dpo["pairs"].get("auto", 0) <= 2  # max_auto_pairs: 2 (the tiny model answers blank lines: none made)
    # Every pair not held out trains (no cap), once, in one run at the configured rate, with the SFT term.
    held_out = dpo["eval_pairs"]
    assert dpo["train_pairs"] + held_out == sum(dpo["pairs"].values()) and dpo["pairs_seen"] == dpo["train_pairs"]
    assert dpo["learning_rate"] == 0.005 and dpo["loss_type"] == ["sigmoid", "sft"] and "sweep" not in dpo
    # Held-out figures before (the SFT start: reward 0 by construction) and after; the fixture holds out dpo.eval_pairs (2).
    assert dpo["before"]["n"] == dpo["after"]["n"] == held_out == 2 and not dpo["held_out_too_few"]  # eval_pairs: 2
    assert dpo["before"]["reward_margin"] == 0 and dpo["before"]["reward_accuracy"] == 0
    assert 0 <= dpo["after"]["reward_accuracy"] <= 1 and dpo["after"]["reward_margin"] != 0
    assert 0 <= dpo["before"]["preference_accuracy"] <= 1 and dpo["after"]["logp_margin"] is not None
    assert set(record["evaluation"]) >= {"n", "base", "tuned"} and record["evaluation"]["tuned"]["eval_loss"] > 0
    assert record["inputs"]["conversations"] and record["versions"]["trl"]
    assert (b / "logs").is_dir() and any((b / "logs").iterdir())


def test_second_build_trains_nothing_and_keeps_the_manifest(built_copy):
    manifest = (built_copy / "build" / "manifest.json").read_bytes()
    summary = build(built_copy, load_config(built_copy), quiet=True)
    assert set(statuses(summary).values()) == {"cached"}
    assert "nothing was retrained" in str(summary)
    assert (built_copy / "build" / "manifest.json").read_bytes() == manifest


def test_changed_document_reindexes_without_preparing_the_base_again(built_copy):
    (built_copy / "docs" / "fees.md").write_text("# Fees\n\nA standard consultation now costs 70 euros.\n")
    summary = build(built_copy, load_config(built_copy), skip_train=True, quiet=True)
    assert statuses(summary) == {"index": "ran", "base": "cached", "calibrate": "ran"}
    manifest = json.loads((built_copy / "build" / "manifest.json").read_text())
    assert manifest["model_dir"] is None and manifest["record"]["retrieval_only"]


def test_force_reruns_the_stage_and_what_follows(built_copy):
    summary = build(built_copy, load_config(built_copy), force=("calibrate",), quiet=True)
    s = statuses(summary)
    assert s["calibrate"] == "ran" and s["sft"] == "cached" and s["dpo"] == "cached"
    assert s["evaluate"] == "ran"  # the variant to serve is measured as served, with the new decline threshold


class Interrupt(Exception):
    pass


def test_interrupted_build_keeps_the_old_model_and_resumes(built_copy, monkeypatch):
    from transformers import AutoModelForCausalLM, TrainerCallback

    import builder._sft as sft_module

    b = built_copy / "build"
    old_manifest = (b / "manifest.json").read_bytes()
    with (built_copy / "data" / "conversations.jsonl").open("a") as fh:
        fh.write(json.dumps({"messages": [{"role": "user", "content": "Do you open on holidays?"},
                                          {"role": "assistant", "content": "The clinic is closed on Sundays and public holidays."}]}) + "\n")  # fmt: skip

    class StopAtStep2(TrainerCallback):
        def on_step_end(self, args, state, control, **kw):
            if state.global_step >= 2:
                raise Interrupt()

    real_run_sft = sft_module.run_sft
    monkeypatch.setattr(sft_module, "run_sft", lambda *a, **kw: real_run_sft(*a, **{**kw, "callbacks": [StopAtStep2()]}))
    with pytest.raises(Interrupt):
        build(built_copy, load_config(built_copy), quiet=True)
    # The previous build is untouched and loadable.
    assert (b / "manifest.json").read_bytes() == old_manifest
    AutoModelForCausalLM.from_pretrained(b / "model")
    assert list((b / "checkpoints" / "sft").glob("checkpoint-*"))

    monkeypatch.setattr(sft_module, "run_sft", real_run_sft)
    summary = build(built_copy, load_config(built_copy), resume=True, quiet=True)
    assert summary.stage("sft").result["resumed_from"].startswith("checkpoint-")
    assert summary.manifest_written and (b / "manifest.json").read_bytes() != old_manifest
    assert not list(b.glob("model.tmp-*")) and not (b / "checkpoints" / "sft").exists()


def test_bad_line_stops_the_build_and_loses_nothing(built_copy):
    old_manifest = (built_copy / "build" / "manifest.json").read_bytes()
    with (built_copy / "data" / "conversations.jsonl").open("a") as fh:
        fh.write('{"messages": [{"role": "user", "content": "oops"}\n')
    with pytest.raises(InputError, match=r"conversations.jsonl:13: not valid JSON"):
        build(built_copy, load_config(built_copy), quiet=True)
    assert (built_copy / "build" / "manifest.json").read_bytes() == old_manifest


def test_a_long_answer_ends_at_a_sentence_and_is_never_truncated(built_copy):
    """The answer is reserved before the evidence is fitted: a row never loses its answer's tail
    (its [n] and end-of-turn token) to truncation. An answer longer than generation.max_new_tokens
    (which serving could never finish) ends at its last whole sentence, counted in the log."""
    before = json.loads((built_copy / "build" / "stages" / "data.json").read_text())["result"]
    long_answer = "Harbor Clinic is open Monday to Friday from 8:00 to 18:00. " + "We also answer the phone. " * 80
    with (built_copy / "data" / "conversations.jsonl").open("a") as fh:
        fh.write(json.dumps({"messages": [{"role": "user", "content": "Tell me everything?"}, {"role": "assistant", "content": long_answer}]}) + "\n")
    summary = build(built_copy, load_config(built_copy), only="data", quiet=True)
    data = summary.stage("data").result

    def count(d, key):
        return d["train_contexts"][key] + d["eval_contexts"][key]

    assert count(data, "truncated") == count(before, "truncated") == 0
    assert count(data, "answers_shortened") == count(before, "answers_shortened") + 1
    rows = [json.loads(x) for name in ("sft_train.jsonl", "sft_eval.jsonl")
            for x in (built_copy / "build" / "data" / name).read_text().splitlines()]
    (row,) = [r for r in rows if r["messages"][-2]["content"] == "Tell me everything?"]
    said = row["messages"][-1]["content"]
    assert said.startswith("Harbor Clinic is open") and len(said) < len(long_answer)
    assert re.sub(r" \[\d+\]$", "", said).endswith("phone.")  # a whole sentence, then its citation
    assert "ran only data" in str(summary) and not summary.manifest_written


def test_too_few_conversations_names_the_minimum(tmp_path, tiny_model_dir):
    folder = make_folder(tmp_path / "few", tiny_model_dir)
    rows = [json.loads(line) for line in (folder / "data" / "conversations.jsonl").read_text().splitlines()[:2]]
    write_jsonl(folder / "data" / "conversations.jsonl", rows)
    with pytest.raises(InputError, match=r"2 usable conversation\(s\); SFT needs at least builder.min_conversations = 4"):
        build(folder, load_config(folder), quiet=True)


def test_missing_data_files_make_a_retrieval_only_assistant(tmp_path, tiny_model_dir):
    folder = make_folder(tmp_path / "docs-only", tiny_model_dir, conversations=False, preferences=False)
    with open(folder / "assistant.yaml", "a", encoding="utf-8") as fh:
        fh.write("  synthesize:\n    mode: never\n")  # the documents-only path is tested in test_synthesize.py
    summary = build(folder, load_config(folder), quiet=True)
    s = statuses(summary)
    assert s["sft"] == s["dpo"] == s["export"] == "skipped" and s["calibrate"] == "ran"
    assert any("SFT is skipped" in n for n in summary.notes)
    manifest = json.loads((folder / "build" / "manifest.json").read_text())
    assert manifest["model_dir"] is None and manifest["adapter_dir"] is None and summary.retrieval_only
    assert manifest["decline"]["method"].startswith("fallback")


def test_unknown_base_model_lists_the_aliases(tmp_path):
    from builder._build import _resolve_base
    from builder.config import config_from_dict

    cfg = config_from_dict({"builder": {"base_model": "no-such-model"}}, tmp_path / "assistant.yaml")
    with pytest.raises(ConfigError, match="smollm2-135m-instruct"):
        _resolve_base(cfg)


def test_raft_contexts(built, tokenizer):
    from builder._data import render_train
    from builder._inputs import load_conversations
    from knowledge import load_index

    folder, _ = built
    cfg = load_config(folder)
    kb = load_index(folder / "build" / "index")
    convs = load_conversations(folder / "data" / "conversations.jsonl")
    cfg.builder.raft_distractor_only = 0.0
    rows, stats = render_train(convs, kb, cfg, tokenizer)
    assert stats.oracle == len(convs)  # every answer is a sentence of the documents
    assert not stats.truncated and stats.to_dict()["truncated"] == 0  # the answer is reserved first, never cut
    assert all(r["reference"] in r["messages"][0]["content"] for r in rows)
    cited = []
    for r in rows:  # the target answer cites the passage that holds it, by its number in the context
        n = int(r["messages"][-1]["content"].rsplit("[", 1)[1].rstrip("]"))
        block = r["messages"][0]["content"].split(f"[{n}] (", 1)[1].split("\n[", 1)[0]
        assert r["reference"] in block
        cited.append(n)
    assert stats.distractors > 0 and len(set(cited)) > 1  # among distractors, and not always at [1]
    cfg.builder.raft_distractor_only = 1.0
    rows, stats = render_train(convs, kb, cfg, tokenizer)
    assert stats.distractor_only == len(convs)
    for row, conv in zip(rows, convs):
        assert row["messages"][-1]["content"] == cfg.chat.decline_message
        context = row["messages"][0]["content"]
        assert conv.messages[-1]["content"] not in context
        assert "<documents>" in context and "[1] (" in context
        # the distractors come from other documents than the one holding the answer
        oracle_doc = kb.search(conv.messages[-1]["content"], k=1)[0].chunk.source
        assert f"{oracle_doc})" not in context and f"({oracle_doc}" not in context
    # Conversations synthesized from the documents never get a decline row: their answers are
    # stated outright in a passage, and the decline gate declines for a documents-only build.
    from builder._data import decline_pairs

    synthesized = [dataclasses.replace(c, extra={"synthesized": "section"}) for c in convs]
    rows, stats = render_train(synthesized[:3] + convs[3:], kb, cfg, tokenizer)
    assert stats.distractor_only == len(convs) - 3 > 0
    assert [r["kind"] for r in rows[:3]] == ["oracle"] * 3
    rows, stats = render_train(synthesized, kb, cfg, tokenizer)
    assert stats.distractor_only == 0 and stats.oracle == len(convs) and decline_pairs(rows, cfg) == []


def test_a_training_row_holds_the_evidence_serving_gives(built, tokenizer, tiny_model_dir):
    """One evidence policy: the held-out row for a question and the prompt chat builds for it hold
    the same passages, in the same words."""
    from builder._data import render_eval
    from builder._inputs import load_conversations
    from chat import Answer, Assistant
    from knowledge import load_index

    folder, _ = built
    cfg = load_config(folder)
    kb = load_index(folder / "build" / "index")
    convs = load_conversations(folder / "data" / "conversations.jsonl")[:4]
    rows, stats = render_eval(convs, kb, cfg, tokenizer)
    assistant = Assistant(name=cfg.name, base_model=tiny_model_dir, kb=kb, chat=cfg.chat,
                          retrieval={"k": cfg.knowledge.top_k, "mode": cfg.knowledge.search_mode})
    tok, window, _ = assistant._tokenizer("extract")
    for conv, row in zip(convs, rows):
        question = conv.messages[-2]["content"]
        hits = assistant._search(question)
        answer = Answer(text="", variant="base+rag", question=question)
        messages, _ = assistant._fit(answer, tok, window, question, [], hits)
        served, trained = messages[0]["content"], row["prompt"][0]["content"]
        assert served == trained, "\n".join(__import__("difflib").unified_diff(served.splitlines(), trained.splitlines(), lineterm=""))
def test_gguf_export_loads_back(built_copy):
    path = export_gguf(built_copy, load_config(built_copy))
    assert path.exists() and path.suffix == ".gguf" and path.stat().st_size > 1000


def test_cli_build_reports_bad_input_without_traceback(built_copy):
    from typer.testing import CliRunner

    import app

    with (built_copy / "data" / "preferences.jsonl").open("a") as fh:
        fh.write(json.dumps({"prompt": "Q?", "chosen": "Same.", "rejected": "Same."}) + "\n")
    result = CliRunner().invoke(app.cli, ["build", str(built_copy)])
    assert result.exit_code != 0 and isinstance(result.exception, InputError)
    assert "preferences.jsonl:7" in str(result.exception)
    shutil.rmtree(built_copy / "build" / "logs", ignore_errors=True)


def test_auto_pairs_reject_answers_that_disagree_with_the_reference(monkeypatch, tmp_path):
    """The selection logic, with the model's answers fixed (the real model makes pairs in the e2e test)."""
    import builder._dpo as dpo_module
    from builder.config import config_from_dict

    rows = [
        {"messages": [{"role": "system", "content": "ctx"}, {"role": "user", "content": f"Q{i}?"}, {"role": "assistant", "content": ref}], "line": i}
        for i, ref in enumerate(["We open at nine on Saturday.", "A consultation costs 60 euros.", "Parking is free."])
    ]  # fmt: skip
    answers = {"Q0?": "We open at nine on Saturday.", "Q1?": "It is free of charge, no cost.", "Q2?": "   "}
    monkeypatch.setattr(dpo_module, "load_model", lambda *a, **k: None)
    monkeypatch.setattr(dpo_module, "load_tokenizer", lambda *a, **k: lambda text, **kw: {"input_ids": text.split() * 50})
    lengths = []

    def fake_generate(model, tok, prompts, max_new_tokens, *a, **k):
        lengths.append(max_new_tokens)
        return [answers[p[-1]["content"]] for p in prompts]

    monkeypatch.setattr(dpo_module, "generate", fake_generate)
    cfg = config_from_dict({"builder": {"dpo": {"max_auto_pairs": 3}}}, tmp_path / "assistant.yaml")
    pairs = dpo_module.auto_pairs("base", "adapter", rows, cfg)
    # Full length: room for the longest reference (6 words x 50 "tokens" here), never the old 64-token cut.
    assert lengths == [6 * 50 + 16] and lengths[0] >= cfg.generation.max_new_tokens
    assert len(pairs) == 1  # the agreeing answer and the blank one make no pair
    pair = pairs[0]
    assert pair["source"] == "auto" and pair["chosen"][0]["content"] == "A consultation costs 60 euros."
    assert pair["rejected"][0]["content"] == "It is free of charge, no cost." and pair["prompt"] == rows[1]["messages"][:-1]
