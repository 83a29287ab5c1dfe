"""Human evaluation: the votes people cast side by side, the preference pairs they teach, and the
leaderboard fitted over them.

A vote is appended to FOLDER/feedback/votes.jsonl (every vote, for the leaderboard) and its pairs
to FOLDER/feedback/preferences.jsonl (read by the next `tailor build`), outside build/ because
votes cannot be rebuilt. People type personal details into a chat, so what is saved is redacted
first (`privacy.redact`). Ratings are Bradley-Terry with bootstrap intervals, as Chatbot Arena
reports them.
"""
from __future__ import annotations

import re
import threading
import uuid
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from chat import MAX_QUESTION_CHARS, one_line
from evals._suite import suite_rows
from knowledge.errors import InputError
from knowledge.files import append_jsonl, locked, read_jsonl_tolerant, write_jsonl
from knowledge.folder import AssistantFolder

MAX_ANSWER_CHARS = 20_000  # each answer or corrected answer in a vote (200 tokens is ~1,000 characters)
MAX_VOTE_VARIANTS = 4  # side by side compares 2 to 4 variants
NO_WINNER = ("tie", "both_bad")  # the other two outcomes of a vote
MIN_GAMES_FOR_INTERVAL = 20  # per variant; fewer and the bootstrap interval is a point or a guess

