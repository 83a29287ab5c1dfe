"""The assistant folder's layout, in one place: every path Tailor reads or writes under it.

    my-clinic/
      assistant.yaml                 config (optional)
      docs/                          the documents
      data/conversations.jsonl       training conversations (optional)
      data/preferences.jsonl         preference pairs (optional)
      evals/*.jsonl                  eval suites
      feedback/votes.jsonl           the app's votes (outside build/: votes cannot be rebuilt)
      feedback/preferences.jsonl     pairs made from votes, read by the next build
      build/                         everything `tailor build` makes (safe to delete)
        index/  data/  adapters/  model/  stages/  reports/  manifest.json

It lives in knowledge/ because that package imports nothing of ours, so every layer can use it.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

CONFIG_NAME = "assistant.yaml"
MANIFEST_NAME = "manifest.json"


@dataclass(frozen=True)
class AssistantFolder:
    root: Path

    def __init__(self, root: str | Path):
        object.__setattr__(self, "root", Path(root))

    @classmethod
    def of(cls, path: str | Path) -> "AssistantFolder":
        """The assistant folder given it or its build/ folder (`tailor ask` takes either)."""
        path = Path(path)
        if path.name == "build" or (path / MANIFEST_NAME).exists():
            return cls(path.parent)
        return cls(path)

    # what the user writes
    @property
    def config(self) -> Path:
        return self.root / CONFIG_NAME

    @property
    def docs(self) -> Path:
        return self.root / "docs"

    @property
    def data(self) -> Path:
        return self.root / "data"

    @property
    def conversations(self) -> Path:
        return self.data / "conversations.jsonl"

    @property
    def preferences(self) -> Path:
        return self.data / "preferences.jsonl"

    @property
    def evals(self) -> Path:
        return self.root / "evals"

    def suites(self) -> list[Path]:
        """The eval suites, sorted by name."""
        return sorted(self.evals.glob("*.jsonl")) if self.evals.is_dir() else []

    # what the app records
    @property
    def feedback(self) -> Path:
        return self.root / "feedback"

    @property
    def votes(self) -> Path:
        return self.feedback / "votes.jsonl"

    @property
    def feedback_pairs(self) -> Path:
        return self.feedback / "preferences.jsonl"

    # what the build makes
    @property
    def build(self) -> Path:
        return self.root / "build"

    @property
    def index(self) -> Path:
        return self.build / "index"

    @property
    def manifest(self) -> Path:
        return self.build / MANIFEST_NAME

    @property
    def reports(self) -> Path:
        return self.build / "reports"

    @property
    def stages(self) -> Path:
        return self.build / "stages"

    @property
    def training_data(self) -> Path:
        return self.build / "data"

    @property
    def adapters(self) -> Path:
        return self.build / "adapters"
