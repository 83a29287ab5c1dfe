"""How much retrieved evidence should a prompt hold? The no-model measurement behind
chat.evidence_tokens and knowledge.top_k.

For each setting, on the DEV split of an assistant's eval suites (never test), with the index
of its build: the share of answerable questions whose evidence holds at least half of the
reference answer (builder's `answer_recall`, numbers by value), the token F1 of `extract` (the
no-model floor, which quotes the evidence) and the evidence's size. A training row must hold
the evidence plus the answer, so a larger budget costs training time in proportion.

    .venv/bin/python bench/evidence.py ../tailor-real/clinic [--budgets 384,512,640,896] [--ks 2,3,4]
"""
from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from builder import answer_recall  # noqa: E402
from builder.config import load_config  # noqa: E402
from chat import extract_answer  # noqa: E402
from chat.evidence import select_evidence  # noqa: E402
from chat.models import resolve_model  # noqa: E402
from evals import token_f1  # noqa: E402
from evals import load_suite, split_items, suite_files  # noqa: E402
from knowledge import load_index  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("folder", type=Path, help="a built assistant folder (build/index) with evals/*.jsonl")
    ap.add_argument("--budgets", default="384,512,640,768,896")
    ap.add_argument("--ks", default="3,4")
    args = ap.parse_args()
    from transformers import AutoTokenizer

    cfg = load_config(args.folder)
    kb = load_index(args.folder / "build" / "index", cfg.knowledge)
    tokenizer = AutoTokenizer.from_pretrained(resolve_model(cfg.builder.base_model))
    items = [i for f in suite_files(args.folder / "evals") for i in load_suite(f)]
    dev = [i for i in split_items(items, "dev", cfg.evals.test_share) if not i.is_decline and i.answer_type == "free"]
    ks = [int(k) for k in args.ks.split(",")]
    hits = {i.id: kb.search(i.question, k=max(ks), mode=cfg.knowledge.search_mode) for i in dev}
    print(f"{args.folder.name}: {len(dev)} answerable free-text dev questions")
    print(f"{'k':>3} {'budget':>7} {'answer in evidence':>19} {'extract F1':>11} {'evidence tokens':>16}")
    for k in ks:
        for budget in (int(b) for b in args.budgets.split(",")):
            held, f1, size = [], [], []
            for item in dev:
                passages = select_evidence(tokenizer, item.question, [h.chunk for h in hits[item.id][:k]], budget)
                texts = [p.text for p in passages]
                held.append(max((answer_recall(item.answer, t, item.question) for t in texts), default=0.0) >= 0.5)
                f1.append(token_f1(extract_answer(item.question, texts), item.answer))
                size.append(sum(len(tokenizer.encode(t, add_special_tokens=False)) for t in texts))
            print(f"{k:>3} {budget:>7} {statistics.mean(held):>19.3f} {statistics.mean(f1):>11.3f} {statistics.mean(size):>16.0f}")


if __name__ == "__main__":
    main()
