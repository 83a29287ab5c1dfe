"""Reading documents: one library per format, one file at a time.

Every loader returns a `Document`: the text Tailor extracted from the file plus `Section`s,
slices of that text that share a page (PDF) or a heading trail (Markdown, HTML, DOCX).
Chunk offsets point into `Document.text`, so a citation can always be traced back.
A file that cannot be used raises `Unreadable` with a reason the index report shows;
it never stops the other files from being indexed.
"""
from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from pathlib import Path

SUPPORTED = {".md", ".markdown", ".txt", ".html", ".htm", ".pdf", ".docx"}


class Unreadable(Exception):
    """This file cannot be indexed; the message says why and what to do."""


@dataclass
class Section:
    start: int
    end: int
    page: int | None = None
    headings: list[str] = field(default_factory=list)


@dataclass
class Document:
    source: str  # path relative to docs/, posix
    title: str
    text: str
    sections: list[Section]
    warnings: list[str] = field(default_factory=list)


def load_document(path: Path, source: str) -> Document:
    """The document in `path`, read with the library made for its format. Any failure of a
    format library (pypdf raises NotImplementedError for a stream filter it lacks, parsers hit
    recursion limits on nested markup, ...) becomes `Unreadable` with its type and message: one
    file must never stop an index run."""
    try:
        return _load_by_type(path, source)
    except Unreadable:
        raise
    except MemoryError:
        raise Unreadable("too large to read in memory; split it into smaller files") from None
    except Exception as exc:
        detail = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else ""
        raise Unreadable(
            f"cannot be read ({type(exc).__name__}{': ' + detail if detail else ''}); re-save or convert it, or remove it from docs/"
        ) from exc


def _load_by_type(path: Path, source: str) -> Document:
    suffix = path.suffix.lower()
    if suffix in (".md", ".markdown"):
        return _load_markdown(path, source)
    if suffix == ".txt":
        return _load_text(path, source)
    if suffix in (".html", ".htm"):
        return _load_html(path, source)
    if suffix == ".pdf":
        return _load_pdf(path, source)
    if suffix == ".docx":
        return _load_docx(path, source)
    raise Unreadable(f"unsupported file type '{suffix or path.name}' (Tailor reads {', '.join(sorted(SUPPORTED))})")


def _title_from_name(source: str) -> str:
    """'policies/clinic_hours.md' -> 'clinic hours': a readable stand-in when a file has no title."""
    return re.sub(r"[_\-]+", " ", Path(source).stem).strip()


def _decode(data: bytes, source: str) -> tuple[str, list[str]]:
    """UTF-8 when it is; otherwise the Windows and Latin-1 code pages, with a warning (never a failure)."""
    try:
        return data.decode("utf-8-sig"), []
    except UnicodeDecodeError:
        pass
    for encoding in ("cp1252", "latin-1"):
        try:
            text = data.decode(encoding)
        except UnicodeDecodeError:
            continue
        return text, [f"{source}: not UTF-8; read as {encoding} (save it as UTF-8 if characters look wrong)"]
    raise AssertionError("latin-1 decodes every byte")  # pragma: no cover


def _read_text(path: Path, source: str) -> tuple[str, list[str]]:
    text, warnings = _decode(path.read_bytes(), source)
    if "\x00" in text[:4096]:
        raise Unreadable("looks binary (NUL bytes), not text; convert it to .txt, .md or .pdf")
    return text.replace("\r\n", "\n").replace("\r", "\n"), warnings


def _load_text(path: Path, source: str) -> Document:
    text, warnings = _read_text(path, source)
    return Document(source, _title_from_name(source), text, [Section(0, len(text))], warnings)


_ATX = re.compile(r"^ {0,3}(#{1,6})[ \t]+(.+?)[ \t]*#*[ \t]*$")
_FENCE = re.compile(r"^ {0,3}(```|~~~)")


