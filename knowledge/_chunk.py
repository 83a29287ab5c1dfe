"""Chunking: token-aware, structure first.

Sections (a page, or the text under one heading) never share a chunk, so a chunk's page and
heading trail are exact. Inside a section, langchain-text-splitters' recursive splitter cuts
at paragraphs, then lines, then sentences, then words, measuring length with the embedder's
own tokenizer, so no chunk is longer than the model reads. Neighbouring chunks overlap so a
fact split across a boundary survives in one of them.
"""
from __future__ import annotations

import hashlib
import logging
import re
from bisect import bisect_right
from collections import Counter
from typing import Callable

from langchain_text_splitters import RecursiveCharacterTextSplitter

from ._load import Document
from ._types import Chunk

# Zero-width split points, strongest first: a heading line, a paragraph, a line (also a table
# row), a sentence, a clause, a word; the last resort is single characters. Zero-width, so a
# heading stays at the start of its chunk and punctuation at the end of its sentence.
SEPARATORS = [r"(?=\n#{1,6} )", r"(?<=\n\n)", r"(?<=\n)", r"(?<=[.!?] )", r"(?<=[;:,] )", r"(?<= )", ""]
# A section longer than this is cut at a paragraph break first, so a huge file is split
# block by block instead of holding every split of the whole file at once.
MAX_BLOCK_CHARS = 100_000
CHUNKER_VERSION = 4  # bump when chunk boundaries change, so an old index is re-chunked

logging.getLogger("langchain_text_splitters.base").setLevel(logging.ERROR)  # "Created a chunk of size ..." for unsplittable words


def context_line(title: str, headings: list[str]) -> str:
    """'Title > Heading > Subheading': where a passage sits, prepended to what is embedded."""
    parts = list(headings)
    if title and (not parts or parts[0].strip().lower() != title.strip().lower()):
        parts.insert(0, title)
    return " > ".join(p for p in parts if p)


def embedding_text(chunk: Chunk, context: bool = True) -> str:
    """What the embedder and BM25 see for a chunk: its context line, then its text.

    A passage of a flattened table ("Total assets 36,500 ...") says nothing of whose table it
    is; the document title and headings ("3M - 10K 2018 > Page 58") make it findable.
    """
    if not context:
        return chunk.text
    line = context_line(chunk.title, chunk.headings)
    return f"{line}\n{chunk.text}" if line else chunk.text


def chunk_id(source: str, text: str, occurrence: int) -> str:
    """Stable id: the same passage in the same file keeps its id across re-indexing."""
    digest = hashlib.sha256(f"{source}\x00{occurrence}\x00{text}".encode("utf-8")).hexdigest()
    return digest[:20]


