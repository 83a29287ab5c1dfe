"""The records every package shares: a Chunk of a document and a search Hit."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field


@dataclass(frozen=True)
class Chunk:
    """A passage of one document, with what a citation needs to point back at it.

    `text == document_text[start:end]`, where the document text is what Tailor extracted from
    the file (the file itself for .md/.txt; page texts joined for PDF).
    """

    id: str  # stable: a hash of source + content, unchanged while the passage is unchanged
    text: str
    source: str  # path relative to docs/, posix
    page: int | None = None  # 1-based PDF page
    headings: list[str] = field(default_factory=list)  # trail of headings above the passage
    start: int = 0
    end: int = 0
    title: str = ""  # the document's title (first H1, <title>, PDF/DOCX title, or the file name)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "Chunk":
        return cls(**data)

    @property
    def label(self) -> str:
        """'docs/x.pdf p. 3': how a person finds the passage."""
        return f"{self.source} p. {self.page}" if self.page else self.source


@dataclass
class Hit:
    """One search result. `score` ranks within its mode (cosine, BM25, fused or reranker score);
    `similarity` is always the cosine between question and chunk embeddings, in every mode,
    so callers can apply one threshold ("does the knowledge base support an answer at all?")."""

    chunk: Chunk
    score: float
    similarity: float
    rank: int
    scores: dict[str, float] = field(default_factory=dict)  # every stage's score: dense, bm25, rrf, rerank

    @property
    def text(self) -> str:
        return self.chunk.text

    @property
    def source(self) -> str:
        return self.chunk.source

    @property
    def page(self) -> int | None:
        return self.chunk.page

    @property
    def id(self) -> str:
        return self.chunk.id

    def to_dict(self) -> dict:
        """JSON-safe: rank, scores, then the chunk's fields."""
        return {
            "rank": self.rank,
            "score": round(float(self.score), 6),
            "similarity": round(float(self.similarity), 6),
            "scores": {k: round(float(v), 6) for k, v in self.scores.items()},
            **self.chunk.to_dict(),
        }
