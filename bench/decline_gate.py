"""The decline gate on real data: how many decline-labelled questions chat declines before any
model runs, and how many answerable ones, by the calibrated similarity threshold alone (the
baseline) and with the coverage check (chat._coverage) after it.

    .venv/bin/python bench/decline_gate.py                                   # indexes copies of ../shared/data/* (~3 min each on 2 cores)
    .venv/bin/python bench/decline_gate.py --index clinic=/tmp/tailor-real/clinic/build/index

For each domain: the threshold is calibrated the way `tailor build` does (builder._calibrate, on
the user questions of data/conversations.jsonl, never on the eval suite); then every question of
the suite's dev split (evals splits by a hash of the id) goes through Assistant's own gate.
Figures are appended to bench/results.jsonl.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # before bench/ (on sys.path as the script's folder), whose chat.py would shadow chat/

from _results import make_recorder  # noqa: E402


def gate(folder: Path, index: Path, split: str, k: int, mode: str) -> dict:
    from builder import calibrate
    from chat import Assistant, retrieval_query
    from evals import load_suite, split_items
    from knowledge import load_index

    kb = load_index(index)
    questions = [json.loads(line)["messages"][0]["content"] for line in (folder / "data" / "conversations.jsonl").open(encoding="utf-8")]
    cal = calibrate(kb, questions, k, mode)
    assistant = Assistant(name=folder.name, base_model="unused", kb=kb, threshold=cal.threshold, retrieval={"k": k, "mode": mode})
    items = [it for path in sorted((folder / "evals").glob("*.jsonl")) for it in split_items(load_suite(path), split)]
    out = {"threshold": cal.threshold, "calibration": cal.stats, "decline": [0, 0, 0], "answerable": [0, 0, 0], "examples": []}
    for it in items:
        hits = assistant._search(retrieval_query(it.question, []))
        best = max((h.similarity for h in hits), default=None)
        reason = assistant._decline_reason(it.question, best, hits)
        row = out["decline" if it.is_decline else "answerable"]
        row[0] += 1
        row[1] += reason == "similarity"
        row[2] += reason is not None
        if reason and reason != "similarity":
            out["examples"].append(f"{'decline' if it.is_decline else 'ANSWERABLE'}: {it.question[:90]} -> {reason}")
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data", help="folder of assistant folders (default ../shared/data)")
    parser.add_argument("--index", action="append", default=[], help="NAME=INDEX_DIR: use a built index (read only) instead of indexing a copy")
    parser.add_argument("--split", default="dev", choices=["dev", "test", "all"])
    parser.add_argument("--k", type=int, default=4)
    parser.add_argument("--mode", default="hybrid")
    args = parser.parse_args()
    given = dict(pair.split("=", 1) for pair in args.index)
    record = make_recorder("bench/decline_gate.py")
    for folder in sorted(p for p in args.data.iterdir() if (p / "evals").is_dir()):
        with tempfile.TemporaryDirectory() as tmp:
            index = Path(given[folder.name]) if folder.name in given else None
            if index is None:
                from knowledge import build_index

                index = Path(tmp) / "index"
                shutil.copytree(folder / "docs", Path(tmp) / "docs")
                build_index(Path(tmp) / "docs", index, progress=False)
            r = gate(folder, index, args.split, args.k, args.mode)
        c = r["calibration"]
        (n_dec, dec_sim, dec_both), (n_ans, ans_sim, ans_both) = r["decline"], r["answerable"]
        print(f"\n{folder.name} ({args.split} split): threshold {r['threshold']:.4f}, coverage check {'on' if c.get('coverage') else 'off'}")
        print(f"  decline questions declined:    similarity {dec_sim}/{n_dec}, with coverage {dec_both}/{n_dec}")
        print(f"  answerable questions declined: similarity {ans_sim}/{n_ans}, with coverage {ans_both}/{n_ans}")
        print(f"  calibration: in-domain answered {c.get('in_domain_answered')}, general declined {c.get('general_declined')}, "
              f"near-domain ({c.get('near_domain')}) declined {c.get('near_domain_declined_similarity')} by similarity, "
              f"{c.get('near_domain_declined')} with coverage")
        for line in r["examples"]:
            print("   ", line)
        record(f"decline_gate.{folder.name}.decline_recall", dec_both / max(1, n_dec), "share", baseline=dec_sim / max(1, n_dec) or None,
               note=f"{args.split} split, n={n_dec}; baseline: similarity alone")
        record(f"decline_gate.{folder.name}.answerable_declined", ans_both / max(1, n_ans), "share", baseline=ans_sim / max(1, n_ans) or None,
               note=f"{args.split} split, n={n_ans}; baseline: similarity alone")


if __name__ == "__main__":
    main()
