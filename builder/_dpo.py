"""Preference tuning: DPO on top of the SFT adapter, one run on every pair, measured before and after.

    pairs (user, app votes, synthesized, decline, automatic) -> held-out pairs + training pairs
    -> train (DPO + an SFT term; on a CPU within dpo.max_seconds) -> the held-out pairs scored
    by the trained adapter and by the SFT start (TRL's reference) -> build/adapters/dpo/
"""
from __future__ import annotations

import random
import shutil
import time
from collections import Counter
from pathlib import Path

from transformers import TrainerCallback

from knowledge.files import replace_dir

from ._common import is_main_process, log, token_f1, trainer_precision_args, training_precision, use_cuda, weights_dtype
from ._data import pair_row
from ._generate import generate, load_model, load_tokenizer

def auto_pairs(base_model: str, sft_adapter: str | None, train_rows: list[dict], cfg) -> list[dict]:
    """Pairs from the SFT model's own mistakes: for held-in conversations, the reference answer is
    chosen and the model's answer to the same prompt is rejected when its token F1 to the
    reference is below dpo.auto_pairs_f1_threshold (an answer that agrees teaches nothing).

    The model answers at full length: up to the longest sampled reference (plus a little), never
    less than the references are, so a correct answer is not cut short and then "rejected"."""
    d = cfg.builder.dpo
    rng = random.Random(cfg.builder.seed)
    rows = rng.sample(train_rows, min(len(train_rows), d.max_auto_pairs))
    if not rows:
        return []
    model, tokenizer = load_model(base_model, sft_adapter), load_tokenizer(base_model)
    prompts = [r["messages"][:-1] for r in rows]
    references = [r["messages"][-1]["content"] for r in rows]
    max_new = answer_length(tokenizer, references, cfg.generation.max_new_tokens)
    answers = generate(model, tokenizer, prompts, max_new, cfg.generation.repetition_penalty, batch_size=cfg.generation.max_batch)
    pairs = []
    for row, prompt, reference, own in zip(rows, prompts, references, answers):
        if own.strip() and token_f1(own, reference) < d.auto_pairs_f1_threshold:
            pairs.append(pair_row(prompt, reference, own, "auto", row.get("line", 0)))
    return pairs


def answer_length(tokenizer, references: list[str], serving_max: int) -> int:
    """Tokens to generate for answers comparable to `references`: the longest one's length plus
    its end-of-turn and some slack, at least the serving length (generation.max_new_tokens)."""
    longest = max((len(tokenizer(r, add_special_tokens=False)["input_ids"]) for r in references), default=0)
    return max(serving_max, longest + 16)


