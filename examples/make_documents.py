"""Rebuild the example .pdf and .docx documents from the text sources kept next to them.

Binary documents cannot be reviewed in a diff, so each one is generated from a small
Markdown file: `examples/<name>/doc-sources/<path>.md` holds the text of
`examples/<name>/docs/<path>`, where <path> ends in .pdf or .docx (for example
doc-sources/billing/fees-and-insurance.pdf.md -> docs/billing/fees-and-insurance.pdf).

The Markdown kept here is deliberately small: `#`/`##`/`###` headings, paragraphs
(separated by blank lines), `- ` bullets, `1. ` numbered items, `**bold**` and pipe tables.
Output is deterministic (fixed timestamps and document ids), so regenerating an unchanged
source leaves the committed file byte for byte the same and `--check` can catch a stale one.

    python examples/make_documents.py            # regenerate every examples/*/doc-sources
    python examples/make_documents.py --check    # exit 1 if a committed document is out of date
"""
from __future__ import annotations

import argparse
import html
import io
import os
import re
import sys
import tempfile
import zipfile
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

EXAMPLES_DIR = Path(__file__).resolve().parent
TARGET_SUFFIXES = (".pdf", ".docx")
FIXED_TIME = datetime(2024, 1, 1, tzinfo=timezone.utc)  # every generated file carries this date, for reproducible bytes


class SourceError(ValueError):
    """A doc-source that cannot be turned into a document; the message names file, line and fix."""


@dataclass
class Block:
    kind: str  # heading | paragraph | bullet | number | table
    text: str = ""
    level: int = 0  # heading level (1-3)
    rows: list[list[str]] = field(default_factory=list)  # table rows, the first is the header


# ---------------------------------------------------------------- reading sources

_TABLE_RULE = re.compile(r"^\|?\s*:?-{3,}:?\s*(\|\s*:?-{3,}:?\s*)*\|?$")
_NUMBERED = re.compile(r"^(\d+)\.\s+(.*)$")


def _cells(line: str) -> list[str]:
    return [c.strip() for c in line.strip().strip("|").split("|")]


def parse_source(text: str, name: str = "<source>") -> list[Block]:
    """Markdown -> blocks. Only the constructs the examples use; anything else is a paragraph."""
    blocks: list[Block] = []
    paragraph: list[str] = []
    table: list[tuple[int, list[str]]] = []  # (line number, cells)

    def flush_paragraph():
        if paragraph:
            blocks.append(Block("paragraph", " ".join(paragraph)))
            paragraph.clear()

    def flush_table():
        if table:
            width = len(table[0][1])
            for lineno, row in table:
                if len(row) != width:
                    raise SourceError(
                        f"{name}:{lineno}: table row has {len(row)} cells, the header has {width}; "
                        "give every row the same number of | separated cells"
                    )
            blocks.append(Block("table", rows=[row for _, row in table]))
            table.clear()

    for lineno, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if line.startswith("|"):
            flush_paragraph()
            if not _TABLE_RULE.match(line):
                table.append((lineno, _cells(line)))
            continue
        flush_table()
        if not line:
            flush_paragraph()
        elif m := re.match(r"^(#{1,3})\s+(.*)$", line):
            flush_paragraph()
            blocks.append(Block("heading", m.group(2).strip(), level=len(m.group(1))))
        elif line.startswith(("- ", "* ")):
            flush_paragraph()
            blocks.append(Block("bullet", line[2:].strip()))
        elif m := _NUMBERED.match(line):
            flush_paragraph()
            blocks.append(Block("number", m.group(2).strip(), level=int(m.group(1))))
        else:
            paragraph.append(line)
    flush_paragraph()
    flush_table()
    if not blocks or blocks[0].kind != "heading" or blocks[0].level != 1:
        raise SourceError(f"{name}:1: a doc-source must start with a '# Title' heading (it names the document)")
    return blocks


def plain(text: str) -> str:
    """The text a reader sees: inline **bold** markers removed."""
    return text.replace("**", "")


def source_texts(blocks: list[Block]) -> list[str]:
    """Every piece of visible text in reading order; a generated document must contain each one."""
    out: list[str] = []
    for b in blocks:
        if b.kind == "table":
            out.extend(plain(c) for row in b.rows for c in row if c)
        else:
            out.append(plain(b.text))
    return out


