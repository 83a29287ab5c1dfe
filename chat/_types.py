"""The events an answer streams as: `Token`s while the model writes, then one final `Answer`.

The same generator feeds the terminal, the Gradio app and the evals, so each of them gets
the text as it is written and the full record (sources, timings, what was dropped) at the end.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field

VARIANTS = ("extract", "base", "base+rag", "tuned", "tuned+rag")


def uses_retrieval(variant: str) -> bool:
    """'base+rag', 'tuned+rag' and 'extract' answer from retrieved evidence; 'base' and 'tuned' do not."""
    return variant.endswith("+rag") or variant == "extract"


@dataclass
class Token:
    """A piece of answer text, in order; joined they make `Answer.text` (without the disclaimer)."""

    text: str


@dataclass
class Citation:
    """A document the answer rests on. `n` is its [n] marker in the prompt and the answer;
    `cited` is False when the answer names no source and the citation lists what it was given;
    `attributed` is True when the answer's marker was added by Tailor (the model wrote none and
    this chunk supports the answer), not written by the model."""

    n: int
    source: str
    page: int | None
    snippet: str
    score: float
    chunk_id: str
    text: str
    similarity: float | None = None
    cited: bool = True
    attributed: bool = False
    # Whether this passage supports at least one claim of the answer (chat._citations.check_support);
    # None when the answer was not checked (declined, or it states nothing to check).
    supports: bool | None = None
    title: str = ""  # the document's title, for people (the file name is `source`)
    section: str = ""  # the heading the passage sits under, if any


@dataclass
class Answer:
    text: str
    declined: bool = False
    # Why chat declined before any model ran: "similarity" (nothing retrieved close enough) or
    # "coverage: 'Ebola' is not in the documents" (chat._coverage); None when it did not.
    decline_reason: str | None = None
    escalation: str | None = None
    sources: list[Citation] = field(default_factory=list)
    hits: list = field(default_factory=list)
    chunk_ids: list[str] = field(default_factory=list)
    variant: str = "base+rag"
    build_id: str | None = None
    timings: dict = field(default_factory=dict)
    dropped: dict = field(default_factory=dict)
    question: str = ""
    retrieval_query: str | None = None
    max_similarity: float | None = None
    threshold: float | None = None
    # What the model was given and wrote, for evals that must not flatter it: the evidence's
    # chunk ids and token count, the model's own text (before Tailor added a marker or the
    # disclaimer) and the markers Tailor added, if any.
    evidence: dict = field(default_factory=dict)
    passages: list[str] = field(default_factory=list)  # the text of each passage shown, [1]..[n] (chat.evidence)
    own_text: str | None = None
    attributed: list[int] | None = None  # the markers Tailor added, when the model wrote none
    # Verified or flagged (chat._citations.check_support): True when the cited passages support
    # every claim and figure, False when something is in none of them, None when not checked
    # (an escalation, a decline, a variant without documents, or an answer with no claim).
    verified: bool | None = None
    note: str = ""  # one sentence a reader sees beside the answer: checked, or not found as stated
    unsupported_claims: list[str] = field(default_factory=list)
    unsupported_figures: list[str] = field(default_factory=list)
    disclaimer: str = ""  # the disclaimer appended to `text`; not part of what was said, nor of the history

    def to_dict(self) -> dict:
        """JSON-safe: what `tailor ask --json` prints and what the app and evals store."""
        data = {k: v for k, v in asdict(self).items() if k not in ("text", "hits", "sources")}
        data["hits"] = [_hit_dict(h) for h in self.hits]
        return {"answer": self.text, "declined": self.declined, "sources": [asdict(c) for c in self.sources], **data}


def _hit_dict(hit) -> dict:
    return {
        "rank": hit.rank,
        "chunk_id": hit.chunk.id,
        "source": hit.chunk.source,
        "page": hit.chunk.page,
        "score": float(hit.score),
        "similarity": float(hit.similarity),
    }
