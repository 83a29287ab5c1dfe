"""The one assistant a server's sessions share, swapped for a new one after a build.

A finished build or index run loads a new Assistant while the old one keeps answering, so a
rebuild never interrupts the people using the app; if the new one fails to load, the old one
goes on serving and the reason is kept for the status line.
"""
from __future__ import annotations

import threading
from pathlib import Path
from typing import Callable

from chat._assistant import Assistant
from knowledge.errors import TailorError
from knowledge.folder import AssistantFolder


def _load_assistant(folder: Path, cfg) -> Assistant:
    return Assistant.load(folder, cfg.serving())


class LiveAssistant:
    """`cfg` is the assistant's composed config (builder.config.TailorConfig): the Assistant is
    loaded with its serving slice, the search box reads its `knowledge` section, and the app
    reads the rest (privacy, evals) from `live.cfg`, which follows every reload."""

    def __init__(self, folder: str | Path, cfg, loader: Callable[[Path, object], object] | None = None):
        self.folder = Path(folder)
        self.cfg = cfg
        self._loader = loader or _load_assistant
        self._lock = threading.Lock()
        self.build_lock = threading.Lock()  # one build or index run at a time
        self.assistant = None
        self.error: str | None = None
        self._kb = None
        self._kb_lock = threading.Lock()
        self.reload(cfg)

    def reload(self, cfg) -> None:
        """Load the current build with CFG; on failure keep serving the previous one and remember why
        (the failure is raised only when there was a previous one: the caller reports it)."""
        try:
            fresh = self._loader(self.folder, cfg)
        except TailorError as exc:
            with self._lock:
                self.error = str(exc)
                self._kb = None
            if self.assistant is None:
                return
            raise
        with self._lock:
            self.assistant, self.cfg, self.error, self._kb = fresh, cfg, None, None

    def require(self):
        """The assistant, or a TailorError that says how to make one."""
        assistant = self.assistant
        if assistant is None:
            raise TailorError(f"the assistant is not ready: {self.error} (add documents and run Index in the Build tab)")
        return assistant

    @property
    def variants(self) -> list[str]:
        return list(getattr(self.assistant, "variants", []) or [])

    @property
    def build_id(self) -> str | None:
        return getattr(self.assistant, "build_id", None)

    @property
    def default_variant(self) -> str | None:
        """What a new conversation is answered by: the assistant's default, else its first variant."""
        variants = self.variants
        return getattr(self.assistant, "default_variant", None) or (variants[0] if variants else None)

    def default_pair(self) -> list[str]:
        """The comparison a manager cares about: the served tuned model against the base model,
        both reading the documents; else the first two variants."""
        choices = self.variants
        for pair in (["tuned+rag", "base+rag"], ["base+rag", "base"]):
            if all(v in choices for v in pair):
                return pair
        models = [v for v in choices if v != "extract"]
        return models[:2] if len(models) >= 2 else choices[:2]

    def kb(self):
        """The knowledge base for the search box (loaded on first use, dropped on reload)."""
        with self._kb_lock:
            if self._kb is None:
                kb = getattr(self.assistant, "kb", None)
                if kb is None:
                    from knowledge import load_index

                    kb = load_index(AssistantFolder(self.folder).index, self.cfg.knowledge)
                self._kb = kb
            return self._kb

    def sources(self) -> dict[str, int]:
        """Chunks per indexed document ({} before the first index run, or when it cannot be read)."""
        try:
            return self.kb().sources() if self.assistant is not None else {}
        except TailorError:
            return {}