def document_pairs(examples_dir: Path = EXAMPLES_DIR) -> list[tuple[Path, Path]]:
    """(source, target) for every doc-source of every example, sorted for a stable run order."""
    pairs = []
    for source in sorted(Path(examples_dir).glob("*/doc-sources/**/*.md")):
        sources_root = next(p for p in source.parents if p.name == "doc-sources")
        rel = source.relative_to(sources_root).with_suffix("")  # drop the trailing .md
        if rel.suffix not in TARGET_SUFFIXES:
            raise SourceError(
                f"{source}: the name must end in .pdf.md or .docx.md (the document it produces, plus .md)"
            )
        pairs.append((source, sources_root.parent / "docs" / rel))
    return pairs


# ---------------------------------------------------------------- PDF (reportlab)


def footer_text(title: str, page: int) -> str:
    """The footer printed on each PDF page (tests strip it before comparing text)."""
    return f"{title} \u2014 page {page}"


def _pdf_markup(text: str) -> str:
    escaped = html.escape(text, quote=False)
    return re.sub(r"\*\*(.+?)\*\*", r"<b>\1</b>", escaped)


def render_pdf(blocks: list[Block]) -> bytes:
    from reportlab.lib import colors
    from reportlab.lib.pagesizes import letter
    from reportlab.lib.styles import ParagraphStyle, getSampleStyleSheet
    from reportlab.lib.units import inch
    from reportlab.platypus import ListFlowable, ListItem, Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

    title = plain(blocks[0].text)
    styles = getSampleStyleSheet()
    body = ParagraphStyle("Body", parent=styles["BodyText"], fontSize=11, leading=15, spaceAfter=6)
    cell = ParagraphStyle("Cell", parent=body, spaceAfter=0)
    head_cell = ParagraphStyle("HeadCell", parent=cell, fontName="Helvetica-Bold")
    heading_style = {1: styles["Title"], 2: styles["Heading2"], 3: styles["Heading3"]}

    story: list = []
    items: list = []
    numbered = False

    def flush_list():
        nonlocal items
        if items:
            kwargs = {"bulletType": "1"} if numbered else {"bulletType": "bullet", "start": "\u2022"}
            story.append(ListFlowable(items, leftIndent=18, bulletFontSize=10, **kwargs))
            story.append(Spacer(1, 4))
            items = []

    for b in blocks:
        if b.kind in ("bullet", "number"):
            if items and numbered != (b.kind == "number"):
                flush_list()
            numbered = b.kind == "number"
            items.append(ListItem(Paragraph(_pdf_markup(b.text), body)))
            continue
        flush_list()
        if b.kind == "heading":
            story.append(Paragraph(_pdf_markup(b.text), heading_style[b.level]))
        elif b.kind == "paragraph":
            story.append(Paragraph(_pdf_markup(b.text), body))
        elif b.kind == "table":
            data = [[Paragraph(_pdf_markup(c), head_cell if i == 0 else cell) for c in row] for i, row in enumerate(b.rows)]
            width = 6.5 * inch
            first = 0.6 if len(b.rows[0]) == 2 else 1 / len(b.rows[0])
            rest = (1 - first) / (len(b.rows[0]) - 1)
            table = Table(data, colWidths=[width * first] + [width * rest] * (len(b.rows[0]) - 1), repeatRows=1)
            table.setStyle(TableStyle([
                ("GRID", (0, 0), (-1, -1), 0.5, colors.grey),
                ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#e8eef3")),
                ("VALIGN", (0, 0), (-1, -1), "TOP"),
            ]))
            story.extend([table, Spacer(1, 8)])
    flush_list()

    def draw_footer(canvas, doc):
        canvas.saveState()
        canvas.setFont("Helvetica", 9)
        canvas.drawCentredString(letter[0] / 2, 0.5 * inch, footer_text(title, doc.page))
        canvas.restoreState()

    buffer = io.BytesIO()
    doc = SimpleDocTemplate(
        buffer, pagesize=letter, title=title, author="", subject="", creator="examples/make_documents.py",
        leftMargin=inch, rightMargin=inch, topMargin=inch, bottomMargin=inch, invariant=1,
    )
    doc.build(story, onFirstPage=draw_footer, onLaterPages=draw_footer)
    return buffer.getvalue()


# ---------------------------------------------------------------- DOCX (python-docx)


