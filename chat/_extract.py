"""The `extract` variant: an answer with no model at all, the floor every model must beat.

It quotes the sentences of the evidence (the same passages the RAG variants are given) that
share the most words with the question, best first, until about EXTRACT_WORDS words, each
with the [n] marker of its passage. A fine-tuned model that cannot beat copying the best
sentences of its own context is not earning its keep, and the eval report says so.
"""
from __future__ import annotations

import re
from typing import Sequence

from chat._citations import sentences

EXTRACT_WORDS = 60  # about two or three sentences: the length of a typical reference answer
_WORD = re.compile(r"[a-z0-9]+(?:[.,'][a-z0-9]+)*")
_STOP = frozenset(
    "a an the and or but if of to in on at by for with from as is are was were be been being do does did "
    "have has had what which who whom whose when where why how can could should would will shall may might must "
    "i you he she it we they me my your our their its this that these those there here not no yes any some "
    "about into than then so such more most other also please tell know want need get".split()
)
_DEBRIS = re.compile(r"^\s*(?:#+\s*|[-*•]\s+|\d+[.)]\s+|>\s*)")


def _terms(text: str) -> set[str]:
    """Content words, with a plural 's' dropped so 'fees' meets 'fee'."""
    return {w[:-1] if len(w) > 3 and w.endswith("s") else w for w in _WORD.findall(text.lower()) if w not in _STOP}


def extract_answer(question: str, passages: Sequence[str], max_words: int = EXTRACT_WORDS) -> str:
    """The best sentences of `passages` (in rank order, numbered [1]..) for `question`.

    Sentences are ranked by how many of the question's content words they hold (ties: the
    higher-ranked passage, then the earlier sentence). Headings and list bullets are cleaned
    off; a sentence with none of the question's words is never chosen, so a question the
    passages do not touch gets an empty answer rather than a random quote.
    """
    wanted = _terms(question)
    ranked = []
    for n, passage in enumerate(passages, start=1):
        for i, sentence in enumerate(sentences(passage)):
            clean = _DEBRIS.sub("", sentence).strip()
            words = clean.split()
            if len(words) < 3:
                continue  # a heading or a label, not a statement
            overlap = len(wanted & _terms(clean))
            if overlap:
                ranked.append((-overlap, n, i, clean))
    ranked.sort()
    chosen, total = [], 0
    for _, n, _, clean in ranked:
        if total >= max_words:
            break
        chosen.append(f"{clean.rstrip()} [{n}]")
        total += len(clean.split())
    return " ".join(chosen)
