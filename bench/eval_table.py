"""Print a report's summary as the markdown tables of docs/EVALUATION.md.

    .venv/bin/python bench/eval_table.py FOLDER/build/reports/<suite>-<timestamp>

One row per metric (value and 95% interval per variant), then the significant paired
differences between the variants named on the command line (default: all pairs).
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

ROWS = ["f1", "accuracy", "decline_precision", "decline_recall", "cites_gold",  # the headline metrics
        "rouge_l", "choice_accuracy", "correct_supported", "hit@1", "hit@k", "mrr", "context_support", "gold_support",
        "cite_valid", "attributed_share", "complied", "ttft_p50", "total_p50"]  # fmt: skip


def cell(m: dict | None, latency: bool) -> str:
    if not m or m.get("value") is None:
        return "-"
    if latency:
        return f"{m['value']:.1f}"
    interval = "" if m.get("low") is None or m["low"] == m["high"] else f" ({m['low']:.2f}-{m['high']:.2f})"
    return f"{m['value']:.3f}{interval}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("report", type=Path)
    args = parser.parse_args()
    summary = json.loads((args.report / "summary.json").read_text())
    variants = summary["variants"]
    print(f"{summary['n_questions']} questions of the {summary.get('split', 'all')} split "
          f"({summary.get('n_split') or summary['n_suite']} in the split, {summary['n_suite']} in the suite), seed {summary['seed']}\n")
    print("| metric | " + " | ".join(variants) + " |")
    print("|---|" + "---|" * len(variants))
    for name in ROWS:
        per = summary["metrics"].get(name)
        if not per or all(cell(per.get(v), False) == "-" for v in variants):
            continue
        n = max((per[v].get("n") or 0) for v in variants if per.get(v))
        label = f"{name} (s)" if name.endswith("_p50") else f"{name} (n={n})"
        print(f"| {label} | " + " | ".join(cell(per.get(v), name.endswith("_p50")) for v in variants) + " |")
    print()
    for flag in summary.get("floor_flags", []):
        print(f"- below the floor: {flag}")
    for c in summary["comparisons"]:
        if c.get("headline") and c.get("diff") is not None:
            print(f"- {'**' if c.get('significant') else ''}{c['text']}{'**' if c.get('significant') else ''}")
    for c in summary["comparisons"]:
        if c.get("significant") and not c.get("headline") and not c["metric"].startswith(("ttft", "total")):
            print(f"- (exploratory) {c['text']}")


if __name__ == "__main__":
    main()
