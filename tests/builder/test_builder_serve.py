"""The build serves what measured best, says why, and DPO trains on every pair it has."""
import json

import pytest

from builder import build
from builder._dpo import split_pairs, trainer_config
from builder._serve import choose_variant
from builder.config import config_from_dict, load_config

from builder_fixtures import write_jsonl


# --- the rule ------------------------------------------------------------------------------


def test_tuned_worse_on_dev_serves_base_and_says_why():
    diff = {"diff": -0.05, "low": -0.09, "high": -0.01, "n": 40}
    choice = choose_variant({"extract": 0.12, "base+rag": 0.26, "tuned+rag": 0.21}, 40, "dev questions", diff)
    assert choice["variant"] == "base+rag"
    assert choice["reason"].startswith("serving base+rag: the tuned model scored lower on your dev questions, F1 0.21 vs 0.26 (40 questions")
    assert "[-0.09, -0.01]" in choice["reason"] and choice["tuned_minus_base"] == diff
    assert choice["f1"] == {"extract": 0.12, "base+rag": 0.26, "tuned+rag": 0.21} and choice["n"] == 40


def test_tuned_not_worse_serves_tuned_and_a_tie_goes_to_tuned():
    better = choose_variant({"extract": 0.1, "base+rag": 0.2, "tuned+rag": 0.3}, 12, "dev questions")
    tie = choose_variant({"base+rag": 0.25, "tuned+rag": 0.25}, 12, "dev questions")
    assert better["variant"] == tie["variant"] == "tuned+rag" and "F1 0.30 vs 0.20" in better["reason"]


def test_extract_is_served_only_when_it_beats_both_models():
    assert choose_variant({"extract": 0.4, "base+rag": 0.2, "tuned+rag": 0.3}, 9, "dev questions")["variant"] == "extract"
    assert choose_variant({"extract": 0.3, "base+rag": 0.2, "tuned+rag": 0.3}, 9, "dev questions")["variant"] == "tuned+rag"


# --- DPO pairs -----------------------------------------------------------------------------


def _pairs(n: int, sources=("user", "feedback", "auto", "decline")) -> list[dict]:
    return [{"prompt": [{"role": "user", "content": f"q{i}"}], "chosen": [], "rejected": [], "source": sources[i % len(sources)]}
            for i in range(n)]


def test_dpo_holds_out_20_pairs_when_there_are_enough_and_trains_on_all_the_rest(tmp_path):
    cfg = config_from_dict({"name": "t"}, tmp_path / "assistant.yaml")
    train, held_out, note = split_pairs(_pairs(59), cfg)
    assert len(held_out) == 20 and len(train) == 39 and note is None  # no 8-pair cap
    assert {p["source"] for p in held_out} == {"user", "feedback", "auto", "decline"}  # spread over the sources
    assert not {p["prompt"][0]["content"] for p in train} & {p["prompt"][0]["content"] for p in held_out}


def test_too_few_pairs_to_measure_is_said(tmp_path):
    cfg = config_from_dict({"name": "t"}, tmp_path / "assistant.yaml")
    train, held_out, note = split_pairs(_pairs(30), cfg)
    assert len(held_out) == 6 and len(train) == 24 and "too few to measure" in note


def test_dpo_loss_keeps_an_sft_term_on_the_chosen_answers(tmp_path):
    cfg = config_from_dict({"name": "t"}, tmp_path / "assistant.yaml")
    args = trainer_config(cfg, tmp_path / "out")
    assert args.loss_type == ["sigmoid", "sft"] and args.loss_weights == [1.0, cfg.builder.dpo.sft_weight] and cfg.builder.dpo.sft_weight > 0
    plain = config_from_dict({"name": "t", "builder": {"dpo": {"sft_weight": 0}}}, tmp_path / "assistant.yaml")
    assert trainer_config(plain, tmp_path / "out").loss_type == ["sigmoid"]


def test_removed_lr_sweep_key_names_its_replacement(tmp_path):
    from knowledge.errors import ConfigError

    with pytest.raises(ConfigError, match="builder.dpo.lr_sweep.*learning_rate"):
        config_from_dict({"name": "t", "builder": {"dpo": {"lr_sweep": [1.0]}}}, tmp_path / "assistant.yaml")


# --- the build's choice, served ------------------------------------------------------------


def test_without_suites_held_out_conversations_decide_and_chat_serves_the_choice(built):
    from chat import Assistant

    folder, summary = built
    manifest = json.loads((folder / "build" / "manifest.json").read_text())
    ev = manifest["record"]["evaluation"]
    serving = manifest["serving"]
    expected = "tuned+rag" if ev["tuned"]["token_f1"] >= ev["base"]["token_f1"] else "base+rag"
    assert serving["variant"] == expected and "held-out conversations" in serving["reason"]
    assert manifest["record"]["serving"]["f1"] == {"base+rag": ev["base"]["token_f1"], "tuned+rag": ev["tuned"]["token_f1"]}
    assistant = Assistant.load(folder)
    assert assistant.default_variant == expected and assistant.serving_note == serving["reason"]
    text = str(summary)
    assert "Stage times (s): index" in text and "dpo" in text.split("Stage times (s):")[1]
    assert serving["reason"][1:] in text  # the summary says which variant serves and why


