"""Benchmark for `tailor eval`: questions per second per variant with batched answering
(evals.batch_size, default 8 on a CPU) against the unbatched runner (evals.batch_size: 1, how
`tailor eval` answered before), in the same run, on the same questions and warm Assistant;
and whether the two wrote the same answers.

    .venv/bin/python bench/eval.py                  # 17 questions x each variant
    .venv/bin/python bench/eval.py --quick          # 9 questions (the first answered alone, then 8 at once)
    .venv/bin/python bench/eval.py --folder DIR     # another assistant folder (a built one adds tuned variants)
    .venv/bin/python bench/eval.py --quick --variants base+rag

Figures:
- eval.qps.VARIANT: questions per second of run_eval at the default batch size, vs batch size 1;
  target >= 3x for base+rag.
- eval.same_answers.VARIANT: share of questions whose answer text is identical at both batch
  sizes (greedy decoding: target 1.0).
- eval.outside_answering_share: 1 - (wall time spent waiting for answers) / run_eval wall time
  for all variants in one batched run (scoring, groundedness, results.jsonl, report); target
  under 10%. The baseline is the same share at batch size 1.
Every figure is printed with its baseline and ratio and appended to bench/results.jsonl.
"""
from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from builder.config import load_config  # noqa: E402
from chat import Assistant  # noqa: E402
from evals import batch_size, load_suite, run_eval, sample_items  # noqa: E402
from knowledge import build_index  # noqa: E402

from _results import make_recorder  # noqa: E402  (bench/ is on sys.path when a script runs)
COMMAND = "bench/eval.py"
EXAMPLE = ROOT / "examples" / "clinic"


record = make_recorder(COMMAND)


def prepared_folder(source: Path, tmp: Path) -> Path:
    """A copy of the assistant folder (its build/ kept when there is one, else a fresh index)."""
    folder = tmp / source.name
    shutil.copytree(source, folder, ignore=shutil.ignore_patterns("reports", "feedback"))
    if not (folder / "build" / "index").is_dir():
        cfg = load_config(folder)
        build_index(folder / "docs", folder / "build" / "index", cfg.knowledge, progress=False)
    return folder


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="9 questions instead of 17")
    parser.add_argument("--folder", type=Path, default=EXAMPLE, help="assistant folder with evals/*.jsonl")
    parser.add_argument("--limit", type=int, default=None, help="questions per variant (default 17, or 9 with --quick)")
    parser.add_argument("--variants", default=None, help="comma-separated (default: the configured ones the build has)")
    parser.add_argument("--batch-size", type=int, default=None, help="batched side (default: evals.batch_size, else 8 on a CPU)")
    args = parser.parse_args()
    n = args.limit or (9 if args.quick else 17)

    with tempfile.TemporaryDirectory(prefix="tailor-bench-eval-") as tmp:
        folder = prepared_folder(args.folder, Path(tmp))
        cfg = load_config(folder)
        assistant = Assistant.load(folder, cfg.serving())
        wanted = args.variants.split(",") if args.variants else cfg.evals.variants
        variants = [v for v in wanted if v in assistant.variants]
        items = sample_items(load_suite(folder / "evals"), n, cfg.evals.seed)
        batch = batch_size(args.batch_size or cfg.evals.batch_size)
        at = {size: cfg.model_copy(update={"evals": cfg.evals.model_copy(update={"batch_size": size})}) for size in (1, batch)}
        print(f"{folder.name}: {len(items)} questions x {', '.join(variants)}; batch size {batch} vs 1; "
              f"OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', 'unset')}", flush=True)

        # Warm every variant once (model weights, embedder), so neither side times loading.
        for v in variants:
            assistant.answer(items[0].question, variant=v)

        def timed(size: int, vs: list[str]):
            started = time.perf_counter()
            report = run_eval(folder, at[size].evals, cfg.serving(), variants=vs, limit=n, progress=False, assistant=assistant)
            return report, time.perf_counter() - started

        for v in variants:
            one, wall_one = timed(1, [v])
            many, wall_many = timed(batch, [v])
            record(f"eval.qps.{v}", len(items) / wall_many, "questions/s", len(items) / wall_one,
                   note=f"batch size {batch} vs 1; {len(items)} questions; {wall_many:.1f} s vs {wall_one:.1f} s")
            texts = {r["id"]: r["answer"] for r in one.records}
            same = sum(texts.get(r["id"]) == r["answer"] for r in many.records) / len(items)
            record(f"eval.same_answers.{v}", same, "share of questions", None, note=f"batch size {batch} vs 1; target 1.0")

        shares = {}
        for size in (1, batch):
            report, wall = timed(size, variants)
            t = report.timing
            shares[size] = (1 - t["answering_s"] / wall, wall, t)
        share, wall, t = shares[batch]
        record("eval.outside_answering_share", share, "share of wall time", shares[1][0],
               note=f"{len(items)} questions x {len(variants)} variants at batch size {batch}: {wall:.1f} s wall, "
                    f"answering {t['answering_s']:.1f} s, scoring {t['scoring_s']:.1f} s, report {t['report_s']:.1f} s; "
                    f"baseline: batch size 1, {shares[1][1]:.1f} s wall; target < 0.10")


if __name__ == "__main__":
    main()
