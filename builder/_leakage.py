"""Leakage: training targets that hold an eval question or its reference answer.

An eval suite measures the assistant only while its questions and answers stay out of
training. Synthesized questions were always checked against eval questions; a user's own
conversations, preference pairs and app votes are just as likely to hold an eval item (the
shared clinic data: 10 of 150 free eval references are verbatim training answers of other
questions, 38 are rejected answers of preference pairs). So the data stage checks every text
it would train on, whatever its source:

- a shared run of NGRAM normalised words with any eval question or reference (the test
  GPT-3 and later decontamination work use; 13 words is long enough that two texts only share
  it by copying, short enough to catch a copied sentence);
- for the questions a row asks, the eval question itself (normalised) or one whose embedding
  is at least QUESTION_SIMILARITY close (the synthesizer's duplicate threshold).

Leaked rows are dropped and counted by source and reason; the counts go to the manifest.
`tailor eval` runs the same n-gram check on what a build actually trained on (build/data/),
so a suite edited after the build still gets its warning.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable

import numpy as np

from evals import normalize_answer

NGRAM = 13  # words in a run shared with an eval text that marks a training text as leaked
QUESTION_SIMILARITY = 0.85  # cosine at or above this: the same question (builder._synthesize.DUPLICATE_SIMILARITY)

REASON_TEXT = "shares a 13-word run with an eval question or reference"
REASON_QUESTION = "asks an eval question"


@dataclass
class EvalTexts:
    """What must stay out of training: every eval question and every reference answer."""

    questions: list[str] = field(default_factory=list)
    references: list[str] = field(default_factory=list)
    suites_hash: str = ""

    @property
    def empty(self) -> bool:
        return not self.questions and not self.references


def read_eval_texts(evals_dir: Path) -> EvalTexts:
    """Questions and references of every evals/*.jsonl line that has them. Bad lines are
    `tailor eval`'s to report; here they are skipped so they never block a build."""
    out, digest = EvalTexts(), hashlib.sha256()
    for path in sorted(Path(evals_dir).glob("*.jsonl")) if Path(evals_dir).is_dir() else []:
        raw = path.read_bytes()
        digest.update(path.name.encode() + b"\0" + raw)
        for line in raw.decode("utf-8", errors="replace").splitlines():
            try:
                row = json.loads(line)
            except json.JSONDecodeError:
                continue
            if not isinstance(row, dict):
                continue
            if isinstance(row.get("question"), str) and row["question"].strip():
                out.questions.append(row["question"])
            if isinstance(row.get("answer"), str) and row["answer"].strip():
                out.references.append(row["answer"])
    out.suites_hash = digest.hexdigest()[:16]
    return out


def _grams(text: str, n: int = NGRAM) -> set[str]:
    words = normalize_answer(text).split()
    return {" ".join(words[i:i + n]) for i in range(len(words) - n + 1)}


class LeakChecker:
    """Answers "does this training text or question leak an eval item?" for many texts quickly."""

    def __init__(self, evals: EvalTexts, encode: Callable[[list[str]], np.ndarray] | None = None):
        self.grams: set[str] = set()
        for text in [*evals.questions, *evals.references]:
            self.grams |= _grams(text)
        self.questions = {normalize_answer(q) for q in evals.questions}
        self.encode = encode
        self.vectors = encode(evals.questions) if encode is not None and evals.questions else None

    def text_leaks(self, text: str) -> bool:
        """True when the text shares a run of NGRAM normalised words with an eval text."""
        return bool(self.grams) and not self.grams.isdisjoint(_grams(text))

    def questions_leak(self, questions: list[str]) -> list[bool]:
        """Per question: it is an eval question, word for word or by embedding."""
        same = [normalize_answer(q) in self.questions for q in questions]
        if self.vectors is None or not questions:
            return same
        sims = np.asarray(self.encode(questions)) @ np.asarray(self.vectors).T
        return [s or bool(row.max() >= QUESTION_SIMILARITY) for s, row in zip(same, sims)]


@dataclass
class LeakReport:
    """What the data stage dropped, by where it came from and why; `examples` shows a few."""

    checked: dict = field(default_factory=dict)  # source -> items checked
    dropped: dict = field(default_factory=dict)  # source -> items dropped
    reasons: dict = field(default_factory=dict)  # reason -> items dropped
    examples: list = field(default_factory=list)
    suites_hash: str = ""

    def add(self, source: str, reason: str | None, what: str) -> None:
        self.checked[source] = self.checked.get(source, 0) + 1
        if reason is None:
            return
        self.dropped[source] = self.dropped.get(source, 0) + 1
        self.reasons[reason] = self.reasons.get(reason, 0) + 1
        if len(self.examples) < 5:
            self.examples.append({"source": source, "reason": reason, "text": what[:160]})

    def to_dict(self) -> dict:
        return {"ngram": NGRAM, "question_similarity": QUESTION_SIMILARITY, "checked": self.checked,
                "dropped": self.dropped, "reasons": self.reasons, "examples": self.examples,
                "trained_on_leaked": 0, "eval_suites": self.suites_hash}

    def summary(self) -> str:
        total = sum(self.dropped.values())
        if not total:
            return f"leakage check: 0 of {sum(self.checked.values())} training items hold an eval question or answer"
        by = ", ".join(f"{v} {k}" for k, v in self.dropped.items())
        why = ", ".join(f"{v} {k}" for k, v in self.reasons.items())
        return f"leakage check: dropped {total} of {sum(self.checked.values())} training items ({by}): {why}"


def _conversation_source(conv) -> str:
    return "synthesized" if conv.extra.get("synthesized") else "conversations"


def _pair_source(pair) -> str:
    return {"user": "preferences", "feedback": "votes"}.get(pair.source, pair.source)


def drop_leaks(convs: list, pairs: list, checker: LeakChecker, report: LeakReport) -> tuple[list, list]:
    """Conversations and preference pairs with every leaked one removed (counted in `report`).

    A conversation leaks when any user question is an eval question or any message shares a
    13-word run with an eval text; a pair when its question does, or its chosen or rejected
    answer shares such a run (a rejected answer is trained on too: DPO pushes it down).
    """
    conv_questions = [[m["content"] for m in c.messages if m["role"] == "user"] for c in convs]
    pair_questions = [[m["content"] for m in p.prompt if m["role"] == "user"] for p in pairs]
    flat = [q for qs in conv_questions + pair_questions for q in qs]
    asked = dict(zip(flat, checker.questions_leak(flat)))

    def reason(questions: list[str], texts: Iterable[str]) -> str | None:
        if any(asked.get(q) for q in questions):
            return REASON_QUESTION
        if any(checker.text_leaks(t) for t in texts):
            return REASON_TEXT
        return None

    kept_convs = []
    for conv, questions in zip(convs, conv_questions):
        why = reason(questions, (m["content"] for m in conv.messages))
        report.add(_conversation_source(conv), why, questions[-1] if questions else "")
        if why is None:
            kept_convs.append(conv)
    kept_pairs = []
    for pair, questions in zip(pairs, pair_questions):
        why = reason(questions, [*(m["content"] for m in pair.prompt), pair.chosen, pair.rejected])
        report.add(_pair_source(pair), why, questions[-1] if questions else "")
        if why is None:
            kept_pairs.append(pair)
    return kept_convs, kept_pairs


def trained_texts(data_dir: Path) -> Iterable[tuple[str, str]]:
    """(file, text) for every user and assistant message and every chosen/rejected answer that a
    build's data stage wrote for training (build/data/); the retrieved documents in the system
    message are not training targets and are left out."""
    data_dir = Path(data_dir)
    for name in ("sft_train.jsonl", "pairs.jsonl"):
        path = data_dir / name
        if not path.exists():
            continue
        for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
            try:
                row = json.loads(line)
            except json.JSONDecodeError:
                continue
            for m in [*(row.get("messages") or []), *(row.get("prompt") or [])]:
                if isinstance(m, dict) and m.get("role") in ("user", "assistant") and isinstance(m.get("content"), str):
                    yield name, m["content"]
            for key in ("chosen", "rejected"):
                for m in row.get(key) or [] if isinstance(row.get(key), list) else [{"content": row.get(key)}]:
                    if isinstance(m, dict) and isinstance(m.get("content"), str):
                        yield name, m["content"]


def leaked_in_build(build_dir: Path, evals: EvalTexts) -> int:
    """How many training texts of a build share a 13-word run with these eval texts (a suite
    edited after the build, or a build made before Tailor checked for leakage)."""
    checker = LeakChecker(evals)
    return sum(checker.text_leaks(text) for _, text in trained_texts(Path(build_dir) / "data"))
