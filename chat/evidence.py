"""The one evidence policy: ranked chunks -> the passages a prompt holds, within a token budget.

Training rows (builder/), serving (`Assistant`) and every RAG eval variant (extract included)
call `select_evidence`, so the model is trained on the very blocks it is later shown, and
base+rag, tuned+rag and extract are compared on the same evidence for the same question.

A chunk is ~300 tokens; four of them whole make a prompt the default 135M model reads slowly
and a training row too long to hold its answer. So the budget (`chat.evidence_tokens`) is
shared out equally, and a chunk longer than its share is cut to its best passage: the run of
consecutive sentences (or table lines) holding the most of the question's words (a heading
holding them counts thrice: it names the section that answers), with the
chunk's first line (its heading or a table's header row) kept in front when it is short. A
chunk shorter than its share leaves the rest to the others. Every passage is labelled with its
number, its document's title and its file, as the model is asked to cite them.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Sequence

from chat._extract import _terms

MIN_PASSAGE_TOKENS = 24  # a share smaller than this holds no statement worth citing: the chunk is left out
HEADER_TOKENS = 32  # a first line this short (a heading, a table's header row) is kept before a passage cut from below it
HEADING_WEIGHT = 3  # a Markdown heading that shares the question's words marks the section that answers it
GAP = " … "  # marks text left out between the kept header and the passage

_BREAK = re.compile(r"(?<=[.!?])\s+(?=[\"'(\[]?[A-Z0-9])|\n+")


@dataclass(frozen=True)
class Passage:
    """What the prompt shows of one retrieved chunk: `text` is the whole chunk or its best part."""

    text: str
    source: str
    page: int | None
    title: str
    id: str  # the chunk's id
    index: int  # the chunk's position in the list `select_evidence` was given
    whole: bool  # False: cut to its best sentences to fit its share of the budget


def passage_label(item) -> str:
    """'Fees and payment (fees.md)' or 'handbook.pdf, page 3': how a passage is named in the prompt."""
    page = getattr(item, "page", None)
    where = f"{item.source}, page {page}" if page else item.source
    title = (getattr(item, "title", "") or "").strip()
    stem = item.source.rsplit("/", 1)[-1].rsplit(".", 1)[0]
    if not title or _terms(title) == _terms(stem.replace("_", " ").replace("-", " ")):
        return where
    return f"{title} ({where})"


def _spans(text: str) -> list[tuple[int, int]]:
    """(start, end) of each sentence or line of `text`, in order; text[start:end] is stripped."""
    spans, start = [], 0
    for m in _BREAK.finditer(text):
        if text[start:m.start()].strip():
            spans.append((start, m.start()))
        start = m.end()
    if text[start:].strip():
        spans.append((start, len(text.rstrip())))
    return spans


def _count(tokenizer, text: str) -> int:
    return len(tokenizer.encode(text, add_special_tokens=False))


def _cut(tokenizer, text: str, limit: int) -> str:
    """The first `limit` tokens of `text`, cut where a token starts, marked with an ellipsis."""
    offsets = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)["offset_mapping"]
    if len(offsets) <= limit:
        return text
    return text[: offsets[max(0, limit - 1)][0]].rstrip() + " …"


def best_passage(tokenizer, question: str, text: str, limit: int) -> str:
    """The run of consecutive sentences of `text` within `limit` tokens holding the most of the
    question's words (ties: the earliest), with a short first line kept in front."""
    text = text.strip()
    if _count(tokenizer, text) <= limit:
        return text
    spans = _spans(text)
    if not spans:
        return _cut(tokenizer, text, limit)
    wanted = _terms(question)
    sizes = [_count(tokenizer, text[a:b]) + 1 for a, b in spans]
    scores = [len(wanted & _terms(text[a:b])) * (HEADING_WEIGHT if text[a] == "#" else 1) for a, b in spans]
    best, best_score, lo, size, score = (0, 0), -1, 0, 0, 0
    for hi in range(len(spans)):  # two pointers: the window [lo, hi] within the limit
        size, score = size + sizes[hi], score + scores[hi]
        while size > limit and lo <= hi:
            size, score = size - sizes[lo], score - scores[lo]
            lo += 1
        if lo <= hi and score > best_score:
            best, best_score = (lo, hi), score
    if best_score < 0:  # not even one sentence fits: the best sentence, cut
        top = max(range(len(spans)), key=lambda i: (scores[i], -i))
        return _cut(tokenizer, text[spans[top][0]:spans[top][1]], limit)
    lo, hi = best
    while lo < hi and scores[lo] == 0:  # start at the first sentence that holds the question's words,
        lo += 1
    while hi + 1 < len(spans) and sum(sizes[lo:hi + 2]) <= limit:  # and fill the share with what follows it
        hi += 1
    body = text[spans[lo][0]:spans[hi][1]]
    if lo > 0 and sizes[0] <= HEADER_TOKENS and sum(sizes[lo:hi + 1]) + sizes[0] + 2 <= limit:
        # The heading or table header above the passage, when it fits: a table row means
        # nothing without its columns.
        body = text[spans[0][0]:spans[0][1]] + GAP + body
    return body


def _shares(lengths: list[int], budget: int) -> list[int]:
    """Water-filling: equal shares of `budget`; what a short item leaves goes to the others."""
    shares = [0] * len(lengths)
    pending, left = list(range(len(lengths))), budget
    while pending:
        share = left // len(pending)
        small = [i for i in pending if lengths[i] <= share]
        if not small:
            for i in pending:
                shares[i] = share
            break
        for i in small:
            shares[i] = lengths[i]
            left -= lengths[i]
            pending.remove(i)
    return shares


def select_evidence(tokenizer, question: str, chunks: Sequence, budget: int, keep: int | None = None) -> list[Passage]:
    """The passages for `chunks` (in the order given) within `budget` tokens, labels included.

    `keep` is the position of a chunk that must stay (training's answering chunk) even when
    its share is below MIN_PASSAGE_TOKENS.
    """
    if not chunks:
        return []
    labels = [_count(tokenizer, f"[{i + 1}] ({passage_label(c)})\n") + 1 for i, c in enumerate(chunks)]
    lengths = [_count(tokenizer, c.text.strip()) for c in chunks]
    shares = _shares(lengths, max(0, budget - sum(labels)))
    out = []
    for i, (chunk, length, share) in enumerate(zip(chunks, lengths, shares)):
        if share < min(MIN_PASSAGE_TOKENS, length) and i != keep:
            continue
        whole = length <= share
        text = chunk.text.strip() if whole else best_passage(tokenizer, question, chunk.text, max(share, MIN_PASSAGE_TOKENS))
        out.append(Passage(text=text, source=chunk.source, page=getattr(chunk, "page", None), title=getattr(chunk, "title", "") or "",
                           id=getattr(chunk, "id", "") or "", index=i, whole=whole))
    return out


def content_terms(text: str) -> set[str]:
    """The content words of `text` (lower case, no stop words, a plural 's' dropped): what
    passages are chosen by, and what a training row's answer is matched to its passage with."""
    return _terms(text)