def _add_runs(paragraph, text: str) -> None:
    for i, part in enumerate(re.split(r"\*\*(.+?)\*\*", text)):
        if part:
            paragraph.add_run(part).bold = bool(i % 2) or None


def render_docx(blocks: list[Block]) -> bytes:
    from docx import Document

    document = Document()
    props = document.core_properties
    props.title = plain(blocks[0].text)
    props.author = props.last_modified_by = ""
    props.created = props.modified = FIXED_TIME
    props.revision = 1
    for b in blocks:
        if b.kind == "heading":
            _add_runs(document.add_heading("", level=b.level), b.text)
        elif b.kind == "paragraph":
            _add_runs(document.add_paragraph(), b.text)
        elif b.kind == "bullet":
            _add_runs(document.add_paragraph(style="List Bullet"), b.text)
        elif b.kind == "number":
            _add_runs(document.add_paragraph(style="List Number"), b.text)
        elif b.kind == "table":
            table = document.add_table(rows=len(b.rows), cols=len(b.rows[0]))
            table.style = "Table Grid"
            for r, row in enumerate(b.rows):
                for c, value in enumerate(row):
                    cell_par = table.cell(r, c).paragraphs[0]
                    _add_runs(cell_par, f"**{value}**" if r == 0 and value else value)
            document.add_paragraph()
    buffer = io.BytesIO()
    document.save(buffer)
    return _normalize_zip(buffer.getvalue())


def _normalize_zip(data: bytes) -> bytes:
    """Rewrite the package with fixed entry timestamps: python-docx stamps each part with the current time."""
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as src, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            entry = zipfile.ZipInfo(info.filename, date_time=FIXED_TIME.timetuple()[:6])
            entry.compress_type = zipfile.ZIP_DEFLATED
            entry.external_attr = 0o644 << 16
            dst.writestr(entry, src.read(info.filename))
    return out.getvalue()


# ---------------------------------------------------------------- reading documents back


def extract_text(path: Path) -> str:
    """The text a document indexer sees: pypdf for PDF (pages joined), python-docx for DOCX (body order)."""
    path = Path(path)
    if path.suffix == ".pdf":
        from pypdf import PdfReader

        return "\n".join(page.extract_text() or "" for page in PdfReader(path).pages)
    if path.suffix == ".docx":
        from docx import Document
        from docx.table import Table

        parts = []
        for item in Document(path).iter_inner_content():
            if isinstance(item, Table):
                parts.extend(cell.text for row in item.rows for cell in row.cells)
            else:
                parts.append(item.text)
        return "\n".join(p for p in parts if p)
    raise ValueError(f"{path}: not a .pdf or .docx file")


# ---------------------------------------------------------------- writing


def render(source: Path, target: Path) -> bytes:
    blocks = parse_source(Path(source).read_text(encoding="utf-8"), str(source))
    return render_pdf(blocks) if Path(target).suffix == ".pdf" else render_docx(blocks)


def write_atomic(target: Path, data: bytes) -> None:
    """Temp file in the same folder, then os.replace: an interrupted run never leaves half a document."""
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.chmod(tmp, 0o644)  # mkstemp makes private files; documents are meant to be read
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def build_document(source: Path, target: Path) -> bool:
    """Render SOURCE into TARGET; returns True when TARGET changed (unchanged files are not rewritten)."""
    data = render(source, target)
    if target.exists() and target.read_bytes() == data:
        return False
    write_atomic(target, data)
    return True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--examples", type=Path, default=EXAMPLES_DIR, help="folder holding the example assistants")
    parser.add_argument("--check", action="store_true", help="only report documents that are missing or out of date")
    args = parser.parse_args(argv)
    try:
        pairs = document_pairs(args.examples)
        stale = []
        for source, target in pairs:
            rel = target.relative_to(args.examples)
            if args.check:
                if not target.exists() or target.read_bytes() != render(source, target):
                    stale.append(rel)
                    print(f"out of date: {rel}")
            else:
                print(f"{'wrote' if build_document(source, target) else 'unchanged'}: {rel}")
    except SourceError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    if args.check and stale:
        print(f"{len(stale)} document(s) out of date; run `python examples/make_documents.py`", file=sys.stderr)
        return 1
    print(f"{len(pairs)} document(s) {'checked' if args.check else 'built'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
