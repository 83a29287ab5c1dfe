"""Training benchmarks for `tailor build`, each against a baseline measured in the same run.

    .venv/bin/python bench/train.py              # 48 clinic conversations per trainer (~12 min on 2 CPU cores)
    .venv/bin/python bench/train.py --quick      # 16 conversations, DPO on 8 pairs (~5 min)
    .venv/bin/python bench/train.py --e2e        # also time `tailor build examples/clinic` end to end (~25 min)
    .venv/bin/python bench/train.py --quick --precision   # only SFT in bf16 autocast vs fp32, 16 conversations (~5 min)
    .venv/bin/python bench/train.py --quick --threads     # only SFT on every thread vs one OpenMP thread (~7 min)

1. sft.tokens_per_s: SFT throughput on the clinic example's rendered conversations (retrieved
   context included), counting real tokens only (no padding). Baseline: TRL's SFTTrainer with its
   default settings -- no packing, batch 8 padded to the longest row, gradient checkpointing,
   loss on every token -- and the same LoRA, on the same rows (mixed bf16 on a GPU that has it, as
   TRL defaults to; off on a CPU, where TRL's default fails). Ours: Tailor's run_sft settings (packed padding-free rows, assistant-only loss with logits
   for the answer positions only, no checkpointing). Target: ours >= 1.5x the baseline.
   Also reported: measured / floor, where floor = matmul FLOP/s of this machine (a timed 2048^3
   torch.matmul) / matmul FLOPs per token. Per token a LoRA step does 2 FLOPs per parameter forward,
   2 backward for the activation gradients, and 2 more for weight gradients of trainable (LoRA)
   parameters only: 4 x frozen + 6 x LoRA parameters (the tied embedding counts once, as the LM
   head; attention's own products are left out, so the floor is slightly optimistic).
2. dpo.seconds_per_step: Tailor's DPO step (batch 4, LoRA over the SFT adapter, reference = the
   frozen adapter copy) against TRL's DPOTrainer defaults on the same pairs (gradient checkpointing,
   max_length 1024; learning rate as Tailor's, since the default barely moves LoRA).
3. sft.precision_tokens_per_s (--precision, a CPU with native bf16): Tailor's run_sft with
   builder.precision auto (bf16 autocast over fp32 weights) against the same run in fp32, same rows.
4. sft.threads_tokens_per_s (--threads): run_sft after the data stage's knowledge-base searches,
   as a build runs it, against the same run with OpenMP left at one thread, as loading an index
   once left it (FAISS and torch share one OpenMP runtime).
5. build.wall_s (--e2e): `tailor build` of a fresh copy of examples/clinic; target 15 minutes.
   Baseline: the same build's sum of stage times recorded in the previous figure, if any (for trend only).
Every figure is printed and appended to bench/results.jsonl.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

from _results import make_recorder  # noqa: E402  (bench/ is on sys.path when a script runs)
from builder import use_bf16  # noqa: E402  (TRL's own default: bf16 where the GPU has it, never on a CPU)

EXAMPLE = ROOT / "examples" / "clinic"
DEVICE = f"on {torch.cuda.get_device_name(0)}, bf16" if torch.cuda.is_available() else f"on {os.cpu_count()} CPU cores, fp32"
WEIGHTS_NOTE = os.environ.get("TAILOR_BENCH_WEIGHTS_NOTE", "")  # e.g. 'random weights, real architecture'
_record = make_recorder("bench/train.py")


def record(name: str, value: float, unit: str, baseline: float | None, note: str = "") -> None:
    """bench/_results.py's recorder, with the device (and any weights caveat) in every note."""
    _record(name, value, unit, baseline, "; ".join(x for x in (note, DEVICE, WEIGHTS_NOTE) if x))


