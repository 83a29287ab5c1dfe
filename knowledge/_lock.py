"""One writer per assistant folder: index runs and builds take `build/.lock` first.

Two writers committing index versions at once can delete each other's folder (each drops every
version but its own), and two builds of one folder do the same work twice. The lock is an
advisory `flock` on build/.lock, which the kernel releases when its process dies, so a lock
left by a killed run (a dead pid in the file) is simply taken over. Within one process the
lock is re-entrant for the thread that holds it (`tailor build` holds it and its index stage
takes it again); another thread of the same process (the app's Index button while a build runs)
is refused like another process.
"""
from __future__ import annotations

import contextlib
import os
import threading
from pathlib import Path
from typing import Iterator

from .errors import TailorError

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows: the in-process lock still serializes one server
    fcntl = None

LOCK_NAME = ".lock"


class BusyError(TailorError):
    """Another index or build run holds this assistant folder."""


_held: dict[str, tuple[int, object, int]] = {}  # lock path -> (depth, open file, owning thread)
_guard = threading.RLock()


def _holder(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8").strip() or "?"
    except OSError:
        return "?"


@contextlib.contextmanager
def folder_lock(build_dir: str | Path, what: str = "index") -> Iterator[None]:
    """Hold build_dir/.lock for the block, or raise BusyError naming the pid that holds it."""
    build_dir = Path(build_dir)
    build_dir.mkdir(parents=True, exist_ok=True)
    path = build_dir / LOCK_NAME
    key = str(path.resolve())
    with _guard:
        if key in _held:
            depth, fh, owner = _held[key]
            if owner != threading.get_ident():
                raise BusyError(
                    f"another index/build is running on {build_dir.parent} (pid {os.getpid()}, this process); "
                    "wait for it to finish, then run this again"
                )
            _held[key] = (depth + 1, fh, owner)
        else:
            fh = open(path, "a+", encoding="utf-8")
            if fcntl is not None:
                try:
                    fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    fh.close()
                    raise BusyError(
                        f"another index/build is running on {build_dir.parent} (pid {_holder(path)}); "
                        "wait for it to finish, then run this again"
                    ) from None
            fh.seek(0)
            fh.truncate()
            fh.write(f"{os.getpid()} {what}\n")
            fh.flush()
            _held[key] = (1, fh, threading.get_ident())
    try:
        yield
    finally:
        with _guard:
            depth, fh, owner = _held[key]
            if depth > 1:
                _held[key] = (depth - 1, fh, owner)
            else:
                del _held[key]
                fh.seek(0)
                fh.truncate()
                fh.close()  # closing releases the flock
