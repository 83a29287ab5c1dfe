"""The data stage's leakage check: every conversation, preference pair and vote is checked
against the eval suites (evals._leakage: 13-word runs and question embeddings) before anything
trains, and whatever holds an eval question or reference answer is dropped and counted.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable

from evals import LEAKAGE_NGRAM as NGRAM, LEAKAGE_QUESTION_SIMILARITY as QUESTION_SIMILARITY, LeakChecker, read_eval_texts  # noqa: F401

LEAKAGE_RULES = 2  # bumped when the rules change, so the data stage reruns

REASON_TEXT = f"shares a {NGRAM}-word run with an eval question or reference"
REASON_QUESTION = "asks an eval question with its answer"


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
                "eval_suites": self.suites_hash}

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

    A conversation leaks when any user question is an eval question answered alike, or any
    message shares a 13-word run with an eval text; a pair when its question does, or its chosen
    or rejected answer shares such a run (a rejected answer is trained on too: DPO pushes it down).
    """
    conv_questions = [[m["content"] for m in c.messages if m["role"] == "user"] for c in convs]
    pair_questions = [[m["content"] for m in p.prompt if m["role"] == "user"] for p in pairs]
    answered: dict[str, list[str]] = {}  # each question with the answers training gives it
    for conv in convs:
        for ask, reply in zip(conv.messages, conv.messages[1:]):
            if ask["role"] == "user" and reply["role"] == "assistant":
                answered.setdefault(ask["content"], []).append(reply["content"])
    for pair, questions in zip(pairs, pair_questions):
        if questions:
            answered.setdefault(questions[-1], []).extend([pair.chosen, pair.rejected])
    flat = list(dict.fromkeys(q for qs in conv_questions + pair_questions for q in qs))
    asked = dict(zip(flat, checker.questions_leak(flat, [answered.get(q, []) for q in flat])))

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