def matmul_flops(n: int = 2048, repeats: int = 10) -> float:
    """Matmul FLOP/s of the device training runs on: fp32 on a CPU, bf16 on a GPU (as Tailor trains)."""
    cuda = torch.cuda.is_available()
    if cuda:
        n, repeats = 8192, 20
    kw = {"device": "cuda", "dtype": torch.bfloat16} if cuda else {}
    a, b = torch.randn(n, n, **kw), torch.randn(n, n, **kw)
    for _ in range(2):
        a @ b
    if cuda:
        torch.cuda.synchronize()
    t = time.perf_counter()
    for _ in range(repeats):
        a @ b
    if cuda:
        torch.cuda.synchronize()
    return 2 * n**3 * repeats / (time.perf_counter() - t)


def peak_gib() -> float:
    """Peak GPU memory allocated since the last call, in GiB (0 on a CPU); frees the cache."""
    if not torch.cuda.is_available():
        return 0.0
    import gc

    gc.collect()
    peak = torch.cuda.max_memory_allocated() / 2**30
    torch.cuda.empty_cache()
    torch.cuda.reset_peak_memory_stats()
    return peak


def prepared_folder(tmp: Path) -> tuple[Path, object]:
    """A copy of the clinic example with its index and rendered training rows (the data stage)."""
    from builder import build
    from builder.config import load_config

    folder = tmp / "clinic"
    shutil.copytree(EXAMPLE, folder, ignore=shutil.ignore_patterns("build", "feedback"))
    cfg = load_config(folder)
    build(folder, cfg, only="index", quiet=True)
    build(folder, cfg, only="base", quiet=True)
    build(folder, cfg, only="data", quiet=True)
    return folder, cfg


def sft_tokens_per_s(rows, cfg, base: str, ours: bool, out: Path) -> tuple[float, int, float]:
    """(real tokens/s, real tokens, seconds) for one epoch over `rows`."""
    from datasets import Dataset
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import SFTConfig, SFTTrainer

    from builder import lora_config, run_sft

    if ours:
        result = run_sft(base, rows, cfg, out / "adapter", out / "ckpt", key="bench")
        return result["tokens_per_s"], result["train_tokens"], result["train_seconds"]
    tokenizer = AutoTokenizer.from_pretrained(base)
    model = AutoModelForCausalLM.from_pretrained(base, dtype=torch.float32)
    args = SFTConfig(output_dir=str(out / "baseline"), num_train_epochs=1, per_device_train_batch_size=8, bf16=use_bf16(),
                     report_to="none", save_strategy="no", logging_steps=1)  # fmt: skip
    trainer = SFTTrainer(model=model, args=args, train_dataset=Dataset.from_list([{"messages": r["messages"]} for r in rows]),
                         processing_class=tokenizer, peft_config=lora_config(cfg))  # fmt: skip
    n_tokens = sum(len(ids) for ids in trainer.train_dataset["input_ids"])
    t = time.perf_counter()
    trainer.train()
    seconds = time.perf_counter() - t
    return n_tokens / seconds, n_tokens, seconds


def precision_tokens_per_s(rows, cfg, base: str, tmp: Path) -> None:
    """SFT with builder.precision auto against fp32, on the same rows in one process (fp32 first)."""
    from builder import run_sft, training_precision

    auto = training_precision(cfg.builder.precision)
    if auto == "fp32":
        print(f"builder.precision auto is fp32 on this machine ({DEVICE}): nothing to compare")
        return
    fp32 = cfg.model_copy(deep=True)
    fp32.builder.precision = "fp32"
    runs = {name: run_sft(base, rows, c, tmp / name / "adapter", tmp / name / "ckpt", key="bench") for name, c in (("fp32", fp32), ("auto", cfg))}
    a, b = runs["auto"], runs["fp32"]
    record("sft.precision_tokens_per_s", a["tokens_per_s"], "tokens/s", b["tokens_per_s"],
           f"run_sft with builder.precision auto ({auto}) vs fp32; {len(rows)} clinic conversations, {a['train_tokens']} real tokens; "
           f"train loss {a['train_loss']} vs {b['train_loss']}")