def test_a_recorded_base_choice_is_the_default_and_is_explained(built_copy):
    from chat import Assistant

    path = built_copy / "build" / "manifest.json"
    manifest = json.loads(path.read_text())
    manifest["serving"] = {"variant": "base+rag", "reason": "serving base+rag: the tuned model scored lower on your dev questions, F1 0.21 vs 0.26 (40 questions)"}
    path.write_text(json.dumps(manifest))
    assistant = Assistant.load(built_copy)
    assert assistant.default_variant == "base+rag" and "tuned+rag" in assistant.variants
    assert assistant.serving_note.startswith("serving base+rag: the tuned model scored lower")
    assert assistant.check_variant(None) == "base+rag" and assistant.check_variant("tuned+rag") == "tuned+rag"


def test_with_suites_the_dev_split_decides(built_copy):
    # Questions the conversations do not ask (the leakage check would drop those conversations).
    suite = [("What should I bring to each visit?", "Your insurance card."),
             ("How many parking spaces are kept for wheelchairs?", "Two spaces."),
             ("Where can I park my car?", "Behind the building, for free."),
             ("What time do you close on Saturdays?", "At 13:00."),
             ("Can I pay with cash?", "Yes, card or cash at the front desk."),
             ("Which bus lines stop at the door?", "Lines 4 and 12."),
             ("Are you open on public holidays?", "No, the clinic is closed on public holidays."),
             ("What vaccines do children get?", "Those of the national schedule."),
             ("How early must travel vaccines be booked?", "Two weeks before departure."),
             ("What is the price of a standard visit?", "60 euros.")]
    rows = [{"id": f"q{i}", "question": q, "answer": a, "answer_type": "free", "gold_docs": []} for i, (q, a) in enumerate(suite)]
    write_jsonl(built_copy / "evals" / "harbor.jsonl", rows)
    cfg = load_config(built_copy)
    summary = build(built_copy, cfg, quiet=True)
    manifest = json.loads((built_copy / "build" / "manifest.json").read_text())
    assert manifest["model_dir"] == "model", manifest["record"]["leakage"]
    serving, dev = manifest["record"]["serving"], manifest["record"]["evaluation"]["dev"]
    assert serving["measured_on"] == "dev questions" and manifest["serving"]["variant"] == serving["variant"]
    assert set(dev["f1"]) == {"extract", "base+rag", "tuned+rag"} and 0 < dev["questions"] <= cfg.evals.select_limit
    assert serving["variant"] == choose_variant(dev["f1"], dev["n"], "dev questions", dev["difference"])["variant"]
    report = json.loads((next(iter((built_copy / "build" / "reports").glob("*/run.json")))).read_text())
    assert report["split"] == "dev"
    assert "serving " in str(summary).lower()


def test_cpu_time_budget_stops_before_a_step_that_would_overrun(monkeypatch):
    import builder._dpo as dpo_module
    from transformers import TrainerControl, TrainerState

    now = [0.0]
    monkeypatch.setattr(dpo_module.time, "time", lambda: now[0])
    budget, state, control = dpo_module._TimeBudget(300), TrainerState(max_steps=11), TrainerControl()
    budget.on_train_begin(None, state, control)
    for step, t in ((1, 100.0), (2, 190.0)):  # 95 s/step: a third step would end at 285 s, a fourth at 380 s
        now[0], state.global_step = t, step
        budget.on_step_end(None, state, control)
        assert not control.should_training_stop
    now[0], state.global_step = 285.0, 3
    budget.on_step_end(None, state, control)
    assert control.should_training_stop and budget.stopped
    unlimited, control = dpo_module._TimeBudget(None), TrainerControl()
    unlimited.on_train_begin(None, state, control)
    unlimited.on_step_end(None, state, control)
    assert not control.should_training_stop  # a GPU (no budget) trains on every pair


def test_dpo_on_a_cpu_trains_the_pairs_that_fit_the_budget_or_none(tokenizer):
    """On a CPU DPO trains the pairs that fit dpo.max_seconds at the rate SFT measured (a seeded
    sample keeping the sources in proportion); when fewer than MIN_DPO_STEPS steps fit, it is
    skipped and says how long every pair would need. A GPU trains every pair."""
    from types import SimpleNamespace

    from builder._build import MIN_DPO_STEPS, _fit_budget
    from builder.config import TailorConfig

    def pair(source, n, repeat=20):
        return {"prompt": [{"role": "user", "content": "How much is a consultation? " * repeat}], "source": source, "line": n,
                "chosen": [{"role": "assistant", "content": "60 euros."}], "rejected": [{"role": "assistant", "content": "Free."}]}

    pairs = [pair("user", i) for i in range(60)] + [pair("decline", i, repeat=10) for i in range(40)]  # short pairs must not crowd out long
    b = SimpleNamespace(cfg=TailorConfig(), tokenizer=tokenizer, result=lambda stage: {"tokens_per_s": 50.0})
    assert _fit_budget(b, pairs[:4], budget=300) == (pairs[:4], None, None)  # ~1,000 tokens: 20 s
    each = 300 / len(_fit_budget(b, pairs, budget=300)[0])
    train, note, skip = _fit_budget(b, pairs, budget=300)
    assert skip is None and 16 <= len(train) < 100 and f"{len(train)} of 100 pairs fit dpo.max_seconds 300" in note
    users = sum(p["source"] == "user" for p in train)
    assert abs(users / len(train) - 0.6) <= 0.1 and len({p["line"] for p in train if p["source"] == "user"}) == users  # in proportion
    assert train == _fit_budget(b, pairs, budget=300)[0]  # seeded
    train, note, skip = _fit_budget(b, pairs, budget=each * (MIN_DPO_STEPS * 4 - 2))
    assert train == [] and "would not move the model" in skip and "about" in skip and "min" in skip
    assert _fit_budget(b, pairs, budget=None) == (pairs, None, None)  # a GPU: no budget, every pair trains
