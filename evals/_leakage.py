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
- for the question a row asks, the eval question itself (normalised), or one whose embedding
  is at least QUESTION_SIMILARITY close *and* answered alike (token F1 of the two answers at
  least SAME_ANSWER_F1; any answer, for an eval question that should be declined). Closeness
  alone is not enough: on the shared clinic data all 73 conversation questions at 0.85-0.95 to
  an eval question asked about another aspect of the same condition ("How to diagnose
  Aneurysm?" against "What are the symptoms of Aneurysm?", 0.864), with a different answer.

The build's data stage (builder._leakage) drops leaked rows and counts them in the manifest.
`tailor eval` runs the same n-gram check on what a build actually trained on (its TRL-format
training files in build/data/), so a suite edited after the build still gets its warning.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable

import numpy as np

from evals._metrics import normalize_answer, token_f1
from evals._suite import suite_rows
from knowledge.files import read_jsonl_tolerant

NGRAM = 13  # words in a run shared with an eval text that marks a training text as leaked
QUESTION_SIMILARITY = 0.85  # cosine at or above this: possibly the same question (builder._synthesize.DUPLICATE_SIMILARITY)
SAME_ANSWER_F1 = 0.5  # ... and it is when the answers overlap this much (evals' token F1)


@dataclass
class EvalTexts:
    """What must stay out of training: every eval question and every reference answer."""

    questions: list[str] = field(default_factory=list)
    references: list[str] = field(default_factory=list)
    answers: list[str] = field(default_factory=list)  # per question, its reference ("" for decline questions)
    suites_hash: str = ""

    @property
    def empty(self) -> bool:
        return not self.questions and not self.references


def read_eval_texts(path: Path) -> EvalTexts:
    """Questions and references of every line of a suite file, or of every *.jsonl in a folder,
    that has them. Bad lines are `tailor eval`'s to report; here they are skipped so they never
    block a build."""
    out, digest = EvalTexts(), hashlib.sha256()
    for file, rows in suite_rows(Path(path)):
        digest.update(file.name.encode() + b"\0" + file.read_bytes())
        for row in rows:
            if isinstance(row.get("question"), str) and row["question"].strip():
                out.questions.append(row["question"])
                out.answers.append(row["answer"] if isinstance(row.get("answer"), str) else "")
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
        self.answers = evals.answers
        self.encode = encode
        self.vectors = encode(evals.questions) if encode is not None and evals.questions else None

    def text_leaks(self, text: str) -> bool:
        """True when the text shares a run of NGRAM normalised words with an eval text."""
        return bool(self.grams) and not self.grams.isdisjoint(_grams(text))

    def questions_leak(self, questions: list[str], answers: list[list[str]] | None = None) -> list[bool]:
        """Per question: it is an eval question, word for word, or close by embedding and answered
        alike (`answers[i]`: the training answers given to question i)."""
        same = [normalize_answer(q) in self.questions for q in questions]
        if self.vectors is None or not questions:
            return same
        sims = np.asarray(self.encode(questions)) @ np.asarray(self.vectors).T
        out = []
        for i, (s, row) in enumerate(zip(same, sims)):
            close = np.flatnonzero(row >= QUESTION_SIMILARITY)
            given = answers[i] if answers is not None else []
            alike = any(not self.answers[j].strip() or any(token_f1(a, self.answers[j]) >= SAME_ANSWER_F1 for a in given)
                        for j in close)
            out.append(s or bool(alike))
        return out


def trained_texts(data_dir: Path) -> Iterable[tuple[str, str]]:
    """(file, text) for every user and assistant message and every chosen/rejected answer that a
    build's data stage wrote for training (build/data/); the retrieved documents in the system
    message are not training targets and are left out."""
    data_dir = Path(data_dir)
    for name in ("sft_train.jsonl", "pairs.jsonl"):
        path = data_dir / name
        if not path.exists():
            continue
        for row in read_jsonl_tolerant(path):
            for m in [*(row.get("messages") or []), *(row.get("prompt") or [])]:
                if isinstance(m, dict) and m.get("role") in ("user", "assistant") and isinstance(m.get("content"), str):
                    yield name, m["content"]
            for key in ("chosen", "rejected"):
                for m in row.get(key) or [] if isinstance(row.get(key), list) else [{"content": row.get(key)}]:
                    if isinstance(m, dict) and isinstance(m.get("content"), str):
                        yield name, m["content"]


def leaked_in_build(data_dir: Path, evals: EvalTexts) -> int:
    """How many training texts of a build (its build/data folder) share a 13-word run with these eval texts (a suite
    edited after the build, or a build made before Tailor checked for leakage)."""
    checker = LeakChecker(evals)
    return sum(checker.text_leaks(text) for _, text in trained_texts(Path(data_dir)))