def threads_tokens_per_s(rows, cfg, base: str, tmp: Path) -> None:
    """SFT as a build now runs it, after knowledge-base searches (FAISS on one OpenMP thread per
    search, the count restored), against the same run with the OpenMP thread count left at 1, as
    every build had it once the data stage loaded the index: FAISS and torch share one OpenMP runtime."""
    import faiss

    from builder import run_sft

    threads = torch.get_num_threads()
    ours = run_sft(base, rows, cfg, tmp / "threads" / "adapter", tmp / "threads" / "ckpt", key="bench")
    faiss.omp_set_num_threads(1)
    try:
        one = run_sft(base, rows, cfg, tmp / "one-thread" / "adapter", tmp / "one-thread" / "ckpt", key="bench")
    finally:
        faiss.omp_set_num_threads(threads)
    record("sft.threads_tokens_per_s", ours["tokens_per_s"], "tokens/s", one["tokens_per_s"],
           f"run_sft on {threads} torch threads after the data stage's searches vs OpenMP left at 1 thread (FAISS's setting at "
           f"index load before); {len(rows)} clinic conversations, {ours['train_tokens']} real tokens; train loss "
           f"{ours['train_loss']} vs {one['train_loss']}")


def lora_params(cfg, base: str) -> tuple[int, int]:
    from peft import get_peft_model
    from transformers import AutoModelForCausalLM

    from builder import lora_config

    model = get_peft_model(AutoModelForCausalLM.from_pretrained(base), lora_config(cfg))
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    frozen = sum(p.numel() for p in model.parameters() if not p.requires_grad)
    return frozen, trainable


