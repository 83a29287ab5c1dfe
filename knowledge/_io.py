"""Reading JSONL files a person or a crash may have damaged: line by line, with file:line errors.

A file is decoded one line at a time, so a non-UTF-8 byte names its line rather than surfacing
as a decoder traceback, and a line longer than MAX_LINE_BYTES is refused before it is parsed
(one pasted book in a suite must not hold the whole file in a JSON parser).
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Iterator

from .errors import InputError

MAX_LINE_BYTES = 1 << 20  # 1 MiB per JSONL line: far above any real question, answer or conversation


def jsonl_lines(path: str | Path, max_line_bytes: int = MAX_LINE_BYTES) -> Iterator[tuple[int, str]]:
    """(line number, text) for every non-blank line; InputError naming file:line for a line that
    is not UTF-8 or is too long."""
    path = Path(path)
    with open(path, "rb") as fh:
        for number, raw in enumerate(fh, start=1):
            if len(raw) > max_line_bytes:
                raise InputError(
                    f"{path}:{number}: line is {len(raw):,} bytes; the limit is {max_line_bytes:,} bytes per line "
                    "(shorten the text or split the row)"
                )
            try:
                text = raw.decode("utf-8-sig" if number == 1 else "utf-8")
            except UnicodeDecodeError as exc:
                raise InputError(
                    f"{path}:{number}: not UTF-8 (byte 0x{raw[exc.start]:02x} at byte {exc.start + 1} of the line); "
                    "save the file as UTF-8"
                ) from None
            if text.strip():
                yield number, text


def read_jsonl_tolerant(path: str | Path) -> list[dict]:
    """Every complete JSON object in a file Tailor appends to (votes): a torn line left by a crash
    mid-write (cut JSON, or a multi-byte character cut in half) is skipped, never an error."""
    path = Path(path)
    if not path.exists():
        return []
    rows = []
    with open(path, "rb") as fh:
        for raw in fh:
            try:
                row = json.loads(raw.decode("utf-8"))
            except (UnicodeDecodeError, json.JSONDecodeError, RecursionError):
                continue
            if isinstance(row, dict):
                rows.append(row)
    return rows
