"""An answer as people and programs read it: plain-text passages, where a source is, the `/ask`
API's JSON and the one-line footer. The app's HTML is built from these, so the browser, the
API and the terminal describe the same answer the same way.
"""
from __future__ import annotations

import re

from chat._types import Answer, Citation

_MD_LINK = re.compile(r"\[([^\]]+)\]\([^)]*\)")
_MD_NOISE = re.compile(r"(^|\s)#{1,6}\s+|\*\*|__|`+|^\s*[-*+]\s+|^\s*>\s?|^\s*\|?\s*:?-{3,}.*$", re.M)
_TOPICS = " I can help with questions about: "  # how chat's decline message lists what it can answer


def plain_text(markdown: str) -> str:
    """A passage as a person reads it: no '##', '**', backticks, table rules or link targets;
    table pipes become separators. Line breaks between paragraphs are kept."""
    text = _MD_LINK.sub(r"\1", markdown or "")
    text = _MD_NOISE.sub(lambda m: m.group(1) or "", text)
    text = re.sub(r"\s*\|\s*", " · ", text)
    text = re.sub(r"(^|\n)\s*·\s*|\s*·\s*(?=\n|$)", r"\1", text)
    return re.sub(r"[ \t]+", " ", re.sub(r"\n{3,}", "\n\n", text)).strip()


def clean_snippet(text: str, n: int = 220) -> str:
    """The start of a passage in plain text, cut at a word within N characters."""
    flat = " ".join(plain_text(text).split())
    return flat if len(flat) <= n else flat[: n - 1].rsplit(" ", 1)[0] + " …"


def one_line(text: str, n: int = 240) -> str:
    """TEXT on one line, cut to N characters with an ellipsis."""
    flat = " ".join((text or "").split())
    return flat if len(flat) <= n else flat[: n - 1] + "…"


def source_where(c: Citation) -> str:
    """Title, section and page of a source, for people ('Opening hours · Saturday · page 2')."""
    parts = [getattr(c, "title", "") or c.source]
    if getattr(c, "section", "") and c.section != parts[0]:
        parts.append(c.section)
    if c.page:
        parts.append(f"page {c.page}")
    return " · ".join(parts)


def decline_topics(text: str) -> tuple[str, list[str]]:
    """(message, suggested topics) of a decline; the topics start with a capital, [] when none are listed."""
    message, sep, topics = text.partition(_TOPICS)
    if not sep:
        return text, []
    items = [t.strip().rstrip(".") for t in topics.split(";") if t.strip()]
    return message, [t[:1].upper() + t[1:] for t in items]


def sources_json(answer: Answer) -> list[dict]:
    return [
        {"n": c.n, "source": c.source, "title": getattr(c, "title", ""), "section": getattr(c, "section", ""),
         "page": c.page, "score": float(c.score), "snippet": clean_snippet(c.text), "chunk_id": c.chunk_id,
         "cited": c.cited, "attributed": c.attributed, "supports": c.supports}
        for c in answer.sources
    ]


def answer_json(answer: Answer) -> dict:
    """The /ask endpoint's final JSON: verified or flagged, in words too, and the sources."""
    return {
        "verified": answer.verified,
        "note": answer.note,
        "unsupported_figures": list(answer.unsupported_figures),
        "declined": answer.declined,
        "escalation": answer.escalation,
        "sources": sources_json(answer),
    }


def answer_footer(answer: Answer) -> str:
    """One line under an answer: variant, timings, why it declined or escalated, and the build."""
    t = answer.timings or {}
    parts = [answer.variant or ""]
    if t.get("first_token_s") is not None:
        parts.append(f"first token {t['first_token_s']:.2f} s")
    if t.get("total_s") is not None:
        parts.append(f"total {t['total_s']:.2f} s")
    if answer.declined:
        reason = getattr(answer, "decline_reason", None) or ""
        why = reason.removeprefix("coverage: ") if reason.startswith("coverage") else "no support in the documents"
        parts.append(f"declined: {why}")
    if getattr(answer, "escalation", None):
        parts.append(f"escalation: {answer.escalation}")
    if answer.build_id:
        parts.append(f"build {answer.build_id}")
    return " · ".join(p for p in parts if p)
