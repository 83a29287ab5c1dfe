"""`tailor ask` and `tailor chat`: the assistant in a terminal, streaming as it writes."""
from __future__ import annotations

import json
from typing import Callable

from chat._assistant import Assistant
from chat._history import with_turn
from chat._types import Answer
from knowledge.errors import TailorError

CHAT_HELP = "Commands: /sources (sources of the last answer), /reset (forget the conversation), /variant NAME, /quit"


def format_sources(answer: Answer) -> str:
    """One line per source: marker, file (page), score, snippet; says when nothing was cited."""
    if answer.escalation:
        return f"(escalation rule '{answer.escalation}': no documents used)"
    if answer.declined:
        if answer.decline_reason and answer.decline_reason.startswith("coverage"):
            return f"(declined: {answer.decline_reason.removeprefix('coverage: ')})"
        best = f"{answer.max_similarity:.2f}" if answer.max_similarity is not None else "none"
        return f"(declined: best similarity {best} is below the threshold {answer.threshold:.2f})"
    if not answer.sources:
        return "(no documents: this variant answers without retrieval)"
    lines = [] if answer.sources[0].cited else ["(the answer cites no [n] marker; these are the documents it was given)"]
    for c in answer.sources:
        page = f", page {c.page}" if c.page else ""
        how = "; marker added by Tailor" if c.attributed else ""
        part = "part of " if answer.verified is False else ""  # a flagged answer: no passage supports all of it
        how += {True: f"; this passage supports {part}the answer", False: "; this passage does not support the answer"}.get(c.supports, "")
        lines.append(f"[{c.n}] {c.source}{page}  (score {c.score:.3f}, similarity {c.similarity:.2f}{how})\n    {c.snippet}")
    return "\n".join(lines)


def verdict_line(answer: Answer) -> str:
    """The verified-or-flagged line printed under an answer ("" when nothing was checked)."""
    if answer.verified is False:
        return f"!! {answer.note}"
    return f"ok: {answer.note}" if answer.verified else ""


def _stream_to(assistant: Assistant, question: str, history: list[dict], variant: str, write: Callable[[str], None],
               verbose: bool = False) -> Answer:
    answer = assistant.answer(question, history, variant, on_token=write)
    write("\n")
    if verdict_line(answer):
        write(verdict_line(answer) + "\n")
    if verbose:
        for notice in answer.dropped.get("notices", []):
            write(f"(note: {notice})\n")
    return answer


def ask(assistant: Assistant, question: str, variant: str | None, as_json: bool, write: Callable[[str], None],
        verbose: bool = False) -> Answer:
    """One answer: streamed with its sources, or (`as_json`) the full result as one JSON object."""
    variant = assistant.check_variant(variant)
    if as_json:
        answer = assistant.answer(question, None, variant)
        write(json.dumps(answer.to_dict(), ensure_ascii=False, indent=2) + "\n")
        return answer
    answer = _stream_to(assistant, question, [], variant, write, verbose)
    write("\nSources:\n" + format_sources(answer) + "\n")
    return answer


def chat_loop(assistant: Assistant, variant: str | None, read: Callable[[str], str], write: Callable[[str], None],
              verbose: bool = False) -> None:
    """Read questions until /quit or end of input; a bad command or question is reported and
    the conversation goes on."""
    variant = assistant.check_variant(variant)
    history: list[dict] = []
    last: Answer | None = None
    write(f"{assistant.name} ({variant}; variants: {', '.join(assistant.variants)}). {CHAT_HELP}\n")
    while True:
        try:
            line = read("you> ").strip()
        except (EOFError, KeyboardInterrupt):
            write("\n")
            return
        if not line:
            continue
        command, _, arg = line.partition(" ")
        if command == "/quit":
            return
        if command == "/reset":
            history, last = [], None
            write("(conversation cleared)\n")
            continue
        if command == "/sources":
            write((format_sources(last) if last else "(no answer yet)") + "\n")
            continue
        if command == "/variant":
            try:
                variant = assistant.check_variant(arg.strip() or None) if arg.strip() else variant
            except TailorError as exc:
                write(f"error: {exc}\n")
                continue
            write(f"(variant: {variant})\n")
            continue
        if command.startswith("/"):
            write(f"unknown command {command}. {CHAT_HELP}\n")
            continue
        write("assistant> ")
        try:
            last = _stream_to(assistant, line, history, variant, write, verbose)
        except TailorError as exc:
            write(f"error: {exc}\n")
            continue
        history = with_turn(history, line, last)  # the disclaimer is stripped there, as in the app
