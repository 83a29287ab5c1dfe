"""Preference tuning: DPO on top of the SFT adapter, with the learning rate chosen by measurement."""
from __future__ import annotations

import json
import random
import shutil
import time
from pathlib import Path

from ._common import is_main_process, log, replace_dir, token_f1, use_bf16
from ._data import pair_row
from ._generate import generate, load_model, load_tokenizer


def auto_pairs(base_model: str, sft_adapter: str | None, train_rows: list[dict], cfg) -> list[dict]:
    """Pairs from the SFT model's own mistakes: for held-in conversations, the reference answer is
    chosen and the model's answer to the same prompt is rejected when its token F1 to the
    reference is below dpo.auto_pairs_f1_threshold (an answer that agrees teaches nothing)."""
    d = cfg.builder.dpo
    rng = random.Random(cfg.builder.seed)
    rows = rng.sample(train_rows, min(len(train_rows), d.max_auto_pairs))
    if not rows:
        return []
    model, tokenizer = load_model(base_model, sft_adapter), load_tokenizer(base_model)
    prompts = [r["messages"][:-1] for r in rows]
    answers = generate(model, tokenizer, prompts, cfg.builder.eval_max_new_tokens, cfg.generation.repetition_penalty,
                       batch_size=cfg.generation.max_batch)
    pairs = []
    for row, prompt, own in zip(rows, prompts, answers):
        reference = row["messages"][-1]["content"]
        if own.strip() and token_f1(own, reference) < d.auto_pairs_f1_threshold:
            pairs.append(pair_row(prompt, reference, own, "auto", row.get("line", 0)))
    return pairs


