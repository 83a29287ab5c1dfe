"""Answers that never reach the model: escalation of urgent messages and declining when the
knowledge base holds nothing on the question."""
from __future__ import annotations

import re
from pathlib import PurePosixPath

from chat.config import EscalationRule
from knowledge.errors import ConfigError

SUGGESTED_TOPICS = 3


def compile_rules(rules: list[EscalationRule]) -> list[tuple[EscalationRule, list[re.Pattern]]]:
    """Compile once at load time, so a bad pattern is reported before anyone asks anything."""
    compiled = []
    for i, rule in enumerate(rules):
        patterns = []
        for j, pattern in enumerate(rule.patterns):
            try:
                patterns.append(re.compile(pattern, re.IGNORECASE))
            except re.error as exc:
                raise ConfigError(f"chat.escalation[{i}] ({rule.name}).patterns[{j}]: invalid regular expression {pattern!r}: {exc}") from None
        compiled.append((rule, patterns))
    return compiled


def match_escalation(compiled, text: str) -> EscalationRule | None:
    """The first rule (in config order) any of whose patterns occurs in the message."""
    for rule, patterns in compiled:
        if any(p.search(text) for p in patterns):
            return rule
    return None


def document_titles(kb) -> dict[str, str]:
    """A readable title per source: the document's title, else its first heading, else its file name in words."""
    titles: dict[str, str] = {}
    for chunk in getattr(kb, "chunks", []):
        if not titles.get(chunk.source):
            title = getattr(chunk, "title", "") or (chunk.headings[0] if chunk.headings else "")
            titles[chunk.source] = title.strip().lstrip("#").strip()
    for source in kb.sources():
        if not titles.get(source):
            stem = PurePosixPath(source).stem
            titles[source] = re.sub(r"[_\-]+", " ", stem).strip() or source
    return titles


def decline_text(message: str, titles: dict[str, str], hits: list, kb_sources: dict[str, int]) -> str:
    """The decline message plus a few topics the documents do cover: the sources nearest the
    question first (they are below the threshold, but closest to what was asked), then the
    largest documents, so the user learns what to ask instead."""
    order = [h.chunk.source for h in hits] + sorted(kb_sources, key=lambda s: -kb_sources[s])
    topics: list[str] = []
    for source in order:
        title = titles.get(source, source)
        if title not in topics:
            topics.append(title)
        if len(topics) == SUGGESTED_TOPICS:
            break
    if not topics:
        return message
    return f"{message} I can help with questions about: {'; '.join(topics)}."
