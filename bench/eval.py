"""Benchmark for `tailor eval`: questions per second per variant, and the share of eval time
spent outside answering, each against a baseline measured in the same run.

    .venv/bin/python bench/eval.py                  # 12 questions x each variant (~15 min on 2 CPU cores)
    .venv/bin/python bench/eval.py --quick          # 4 questions (~4 min)
    .venv/bin/python bench/eval.py --folder DIR     # another assistant folder (a built one adds tuned variants)

Baseline: the bare answering loop, `Assistant.answer(question, variant=v)` for the same
questions on the same warm Assistant, nothing else. Ours: `evals.run_eval` on the same
questions and Assistant (scoring, groundedness embeddings, results.jsonl, bootstrap, report
with charts). Figures:
- eval.qps.VARIANT: questions per second of run_eval for one variant, vs the bare loop.
- eval.outside_answering_share: 1 - (sum of the answers' own total_s) / run_eval wall time,
  for all variants in one run; target under 10%. The baseline is the same share for the bare loop.
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
from evals import load_suite, read_results, run_eval, sample_items  # noqa: E402
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
    parser.add_argument("--quick", action="store_true", help="4 questions instead of 12")
    parser.add_argument("--folder", type=Path, default=EXAMPLE, help="assistant folder with evals/*.jsonl")
    parser.add_argument("--limit", type=int, default=None, help="questions per variant (default 12, or 4 with --quick)")
    args = parser.parse_args()
    n = args.limit or (4 if args.quick else 12)

    with tempfile.TemporaryDirectory(prefix="tailor-bench-eval-") as tmp:
        folder = prepared_folder(args.folder, Path(tmp))
        cfg = load_config(folder)
        assistant = Assistant.load(folder, cfg)
        variants = [v for v in cfg.evals.variants if v in assistant.variants]
        items = sample_items(load_suite(folder / "evals"), n, cfg.evals.seed)
        print(f"{folder.name}: {len(items)} questions x {', '.join(variants)}; torch threads {os.cpu_count()} cores", flush=True)

        # Warm every variant once (model weights, embedder), so neither side times loading.
        for v in variants:
            assistant.answer(items[0].question, variant=v)

        bare_wall: dict[str, float] = {}
        bare_answer_s: dict[str, float] = {}
        for v in variants:
            started = time.perf_counter()
            answers = [assistant.answer(it.question, variant=v) for it in items]
            bare_wall[v] = time.perf_counter() - started
            bare_answer_s[v] = sum(a.timings.get("total_s", 0.0) for a in answers)

        eval_wall: dict[str, float] = {}
        for v in variants:
            started = time.perf_counter()
            run_eval(folder, cfg, variants=[v], limit=n, progress=False, assistant=assistant)
            eval_wall[v] = time.perf_counter() - started
            record(f"eval.qps.{v}", len(items) / eval_wall[v], "questions/s", len(items) / bare_wall[v])

        started = time.perf_counter()
        report = run_eval(folder, cfg, variants=variants, limit=n, progress=False, assistant=assistant)
        wall = time.perf_counter() - started
        answer_s = sum((r.get("timings") or {}).get("total_s") or 0.0 for r in read_results(report.dir / "results.jsonl"))
        bare_share = 1 - sum(bare_answer_s.values()) / sum(bare_wall.values())
        t = report.timing
        record("eval.outside_answering_share", 1 - answer_s / wall, "share of wall time", bare_share,
               note=f"{len(items)} questions x {len(variants)} variants, {wall:.1f} s wall, {answer_s:.1f} s answering "
                    f"(answer() calls {t['answering_s']:.1f} s), scoring {t['scoring_s']:.1f} s, report {t['report_s']:.1f} s; "
                    "target < 0.10")


if __name__ == "__main__":
    main()