def split_pairs(pairs: list[dict], cfg) -> tuple[list[dict], list[dict]]:
    """Held-out pairs for the learning-rate choice, and at most dpo.max_pairs training pairs,
    each a seeded sample that keeps the sources (user, feedback, auto) in proportion."""
    d = cfg.builder.dpo
    rng = random.Random(cfg.builder.seed)
    shuffled = sorted(pairs, key=lambda p: (p["source"], rng.random()))
    n_eval = min(d.eval_pairs, max(1, len(pairs) // 5)) if len(pairs) >= 5 else 0
    step = len(shuffled) / n_eval if n_eval else 0
    eval_idx = {int(i * step) for i in range(n_eval)}  # spread over the sources
    held_out = [p for i, p in enumerate(shuffled) if i in eval_idx]
    train = [p for i, p in enumerate(shuffled) if i not in eval_idx]
    if len(train) > d.max_pairs:
        by_source: dict[str, list[dict]] = {}
        for p in train:
            by_source.setdefault(p["source"], []).append(p)
        sample = []
        for group in by_source.values():
            sample += rng.sample(group, max(1, round(d.max_pairs * len(group) / len(train))))
        train = sample[: d.max_pairs]
    return train, held_out


def run_dpo(
    base_model: str,
    sft_adapter: str | None,
    train_pairs: list[dict],
    eval_pairs: list[dict],
    cfg,
    adapter_dir: Path,
    work_dir: Path,
    resume: bool = False,
    callbacks: list | None = None,
) -> dict:
    """Train DPO from the SFT adapter once per learning rate in dpo.lr_sweep and keep the run
    with the best held-out reward accuracy (then margin); save its adapter to `adapter_dir`.

    DPO's default rate (1e-6) is meant for full fine-tuning: with a LoRA adapter the rewards
    barely move in a short run, so the rate is chosen from measured figures, not a default.
    Each finished run is kept in `work_dir`, so `--resume` skips the rates already tried.
    """
    import torch
    from datasets import Dataset
    from peft import PeftModel
    from transformers import AutoModelForCausalLM
    from trl import DPOConfig, DPOTrainer

    from ._sft import lora_config

    d = cfg.builder.dpo
    started = time.time()
    tokenizer = load_tokenizer(base_model)
    columns = ("prompt", "chosen", "rejected")
    train_ds = Dataset.from_list([{k: p[k] for k in columns} for p in train_pairs])
    eval_ds = Dataset.from_list([{k: p[k] for k in columns} for p in eval_pairs]) if eval_pairs else None
    if not resume:
        shutil.rmtree(work_dir, ignore_errors=True)
    runs = []
    for i, multiplier in enumerate(d.lr_sweep):
        lr = d.learning_rate * multiplier
        run_dir = work_dir / f"lr-{i}"
        if (run_dir / "result.json").exists():
            runs.append(json.loads((run_dir / "result.json").read_text()))
            log.info(f"  learning rate {lr:.2g}: finished in an earlier run (--resume), reusing it")
            continue
        log.info(f"  learning rate {lr:.2g} ({i + 1} of {len(d.lr_sweep)})")

        # 1. The policy starts as the SFT adapter; TRL keeps a frozen copy of it as the reference.
        model = AutoModelForCausalLM.from_pretrained(base_model, dtype=torch.bfloat16 if use_bf16() else torch.float32)
        if sft_adapter:
            model = PeftModel.from_pretrained(model, sft_adapter, is_trainable=True)
        args = DPOConfig(
            output_dir=str(run_dir / "checkpoints"),
            num_train_epochs=d.epochs,
            learning_rate=lr,
            lr_scheduler_type="cosine",
            beta=d.beta,
            per_device_train_batch_size=d.batch_size,
            per_device_eval_batch_size=d.batch_size,
            max_length=d.max_length,
            gradient_checkpointing=False,
            bf16=use_bf16(),
            save_strategy="no",
            logging_steps=1,
            report_to="none",
            seed=cfg.builder.seed,
            dataloader_num_workers=0,
        )
        trainer = DPOTrainer(
            model=model,
            args=args,
            train_dataset=train_ds,
            eval_dataset=eval_ds,
            processing_class=tokenizer,
            peft_config=None if sft_adapter else lora_config(cfg),
            callbacks=callbacks,
        )

        # 2. Train, then measure on the held-out pairs how often (and by how much) the chosen
        #    answer now out-scores the rejected one relative to the reference.
        t0 = time.time()
        result = trainer.train()
        metrics = trainer.evaluate() if eval_ds is not None else {}
        run = {
            "learning_rate": lr,
            "train_loss": round(float(result.training_loss), 4),
            "steps": int(result.global_step),
            "seconds_per_step": round((time.time() - t0) / max(1, result.global_step), 2),
            "reward_accuracy": round(float(metrics.get("eval_rewards/accuracies", float("nan"))), 4),
            "reward_margin": round(float(metrics.get("eval_rewards/margins", float("nan"))), 4),
            "eval_loss": round(float(metrics.get("eval_loss", float("nan"))), 4),
        }
        log.info(f"    reward accuracy {run['reward_accuracy']:.2f}, margin {run['reward_margin']:.3f}, {run['seconds_per_step']}s/step")

        # 3. Keep this run's adapter (the trained one, not TRL's reference copy).
        if is_main_process():
            unwrapped = trainer.accelerator.unwrap_model(trainer.model)
            unwrapped.save_pretrained(run_dir / "adapter", selected_adapters=["default"])
            (run_dir / "result.json").write_text(json.dumps(run))
        runs.append(run)
        del trainer, model

    # 4. The best run by held-out reward accuracy, then margin; NaN (no held-out pairs) ranks last.
    def score(run: dict) -> tuple:
        acc, margin = run["reward_accuracy"], run["reward_margin"]
        return (acc if acc == acc else -1.0, margin if margin == margin else -1e9)

    best_i = max(range(len(runs)), key=lambda i: score(runs[i]))
    best = runs[best_i]
    if is_main_process():
        tmp = adapter_dir.with_name(adapter_dir.name + ".tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        shutil.copytree(work_dir / f"lr-{best_i}" / "adapter", tmp)
        replace_dir(tmp, adapter_dir)
        shutil.rmtree(work_dir, ignore_errors=True)
    return {
        "learning_rate": best["learning_rate"],
        "reward_accuracy": best["reward_accuracy"],
        "reward_margin": best["reward_margin"],
        "train_loss": best["train_loss"],
        "seconds_per_step": best["seconds_per_step"],
        "sweep": runs,
        "train_pairs": len(train_pairs),
        "eval_pairs": len(eval_pairs),
        "seconds": round(time.time() - started, 1),
    }