# Each pattern may start a match only where its run of characters starts (the lookbehinds), so
# a failed attempt is never retried from every later position of the same run: time is linear
# in the text (a 2 MB question took minutes with the old email pattern; see tests/reliability).
_EMAIL = re.compile(r"(?<![\w.+-])[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
_PHONE = re.compile(r"(?<![\w+])(?:\+\d{1,3}[\s.-]?)?(?:\(\d{2,4}\)|\d{3})[\s.-]?\d{3}[\s.-]?\d{4}(?!\w)")
_DIGITS = re.compile(r"(?<!\w)(?<!\d[ -])\d(?:[ -]?\d){8,}(?!\w)|(?<!\w)\d{6,}(?!\w)")

_LOCK = threading.Lock()  # votes and undos of this process, one at a time


def redact(text: str) -> str:
    """Mask emails, phone numbers and long digit runs (card, account, ID numbers) so votes can be
    kept and trained on without the personal details people type into a chat. Linear time."""
    text = _EMAIL.sub("[email]", text)
    text = _PHONE.sub("[phone]", text)
    return _DIGITS.sub("[number]", text)


def read_votes(folder: str | Path) -> list[dict]:
    """Every vote in FOLDER/feedback/votes.jsonl; a torn last line (a crash mid-write) is skipped."""
    return read_jsonl_tolerant(AssistantFolder(folder).votes)


def preference_pairs(vote: dict) -> list[dict]:
    """The DPO pairs one vote teaches: the corrected answer over every shown answer, else the
    winner over each other answer. A tie or 'both bad' without a correction teaches no pair."""
    answers = dict(zip(vote["variants"], vote["answers"]))
    corrected = (vote.get("corrected") or "").strip()
    if corrected:
        pairs = [("corrected", corrected, name, text) for name, text in answers.items()]
    elif vote["winner"] in answers:
        win = vote["winner"]
        pairs = [(win, answers[win], name, text) for name, text in answers.items() if name != win]
    else:
        pairs = []
    return [
        {
            "prompt": vote["prompt"],
            "chosen": chosen,
            "rejected": rejected,
            "variants": vote["variants"],
            "chosen_variant": chosen_name,
            "rejected_variant": rejected_name,
            "winner": vote["winner"],
            "build_id": vote.get("build_id"),
            "time": vote["time"],
            "vote_id": vote["id"],
        }
        for chosen_name, chosen, rejected_name, rejected in pairs
        if chosen.strip() and chosen.strip() != rejected.strip()  # identical texts carry no preference
    ]


def check_corrected(corrected: str | None) -> str:
    """A corrected answer, stripped; InputError when it is longer than MAX_ANSWER_CHARS."""
    corrected = (corrected or "").strip()
    if len(corrected) > MAX_ANSWER_CHARS:
        raise InputError(f"the corrected answer is {len(corrected):,} characters; the limit is {MAX_ANSWER_CHARS:,}")
    return corrected


def _check_vote(question: str, variants: list[str], answers: list, winner: str, corrected: str,
                known_variants: list[str] | None) -> None:
    """InputError naming the first thing wrong with a vote; nothing is written before this passes."""
    if not question.strip():
        raise InputError("nothing to vote on: ask a question first")
    if len(question.strip()) > MAX_QUESTION_CHARS:
        raise InputError(f"the question is {len(question.strip()):,} characters; the limit is {MAX_QUESTION_CHARS:,}")
    if not 2 <= len(variants) <= MAX_VOTE_VARIANTS or len(variants) != len(answers):
        raise InputError("a vote compares the answers of 2 to 4 variants; ask the question in side-by-side first")
    if len(set(variants)) != len(variants):
        raise InputError(f"a vote compares different variants (got {variants})")
    if known_variants is not None:
        unknown = [v for v in variants if v not in known_variants]
        if unknown:
            raise InputError(f"unknown variant {unknown[0]!r}; this assistant serves {', '.join(known_variants) or 'none (build it first)'}")
    if any(a is None for a in answers):
        raise InputError("wait until every answer is complete before voting")
    for text in [*answers, corrected or ""]:
        if len(text) > MAX_ANSWER_CHARS:
            raise InputError(f"an answer in the vote is {len(text):,} characters; the limit is {MAX_ANSWER_CHARS:,}")
    if winner not in variants and winner not in NO_WINNER:
        raise InputError(f"winner must be one of {variants + list(NO_WINNER)} (got {winner!r})")


def record_vote(
    folder: str | Path,
    question: str,
    variants: list[str],
    answers: list[str],
    winner: str,
    corrected: str = "",
    build_id: str | None = None,
    redact_text: bool = True,
    anonymous: bool = False,
    known_variants: list[str] | None = None,
) -> tuple[dict, list[dict]]:
    """Validate a vote, append it to feedback/votes.jsonl and its preference pairs to
    feedback/preferences.jsonl. `winner` is a variant name, "tie" or "both_bad"; `known_variants`,
    when given, are the only variant names accepted (what the served assistant has);
    `redact_text` is `privacy.redact`. Returns (vote, pairs)."""
    _check_vote(question, variants, answers, winner, corrected, known_variants)
    clean = redact if redact_text else (lambda s: s)
    vote = {
        "id": uuid.uuid4().hex[:12],
        "time": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "build_id": build_id,
        "prompt": clean(question.strip()),
        "variants": list(variants),
        "answers": [clean(a) for a in answers],
        "winner": winner,
        "corrected": clean(corrected.strip()) if corrected and corrected.strip() else None,
        "anonymous": anonymous,
        "redacted": redact_text,
    }
    where = AssistantFolder(folder)
    pairs = preference_pairs(vote)
    with _LOCK:  # an undo in this process never rewrites a file between these appends
        append_jsonl(where.votes, [vote])
        append_jsonl(where.feedback_pairs, pairs)
    return vote, pairs


def _rewrite_without(path: Path, vote_id: str, key: str) -> int:
    """Drop the rows of one vote from a feedback file, atomically (a reader sees the old file or
    the new one). Returns how many rows were dropped."""
    if not path.exists():
        return 0
    with _LOCK, locked(path):  # no vote of this process or another is appended meanwhile
        rows = read_jsonl_tolerant(path)
        kept = [row for row in rows if row.get(key) != vote_id]
        if len(kept) != len(rows):
            write_jsonl(path, kept)
        return len(rows) - len(kept)


def undo_vote(folder: str | Path, vote_id: str | None) -> tuple[int, int]:
    """Take one vote back: its row in votes.jsonl and its pairs in preferences.jsonl are removed,
    so the next build does not train on it. Returns (votes removed, pairs removed)."""
    if not vote_id:
        raise InputError("no vote to undo on this page")
    where = AssistantFolder(folder)
    pairs = _rewrite_without(where.feedback_pairs, vote_id, "vote_id")
    votes = _rewrite_without(where.votes, vote_id, "id")
    if not votes and not pairs:
        raise InputError("that vote is no longer in feedback/ (already undone, or the files were replaced)")
    return votes, pairs


def vote_preview(question: str, variants: list[str], answers: list[str], winner: str, corrected: str = "") -> str:
    """What a vote will save, in words, before it is saved: the preference pairs it teaches."""
    pairs = preference_pairs({"prompt": question, "variants": variants, "answers": answers, "winner": winner,
                              "corrected": corrected.strip() or None, "time": "", "id": ""})
    if not pairs:
        return "This saves the vote for the leaderboard only: no training pair (no winner and no corrected answer)."
    lines = [f"This saves {len(pairs)} training pair(s) for the next build, each preferring the first answer:"]
    lines += [f"- prefer “{one_line(p['chosen'], 90)}” ({p['chosen_variant']}) over “{one_line(p['rejected'], 90)}” "
              f"({p['rejected_variant']})" for p in pairs]
    return "\n".join(lines)


def _entity(vote: dict, variant: str, by: str) -> str:
    return f"{variant} @ {vote.get('build_id') or 'unbuilt'}" if by == "build" else variant


def vote_outcomes(votes: list[dict], by: str = "variant") -> list[tuple[str, str, float]]:
    """Pairwise games from votes, as Chatbot Arena counts them: (a, b, score of a) with 1 a win,
    0.5 a tie; 'both bad' is a tie. A vote over n variants is n-1 wins or n(n-1)/2 ties."""
    games = []
    for vote in votes:
        variants, winner = vote.get("variants") or [], vote.get("winner")
        names = [_entity(vote, v, by) for v in variants]
        if winner in variants:
            w = names[variants.index(winner)]
            games += [(w, n, 1.0) for n in names if n != w]
        elif winner in NO_WINNER:
            games += [(a, b, 0.5) for i, a in enumerate(names) for b in names[i + 1 :] if a != b]
    return games


def fit_bradley_terry(games: list[tuple[str, str, float]], names: list[str], iters: int = 200) -> np.ndarray:
    """Bradley-Terry strengths by the MM algorithm (Hunter 2004), on the Elo scale (400 points =
    10x odds, mean 1000). Each pair that met gets one virtual tie, so a variant that won every
    game still has a finite rating."""
    index = {n: i for i, n in enumerate(names)}
    k = len(names)
    wins = np.zeros((k, k))
    for a, b, s in games:
        i, j = index[a], index[b]
        wins[i, j] += s
        wins[j, i] += 1.0 - s
    met = (wins + wins.T) > 0
    wins = wins + 0.5 * met  # the virtual tie
    games_ij = wins + wins.T
    p = np.ones(k)
    for _ in range(iters):
        denom = (games_ij / (p[:, None] + p[None, :])).sum(axis=1)
        new = np.where(denom > 0, wins.sum(axis=1) / np.where(denom > 0, denom, 1.0), p)
        new = new / np.exp(np.log(new).mean())
        if np.allclose(new, p, rtol=1e-7, atol=0):
            p = new
            break
        p = new
    return 1000.0 + 400.0 * np.log10(p)


def _bootstrap(votes: list[dict], names: list[str], by: str, samples: int, seed: int) -> np.ndarray:
    """Ratings refitted on votes drawn with replacement: samples x names, NaN where a name played no game."""
    rng = np.random.default_rng(seed)
    boot = []
    for _ in range(samples):
        sample = [votes[i] for i in rng.integers(0, len(votes), len(votes))]
        sample_games = vote_outcomes(sample, by)
        present = {n for a, b, _ in sample_games for n in (a, b)}
        fitted = fit_bradley_terry(sample_games, names) if sample_games else np.full(len(names), 1000.0)
        boot.append(np.where([n in present for n in names], fitted, np.nan))
    return np.array(boot)


def leaderboard(votes: list[dict], by: str = "variant", samples: int = 200, seed: int = 0,
                min_games: int = 0) -> list[dict]:
    """Variants (by="variant") or variant-and-build pairs (by="build") ranked by Bradley-Terry
    rating with a 95% bootstrap interval over votes, as Chatbot Arena reports them; the interval
    is None for a name with fewer than `min_games` games."""
    games = vote_outcomes(votes, by)
    names = sorted({n for a, b, _ in games for n in (a, b)})
    if not names:
        return []
    ratings = fit_bradley_terry(games, names)
    boot = _bootstrap(votes, names, by, samples, seed)
    played = {n: 0 for n in names}
    won = {n: 0.0 for n in names}
    for a, b, s in games:
        played[a] += 1
        played[b] += 1
        won[a] += s
        won[b] += 1 - s
    rows = []
    for i, name in enumerate(names):
        col = boot[:, i][~np.isnan(boot[:, i])]
        lo, hi = (np.percentile(col, [2.5, 97.5]) if len(col) else (ratings[i], ratings[i]))
        if played[name] < min_games:  # a handful of games gives a point, not an interval
            lo, hi = None, None
        rows.append(
            {
                "name": name,
                "rating": round(float(ratings[i]), 1),
                "ci_low": None if lo is None else round(float(lo), 1),
                "ci_high": None if hi is None else round(float(hi), 1),
                "games": played[name],
                "win_rate": round(won[name] / played[name], 3) if played[name] else 0.0,
            }
        )
    rows.sort(key=lambda r: -r["rating"])
    for rank, row in enumerate(rows, 1):
        row["rank"] = rank
    return rows


def pair_tally(votes: list[dict]) -> dict[tuple[str, str], dict[str, int]]:
    """Head-to-head counts per variant pair (names sorted): wins of each side and ties."""
    tally: dict[tuple[str, str], dict[str, int]] = {}
    for a, b, s in vote_outcomes(votes):
        key = tuple(sorted((a, b)))
        row = tally.setdefault(key, {key[0]: 0, key[1]: 0, "tie": 0})
        if s == 0.5:
            row["tie"] += 1
        else:
            row[a if s == 1.0 else b] += 1
    return tally


def example_questions(folder: str | Path, n: int = 4) -> list[str]:
    """The first few answerable questions of the assistant's eval suites (evals/*.jsonl): real
    questions its builder expects it to handle, unlike made-up demo prompts. One per suite
    first, so every suite is represented."""
    suites = [rows for _, rows in suite_rows(AssistantFolder(folder).evals)]
    answerable = [[row["question"].strip() for row in rows if isinstance(row.get("question"), str)
                   and row["question"].strip() and row.get("answer_type") != "decline"] for rows in suites]
    out: list[str] = []
    for questions in answerable:
        first = next((q for q in questions if q not in out), None)
        if first is not None:
            out.append(first)
    for q in (q for questions in answerable for q in questions):
        if len(out) >= n:
            break
        if q not in out:
            out.append(q)
    return out[:n]