def _load_markdown(path: Path, source: str) -> Document:
    """Sections split at ATX headings (outside code fences); each keeps the trail of headings above it."""
    text, warnings = _read_text(path, source)
    sections: list[Section] = []
    trail: list[tuple[int, str]] = []
    title = ""
    start = 0
    in_fence = False
    pos = 0
    for line in text.splitlines(keepends=True):
        if _FENCE.match(line):
            in_fence = not in_fence
        match = None if in_fence else _ATX.match(line.rstrip("\n"))
        if match:
            sections.append(Section(start, pos, None, [h for _, h in trail]))
            level, heading = len(match.group(1)), match.group(2).strip()
            trail = [(lvl, h) for lvl, h in trail if lvl < level] + [(level, heading)]
            if level == 1 and not title:
                title = heading
            start = pos + len(line)
        pos += len(line)
    sections.append(Section(start, len(text), None, [h for _, h in trail]))
    return Document(source, title or _title_from_name(source), text, sections, warnings)


_HEADING_TAGS = {"h1": 1, "h2": 2, "h3": 3, "h4": 4, "h5": 5, "h6": 6}
_SKIP_TAGS = {"script", "style", "noscript", "template", "head", "svg"}
_BLOCK_TAGS = {
    "p", "div", "li", "ul", "ol", "table", "tr", "br", "section", "article", "pre", "blockquote",
    "dd", "dt", "dl", "header", "footer", "main", "aside", "nav", "figure", "figcaption", "caption",
    "form", "hr", "address", "thead", "tbody", "tfoot",
}  # fmt: skip


def _load_html(path: Path, source: str) -> Document:
    """Visible text in reading order, with a heading trail from h1..h6; table cells joined by ' | '."""
    from bs4 import BeautifulSoup, Comment, NavigableString

    soup = BeautifulSoup(path.read_bytes(), "lxml")
    title = soup.title.get_text(" ", strip=True) if soup.title else ""
    parts: list[str] = []  # text so far
    sections: list[Section] = []
    trail: list[tuple[int, str]] = []
    state = {"start": 0, "len": 0}

    def emit(s: str) -> None:
        parts.append(s)
        state["len"] += len(s)

    def close_section() -> None:
        sections.append(Section(state["start"], state["len"], None, [h for _, h in trail]))

    def walk(node) -> None:
        for child in node.children:
            if isinstance(child, Comment):
                continue
            if isinstance(child, NavigableString):
                if type(child) is NavigableString or child.__class__.__name__ == "CData":
                    emit(re.sub(r"\s+", " ", str(child)))
                continue
            name = child.name
            if name in _SKIP_TAGS:
                continue
            if name in _HEADING_TAGS:
                close_section()
                heading = child.get_text(" ", strip=True)
                level = _HEADING_TAGS[name]
                trail[:] = [(lvl, h) for lvl, h in trail if lvl < level] + [(level, heading)]
                emit(f"\n\n{'#' * level} {heading}\n\n")  # Markdown heading lines: one chunker for all formats
                state["start"] = state["len"]
                continue
            block = name in _BLOCK_TAGS
            if block and name != "tr":
                emit("\n\n" if name in ("p", "table", "ul", "ol", "pre", "blockquote", "section", "article") else "\n")
            walk(child)
            if name in ("td", "th"):
                emit(" | ")
            elif block:
                emit("\n")

    walk(soup.body or soup)
    close_section()
    raw = "".join(parts)
    # Tidy whitespace per section, keeping offsets consistent: rebuild the text section by section.
    text_parts: list[str] = []
    tidy: list[Section] = []
    pos = 0
    prev_end = 0
    for sec in sections:
        gap = _tidy(raw[prev_end : sec.start])
        if gap:
            gap = gap + "\n\n"
            text_parts.append(gap)
            pos += len(gap)
        body = _tidy(raw[sec.start : sec.end])
        if body:
            body = body + "\n\n"
            text_parts.append(body)
            tidy.append(Section(pos, pos + len(body), None, sec.headings))
            pos += len(body)
        prev_end = sec.end
    return Document(source, title or _title_from_name(source), "".join(text_parts), tidy)


def _tidy(s: str) -> str:
    s = re.sub(r"[ \t\u00a0]+", " ", s)
    s = re.sub(r"(\s*\|)+\s*(\n|$)", r"\2", s)  # the separator after a row's last cell
    s = re.sub(r" *\n *", "\n", s)
    s = re.sub(r"\n{3,}", "\n\n", s)
    return s.strip()