def dpo_seconds_per_step(pairs, cfg, base: str, sft_adapter: str, ours: bool, out: Path) -> float:
    from datasets import Dataset
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import DPOConfig, DPOTrainer

    from builder import run_dpo

    if ours:
        result = run_dpo(base, sft_adapter, pairs, [], cfg, out / "dpo", out / "dpo-work")
        return result["seconds_per_step"]
    tokenizer = AutoTokenizer.from_pretrained(base)
    model = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(base), sft_adapter, is_trainable=True)
    args = DPOConfig(output_dir=str(out / "dpo-baseline"), per_device_train_batch_size=cfg.builder.dpo.batch_size, bf16=use_bf16(),
                     learning_rate=cfg.builder.dpo.learning_rate, report_to="none", save_strategy="no", logging_steps=1)  # fmt: skip
    ds = Dataset.from_list([{k: p[k] for k in ("prompt", "chosen", "rejected")} for p in pairs])
    trainer = DPOTrainer(model=model, args=args, train_dataset=ds, processing_class=tokenizer)
    t = time.perf_counter()
    result = trainer.train()
    return (time.perf_counter() - t) / max(1, result.global_step)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="16 conversations, 8 DPO pairs")
    parser.add_argument("--e2e", action="store_true", help="also time `tailor build examples/clinic` end to end")
    parser.add_argument("--precision", action="store_true", help="only SFT tokens/s with builder.precision auto vs fp32 (CPU)")
    parser.add_argument("--threads", action="store_true", help="only SFT tokens/s on every torch thread vs one OpenMP thread")
    args = parser.parse_args()
    n_rows, n_pairs = (16, 8) if args.quick else (48, 16)
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "none"
    print(f"torch threads: {torch.get_num_threads()}; CPU: {os.cpu_count()} cores; GPU: {gpu}")

    from knowledge.files import read_jsonl

    with tempfile.TemporaryDirectory(prefix="tailor-bench-") as tmp:
        tmp = Path(tmp)
        folder, cfg = prepared_folder(tmp)
        from chat.models import resolve_model

        base = resolve_model(cfg.builder.base_model)
        rows = read_jsonl(folder / "build" / "data" / "sft_train.jsonl")[:n_rows]

        print(f"torch threads after the data stage's searches: {torch.get_num_threads()}")
        if args.precision:
            precision_tokens_per_s(rows, cfg, base, tmp)
            return
        if args.threads:
            threads_tokens_per_s(rows, cfg, base, tmp)
            return

        # 3. The whole build, as a user runs it; first, while this process holds no GPU memory.
        if args.e2e:
            fresh = tmp / "e2e"
            shutil.copytree(EXAMPLE, fresh, ignore=shutil.ignore_patterns("build", "feedback"))
            t = time.perf_counter()
            subprocess.run([sys.executable, "-m", "app", "build", str(fresh)], cwd=ROOT, check=True)
            wall = time.perf_counter() - t
            manifest = json.loads((fresh / "build" / "manifest.json").read_text())
            ev = manifest["record"].get("evaluation", {})
            note = (f"target 900 s; held-out eval loss {ev.get('base', {}).get('eval_loss')} -> {ev.get('tuned', {}).get('eval_loss')}, "
                    f"token F1 {ev.get('base', {}).get('token_f1')} -> {ev.get('tuned', {}).get('token_f1')}")  # fmt: skip
            record("build.wall_s", wall, "s", 900.0, note)
            t = time.perf_counter()
            subprocess.run([sys.executable, "-m", "app", "build", str(fresh)], cwd=ROOT, check=True)
            record("build.rebuild_wall_s", time.perf_counter() - t, "s", wall, "second run, nothing changed")

        # 1. SFT throughput: baseline first, then ours, same rows, same process.
        base_tps, base_tokens, base_s = sft_tokens_per_s(rows, cfg, base, ours=False, out=tmp)
        base_peak = peak_gib()
        ours_tps, ours_tokens, ours_s = sft_tokens_per_s(rows, cfg, base, ours=True, out=tmp)
        ours_peak = peak_gib()
        note = f"{len(rows)} clinic conversations with retrieved context; {ours_tokens} real tokens in {ours_s:.0f}s vs {base_tokens} in {base_s:.0f}s"
        if torch.cuda.is_available():
            note += f"; peak GPU memory {ours_peak:.1f} GiB vs {base_peak:.1f} GiB"
        record("sft.tokens_per_s", ours_tps, "tokens/s", base_tps, note + "; baseline = TRL SFTTrainer defaults (no packing, batch 8, grad ckpt, same LoRA)")
        if torch.cuda.is_available():  # the GPU batching against the CPU's (1 row per pass, 2 per update)
            cpu_like = cfg.model_copy(deep=True)
            cpu_like.builder.sft.batch_size, cpu_like.builder.sft.gradient_accumulation = 1, 2
            cpu_tps, _, _ = sft_tokens_per_s(rows, cpu_like, base, ours=True, out=tmp / "cpu-batching")
            record("sft.gpu_batching_tokens_per_s", ours_tps, "tokens/s", cpu_tps,
                   f"ours with the GPU default {cfg.builder.sft.batching(gpu=True)} (rows per pass, per update) vs the CPU default (1, 2)")
        flops = matmul_flops()
        frozen, trainable = lora_params(cfg, base)
        floor = flops / (4 * frozen + 6 * trainable)
        record("sft.measured_over_floor", ours_tps / floor, "ratio", None,
               f"floor {floor:.0f} tokens/s = {flops / 1e9:.0f} GFLOP/s / (4 x {frozen / 1e6:.0f}M frozen + 6 x {trainable / 1e6:.1f}M LoRA) FLOPs/token")  # fmt: skip

        # 2. DPO seconds per step on the user's pairs, from the SFT adapter just trained.
        pairs = read_jsonl(folder / "build" / "data" / "pairs.jsonl")[:n_pairs]
        base_dpo = dpo_seconds_per_step(pairs, cfg, base, str(tmp / "adapter"), ours=False, out=tmp)
        ours_dpo = dpo_seconds_per_step(pairs, cfg, base, str(tmp / "adapter"), ours=True, out=tmp)
        record("dpo.seconds_per_step", ours_dpo, "s/step", base_dpo,
               f"batch {cfg.builder.dpo.batch_size} pairs, max_length {cfg.builder.dpo.max_length}; baseline = TRL DPOTrainer defaults (grad ckpt, max_length 1024)")  # fmt: skip


if __name__ == "__main__":
    main()
