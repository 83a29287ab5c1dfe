"""Files every package writes and reads, one way: atomic writes, JSONL reading and appending.

One permission policy: whatever Tailor writes is an ordinary file (0666 less the umask), as
`open()` would make it, whether it went through a temp file or not.

Writes are atomic (a temp file in the same folder, then `os.replace`): a reader sees the old
file or the new one, and a crash mid-write leaves the old one. Appends (votes) are one locked,
fsynced write, so concurrent sessions never interleave lines. Reading decodes one line at a
time, so a non-UTF-8 byte names its line rather than surfacing as a decoder traceback, and a
line longer than MAX_LINE_BYTES is refused before it is parsed (one pasted book in a suite must
not hold the whole file in a JSON parser).

It lives in knowledge/ because that package imports nothing of ours, so every other package can
use it without a cycle.
"""
from __future__ import annotations

import json
import os
import shutil
import tempfile
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from .errors import InputError

try:  # POSIX: lock appends against other processes serving the same folder
    import fcntl
except ImportError:  # pragma: no cover - Windows: the in-process lock still holds
    fcntl = None

MAX_LINE_BYTES = 1 << 20  # 1 MiB per JSONL line: far above any real question, answer or conversation
_APPEND_LOCK = threading.Lock()


def _file_mode() -> int:
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


@contextmanager
def atomic_path(path: str | Path):
    """A temp path beside PATH for a writer that wants a file name (a library writing a model
    file); on success it becomes PATH as an ordinary file, on any failure it is removed and PATH
    is untouched. Parents are created."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)  # a dot name: never indexed or listed
    os.close(fd)
    try:
        yield Path(tmp)
        os.chmod(tmp, _file_mode())  # mkstemp makes 0600; what Tailor writes is an ordinary file
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_bytes_atomic(path: str | Path, data: bytes) -> Path:
    """Write DATA to PATH through a temp file in the same folder; parents are created."""
    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())  # on disk before it replaces the old file: a power cut leaves one or the other
    return Path(path)


def write_text_atomic(path: str | Path, text: str) -> Path:
    return write_bytes_atomic(path, text.encode("utf-8"))


def write_json(path: str | Path, data, indent: int = 2) -> Path:
    """Atomic JSON (values JSON cannot hold are written as text)."""
    return write_text_atomic(path, json.dumps(data, indent=indent, ensure_ascii=False, default=str) + "\n")


def write_jsonl(path: str | Path, rows) -> Path:
    """Atomic JSONL: the whole file is replaced at once."""
    return write_text_atomic(path, "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows))


@contextmanager
def locked(path: str | Path):
    """Hold PATH's append lock (this process's, and on POSIX an advisory lock other processes'
    appends take too), yielding the file open for appending: no row is appended while a caller
    rewrites the file under it."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with _APPEND_LOCK, open(path, "a+b") as fh:
        if fcntl is not None:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
        try:
            yield fh
        finally:
            if fcntl is not None:
                fcntl.flock(fh.fileno(), fcntl.LOCK_UN)


def append_jsonl(path: str | Path, rows: list[dict]) -> None:
    """Append rows as one locked write, then fsync: concurrent sessions never interleave lines,
    and a row that was acknowledged survives a crash. A line torn by an earlier crash is ended
    first, so it never swallows the new row."""
    if not rows:
        return
    data = "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows).encode("utf-8")
    with locked(path) as fh:
        if fh.seek(0, os.SEEK_END) > 0:
            fh.seek(-1, os.SEEK_END)
            if fh.read(1) != b"\n":
                data = b"\n" + data
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())


def replace_dir(tmp: Path, final: Path) -> None:
    """Move a finished folder into place; the old one is removed only after the new one is there."""
    old = final.with_name(f"{final.name}.old-{os.getpid()}")
    if final.exists():
        os.replace(final, old)
    os.replace(tmp, final)
    shutil.rmtree(old, ignore_errors=True)


def _decoded(raw: bytes, number: int, where: str, max_line_bytes: int) -> str:
    """One line's text; InputError naming WHERE when it is too long or not UTF-8 (the first line
    may start with a byte-order mark)."""
    if len(raw) > max_line_bytes:
        raise InputError(f"{where}: line is {len(raw):,} bytes; the limit is {max_line_bytes:,} bytes per line "
                         "(shorten the text or split the row)")
    try:
        return raw.decode("utf-8-sig" if number == 1 else "utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(f"{where}: not UTF-8 (byte 0x{raw[exc.start]:02x} at byte {exc.start + 1} of the line); "
                         "save the file as UTF-8") from None


def jsonl_lines(path: str | Path, max_line_bytes: int = MAX_LINE_BYTES) -> Iterator[tuple[int, str]]:
    """(line number, text) for every non-blank line; InputError naming file:line for a line that
    is not UTF-8 or is too long."""
    path = Path(path)
    with open(path, "rb") as fh:
        for number, raw in enumerate(fh, start=1):
            text = _decoded(raw, number, f"{path}:{number}", max_line_bytes)
            if text.strip():
                yield number, text


def jsonl_rows(path: str | Path, label: str | None = None, max_line_bytes: int = MAX_LINE_BYTES) -> tuple[list[tuple[int, dict]], list[str]]:
    """(line number, object) for every readable line of a file a person wrote, and a problem
    naming file:line for every other one (too long, not UTF-8, not JSON, not an object), so a
    user fixes them all in one go rather than one per run. LABEL names the file in problems
    (default: its path)."""
    path = Path(path)
    rows, problems = [], []
    for n, data in enumerate(path.read_bytes().split(b"\n"), start=1):
        where = f"{label or path}:{n}"
        try:
            text = _decoded(data, n, where, max_line_bytes)
        except InputError as exc:
            problems.append(str(exc))
            continue
        if not text.strip():
            continue
        try:
            row = json.loads(text)
        except json.JSONDecodeError as exc:
            problems.append(f"{where}: not valid JSON ({exc.msg} at column {exc.colno})")
            continue
        except RecursionError:
            problems.append(f"{where}: JSON nested too deeply")
            continue
        if not isinstance(row, dict):
            problems.append(f"{where}: expected a JSON object, got {type(row).__name__}")
            continue
        rows.append((n, row))
    return rows, problems


def jsonl_objects(path: str | Path, fix: str) -> Iterator[tuple[int, object]]:
    """(line number, parsed value) for every non-blank line; a line that is not JSON is an
    InputError naming file:line and FIX (what the user should do)."""
    for number, line in jsonl_lines(path):
        try:
            yield number, json.loads(line)
        except json.JSONDecodeError as exc:
            raise InputError(f"{path}:{number}: not valid JSON ({exc.msg}); {fix}") from None
        except RecursionError:
            raise InputError(f"{path}:{number}: JSON nested too deeply; {fix}") from None


def read_jsonl(path: str | Path, fix: str = "each line must be one JSON object") -> list:
    """Every row of a JSONL file; a damaged line is an InputError naming file:line and FIX."""
    return [row for _, row in jsonl_objects(path, fix)]


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