def _load_pdf(path: Path, source: str) -> Document:
    """One section per page (1-based page numbers). No text on any page means a scan: say it needs OCR."""
    from pypdf import PdfReader
    from pypdf.errors import PyPdfError

    logging.getLogger("pypdf").setLevel(logging.ERROR)  # pypdf logs every repaired xref; we report per file
    from pypdf.errors import FileNotDecryptedError

    if path.stat().st_size == 0:
        raise Unreadable("empty file (0 bytes)")
    encrypted = Unreadable("encrypted PDF (password-protected); save an unprotected copy")
    try:
        reader = PdfReader(str(path))
        if reader.is_encrypted:
            # An empty user password (owner-only protection) opens; anything else is locked.
            try:
                opened = reader.decrypt("")
            except Exception as exc:
                raise encrypted from exc
            if not opened:
                raise encrypted
        pages = [page.extract_text() or "" for page in reader.pages]
        meta_title = (reader.metadata.title if reader.metadata else None) or ""
    except Unreadable:
        raise
    except FileNotDecryptedError as exc:
        raise encrypted from exc
    except (PyPdfError, OSError, ValueError, KeyError, TypeError, AttributeError, IndexError) as exc:
        raise Unreadable(f"corrupt or unreadable PDF ({type(exc).__name__}: {exc}); re-export or replace it") from exc
    if not pages:
        raise Unreadable("PDF has no pages")
    if not any(p.strip() for p in pages):
        raise Unreadable(f"PDF has no text layer ({len(pages)} pages of images); it needs OCR (e.g. ocrmypdf) before indexing")
    text_parts: list[str] = []
    sections: list[Section] = []
    pos = 0
    blank = []
    for number, page_text in enumerate(pages, start=1):
        page_text = page_text.replace("\r\n", "\n").strip()
        if not page_text:
            blank.append(number)
            continue
        piece = page_text + "\n\n"
        text_parts.append(piece)
        sections.append(Section(pos, pos + len(page_text), number, []))
        pos += len(piece)
    warnings = []
    if blank:
        warnings.append(f"{source}: pages {', '.join(map(str, blank))} have no text layer (scanned?); they need OCR to be searchable")
    return Document(source, str(meta_title).strip() or _title_from_name(source), "".join(text_parts), sections, warnings)


def _load_docx(path: Path, source: str) -> Document:
    """Paragraphs and tables in order; 'Heading N' and 'Title' styles give the heading trail."""
    import zipfile

    import docx
    from docx.table import Table

    try:
        document = docx.Document(str(path))
        blocks = list(document.iter_inner_content())
        core_title = document.core_properties.title or ""
    except (zipfile.BadZipFile, KeyError, ValueError, OSError) as exc:
        raise Unreadable(f"corrupt or unreadable DOCX ({type(exc).__name__}: {exc}); re-save it from Word") from exc
    except Exception as exc:  # python-docx raises a variety of lxml/package errors for damaged files
        raise Unreadable(f"corrupt or unreadable DOCX ({type(exc).__name__}: {exc}); re-save it from Word") from exc
    text_parts: list[str] = []
    sections: list[Section] = []
    trail: list[tuple[int, str]] = []
    title = core_title
    pos = 0
    start = 0
    for block in blocks:
        if isinstance(block, Table):
            rows = [" | ".join(cell.text.strip() for cell in row.cells) for row in block.rows]
            piece = "\n".join(rows).strip()
        else:
            piece = block.text.strip()
            style = (block.style.name if block.style is not None else "") or ""
            level = 1 if style == "Title" else int(style.split()[-1]) if re.fullmatch(r"Heading [1-9]", style) else 0
            if level and piece:
                sections.append(Section(start, pos, None, [h for _, h in trail]))
                trail = [(lvl, h) for lvl, h in trail if lvl < level] + [(level, piece)]
                title = title or piece
                line = f"{'#' * level} {piece}\n\n"  # Markdown heading lines: one chunker for all formats
                text_parts.append(line)
                pos += len(line)
                start = pos
                continue
        if piece:
            text_parts.append(piece + "\n\n")
            pos += len(piece) + 2
    sections.append(Section(start, pos, None, [h for _, h in trail]))
    return Document(source, title.strip() or _title_from_name(source), "".join(text_parts), sections)
