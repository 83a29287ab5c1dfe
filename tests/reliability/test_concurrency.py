"""Two writers on one assistant folder, and a writer beside readers."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from knowledge import build_index, load_index
from knowledge._lock import BusyError, folder_lock
from knowledge._store import current_version

REPO = Path(__file__).resolve().parents[2]


class SlowEmbedder:
    """The fake embedder, slowed so two runs overlap and a reader meets a swap."""

    def __init__(self, inner, delay: float):
        self.inner, self.delay = inner, delay
        for attr in ("name", "path", "max_tokens", "content_tokens", "count_tokens", "truncate", "dimension"):
            setattr(self, attr, getattr(inner, attr))

    def encode(self, texts, batch_size=64, progress=False):
        time.sleep(self.delay)
        return self.inner.encode(texts, batch_size=batch_size)


def test_two_index_runs_one_refused_with_pid(folder, kcfg, fake_embedder):
    """Two runs at once: one indexes, the other says who holds the folder; the index is whole."""
    slow = SlowEmbedder(fake_embedder, 0.2)
    outcomes: list = []
    started = threading.Barrier(2)

    def run():
        started.wait()
        try:
            outcomes.append(build_index(folder / "docs", folder / "build" / "index", kcfg, progress=False, embedder=slow))
        except BusyError as exc:
            outcomes.append(exc)

    threads = [threading.Thread(target=run) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    errors = [o for o in outcomes if isinstance(o, BusyError)]
    assert len(errors) == 1 and f"pid {os.getpid()}" in str(errors[0])
    assert "another index/build is running" in str(errors[0])
    assert current_version(folder / "build" / "index") is not None


HOLD = "import sys, time; from knowledge._lock import folder_lock\nwith folder_lock(sys.argv[1], 'build'):\n    print('held', flush=True); time.sleep(600)"


def test_lock_held_by_another_process_then_taken_over_after_kill9(folder, kcfg, fake_embedder):
    holder = subprocess.Popen([sys.executable, "-c", HOLD, str(folder / "build")], stdout=subprocess.PIPE, text=True, cwd=REPO)
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(BusyError, match=f"pid {holder.pid}"):
            build_index(folder / "docs", folder / "build" / "index", kcfg, progress=False, embedder=fake_embedder)
        os.kill(holder.pid, signal.SIGKILL)
        holder.wait()
        assert str(holder.pid) in (folder / "build" / ".lock").read_text()  # the dead holder's pid is still written
        report = build_index(folder / "docs", folder / "build" / "index", kcfg, progress=False, embedder=fake_embedder)
        assert len(report.indexed) == 3
    finally:
        if holder.poll() is None:
            holder.kill()
            holder.wait()


def test_build_and_index_share_the_lock(folder):
    from builder import build
    from builder.config import load_config

    with folder_lock(folder / "build", "index"):
        errors = []
        t = threading.Thread(target=lambda: _catch(errors, lambda: build(folder, load_config(folder), skip_train=True, quiet=True)))
        t.start()
        t.join()
    assert len(errors) == 1 and isinstance(errors[0], BusyError)


def _catch(errors, fn):
    try:
        fn()
    except Exception as exc:  # noqa: BLE001 - collected for the assertion
        errors.append(exc)


def test_searches_during_repeated_index_runs_never_fail(folder, kcfg, fake_embedder):
    """A reader loads and searches while a writer commits 8 new versions: every search answers."""
    build_index(folder / "docs", folder / "build" / "index", kcfg, progress=False, embedder=fake_embedder)
    stop = threading.Event()
    failures: list = []
    searches = [0]

    def reader():
        while not stop.is_set():
            try:
                kb = load_index(folder / "build" / "index", kcfg, embedder=fake_embedder)
                assert kb.search("when is the clinic open on saturday", k=2, mode="hybrid")
                searches[0] += 1
            except Exception as exc:  # noqa: BLE001 - any failure is the finding
                failures.append(exc)

    readers = [threading.Thread(target=reader) for _ in range(2)]
    for t in readers:
        t.start()
    try:
        for i in range(8):
            (folder / "docs" / "news.md").write_text(f"# News {i}\n\nUpdate number {i}: the clinic has news.\n", encoding="utf-8")
            build_index(folder / "docs", folder / "build" / "index", kcfg, progress=False, embedder=fake_embedder)
    finally:
        stop.set()
        for t in readers:
            t.join()
    assert not failures, failures[:3]
    assert searches[0] > 0
    versions = [p for p in (folder / "build" / "index").iterdir() if p.name.startswith("v-")]
    assert len(versions) <= 2  # the live version and the one it replaced