def chunk_document(
    doc: Document,
    count_tokens: Callable[[str], int],
    chunk_size: int,
    chunk_overlap: int,
    max_tokens: int | None = None,
    context: bool = True,
) -> list[Chunk]:
    """The document's chunks in reading order.

    Short sections share a chunk (their heading lines stay in the text), so a chunk is rarely a
    lone 20-word paragraph; a chunk's heading trail is the one in force where it starts. Pages
    never share a chunk, so a PDF citation names exactly one page. `max_tokens` (an embedder's
    limit) caps the size so the context line plus the chunk is embedded whole.
    """
    starts = [section.start for section in doc.sections]
    seen: Counter[str] = Counter()
    chunks: list[Chunk] = []
    for span_start, span_end, page, sections in _page_spans(doc):
        budget = chunk_size
        if max_tokens:
            lines = {context_line(doc.title, s.headings) for s in sections} if context else set()
            longest = max((count_tokens(line) + 1 for line in lines if line), default=0)
            budget = min(budget, max_tokens - longest)
        budget = max(budget, 16)
        splitter = _splitter(budget, min(chunk_overlap, budget // 2), count_tokens)
        for block_start, block_end in _blocks(doc.text, span_start, span_end):
            for start, piece in _tidy_pieces(doc.text, block_start, block_end, splitter, count_tokens):
                section = doc.sections[max(0, bisect_right(starts, _body_start(piece, start)) - 1)]
                occurrence = seen[piece]
                seen[piece] += 1
                chunks.append(
                    Chunk(
                        id=chunk_id(doc.source, piece, occurrence),
                        text=piece,
                        source=doc.source,
                        page=page,
                        headings=list(section.headings),
                        start=start,
                        end=start + len(piece),
                        title=doc.title,
                    )
                )
    return chunks


MIN_CHUNK_TOKENS = 8  # a page number or a stray heading is not worth a search result of its own
_HEADING_ONLY = re.compile(r"^#{1,6} [^\n]*$")
_HEADING_LINE = re.compile(r"#{1,6} [^\n]*\s*")


def _tidy_pieces(text: str, block_start: int, block_end: int, splitter, count_tokens):
    """(start, piece) from the splitter, without heading-only pieces (the next chunk carries the
    heading in its trail) and with crumbs of a few tokens glued to the chunk before them."""
    block = text[block_start:block_end]
    out: list[tuple[int, str]] = []
    cursor = 0
    for piece in splitter.split_text(block):
        at = block.find(piece, cursor)
        if at < 0:  # pragma: no cover - pieces are substrings in order
            at = block.find(piece)
        cursor = at + 1
        start = block_start + at
        if out and _HEADING_ONLY.match(out[-1][1]):
            out.pop()  # a heading alone, followed by its text
        if out and count_tokens(piece) < MIN_CHUNK_TOKENS and not _HEADING_ONLY.match(piece):
            prev_start, _ = out.pop()
            piece = text[prev_start : start + len(piece)]
            start = prev_start
        out.append((start, piece))
    return _pack(text, out, count_tokens, splitter._chunk_size)


def _pack(text: str, pieces: list[tuple[int, str]], count_tokens, budget: int) -> list[tuple[int, str]]:
    """Join neighbours while the joined span still fits the budget.

    The recursive splitter leaves a short remainder at the end of every long section; packing
    fills chunks up, so the same number of results carries more of the documents."""
    out: list[tuple[int, str]] = []
    for start, piece in pieces:
        if out:
            prev_start, prev = out[-1]
            joined = text[prev_start : max(prev_start + len(prev), start + len(piece))]
            if count_tokens(joined) <= budget:
                out[-1] = (prev_start, joined)
                continue
        out.append((start, piece))
    return out


def _splitter(size: int, overlap: int, count_tokens) -> RecursiveCharacterTextSplitter:
    return RecursiveCharacterTextSplitter(
        separators=SEPARATORS,
        is_separator_regex=True,
        keep_separator=True,
        chunk_size=size,
        chunk_overlap=overlap,
        length_function=count_tokens,
        strip_whitespace=True,
    )


def _body_start(piece: str, start: int) -> int:
    """Where a chunk's own text begins: after its first line when that line is a heading."""
    match = _HEADING_LINE.match(piece)
    return start + match.end() if match else start


def _page_spans(doc: Document):
    """(start, end, page, sections) for runs of consecutive sections on the same page."""
    run: list = []
    for section in doc.sections:
        if run and section.page != run[-1].page:
            yield run[0].start, run[-1].end, run[0].page, run
            run = []
        run.append(section)
    if run:
        yield run[0].start, run[-1].end, run[0].page, run


def _blocks(text: str, start: int, end: int):
    """(start, end) pieces of at most MAX_BLOCK_CHARS, cut at a paragraph, line or word break."""
    while end - start > MAX_BLOCK_CHARS:
        limit = start + MAX_BLOCK_CHARS
        cut = -1
        for sep in ("\n\n", "\n", " "):
            cut = text.rfind(sep, start + MAX_BLOCK_CHARS // 2, limit)
            if cut > 0:
                cut += len(sep)
                break
        if cut <= start:
            cut = limit
        yield start, cut
        start = cut
    yield start, end
