"""A conversation as the model sees it: the questions people asked and what the assistant said.

The terminal chat and the app keep the same history: each turn is the question and the answer
without the disclaimer Tailor appends (the disclaimer is for the reader, so it is stripped once,
here, and never sent back to the model). The size checks run before any work is done, on what a
client controls (README "Limits and safety").
"""
from __future__ import annotations

from chat._types import Answer
from knowledge.errors import InputError

MAX_QUESTION_CHARS = 4_000  # a question, in the chat, side by side and /ask
MAX_HISTORY_MESSAGES = 50  # history sent with a question; older turns are dropped by the prompt anyway
MAX_HISTORY_CHARS = 50_000


def without_disclaimer(answer: Answer) -> str:
    """What the assistant said, without the disclaimer Tailor appended: the disclaimer is not
    part of the conversation, so it is never sent back to the model as history."""
    text = answer.text
    if answer.disclaimer and text.endswith(answer.disclaimer):
        text = text[: -len(answer.disclaimer)].rstrip()
    return text


def with_turn(history: list[dict] | None, question: str, answer: Answer) -> list[dict]:
    """HISTORY plus one turn (the question, then the answer without its disclaimer), as a new list."""
    return list(history or []) + [
        {"role": "user", "content": question},
        {"role": "assistant", "content": without_disclaimer(answer)},
    ]


def check_question(question: str | None) -> str:
    """The question, stripped; InputError when it is empty or longer than MAX_QUESTION_CHARS."""
    question = (question or "").strip()
    if not question:
        raise InputError("the question is empty: send the text of a question")
    if len(question) > MAX_QUESTION_CHARS:
        raise InputError(f"the question is {len(question):,} characters; the limit is {MAX_QUESTION_CHARS:,} (ask a shorter question)")
    return question


def check_history(history) -> None:
    """A history within MAX_HISTORY_MESSAGES and MAX_HISTORY_CHARS, or InputError (start a new conversation)."""
    history = list(history or [])
    chars = sum(len(str(m.get("content", ""))) if isinstance(m, dict) else len(str(m)) for m in history)
    if len(history) > MAX_HISTORY_MESSAGES or chars > MAX_HISTORY_CHARS:
        raise InputError(
            f"the conversation is too long ({len(history)} messages, {chars:,} characters; the limits are "
            f"{MAX_HISTORY_MESSAGES} and {MAX_HISTORY_CHARS:,}); press Reset to start a new one"
        )