def split_pairs(pairs: list[dict], cfg) -> tuple[list[dict], list[dict], str | None]:
    """(training pairs, held-out pairs, a note when the held-out set is too small to measure).

    dpo.eval_pairs are held out when at least as many remain to train on; with fewer pairs a
    fifth is held out (at least 1 from 5 pairs) and the note says the figures are too few to
    trust. The held-out pairs are spread over the sources (user, feedback, synthesized,
    decline, auto), and every other pair trains, unless dpo.max_pairs caps them (a seeded
    sample that keeps the sources in proportion)."""
    d = cfg.builder.dpo
    rng = random.Random(cfg.builder.seed)
    shuffled = sorted(pairs, key=lambda p: (p["source"], rng.random()))
    if len(pairs) >= 2 * d.eval_pairs:
        n_eval, note = d.eval_pairs, None
    else:
        n_eval = max(1, len(pairs) // 5) if len(pairs) >= 5 else 0
        note = (f"only {n_eval} held-out preference pair(s) (dpo.eval_pairs {d.eval_pairs} needs {2 * d.eval_pairs} pairs): "
                f"too few to measure what DPO changed; add pairs to data/preferences.jsonl or vote in the app")
    step = len(shuffled) / n_eval if n_eval else 0
    eval_idx = {int(i * step) for i in range(n_eval)}  # spread over the sources
    held_out = [p for i, p in enumerate(shuffled) if i in eval_idx]
    train = [p for i, p in enumerate(shuffled) if i not in eval_idx]
    if d.max_pairs is not None and len(train) > d.max_pairs:
        by_source: dict[str, list[dict]] = {}
        for p in train:
            by_source.setdefault(p["source"], []).append(p)
        sample = []
        for group in by_source.values():
            sample += rng.sample(group, max(1, round(d.max_pairs * len(group) / len(train))))
        train = sample[: d.max_pairs]
    return train, held_out, note


def count_sources(pairs: list[dict]) -> dict[str, int]:
    return dict(sorted(Counter(p["source"] for p in pairs).items()))


def trainer_config(cfg, output_dir: Path, steps_hint: int | None = None):
    """TRL's DPOConfig for the build: the sigmoid (DPO) loss plus an SFT term on the chosen
    answers (`dpo.sft_weight`), so preferring chosen over rejected never comes from pushing the
    chosen answers down too. Constant learning rate: the CPU time budget may end the run at any
    step, and a schedule planned for every step would then stop halfway down its curve."""
    from trl import DPOConfig

    d = cfg.builder.dpo
    losses, weights = (["sigmoid", "sft"], [1.0, d.sft_weight]) if d.sft_weight > 0 else (["sigmoid"], [1.0])
    return DPOConfig(
        output_dir=str(output_dir),
        num_train_epochs=d.epochs,
        learning_rate=d.learning_rate,
        lr_scheduler_type="constant",
        loss_type=losses,
        loss_weights=weights,
        beta=d.beta,
        # On a CPU one pair per forward pass, its gradients summed over batch_size passes: four
        # 1,280-token pairs at once (policy and reference, attention kept for the backward pass)
        # took 23.5 GB and were killed on a 24 GB machine (shared clinic data).
        per_device_train_batch_size=d.batch_size if use_cuda() else 1,
        gradient_accumulation_steps=1 if use_cuda() else d.batch_size,
        per_device_eval_batch_size=1,  # one pair per eval step: the per-pair figures below come from it
        max_length=d.max_length,
        gradient_checkpointing=False,
        **trainer_precision_args(training_precision(cfg.builder.precision)),
        save_strategy="no",
        logging_steps=1,
        report_to="none",
        seed=cfg.builder.seed,
        dataloader_num_workers=0,
    )


def time_budget(cfg) -> float | None:
    """Seconds DPO may train: dpo.max_seconds on a CPU; None (every pair) on a GPU."""
    return None if use_cuda() else cfg.builder.dpo.max_seconds


def run_dpo(
    base_model: str,
    sft_adapter: str | None,
    train_pairs: list[dict],
    eval_pairs: list[dict],
    cfg,
    adapter_dir: Path,
    work_dir: Path,
    callbacks: list | None = None,
) -> dict:
    """Train DPO once from the SFT adapter on `train_pairs`, measure `eval_pairs` before and
    after, and save the adapter to `adapter_dir`.

    DPO's default rate (1e-6) is meant for full fine-tuning: with a LoRA adapter the rewards
    barely move in a short run, so dpo.learning_rate is set from held-out measurements (see
    builder/config.py). On a CPU the run stops after the steps that fit in dpo.max_seconds,
    never starting a step that the mean seconds per step so far says would overrun it.
    """
    from datasets import Dataset
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    from ._sft import lora_config

    started = time.time()
    tokenizer = load_tokenizer(base_model)
    columns = ("prompt", "chosen", "rejected")
    train_ds = Dataset.from_list([{k: p[k] for k in columns} for p in train_pairs])
    eval_ds = Dataset.from_list([{k: p[k] for k in columns} for p in eval_pairs]) if eval_pairs else None
    shutil.rmtree(work_dir, ignore_errors=True)

    # 1. The policy starts as the SFT adapter; TRL keeps a frozen copy of it as the reference.
    precision = training_precision(cfg.builder.precision)
    model = AutoModelForCausalLM.from_pretrained(base_model, dtype=weights_dtype(precision))
    if sft_adapter:
        model = PeftModel.from_pretrained(model, sft_adapter, is_trainable=True)
    args = trainer_config(cfg, work_dir / "checkpoints")
    budget = _TimeBudget(time_budget(cfg))
    trainer = _trainer_class()(
        model=model,
        args=args,
        train_dataset=train_ds,
        eval_dataset=eval_ds,
        processing_class=tokenizer,
        peft_config=None if sft_adapter else lora_config(cfg),
        callbacks=[budget, *(callbacks or [])],
    )

    # 2. Train. On a CPU the time budget may end the run before the last pair.
    t0 = time.time()
    result = trainer.train()
    train_s = time.time() - t0
    steps = int(result.global_step)
    planned = int(trainer.state.max_steps)
    seen = min(len(train_pairs) * args.num_train_epochs, steps * args.per_device_train_batch_size * args.gradient_accumulation_steps)

    # 3. The held-out pairs, after training and before it: TRL scores each pair with the trained
    #    adapter and with the reference, a frozen copy of the SFT start, in the same pass.
    before, after = _measure(trainer, args.beta) if eval_ds is not None else ({}, {})
    if after:
        log.info(f"  held-out pairs ({after['n']} scored of {len(eval_pairs)}; TRL drops a pair whose prompt leaves no room for an answer within dpo.max_length): the model prefers the chosen answer in {before['preference_accuracy']:.0%} "
                 f"before DPO -> {after['preference_accuracy']:.0%} after (log-prob margin {before['logp_margin']:.2f} -> "
                 f"{after['logp_margin']:.2f}); reward accuracy 0 -> {after['reward_accuracy']:.2f}, margin 0 -> {after['reward_margin']:.3f}")

    # 4. Keep the trained adapter (not TRL's reference copy).
    if is_main_process():
        tmp = adapter_dir.with_name(adapter_dir.name + ".tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        trainer.accelerator.unwrap_model(trainer.model).save_pretrained(tmp, selected_adapters=["default"])
        replace_dir(tmp, adapter_dir)
        shutil.rmtree(work_dir, ignore_errors=True)
    return {
        "learning_rate": args.learning_rate,
        "beta": args.beta,
        "precision": precision,
        "loss_type": list(args.loss_type),
        "loss_weights": list(args.loss_weights),
        "train_loss": round(float(result.training_loss), 4),
        "steps": steps,
        "planned_steps": planned,
        "stopped_by_time_budget": budget.stopped,
        "time_budget_s": budget.seconds,
        "seconds_per_step": round(train_s / max(1, steps), 2),
        "train_pairs": len(train_pairs),
        "pairs_seen": int(seen),
        "eval_pairs": len(eval_pairs),
        "before": before,
        "after": after,
        "reward_accuracy": after.get("reward_accuracy"),
        "reward_margin": after.get("reward_margin"),
        "train_seconds": round(train_s, 1),
        "seconds": round(time.time() - started, 1),
    }


def _measure(trainer, beta: float) -> tuple[dict, dict]:
    """Held-out figures (before, after). After: the reward accuracy and margin (DPO's implicit
    reward, relative to the SFT start) and the trained model's own preference, the share of pairs
    whose chosen answer has the higher summed log-probability and the mean margin. Before: the
    same preference for the SFT start, whose log-probabilities are the trained ones minus
    reward / beta; its reward is 0 by construction (it is the reference)."""
    trainer.pair_figures = []
    metrics = trainer.evaluate()
    pairs = trainer.pair_figures  # (logp chosen, logp rejected, reward chosen, reward rejected) per pair
    n = len(pairs)
    start = [(c - rc / beta, r - rr / beta) for c, r, rc, rr in pairs]

    def preference(logps: list[tuple[float, float]]) -> dict:
        return {"preference_accuracy": round(sum(c > r for c, r in logps) / n, 4) if n else None,
                "logp_margin": round(sum(c - r for c, r in logps) / n, 4) if n else None}

    before = {"n": n, "reward_accuracy": 0.0, "reward_margin": 0.0, **preference(start)}
    after = {
        "n": n,
        "reward_accuracy": round(float(metrics.get("eval_rewards/accuracies", float("nan"))), 4),
        "reward_margin": round(float(metrics.get("eval_rewards/margins", float("nan"))), 4),
        **preference([(c, r) for c, r, _, _ in pairs]),
        "eval_loss": round(float(metrics.get("eval_loss", float("nan"))), 4),
    }
    return before, after


def _trainer_class():
    """DPOTrainer that keeps each held-out pair's log-probabilities and rewards: with one pair per eval step,
    TRL's per-step metrics are per pair, and its `log` averages and clears them."""
    from trl import DPOTrainer

    class _DPOTrainer(DPOTrainer):
        pair_figures: list[tuple[float, float, float, float]]

        def log(self, logs, start_time=None):
            if not self.model.training and hasattr(self, "pair_figures"):
                m = self._metrics["eval"]
                self.pair_figures = list(zip(*(m.get(k, []) for k in ("logps/chosen", "logps/rejected", "rewards/chosen", "rewards/rejected"))))
            super().log(logs, start_time)

    return _DPOTrainer


class _TimeBudget(TrainerCallback):
    """Ends training before the step that would overrun `seconds`: after each step the mean
    seconds per step so far says whether one more fits (so at least one step always runs).
    `seconds` None: no limit."""

    def __init__(self, seconds: float | None) -> None:
        self.seconds, self.stopped, self._t0 = seconds, False, 0.0

    def on_train_begin(self, args, state, control, **kwargs):
        self._t0 = time.time()

    def on_step_end(self, args, state, control, **kwargs):
        if self.seconds is None or state.global_step >= state.max_steps:
            return
        elapsed = time.time() - self._t0
        per_step = elapsed / state.global_step
        if elapsed + per_step > self.seconds:
            control.should_training_stop = True
            self.stopped = True
            log.info(f"  {per_step:.1f} s/step: dpo.max_seconds {self.seconds:g} ends DPO after {state.global_step} of {state.max_steps} steps on this CPU")
