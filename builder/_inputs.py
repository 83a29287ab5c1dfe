"""Reading the user's training data: data/conversations.jsonl and data/preferences.jsonl.

The formats are TRL's own (conversational "messages"; prompt/chosen/rejected), so data a user
already has loads unchanged. Every line is checked before anything trains, and all problems are
reported at once with file and line number: a build never dies an hour in on line 97.
Fields a row does not need (`source`, `id`, ...) are kept, not errors.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from knowledge.files import jsonl_rows
from knowledge.errors import InputError

ROLES = ("system", "user", "assistant")
MAX_REPORTED = 20  # problems listed in one error; the rest are counted


@dataclass
class Conversation:
    messages: list[dict]  # user/assistant turns only; a row's own system message is dropped (see load_conversations)
    line: int
    extra: dict = field(default_factory=dict)

    @property
    def user_turns(self) -> list[str]:
        return [m["content"] for m in self.messages if m["role"] == "user"]

    @property
    def n_assistant(self) -> int:
        return sum(m["role"] == "assistant" for m in self.messages)


@dataclass
class PreferencePair:
    prompt: list[dict]  # user/assistant turns ending with the user's question
    chosen: str
    rejected: str
    source: str  # "user" (data/preferences.jsonl), "feedback" (app votes) or "auto"
    line: int = 0
    extra: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {"prompt": self.prompt, "chosen": self.chosen, "rejected": self.rejected, "source": self.source, "line": self.line}


def _raise_all(path: Path, problems: list[str]) -> None:
    if not problems:
        return
    shown = problems[:MAX_REPORTED]
    more = f"\n  ... and {len(problems) - MAX_REPORTED} more" if len(problems) > MAX_REPORTED else ""
    raise InputError(f"{path}: {len(problems)} bad line(s); fix them and run the build again:\n  " + "\n  ".join(shown) + more)


def _read_lines(path: Path, problems: list[str]) -> list[tuple[int, dict]]:
    """(line number, object) per line; each undecodable, oversized or invalid line is a problem naming its line."""
    rows, bad = jsonl_rows(path, label=path.name)
    problems.extend(bad)
    return rows


def _check_messages(messages, where: str, problems: list[str]) -> list[dict] | None:
    """The user/assistant turns of a messages list, or None after recording what is wrong."""
    if not isinstance(messages, list) or not messages:
        problems.append(f"{where}: 'messages' must be a non-empty list of {{\"role\", \"content\"}} objects")
        return None
    turns, ok = [], True
    for i, m in enumerate(messages):
        if not isinstance(m, dict) or not isinstance(m.get("content"), str) or "role" not in m:
            problems.append(f"{where}: messages[{i}] needs a 'role' and a string 'content'")
            ok = False
            continue
        if m["role"] not in ROLES:
            problems.append(f"{where}: messages[{i}].role {m['role']!r} is unknown; use one of {', '.join(ROLES)}")
            ok = False
            continue
        if m["role"] == "assistant" and not m["content"].strip():
            problems.append(f"{where}: messages[{i}] is an empty assistant turn; write the answer or drop the turn")
            ok = False
            continue
        if m["role"] != "system":
            turns.append({"role": m["role"], "content": m["content"]})
    if not ok:
        return None
    return turns


def load_conversations(path: Path) -> list[Conversation]:
    """Validated conversations. A row's own system message is dropped: Tailor's system prompt
    (chat.system_prompt, plus the retrieved context) replaces it, exactly as when serving."""
    path = Path(path)
    problems: list[str] = []
    out = []
    for n, row in _read_lines(path, problems):
        where = f"{path.name}:{n}"
        if "messages" not in row:
            problems.append(f"{where}: missing 'messages' (expected {{\"messages\": [{{\"role\": \"user\", ...}}, ...]}})")
            continue
        turns = _check_messages(row["messages"], where, problems)
        if turns is None:
            continue
        if not turns or turns[0]["role"] != "user":
            problems.append(f"{where}: the conversation must start with a user turn (after any system message)")
            continue
        if not any(m["role"] == "assistant" for m in turns):
            problems.append(f"{where}: no assistant turn, so there is nothing to learn from this line")
            continue
        while turns[-1]["role"] != "assistant":  # a trailing unanswered question teaches nothing
            turns.pop()
        out.append(Conversation(turns, n, {k: v for k, v in row.items() if k != "messages"}))
    _raise_all(path, problems)
    return out


def _answer_text(value, where: str, key: str, problems: list[str]) -> str | None:
    """chosen/rejected as plain text: a string, or TRL's [{"role": "assistant", "content": ...}]."""
    if isinstance(value, list) and len(value) == 1 and isinstance(value[0], dict) and value[0].get("role") == "assistant":
        value = value[0].get("content")
    if not isinstance(value, str) or not value.strip():
        problems.append(f"{where}: '{key}' must be a non-empty string (or one assistant message)")
        return None
    return value


def parse_preference(row: dict, where: str, source: str, line: int, problems: list[str]) -> PreferencePair | None:
    missing = [k for k in ("prompt", "chosen", "rejected") if k not in row]
    if missing:
        problems.append(f"{where}: missing {', '.join(repr(k) for k in missing)} (expected prompt, chosen, rejected)")
        return None
    prompt = row["prompt"]
    if isinstance(prompt, str):
        if not prompt.strip():
            problems.append(f"{where}: 'prompt' is empty")
            return None
        turns = [{"role": "user", "content": prompt}]
    else:
        turns = _check_messages(prompt, where, problems)
        if turns is None:
            return None
        if not turns or turns[-1]["role"] != "user":
            problems.append(f"{where}: 'prompt' messages must end with the user's question")
            return None
    chosen = _answer_text(row["chosen"], where, "chosen", problems)
    rejected = _answer_text(row["rejected"], where, "rejected", problems)
    if chosen is None or rejected is None:
        return None
    if chosen.strip() == rejected.strip():
        problems.append(f"{where}: 'chosen' and 'rejected' are the same answer, so the pair teaches nothing; fix or drop it")
        return None
    extra = {k: v for k, v in row.items() if k not in ("prompt", "chosen", "rejected")}
    return PreferencePair(turns, chosen, rejected, source, line, extra)


def load_preferences(path: Path, source: str = "user", strict: bool = True) -> tuple[list[PreferencePair], list[str]]:
    """Validated pairs, and the problems skipped. The user's own file is strict (any bad line is
    an error); the app's feedback file is written by Tailor, so a damaged line there is skipped
    with a warning rather than blocking the build."""
    path = Path(path)
    problems: list[str] = []
    pairs = []
    for n, row in _read_lines(path, problems):
        pair = parse_preference(row, f"{path.name}:{n}", source, n, problems)
        if pair is not None:
            pairs.append(pair)
    if strict:
        _raise_all(path, problems)
    return pairs, problems
