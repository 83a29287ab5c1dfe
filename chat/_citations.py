"""Turning the [n] markers an answer writes into the documents they point at."""
from __future__ import annotations

import re

from chat._types import Citation

_MARKER = re.compile(r"\[(\s*\d+(?:\s*[,;]\s*\d+)*\s*)\]")
SNIPPET_CHARS = 200


def cited_numbers(text: str, k: int) -> list[int]:
    """The document numbers cited in `text`, in order of first mention; [1], [2, 3] and [1][4]
    all count. Numbers outside 1..k (the model invented a source) are ignored."""
    seen: list[int] = []
    for match in _MARKER.finditer(text):
        for part in re.split(r"[,;]", match.group(1)):
            n = int(part)
            if 1 <= n <= k and n not in seen:
                seen.append(n)
    return seen


def snippet(text: str, limit: int = SNIPPET_CHARS) -> str:
    """The start of a chunk on one line, cut at a word: enough to recognise the passage."""
    flat = " ".join(text.split())
    if len(flat) <= limit:
        return flat
    return flat[:limit].rsplit(" ", 1)[0] + " …"


def citation(n: int, hit, cited: bool) -> Citation:
    chunk = hit.chunk
    return Citation(
        n=n,
        source=chunk.source,
        page=chunk.page,
        snippet=snippet(chunk.text),
        score=float(hit.score),
        chunk_id=chunk.id,
        text=chunk.text,
        similarity=float(hit.similarity),
        cited=cited,
    )


def resolve_citations(text: str, hits: list) -> list[Citation]:
    """The sources of an answer: the hits its [n] markers name, or, when it names none, every
    hit it was given, flagged `cited=False` (the answer came from them, it just didn't say which)."""
    numbers = cited_numbers(text, len(hits))
    if numbers:
        return [citation(n, hits[n - 1], cited=True) for n in numbers]
    return [citation(n, hit, cited=False) for n, hit in enumerate(hits, start=1)]
