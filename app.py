"""Tailor's command line (`tailor ...`) and its Gradio app (`tailor serve`).

Both are thin adapters over the packages: each command loads the assistant's config once
and calls one library function. Every TailorError becomes a clear message and exit code 1
here, in `main()`, and nowhere else.
"""
from __future__ import annotations

import logging
import os
import sys
from pathlib import Path
from typing import Optional

import typer

from knowledge.errors import TailorError

cli = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    help="Turn a folder of documents into a domain assistant.",
)


@cli.callback()
def _root() -> None:
    """Turn a folder of documents into a domain assistant: index, build, chat, eval, serve."""

ASSISTANT_YAML_TEMPLATE = """\
# {name}: a Tailor assistant. Every key is optional; delete what you don't change.
# Unknown keys are errors, so a typo never goes unnoticed.
name: {name}

knowledge:
  embedder: all-minilm-l6-v2   # packaged model; or a local folder / Hugging Face id
  chunk_size: 300              # tokens per chunk (measured best on long filings; see docs/BENCHMARKS.md)
  chunk_overlap: 0             # tokens shared by neighbouring chunks (chunks already end at sentence breaks)
  search_mode: hybrid          # dense | bm25 | hybrid (both, fused by reciprocal rank)
  top_k: 4                     # chunks given to the model per question

chat:
  # system_prompt: "You are the front desk of ..."   # {{name}} is replaced by the name above
  decline_message: "I'm sorry, I can't find that in my documents."
  # disclaimer: "This assistant does not give medical advice."
  escalation: []               # e.g. - name: emergency
                               #        patterns: ["chest pain", "can't breathe"]
                               #        message: "Call 911 now."

generation:
  backend: local               # local (in-process) | openai (an OpenAI-compatible server: vLLM, llama.cpp)
  max_new_tokens: 200
  temperature: 0.0             # 0 = greedy, reproducible answers

builder:
  base_model: smollm2-135m-instruct   # packaged alias, a local folder, or a Hugging Face id
  lora_r: 16                   # adapter rank: more capacity, more memory
  eval_split: 0.1              # share of conversations held out to measure the tuned model
  sft:
    epochs: 1                  # passes over the conversations; more helps small data, costs CPU time
  dpo:
    enabled: true

privacy:
  redact: true                 # mask emails, phone numbers and long digit runs in saved votes
"""


def _load(folder: Path):
    """The assistant folder's config, loaded once per command."""
    from builder.config import load_config

    if not folder.is_dir():
        raise TailorError(f"{folder}: no such assistant folder; create one with `tailor init NAME`")
    return load_config(folder)


@cli.command()
def init(name: str = typer.Argument(..., help="Folder to create for the new assistant.")) -> None:
    """Scaffold a new assistant folder with a commented assistant.yaml."""
    folder = Path(name)
    if (folder / "assistant.yaml").exists():
        raise TailorError(f"{folder / 'assistant.yaml'} already exists; edit it, or choose another NAME")
    for sub in ("docs", "data", "evals"):
        (folder / sub).mkdir(parents=True, exist_ok=True)
    (folder / "assistant.yaml").write_text(ASSISTANT_YAML_TEMPLATE.format(name=folder.name), encoding="utf-8")
    typer.echo(
        f"Created {folder}/ with assistant.yaml, docs/, data/ and evals/.\n"
        f"Next: put your documents in {folder}/docs/, then run `tailor index {folder}`."
    )


# --- knowledge commands: index, search -------------------------------------------------
# (owned by the knowledge package work)


@cli.command()
def index(
    folder: Path = typer.Argument(..., help="Assistant folder; its documents are in FOLDER/docs."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bars."),
) -> None:
    """Index FOLDER/docs into FOLDER/build/index (only new and changed files are embedded)."""
    from knowledge import build_index, docs_dir, index_dir

    report = build_index(docs_dir(folder), index_dir(folder), _load(folder).knowledge, progress=not quiet)
    typer.echo(report.summary())


@cli.command()
def search(
    folder: Path = typer.Argument(..., help="Assistant folder with a built index (`tailor index FOLDER`)."),
    query: Optional[str] = typer.Argument(None, help="What to look for; leave out when using --queries."),
    k: Optional[int] = typer.Option(None, "-k", "--k", help="Hits per query [default: knowledge.top_k]."),
    mode: Optional[str] = typer.Option(None, "--mode", help="dense | bm25 | hybrid [default: knowledge.search_mode]."),
    queries: Optional[Path] = typer.Option(
        None, "--queries", help="JSONL file with a 'question' per line (an eval suite works); one result line per query."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print JSON (one line per query with --queries)."),
) -> None:
    """Search the knowledge base: rank, score, source (with page) and a snippet per hit."""
    import json

    from knowledge import format_hits, hits_json, index_dir, load_index, search_many

    if (query is None) == (queries is None):
        raise TailorError("give either a QUERY or --queries FILE.jsonl (not both)")
    cfg = _load(folder).knowledge
    kb = load_index(index_dir(folder), cfg)
    if queries is not None:
        for row, hits in search_many(kb, queries, k=k, mode=mode):
            if as_json:
                typer.echo(json.dumps(hits_json(row["question"], hits, row.get("id")), ensure_ascii=False))
            else:
                typer.echo(f"# {row['question']}\n{format_hits(hits)}\n")
        return
    hits = kb.search(query, k=k, mode=mode)
    typer.echo(json.dumps(hits_json(query, hits), ensure_ascii=False) if as_json else format_hits(hits))


# --- chat commands: chat, ask -----------------------------------------------------------
# (owned by the chat package work)

_VARIANT_HELP = "base | base+rag | tuned | tuned+rag; default tuned+rag when built, else base+rag."


def _quiet(verbose: bool) -> None:
    """Unless --verbose, keep model loading off the terminal: no "Loading weights" bars, no
    library warnings, only the answer and its sources."""
    if verbose:
        logging.basicConfig(level=logging.INFO, format="%(name)s: %(message)s")
        return
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    try:
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()
        hf_logging.set_verbosity_error()
    except ImportError:  # the openai backend needs no transformers model
        pass


def _echo(text: str) -> None:
    typer.echo(text, nl=False)
    sys.stdout.flush()


@cli.command()
def ask(
    folder: Path = typer.Argument(..., help="The assistant folder (or its build/ folder)."),
    question: str = typer.Argument(..., help="The question, in quotes."),
    variant: Optional[str] = typer.Option(None, "--variant", help=_VARIANT_HELP),
    as_json: bool = typer.Option(False, "--json", help="Print the full result (answer, sources, timings, ...) as JSON."),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Also show model loading and notes on the prompt (what was left out)."),
) -> None:
    """Answer one question, streamed, with its sources and whether they support it."""
    from chat import Assistant
    from chat._terminal import ask as ask_once

    _quiet(verbose)
    # Assistant.load reads assistant.yaml itself: FOLDER may also be the build/ folder.
    assistant = Assistant.load(folder)
    _serving_note(assistant, variant)
    ask_once(assistant, question, variant, as_json, _echo, verbose)


@cli.command()
def chat(
    folder: Path = typer.Argument(..., help="The assistant folder (or its build/ folder)."),
    variant: Optional[str] = typer.Option(None, "--variant", help=_VARIANT_HELP),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Also show model loading and notes on the prompt (what was left out)."),
) -> None:
    """Chat in the terminal: /sources, /reset, /variant NAME, /quit."""
    from chat import Assistant
    from chat._terminal import chat_loop

    _quiet(verbose)
    assistant = Assistant.load(folder)
    _serving_note(assistant, variant)
    chat_loop(assistant, variant, input, _echo, verbose)


def _serving_note(assistant, variant: Optional[str]) -> None:
    """Why the default variant serves (the build's measurement), once, on stderr: --json output stays clean."""
    if variant is None and getattr(assistant, "serving_note", None):
        typer.secho(assistant.serving_note, err=True, dim=True)

# --- builder commands: build, export ----------------------------------------------------
# (owned by the builder package work)


@cli.command()
def build(
    folder: Path = typer.Argument(..., help="The assistant folder (docs/, data/, assistant.yaml)."),
    force: list[str] = typer.Option([], "--force", help="Run this stage even if cached (repeatable): index, base, data, sft, dpo, calibrate, export, evaluate."),
    only: Optional[str] = typer.Option(None, "--only", help="Run just this stage (earlier ones must be built)."),
    skip_train: bool = typer.Option(False, "--skip-train", help="Retrieval-only assistant over the base model: index, calibrate, manifest."),
    resume: bool = typer.Option(False, "--resume", help="Continue an interrupted training stage from its last checkpoint."),
) -> None:
    """Build the assistant: index, fine-tune (SFT, DPO), calibrate, export; cached stage by stage."""
    from builder import build as run_build

    run_build(folder, _load(folder), force=tuple(force), only=only, skip_train=skip_train, resume=resume)


@cli.command()
def export(
    folder: Path = typer.Argument(..., help="A built assistant folder."),
    format: str = typer.Option("gguf", "--format", help="Export format (gguf)."),
    out: Optional[Path] = typer.Option(None, "--out", help="Output file (default build/<name>.gguf)."),
    dtype: str = typer.Option("f16", "--dtype", help="Weight precision in the file: f16 or f32."),
) -> None:
    """Write the tuned model in another format (GGUF for llama.cpp, Ollama, LM Studio)."""
    from builder import export_gguf

    if format != "gguf":
        raise TailorError(f"--format {format!r} is not supported; use --format gguf (build/model/ is already Hugging Face format)")
    path = export_gguf(folder, _load(folder), out=out, dtype=dtype)
    typer.echo(f"Wrote {path}")

# --- evals command: eval ----------------------------------------------------------------
# (owned by the evals package work)


@cli.command("eval")
def eval_(
    folder: Path = typer.Argument(..., help="The assistant folder."),
    suite: Optional[Path] = typer.Option(None, "--suite", help="A suite JSONL file or a folder of them (default: FOLDER/evals/)."),
    variants: Optional[str] = typer.Option(None, "--variants", help="Comma-separated, e.g. base+rag,tuned+rag (default: evals.variants)."),
    limit: Optional[int] = typer.Option(None, "--limit", min=1, help="Evaluate a fixed random sample of N questions (decline share kept)."),
    seed: Optional[int] = typer.Option(None, "--seed", help="Seed for --limit and the bootstrap (default: evals.seed)."),
    fail_under: list[str] = typer.Option([], "--fail-under", help="Gate METRIC=VALUE or VARIANT:METRIC=VALUE; exit 1 when under. Repeatable."),
    resume: bool = typer.Option(False, "--resume", help="Continue the latest report of this suite, skipping answers already scored."),
    against: Optional[Path] = typer.Option(None, "--against", help="Another build (folder or build dir): its variants run too, as other:VARIANT."),
    split: str = typer.Option("test", "--split", help="dev (to tune on), test (to report; the default) or all, by a hash of each question id."),
    check: bool = typer.Option(False, "--check", help="Only validate the suite and list lines that would score poorly (bare-number references); run nothing."),
) -> None:
    """Answer the eval suites with each variant (and `extract`, the no-model floor); print metrics with 95% intervals and write build/reports/."""
    from evals import check_suite, print_report, run_eval

    cfg = _load(folder)
    if check:
        for line in check_suite(suite or Path(folder) / "evals", cfg.evals.test_share):
            typer.echo(line)
        return
    report = run_eval(folder, cfg, suite=suite, variants=variants, limit=limit, seed=seed,
                      resume=resume, against=against, fail_under=fail_under, split=split)
    print_report(report)
    if report.gate_failures:
        typer.secho("error: --fail-under gate failed: " + "; ".join(report.gate_failures), fg=typer.colors.RED, err=True)
        raise typer.Exit(code=1)

# --- app: serve and the Gradio UI -------------------------------------------------------
# (owned by the app work)

import contextvars
import functools
import json
import logging
import queue
import random
import re
import shutil
import tempfile
import threading
import time
import uuid
from datetime import datetime, timezone

try:
    import fcntl  # advisory file locks, so two `tailor serve` processes never interleave votes
except ImportError:  # Windows: the in-process lock below still serializes this server's sessions
    fcntl = None

from knowledge.errors import ConfigError, InputError

_APPEND_LOCK = threading.Lock()
# The app is an adapter: answers come from chat.Assistant, search from the knowledge base,
# builds from builder.build, scores from evals.run_eval. What lives here is what those
# packages have no business knowing: sessions, uploads, and the votes people cast in the
# side-by-side tab (their storage and the leaderboard fitted over them). Gradio is imported
# inside the functions that need it, so `tailor --help` and the other commands start fast.

UPLOAD_SUFFIXES = (".md", ".txt", ".html", ".htm", ".pdf", ".docx")  # what knowledge/ can read
MAX_UPLOAD_MB = 20  # one document; larger files are usually scans or exports that index badly
CONCURRENT_EVENTS = 8  # chat sessions served at once; more queue (the one model is shared)
ARENA_LABELS = "ABCD"  # side by side compares 2 to 4 variants
VOTE_CHOICES = ("A", "B", "C", "D", "tie", "both_bad")


@cli.command()
def serve(
    folder: Path = typer.Argument(..., help="The assistant folder to serve."),
    host: str = typer.Option("127.0.0.1", help="Interface to bind; 0.0.0.0 opens the app to your network."),
    port: int = typer.Option(7860, help="Port to listen on."),
    auth: Optional[str] = typer.Option(
        None, envvar="TAILOR_AUTH", show_envvar=True, help="USER:PASS asked of every visitor (default: no login)."
    ),
    share: bool = typer.Option(False, "--share", help="Also open a public gradio.live link (off unless asked)."),
) -> None:
    """Serve the assistant in the browser: chat, side-by-side votes, evals and builds."""
    cfg = _load(folder)
    credentials = parse_auth(auth)
    demo = build_ui(folder, cfg)
    if (folder / "build" / "manifest.json").exists():
        from chat.manifest import read_manifest

        serving = read_manifest(folder / "build")[0].serving
        if serving:
            typer.secho(serving.reason, err=True)
    if host not in ("127.0.0.1", "localhost") and not credentials:
        typer.secho(f"warning: serving on {host} without --auth; anyone who can reach the port can use the app", err=True)
    launch(demo, host=host, port=port, auth=credentials, share=share)


def check_port(host: str, port: int) -> None:
    """TailorError when nothing can listen on host:port (Gradio's own message suggests an
    environment variable rather than the option a Tailor user has)."""
    import errno
    import socket

    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind((host, port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise TailorError(f"port {port} is in use (another program or `tailor serve` listens on it); pass --port N") from None
            raise TailorError(f"cannot listen on {host}:{port} ({exc.strerror}); pass another --host or --port") from None


class LoginGuard:
    """Gradio's auth callable: checks USER:PASS in constant time, and after each failed login
    in a row waits longer before answering (0.5 s, 1 s, 2 s, ... up to MAX_DELAY_S), so guessing
    passwords is slowed down; a successful login resets the count. Async, so a waiting attacker
    holds no server thread."""

    MAX_DELAY_S = 8.0

    def __init__(self, user: str, password: str, sleep=None):
        import asyncio

        self._user, self._password = user, password
        self._sleep = sleep or asyncio.sleep
        self.failures = 0

    def delay(self, failures: int) -> float:
        return 0.0 if failures <= 0 else min(self.MAX_DELAY_S, 0.5 * 2 ** (failures - 1))

    async def __call__(self, username: str, password: str) -> bool:
        import hmac

        ok = hmac.compare_digest(str(username).encode(), self._user.encode()) & hmac.compare_digest(
            str(password).encode(), self._password.encode()
        )
        if ok:
            self.failures = 0
            return True
        self.failures += 1
        await self._sleep(self.delay(self.failures))
        return False


def parse_auth(value: str | None) -> tuple[str, str] | None:
    """USER:PASS from --auth or $TAILOR_AUTH; None means no login."""
    if not value:
        return None
    user, sep, password = value.partition(":")
    if not sep or not user or not password:
        raise ConfigError("--auth / TAILOR_AUTH must be USER:PASS with both parts non-empty (e.g. --auth admin:s3cret)")
    return user, password


def launch(demo, host: str = "127.0.0.1", port: int = 7860, auth=None, share: bool = False, prevent_thread_lock: bool = False):
    """Start the server with the queue on: every session shares the one Assistant, and the queue
    lets CONCURRENT_EVENTS of them generate at once while builds and evals run one at a time.
    USER:PASS credentials are checked by a LoginGuard (failed logins in a row are slowed down)."""
    check_port(host, port)
    if isinstance(auth, tuple):
        auth = LoginGuard(*auth)
    demo.queue(default_concurrency_limit=CONCURRENT_EVENTS, max_size=256)
    demo.launch(
        server_name=host,
        server_port=port,
        auth=auth,
        share=share,
        prevent_thread_lock=prevent_thread_lock,
        max_file_size=f"{MAX_UPLOAD_MB}mb",
        show_error=True,
        ssr_mode=False,
        quiet=prevent_thread_lock,
        css=_APP_CSS,
        theme=_theme(),
    )
    return demo


def _theme():
    """Gradio's default theme with AA-contrast primary buttons (white on blue-700, not on orange)."""
    import gradio as gr

    return gr.themes.Default(primary_hue=gr.themes.colors.blue).set(
        button_primary_background_fill="#1d4ed8", button_primary_background_fill_hover="#1e40af",
        button_primary_text_color="#ffffff", button_primary_border_color="#1d4ed8",
        checkbox_background_color_selected="#1d4ed8", loader_color="#1d4ed8",
    )


# ---- votes: storage, redaction, leaderboard (pure functions, no Gradio) ----

# Each pattern may start a match only where its run of characters starts (the lookbehinds), so
# a failed attempt is never retried from every later position of the same run: time is linear
# in the text (a 2 MB question took minutes with the old email pattern; see tests/reliability).
_EMAIL = re.compile(r"(?<![\w.+-])[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
_PHONE = re.compile(r"(?<![\w+])(?:\+\d{1,3}[\s.-]?)?(?:\(\d{2,4}\)|\d{3})[\s.-]?\d{3}[\s.-]?\d{4}(?!\w)")
_DIGITS = re.compile(r"(?<!\w)(?<!\d[ -])\d(?:[ -]?\d){8,}(?!\w)|(?<!\w)\d{6,}(?!\w)")

# Sizes a client controls, checked before any work is done (README "Limits and safety").
MAX_QUESTION_CHARS = 4_000  # a question, in the chat, side by side and /ask
MAX_ANSWER_CHARS = 20_000  # each answer or corrected answer in a vote (200 tokens is ~1,000 characters)
MAX_HISTORY_MESSAGES = 50  # chat history sent with a question; older turns are dropped by the prompt anyway
MAX_HISTORY_CHARS = 50_000
MAX_UPLOAD_FILES = 20  # documents per upload


def check_question(question: str) -> str:
    """The question, stripped; InputError when it is empty or longer than MAX_QUESTION_CHARS."""
    question = (question or "").strip()
    if not question:
        raise InputError("the question is empty: send the text of a question")
    if len(question) > MAX_QUESTION_CHARS:
        raise InputError(f"the question is {len(question):,} characters; the limit is {MAX_QUESTION_CHARS:,} (ask a shorter question)")
    return question


def check_history(history) -> None:
    """A chat history within MAX_HISTORY_MESSAGES and MAX_HISTORY_CHARS, or InputError (press Reset)."""
    history = list(history or [])
    chars = sum(len(str(m.get("content", ""))) if isinstance(m, dict) else len(str(m)) for m in history)
    if len(history) > MAX_HISTORY_MESSAGES or chars > MAX_HISTORY_CHARS:
        raise InputError(
            f"the conversation is too long ({len(history)} messages, {chars:,} characters; the limits are "
            f"{MAX_HISTORY_MESSAGES} and {MAX_HISTORY_CHARS:,}); press Reset to start a new one"
        )


def redact(text: str) -> str:
    """Mask emails, phone numbers and long digit runs (card, account, ID numbers) so votes can be
    kept and trained on without the personal details people type into a chat. Linear time."""
    text = _EMAIL.sub("[email]", text)
    text = _PHONE.sub("[phone]", text)
    return _DIGITS.sub("[number]", text)


def append_jsonl(path: Path, rows: list[dict]) -> None:
    """Append rows as one locked write, then fsync: concurrent sessions never interleave lines,
    and a vote that was acknowledged survives a crash."""
    if not rows:
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    data = "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows).encode("utf-8")
    with _APPEND_LOCK, open(path, "ab") as fh:
        if fcntl is not None:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX)  # other processes serving the same folder
        try:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        finally:
            if fcntl is not None:
                fcntl.flock(fh.fileno(), fcntl.LOCK_UN)


def read_jsonl(path: Path) -> list[dict]:
    """Every complete JSON object in the file; a torn last line (a crash mid-write) is skipped."""
    from knowledge.files import read_jsonl_tolerant

    return read_jsonl_tolerant(path)


def feedback_paths(folder: Path) -> tuple[Path, Path]:
    """(votes.jsonl, preferences.jsonl) under FOLDER/feedback/: outside build/, since votes cannot be rebuilt."""
    return Path(folder) / "feedback" / "votes.jsonl", Path(folder) / "feedback" / "preferences.jsonl"


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


def record_vote(
    folder: Path,
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
    """Validate a vote, append it to feedback/votes.jsonl (every vote, for the leaderboard) and
    its preference pairs to feedback/preferences.jsonl (read by the next `tailor build`).
    `winner` is a variant name, "tie" or "both_bad"; `known_variants`, when given, are the only
    variant names accepted (what the served assistant has). Returns (vote, pairs)."""
    if not question.strip():
        raise InputError("nothing to vote on: ask a question first")
    if len(question.strip()) > MAX_QUESTION_CHARS:
        raise InputError(f"the question is {len(question.strip()):,} characters; the limit is {MAX_QUESTION_CHARS:,}")
    if not 2 <= len(variants) <= len(ARENA_LABELS) or len(variants) != len(answers):
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
    if winner not in variants and winner not in ("tie", "both_bad"):
        raise InputError(f"winner must be one of {variants + ['tie', 'both_bad']} (got {winner!r})")
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
    votes_path, prefs_path = feedback_paths(folder)
    pairs = preference_pairs(vote)
    append_jsonl(votes_path, [vote])
    append_jsonl(prefs_path, pairs)
    return vote, pairs


def _rewrite_without(path: Path, vote_id: str, key: str) -> int:
    """Drop the rows of one vote from a feedback file, atomically and under the append lock
    (a reader sees the old file or the new one). Returns how many rows were dropped."""
    if not path.exists():
        return 0
    with _APPEND_LOCK, open(path, "ab") as lock_fh:
        if fcntl is not None:
            fcntl.flock(lock_fh.fileno(), fcntl.LOCK_EX)
        try:
            lines = path.read_bytes().decode("utf-8").splitlines(keepends=True)
            kept = []
            for line in lines:
                try:
                    row = json.loads(line)
                except json.JSONDecodeError:
                    row = None
                if isinstance(row, dict) and row.get(key) == vote_id:
                    continue
                kept.append(line)
            dropped = len(lines) - len(kept)
            if dropped:
                fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
                with os.fdopen(fd, "wb") as out:
                    out.write("".join(kept).encode("utf-8"))
                    out.flush()
                    os.fsync(out.fileno())
                os.replace(tmp, path)
            return dropped
        finally:
            if fcntl is not None:
                fcntl.flock(lock_fh.fileno(), fcntl.LOCK_UN)


def undo_vote(folder: Path, vote_id: str) -> tuple[int, int]:
    """Take one vote back: its row in votes.jsonl and its pairs in preferences.jsonl are removed,
    so the next build does not train on it. Returns (votes removed, pairs removed)."""
    if not vote_id:
        raise InputError("no vote to undo on this page")
    votes_path, prefs_path = feedback_paths(folder)
    pairs = _rewrite_without(prefs_path, vote_id, "vote_id")
    votes = _rewrite_without(votes_path, vote_id, "id")
    if not votes and not pairs:
        raise InputError("that vote is no longer in feedback/ (already undone, or the files were replaced)")
    return votes, pairs


def vote_preview(question: str, variants: list[str], answers: list[str], winner: str, corrected: str = "") -> str:
    """What a vote will save, in words, before it is saved: the preference pairs it teaches."""
    pairs = preference_pairs({"prompt": question, "variants": variants, "answers": answers, "winner": winner,
                              "corrected": corrected.strip() or None, "time": "", "id": ""})
    if not pairs:
        return "This saves the vote for the leaderboard only: no training pair (no winner and no corrected answer)."
    def short(text: str) -> str:
        flat = " ".join(text.split())
        return flat if len(flat) <= 90 else flat[:89] + "…"
    lines = [f"This saves {len(pairs)} training pair(s) for the next build, each preferring the first answer:"]
    lines += [f"- prefer “{short(p['chosen'])}” ({p['chosen_variant']}) over “{short(p['rejected'])}” ({p['rejected_variant']})"
              for p in pairs]
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
        elif winner in ("tie", "both_bad"):
            games += [(a, b, 0.5) for i, a in enumerate(names) for b in names[i + 1 :] if a != b]
    return games


def fit_bradley_terry(games: list[tuple[str, str, float]], names: list[str], iters: int = 200) -> "np.ndarray":
    """Bradley-Terry strengths by the MM algorithm (Hunter 2004), on the Elo scale (400 points =
    10x odds, mean 1000). Each pair that met gets one virtual tie, so a variant that won every
    game still has a finite rating."""
    import numpy as np

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


def leaderboard(votes: list[dict], by: str = "variant", samples: int = 200, seed: int = 0,
                min_games: int = 0) -> list[dict]:
    """Variants (by="variant") or variant-and-build pairs (by="build") ranked by Bradley-Terry
    rating with a 95% bootstrap interval over votes, as Chatbot Arena reports them; the interval
    is None for a name with fewer than `min_games` games."""
    import numpy as np

    games = vote_outcomes(votes, by)
    names = sorted({n for a, b, _ in games for n in (a, b)})
    if not names:
        return []
    ratings = fit_bradley_terry(games, names)
    rng = np.random.default_rng(seed)
    boot = []
    for _ in range(samples):
        sample = [votes[i] for i in rng.integers(0, len(votes), len(votes))]
        sample_games = vote_outcomes(sample, by)
        present = {n for a, b, _ in sample_games for n in (a, b)}
        fitted = fit_bradley_terry(sample_games, names) if sample_games else np.full(len(names), 1000.0)
        boot.append(np.where([n in present for n in names], fitted, np.nan))
    boot = np.array(boot)
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


# ---- documents: uploads and examples ----

def safe_upload_name(name: str) -> str:
    """The file name an upload gets in docs/, or InputError. Names with folders or '..' are
    refused outright (not silently flattened), so no upload can write outside docs/."""
    raw = (name or "").strip()
    if not raw:
        raise InputError("the upload has no file name; rename the file and upload it again")
    if "/" in raw or "\\" in raw or raw in (".", "..") or raw.startswith(".") or "\x00" in raw:
        raise InputError(f"{raw!r}: file names may not contain folders, '..' or start with '.'; upload the file itself under a plain name")
    suffix = Path(raw).suffix.lower()
    if suffix not in UPLOAD_SUFFIXES:
        raise InputError(f"{raw!r}: unsupported file type {suffix or '(none)'}; Tailor reads {' '.join(UPLOAD_SUFFIXES)}")
    return re.sub(r"[^\w .()+-]", "_", raw)


def save_upload(docs_dir: Path, src: Path, name: str | None = None) -> Path:
    """Copy one uploaded file into docs/ under a safe name, atomically (a reader or an index run
    sees the old document or the new one); an existing document of that name is replaced."""
    src = Path(src)
    fname = safe_upload_name(name if name is not None else src.name)
    size = src.stat().st_size
    if size == 0:
        raise InputError(f"{fname!r} is empty; upload a document with text in it")
    if size > MAX_UPLOAD_MB * 1024 * 1024:
        raise InputError(f"{fname!r} is {size / 2**20:.1f} MB; the limit is {MAX_UPLOAD_MB} MB per file (split it, or copy it into docs/ by hand)")
    docs_dir = Path(docs_dir)
    docs_dir.mkdir(parents=True, exist_ok=True)
    dest = docs_dir / fname
    if dest.resolve().parent != docs_dir.resolve():  # belt and braces after the name checks
        raise InputError(f"{fname!r}: refusing to write outside {docs_dir}")
    fd, tmp = tempfile.mkstemp(prefix=".upload-", suffix=".tmp", dir=docs_dir)  # .tmp: never indexed
    try:
        with os.fdopen(fd, "wb") as out, open(src, "rb") as inp:
            shutil.copyfileobj(inp, out)
        os.replace(tmp, dest)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return dest


def example_questions(folder: Path, n: int = 4) -> list[str]:
    """The first few answerable questions of the assistant's eval suites (evals/*.jsonl): real
    questions its builder expects it to handle, unlike made-up demo prompts."""
    out: list[str] = []
    for path in sorted((Path(folder) / "evals").glob("*.jsonl")):
        for row in read_jsonl(path):
            q = row.get("question")
            if isinstance(q, str) and q.strip() and row.get("answer_type") != "decline" and q not in out:
                out.append(q.strip())
                break  # one per suite first, so every suite is represented
    for path in sorted((Path(folder) / "evals").glob("*.jsonl")):
        for row in read_jsonl(path):
            q = row.get("question")
            if len(out) >= n:
                return out
            if isinstance(q, str) and q.strip() and row.get("answer_type") != "decline" and q.strip() not in out:
                out.append(q.strip())
    return out[:n]


def document_rows(folder: Path, sources: dict[str, int]) -> list[list]:
    """Every file in docs/ with its chunk count in the index ('not indexed' until the next index)."""
    docs = Path(folder) / "docs"
    files = sorted(
        p.relative_to(docs).as_posix()
        for p in docs.rglob("*")
        if p.is_file() and p.suffix.lower() in UPLOAD_SUFFIXES and not p.name.startswith(".")
    ) if docs.is_dir() else []
    rows = [[f, sources[f] if f in sources else "not indexed"] for f in files]
    rows += [[f, f"{n} (file removed; re-index)"] for f, n in sorted(sources.items()) if f not in set(files)]
    return rows


# ---- the shared assistant ----

class LiveAssistant:
    """The one Assistant all sessions share. A finished build or index swaps in a new one; the old
    one keeps answering until the new one has loaded, so a rebuild never interrupts the app."""

    def __init__(self, folder: Path, cfg, loader=None):
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

    def reload(self, cfg=None) -> None:
        """Load the current build; on failure keep serving the previous one and remember why."""
        cfg = cfg or _load(self.folder)
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

    def kb(self):
        """The knowledge base for the search box (loaded on first use, dropped on reload)."""
        with self._kb_lock:
            if self._kb is None:
                kb = getattr(self.assistant, "kb", None)
                if kb is None:
                    from knowledge import load_index

                    kb = load_index(self.folder / "build" / "index", self.cfg.knowledge)
                self._kb = kb
            return self._kb


def _load_assistant(folder: Path, cfg):
    from chat import Assistant

    return Assistant.load(folder, cfg)


def _is_answer(event) -> bool:
    """chat.stream yields Token events, then one Answer (the only event with sources)."""
    return hasattr(event, "sources")


# ---- answers for people: verified or flagged, sources with titles, urgent and not-found states ----

NOT_IN_DOCUMENTS = "Not in the documents"
MIN_GAMES_FOR_INTERVAL = 20  # per variant; fewer and the bootstrap interval is a point or a guess
_MD_LINK = re.compile(r"\[([^\]]+)\]\([^)]*\)")
_MD_NOISE = re.compile(r"(^|\s)#{1,6}\s+|\*\*|__|`+|^\s*[-*+]\s+|^\s*>\s?|^\s*\|?\s*:?-{3,}.*$", re.M)


def plain_text(markdown: str) -> str:
    """A passage as a person reads it: no '##', '**', backticks, table rules or link targets;
    table pipes become separators. Line breaks between paragraphs are kept."""
    text = _MD_LINK.sub(r"\1", markdown or "")
    text = _MD_NOISE.sub(lambda m: m.group(1) or "", text)
    text = re.sub(r"\s*\|\s*", " · ", text)
    text = re.sub(r"(^|\n)\s*·\s*|\s*·\s*(?=\n|$)", r"\1", text)
    return re.sub(r"[ \t]+", " ", re.sub(r"\n{3,}", "\n\n", text)).strip()


def clean_snippet(text: str, n: int = 220) -> str:
    flat = " ".join(plain_text(text).split())
    return flat if len(flat) <= n else flat[: n - 1].rsplit(" ", 1)[0] + " …"


def _esc(text) -> str:
    import html

    return html.escape(str(text), quote=True)


def _said(answer) -> str:
    """The answer without the disclaimer (shown once per conversation, never sent back as history)."""
    from chat._terminal import without_disclaimer

    return without_disclaimer(answer)


def _tidy_decline(text: str) -> str:
    """The decline message with its suggested topics as a list, each starting with a capital."""
    message, sep, topics = text.partition(" I can help with questions about: ")
    if not sep:
        return _esc(text)
    items = [t.strip().rstrip(".") for t in topics.split(";") if t.strip()]
    items = [t[:1].upper() + t[1:] for t in items]
    return (f"{_esc(message)}<br>You can ask about:<ul>" + "".join(f"<li>{_esc(t)}</li>" for t in items) + "</ul>")


def verdict_html(answer) -> str:
    """The verified-or-flagged line under an answer; '' when nothing was checked."""
    if getattr(answer, "verified", None) is False:
        return f'<p class="tailor-flag" role="status">⚠ {_esc(answer.note)}</p>'
    if getattr(answer, "verified", None) is True:
        return f'<p class="tailor-ok">✓ {_esc(answer.note)}</p>'
    return ""


def _link_markers(html_text: str, numbers) -> str:
    """[n] in an answer becomes a link to its source below (#source-n)."""
    known = set(numbers)
    return re.sub(r"\[(\d+)\]", lambda m: f'<a href="#source-{m.group(1)}">[{m.group(1)}]</a>' if int(m.group(1)) in known
                  else m.group(0), html_text)


def bubble_html(answer) -> str:
    """An answer as the chat shows it: urgent for an escalation, a 'not in the documents' state
    for a decline, else the text with linked [n] and the verified-or-flagged line."""
    said = _said(answer)
    if getattr(answer, "escalation", None):
        return f'<div class="tailor-urgent" role="alert"><strong>Urgent</strong><br>{_esc(said)}</div>'
    if answer.declined:
        return f'<div class="tailor-notfound"><strong>{NOT_IN_DOCUMENTS}.</strong> {_tidy_decline(said)}</div>'
    body = _link_markers(_esc(said).replace("\n", "<br>"), [c.n for c in answer.sources if c.cited])
    return body + verdict_html(answer)


def _where(c) -> str:
    parts = [getattr(c, "title", "") or c.source]
    if getattr(c, "section", "") and c.section != parts[0]:
        parts.append(c.section)
    if c.page:
        parts.append(f"page {c.page}")
    return " · ".join(parts)


def _support_label(c, partly: bool = False) -> str:
    """'supports the answer' only for a passage that supports it (`partly`: the answer is flagged,
    so the passage supports some of its claims, not all)."""
    labels = []
    if c.attributed:
        labels.append('<span class="tailor-added">[n] added by Tailor</span>')
    if c.supports is True:
        labels.append(f'<span class="tailor-ok">supports {"part of " if partly else ""}the answer</span>')
    elif c.supports is False:
        labels.append('<span class="tailor-bad">does not support the answer</span>')
    return " ".join(labels)


def sources_html(answer) -> str:
    """The sources panel: title, section and page, a clean snippet, the whole passage on click,
    and the scores and chunk ids behind a 'details' toggle."""
    if getattr(answer, "escalation", None):
        return "<p>Urgent message: answered by the escalation rule, without the documents.</p>"
    if answer.declined:
        return (f'<p class="tailor-notfound"><strong>{NOT_IN_DOCUMENTS}.</strong> Nothing in them is close enough to '
                "this question to answer it from; no source is cited.</p>")
    if not answer.sources:
        return "<p>This variant answers without the documents: nothing to cite.</p>"
    cited = answer.sources[0].cited
    head = "Sources the answer cites" if cited else "Passages it was given (the answer cites none of them)"
    items = []
    for c in answer.sources:
        details = (f"file {_esc(c.source)} · chunk {_esc(c.chunk_id)} · rank score {c.score:.3f}"
                   + (f" · similarity {c.similarity:.2f}" if c.similarity is not None else ""))
        passage = "".join(f"<p>{_esc(p)}</p>" for p in plain_text(c.text).split("\n\n") if p.strip())
        items.append(
            f'<details class="tailor-source" id="source-{c.n}"><summary><strong>[{c.n}] {_esc(_where(c))}</strong> '
            f"{_support_label(c, answer.verified is False)}<br><span class=\"tailor-snippet\">{_esc(clean_snippet(c.text))}</span></summary>"
            f'<div class="tailor-passage">{passage}</div>'
            f'<details class="tailor-tech"><summary>details</summary><small>{details}</small></details></details>'
        )
    return f"<p><strong>{head}</strong> (select one to read the whole passage)</p>" + "".join(items)


def sources_json(answer) -> list[dict]:
    return [
        {"n": c.n, "source": c.source, "title": getattr(c, "title", ""), "section": getattr(c, "section", ""),
         "page": c.page, "score": float(c.score), "snippet": clean_snippet(c.text), "chunk_id": c.chunk_id,
         "cited": c.cited, "attributed": c.attributed, "supports": c.supports}
        for c in answer.sources
    ]


def answer_json(answer) -> dict:
    """The /ask endpoint's final JSON: verified or flagged, in words too, and the sources."""
    return {
        "verified": answer.verified,
        "note": answer.note,
        "unsupported_figures": list(answer.unsupported_figures),
        "declined": answer.declined,
        "escalation": answer.escalation,
        "sources": sources_json(answer),
    }


def answer_footer(answer) -> str:
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


def _stream_side_by_side(assistant, question: str, variants: list[str]):
    """(column, event) pairs from one thread per variant, so the columns fill in parallel.
    A failure ends that column with an error event instead of the whole comparison."""
    events: queue.Queue = queue.Queue()
    done = object()

    def run(i: int, variant: str) -> None:
        try:
            for event in assistant.stream(question, variant=variant):
                events.put((i, event))
        except Exception as exc:  # shown in its column; the other columns carry on
            if not isinstance(exc, TailorError):
                logging.getLogger("tailor.app").exception("side-by-side %s failed", variant)
            events.put((i, exc))
        finally:
            events.put((i, done))

    for i, variant in enumerate(variants):
        threading.Thread(target=run, args=(i, variant), daemon=True, name=f"sbs-{variant}").start()
    remaining = len(variants)
    while remaining:
        i, event = events.get()
        if event is done:
            remaining -= 1
        else:
            yield i, event


class _LogCapture(logging.Handler):
    """Collects the build's log lines for the Build tab's live log."""

    def __init__(self):
        super().__init__(logging.INFO)
        self.lines: list[str] = []
        self.setFormatter(logging.Formatter("%(asctime)s %(name)s: %(message)s", "%H:%M:%S"))

    def emit(self, record):
        self.lines.append(self.format(record))


def _run_in_thread(fn):
    """Run fn in a worker thread with the caller's context (so gr.Progress tracks its tqdm bars);
    returns (thread, result holder)."""
    ctx = contextvars.copy_context()
    result: dict = {}

    def target():
        try:
            result["value"] = ctx.run(fn)
        except BaseException as exc:  # reported to the user by the caller
            result["error"] = exc

    thread = threading.Thread(target=target, daemon=True, name="tailor-build")
    thread.start()
    return thread, result


# Colours meet WCAG AA (4.5:1 for text) on white: buttons and the active tab are blue-700 with
# white text (6.7:1), placeholders gray-600 (7.6:1). At 390 px rows stack and tables wrap.
_APP_CSS = """
.tailor-title { font-size: 1.6em; margin: 0.2em 0; }
.tailor-footer { color: #4b5563; font-size: 0.85em; }
textarea::placeholder, input::placeholder { color: #4b5563 !important; opacity: 1 !important; }
button[role="tab"][aria-selected="true"] { color: #1d4ed8 !important; border-color: #1d4ed8 !important; }
.tailor-urgent { background: #fef2f2; border: 2px solid #b91c1c; border-left-width: 6px; color: #7f1d1d;
                 padding: 0.6em 0.8em; border-radius: 6px; }
.tailor-urgent strong { color: #b91c1c; text-transform: uppercase; letter-spacing: 0.04em; }
.tailor-notfound { background: #f3f4f6; border-left: 4px solid #4b5563; padding: 0.5em 0.8em; border-radius: 4px; color: #111827; }
.tailor-notfound ul { margin: 0.3em 0 0 1.2em; }
.tailor-flag { background: #fffbeb; border: 1px solid #b45309; color: #78350f; padding: 0.35em 0.6em; border-radius: 4px; margin-top: 0.5em; }
.tailor-ok { color: #166534; }
p.tailor-ok { font-size: 0.85em; margin-top: 0.5em; }
.tailor-bad { color: #991b1b; }
.tailor-added { color: #1e40af; }
.tailor-source { border-top: 1px solid #e5e7eb; padding: 0.4em 0; }
.tailor-source > summary { cursor: pointer; list-style-position: outside; }
.tailor-snippet { color: #374151; font-size: 0.92em; }
.tailor-passage { background: #f9fafb; padding: 0.4em 0.7em; margin: 0.4em 0; border-radius: 4px; }
.tailor-tech summary { color: #4b5563; font-size: 0.85em; cursor: pointer; }
#sources, #sources * { font-family: inherit; overflow-wrap: anywhere; }
.tailor-table { border-collapse: collapse; width: 100%; font-size: 0.9em; }
.tailor-table caption { text-align: left; font-weight: 600; padding: 0.3em 0; }
.tailor-table th, .tailor-table td { border: 1px solid #d1d5db; padding: 4px 6px; text-align: left; vertical-align: top; }
.tailor-question { border-top: 1px solid #e5e7eb; padding: 0.3em 0; }
.tailor-question summary { cursor: pointer; }
table th, table td { word-break: normal; overflow-wrap: anywhere; hyphens: none; }
@media (max-width: 480px) {
  .gradio-container { padding: 0 6px !important; }
  table { width: 100% !important; min-width: 0 !important; table-layout: auto !important; }
  table th, table td, table th > div, table td > div { min-width: 0 !important; max-width: none !important; width: auto !important;
                                                      padding: 3px !important; }
  .row, .form { flex-wrap: wrap !important; }
  .row > *, .form > * { min-width: 100% !important; }
  table { font-size: 0.8em; }
}
"""


def build_ui(folder: Path, cfg, live: LiveAssistant | None = None):
    """The Gradio app: Chat, Side by side, Eval and Build tabs over one shared LiveAssistant,
    plus the stable API endpoints /ask and /vote for gradio_client."""
    import gradio as gr

    folder = Path(folder)
    live = live or LiveAssistant(folder, cfg)
    votes_path, prefs_path = feedback_paths(folder)

    def variant_choices() -> list[str]:
        return live.variants

    def default_variant() -> str | None:
        variants = live.variants
        return getattr(live.assistant, "default_variant", None) or (variants[0] if variants else None)

    def warn(message: str) -> str:
        gr.Warning(message)
        return f"**Warning:** {message}"

    # ---- Chat ----
    def chat_submit(question, history, conversation, variant):
        question = (question or "").strip()
        if not question:
            yield history, conversation, gr.skip(), gr.skip(), warn("Type a question first.")
            return
        try:
            question = check_question(question)
            check_history(conversation)
            assistant = live.require()
        except TailorError as exc:
            yield history, conversation, gr.skip(), gr.skip(), warn(str(exc))
            return
        history = list(history or []) + [{"role": "user", "content": question}, {"role": "assistant", "content": ""}]
        yield history, conversation, "", "<p>Answering…</p>", "…"
        text = ""
        try:
            for event in assistant.stream(question, history=list(conversation or []), variant=variant):
                if _is_answer(event):
                    history[-1]["content"] = bubble_html(event)
                    conversation = list(conversation or []) + [
                        {"role": "user", "content": question},
                        {"role": "assistant", "content": _said(event)},  # no disclaimer in the model's history
                    ]
                    yield history, conversation, "", sources_html(event), answer_footer(event)
                    return
                text += event.text
                history[-1]["content"] = _esc(text).replace("\n", "<br>")
                yield history, conversation, "", gr.skip(), gr.skip()
        except TailorError as exc:
            history[-1]["content"] = f"Error: {_esc(exc)}"
            yield history, conversation, "", "", warn(str(exc))

    # ---- Side by side ----
    def arena_ask(question, variants, anonymous):
        question = (question or "").strip()
        hidden = [gr.skip()] * 13  # columns, heads, bodies, state
        if not question:
            yield *hidden, warn("Type a question first."), *[gr.skip()] * 6
            return
        variants = list(variants or [])
        if not 2 <= len(variants) <= 4:
            yield *hidden, warn(f"Pick 2 to 4 variants to compare (got {len(variants)})."), *[gr.skip()] * 6
            return
        try:
            question = check_question(question)
            assistant = live.require()
        except TailorError as exc:
            yield *hidden, warn(str(exc)), *[gr.skip()] * 6
            return
        order = random.sample(variants, len(variants)) if anonymous else variants
        state = {"question": question, "variants": order, "answers": [None] * len(order), "build_id": None,
                 "anonymous": bool(anonymous), "complete": False, "voted": False}
        texts = [""] * len(order)

        def outputs(status):
            cols = [gr.Column(visible=i < len(order)) for i in range(4)]
            heads = [f"### {_arena_head(state, i)}" if i < len(order) else "" for i in range(4)]
            bodies = [texts[i] if i < len(order) else "" for i in range(4)]
            return (*cols, *heads, *bodies, state, status)

        yield *outputs("Answering…"), *_vote_buttons(gr, len(order))
        finished = 0
        for i, event in _stream_side_by_side(assistant, question, order):
            if isinstance(event, Exception):
                texts[i] = f"Error: {event}"
                finished += 1
            elif _is_answer(event):
                texts[i] = bubble_html(event) + _sources_line(event)
                state["answers"][i] = _said(event)
                state["build_id"] = event.build_id
                finished += 1
            else:
                texts[i] += event.text
            yield *outputs(f"Answering… {finished}/{len(order)} done"), *[gr.skip()] * 6
        state["complete"] = all(a is not None for a in state["answers"])
        status = "Which answer is better? Vote below." if state["complete"] else "An answer failed; ask again to vote."
        yield *outputs(status), *[gr.skip()] * 6

    def arena_vote(choice: str, corrected, state):
        """Step 1 of a vote: say exactly what it will save, and ask to confirm."""
        keep = (gr.skip(), gr.skip())
        if not state or not state.get("question"):
            return warn("Ask a question first: there is nothing to vote on yet."), *keep
        if not state.get("complete"):
            return warn("Wait until every answer is complete, then vote."), *keep
        if state.get("voted"):
            return warn("This comparison already has your vote; undo it, or ask another question."), *keep
        order = state["variants"]
        winner = choice if choice in ("tie", "both_bad") else order[ARENA_LABELS.index(choice)]
        corrected = (corrected or "").strip()
        try:
            if len(corrected) > MAX_ANSWER_CHARS:
                raise InputError(f"the corrected answer is {len(corrected):,} characters; the limit is {MAX_ANSWER_CHARS:,}")
        except TailorError as exc:
            return warn(str(exc)), *keep
        said = {"tie": "a tie", "both_bad": "all answers bad"}.get(winner, f"answer {choice} is better")
        preview = vote_preview(state["question"], order, state["answers"], winner, corrected)
        state = {**state, "pending": {"winner": winner, "corrected": corrected}}
        return f"**You chose: {said}.** {preview}\n\nSave this vote?", state, gr.Row(visible=True)

    def arena_confirm(state):
        """Step 2: save the confirmed vote; names are revealed and the vote can be undone."""
        skip4 = [gr.skip()] * 4
        pending = (state or {}).get("pending")
        if not pending:
            return (*skip4, warn("Choose an answer first, then confirm."), gr.skip(), gr.skip(), gr.skip(), gr.Row(visible=False), gr.skip())
        order = state["variants"]
        try:
            vote, pairs = record_vote(folder, state["question"], order, state["answers"], pending["winner"], pending["corrected"],
                                      state.get("build_id"), live.cfg.privacy.redact, state["anonymous"],
                                      known_variants=live.variants)
        except TailorError as exc:
            return (*skip4, warn(str(exc)), gr.skip(), gr.skip(), gr.skip(), gr.Row(visible=False), gr.skip())
        state = {**state, "voted": True, "anonymous": False, "pending": None, "vote_id": vote["id"]}
        heads = [f"### {_arena_head(state, i)}" if i < len(order) else "" for i in range(4)]
        winner = pending["winner"]
        result = {"tie": "a tie", "both_bad": "all bad"}.get(winner, f"**{winner}** better")
        saved = (f"{len(pairs)} training pair(s) saved to feedback/preferences.jsonl" if pairs
                 else "no training pair (no winner, no corrected answer)")
        gr.Info(f"Vote saved: {result.replace('**', '')}. You can undo it.")
        status = f"Vote recorded: {result} ({', '.join(order)}). {saved}. Undo it with the button below."
        return (*heads, status, state, tally_markdown(), "", gr.Row(visible=False), gr.Button(visible=True))

    def arena_cancel(state):
        state = {**(state or {}), "pending": None}
        return "Vote cancelled: nothing was saved.", state, gr.Row(visible=False)

    def arena_undo(state):
        vote_id = (state or {}).get("vote_id")
        try:
            votes, pairs = undo_vote(folder, vote_id)
        except TailorError as exc:
            return warn(str(exc)), gr.skip(), gr.skip(), gr.Button(visible=False)
        state = {**state, "voted": False, "vote_id": None}
        gr.Info("Vote undone.")
        return (f"Vote undone: removed it and its {pairs} training pair(s) from feedback/. You can vote again.",
                state, tally_markdown(), gr.Button(visible=False))

    def tally_markdown() -> str:
        """Head-to-head counts from feedback/votes.jsonl, the file the leaderboard reads: they always agree."""
        votes = read_jsonl(votes_path)
        tally = pair_tally(votes)
        if not tally:
            return "No votes yet."
        lines = [f"{len(votes)} vote(s) so far.", "", "| pair | wins | ties |", "|---|---|---|"]
        for (a, b), row in sorted(tally.items()):
            lines.append(f"| {a} vs {b} | {row[a]} : {row[b]} | {row['tie']} |")
        return "\n".join(lines)

    def leaderboard_rows(by: str):
        rows = leaderboard(read_jsonl(votes_path), by="build" if by.startswith("variant @") else "variant",
                           min_games=MIN_GAMES_FOR_INTERVAL)
        if not rows:
            return "<p>No games yet: the leaderboard starts with the first vote.</p>"
        return table_html([[r["rank"], r["name"], r["rating"],
                            f"{r['ci_low']:.0f} – {r['ci_high']:.0f}" if r["ci_low"] is not None
                            else f"after {MIN_GAMES_FOR_INTERVAL} games ({r['games']} so far)",
                            r["games"], r["win_rate"]] for r in rows],
                          ["rank", "name", "rating", "95% interval", "games", "win rate"], "Leaderboard (Bradley-Terry rating)")

    # ---- API endpoints (stable names for gradio_client) ----
    def api_ask(question: str, variant: str):
        """Stream one answer: (text so far, {}) while generating, then (answer, its JSON: verified or
        flagged with a note, unsupported figures, declined, escalation and the sources)."""
        try:
            question = check_question(question)
            assistant = live.require()
            text = ""
            for event in assistant.stream(question, variant=variant or None):
                if _is_answer(event):
                    yield event.text, answer_json(event)
                    return
                text += event.text
                yield text, {}
        except TailorError as exc:
            raise gr.Error(str(exc)) from None

    def api_vote(question: str, variant_a: str, answer_a: str, variant_b: str, answer_b: str, winner: str, corrected: str):
        """Record one A/B vote; winner is A, B, tie or both_bad. Returns a summary as JSON."""
        if winner not in ("A", "B", "tie", "both_bad"):
            raise gr.Error(f"winner must be A, B, tie or both_bad (got {winner!r})")
        name = {"A": variant_a, "B": variant_b}.get(winner, winner)
        try:
            live.require()  # no votes on an app with nothing to serve: they would train on made-up answers
            vote, pairs = record_vote(folder, question or "", [variant_a, variant_b], [answer_a or "", answer_b or ""],
                                      name, corrected or "", live.build_id, live.cfg.privacy.redact,
                                      known_variants=live.variants)
        except TailorError as exc:
            raise gr.Error(str(exc)) from None
        return {"vote_id": vote["id"], "winner": vote["winner"], "pairs": len(pairs)}

    # ---- Eval ----
    def suite_choices() -> list[str]:
        return ["all"] + [p.name for p in sorted((folder / "evals").glob("*.jsonl"))]

    def eval_view(report_dir, chart=None):
        """(verdict, status, metrics, chart, per question, download) of a report folder."""
        head, status, table, headers, questions, q_headers, html_path = report_view(report_dir)
        return (head, status, gr.HTML(value=table_html(table, headers, "Metrics (95% bootstrap interval)"), visible=bool(table)),
                gr.Image(value=chart, visible=chart is not None),
                gr.HTML(value=questions_html(questions, q_headers), visible=bool(questions)),
                gr.DownloadButton(value=html_path, visible=html_path is not None))

    def latest_eval():
        return eval_view(latest_report_dir(folder))

    def estimate(suite, variants, limit):
        return eval_estimate(folder, suite, list(variants or []), int(limit) if limit else None, live.cfg.evals.test_share)

    def run_eval_ui(suite, variants, limit, progress=gr.Progress(track_tqdm=True)):
        skip5 = [gr.skip()] * 5
        if not variants:
            return gr.skip(), warn("Pick at least one variant."), *skip5[1:], gr.skip()
        suites = [p for p in (folder / "evals").glob("*.jsonl")]
        if not suites:
            return gr.skip(), warn(f"No eval suites in {folder / 'evals'}: add a .jsonl suite first."), *skip5[1:], gr.skip()
        try:
            from evals import chart_images, run_eval

            progress(0, desc="Loading models")
            report = run_eval(folder, live.cfg, suite=None if suite == "all" else folder / "evals" / suite,
                              variants=list(variants), limit=int(limit) if limit else None, progress=True,
                              assistant=live.require())  # the served models: no second copy in memory
        except TailorError as exc:
            return gr.skip(), warn(str(exc)), *skip5[1:], gr.skip()
        import base64
        import io

        from PIL import Image

        images = chart_images(report)
        chart = Image.open(io.BytesIO(base64.b64decode(images[0][1]))) if images else None
        return eval_view(report.dir, chart)

    # ---- Build ----
    def docs_table():
        try:
            sources = live.kb().sources() if live.assistant is not None else {}
        except TailorError:
            sources = {}
        return document_rows(folder, sources)

    def upload(files):
        if not files:
            return warn("Choose one or more files to upload first."), gr.skip(), None
        files = files if isinstance(files, list) else [files]
        if len(files) > MAX_UPLOAD_FILES:
            return warn(f"{len(files)} files chosen; upload at most {MAX_UPLOAD_FILES} at a time."), gr.skip(), None
        saved, problems = [], []
        for f in files if isinstance(files, list) else [files]:
            path = Path(getattr(f, "name", f))
            try:
                saved.append(save_upload(folder / "docs", path).name)
            except TailorError as exc:
                problems.append(str(exc))
        for p in problems:
            gr.Warning(p)
        lines = ([f"Added to docs/: {', '.join(saved)}. Run Index to make them searchable."] if saved else [])
        lines += [f"**Not added:** {p}" for p in problems]
        return "\n\n".join(lines), docs_table(), None

    def run_build(kind: str, progress=gr.Progress(track_tqdm=True)):
        n_out = 5
        if not live.build_lock.acquire(blocking=False):
            yield warn("A build is already running; wait for it to finish."), *[gr.skip()] * (n_out - 1)
            return
        capture = _LogCapture()
        loggers = [logging.getLogger(n) for n in ("knowledge", "builder", "chat", "evals")]
        try:
            try:
                cfg = _load(folder)
            except TailorError as exc:
                yield warn(str(exc)), *[gr.skip()] * (n_out - 1)
                return
            old_levels = [lg.level for lg in loggers]
            for lg in loggers:
                lg.addHandler(capture)
                if lg.getEffectiveLevel() > logging.INFO:
                    lg.setLevel(logging.INFO)
            if kind == "index":
                from knowledge import build_index

                work = lambda: build_index(folder / "docs", folder / "build" / "index", cfg.knowledge, progress=True)
            else:
                from builder import build

                work = lambda: build(folder, cfg)
            started = time.monotonic()
            thread, result = _run_in_thread(work)
            while thread.is_alive():
                thread.join(0.5)
                yield f"Running {kind}… {time.monotonic() - started:.0f} s", "\n".join(capture.lines[-200:]), *[gr.skip()] * 3
            log = "\n".join(capture.lines[-200:])
            if "error" in result:
                exc = result["error"]
                msg = str(exc) if isinstance(exc, TailorError) else f"{type(exc).__name__}: {exc}"
                if not isinstance(exc, TailorError):
                    logging.getLogger("tailor.app").error("%s failed", kind, exc_info=exc)
                yield warn(f"{kind} failed: {msg}. The app keeps serving the previous build."), log, *[gr.skip()] * 3
                return
            summary = _summary_text(result.get("value"))
            before = live.build_id
            try:
                live.reload(cfg)
            except TailorError as exc:
                yield warn(f"{kind} finished, but the new build did not load: {exc}"), log, *[gr.skip()] * 3
                return
            choices = variant_choices()
            serving = (f"now serving build {live.build_id}" if live.build_id != before
                       else f"still serving build {live.build_id} (the answers now search the updated index)" if kind == "index"
                       else f"build {live.build_id} is unchanged (nothing needed rebuilding)")
            gr.Info(f"{kind} complete; {serving}.")
            if not capture.lines and summary:
                log = summary
            yield (f"{kind} complete in {time.monotonic() - started:.0f} s; {serving}. {summary}",
                   log, docs_table(), gr.Dropdown(choices=choices, value=default_variant()),
                   gr.CheckboxGroup(choices=choices, value=choices[:2]))
        finally:
            for lg in loggers:
                lg.removeHandler(capture)
            live.build_lock.release()

    def search(query, k):
        query = (query or "").strip()
        if not query:
            return warn("Type something to search for."), []
        try:
            hits = live.kb().search(query, k=int(k or 5))
        except TailorError as exc:
            return warn(str(exc)), []
        rows = [[h.rank, h.source, h.page if h.page is not None else "", round(float(h.score), 3), _snippet(h.text)] for h in hits]
        return (f"{len(rows)} result(s) for “{query}”." if rows else f"Nothing found for “{query}”."), rows

    def default_pair() -> list[str]:
        """The comparison a manager cares about: the served tuned model against the base model,
        both reading the documents; else the first two variants."""
        choices = variant_choices()
        for pair in (["tuned+rag", "base+rag"], ["base+rag", "base"]):
            if all(v in choices for v in pair):
                return pair
        models = [v for v in choices if v != "extract"]
        return models[:2] if len(models) >= 2 else choices[:2]

    def refresh_choices():
        choices = variant_choices()
        return (gr.Dropdown(choices=choices, value=default_variant()),
                gr.CheckboxGroup(choices=choices, value=default_pair()),
                gr.CheckboxGroup(choices=choices, value=default_pair() or choices),
                _status_line(live))

    def disclaimer_text() -> str:
        text = getattr(getattr(live.assistant, "chat", None), "disclaimer", None)
        return f"<small>{_esc(text)}</small>" if text else ""

    def confirm_build():
        return (f"**Full build: retrains the model.** {build_estimate(folder)} The app keeps serving the current build "
                "meanwhile. Start it?"), gr.Row(visible=True)

    # ---- layout ----
    with gr.Blocks(title=f"{cfg.name} · Tailor", analytics_enabled=False) as demo:
        gr.HTML(f"<h1 class='tailor-title'>{_esc(cfg.name)}</h1>", elem_id="app-title")
        header = gr.Markdown(_status_line(live), elem_id="status-line")
        with gr.Tabs():
            with gr.Tab("Chat", id="chat"):
                with gr.Row(equal_height=False):
                    with gr.Column(scale=3, min_width=300):
                        disclaimer = gr.HTML(disclaimer_text(), elem_id="chat-disclaimer")
                        chatbot = gr.Chatbot(label=f"Conversation with {cfg.name}", height=420, elem_id="chatbot",
                                             feedback_options=None)
                        with gr.Row():
                            question = gr.Textbox(placeholder="Ask a question…", label="Your question", scale=5,
                                                  elem_id="chat-question", lines=1)
                            send = gr.Button("Send", variant="primary", scale=1, min_width=80, elem_id="chat-send")
                        with gr.Row():
                            variant = gr.Dropdown(variant_choices(), value=default_variant(), label="Variant", elem_id="chat-variant")
                            reset = gr.Button("New conversation", elem_id="chat-reset")
                        footer = gr.Markdown("", elem_classes="tailor-footer", elem_id="chat-footer")
                        examples = example_questions(folder)
                        if examples:
                            gr.Examples([[q] for q in examples], inputs=[question], label="Examples from the eval suites")
                    with gr.Column(scale=2, min_width=300):
                        gr.Markdown("### Sources")
                        sources = gr.HTML("<p>The sources of each answer appear here.</p>", elem_id="sources")
                conversation = gr.State([])
                chat_io = dict(inputs=[question, chatbot, conversation, variant],
                               outputs=[chatbot, conversation, question, sources, footer], api_visibility="undocumented")
                send.click(chat_submit, **chat_io)
                question.submit(chat_submit, **chat_io)
                reset.click(lambda: ([], [], "<p>The sources of each answer appear here.</p>", ""),
                            outputs=[chatbot, conversation, sources, footer], api_visibility="undocumented")

            with gr.Tab("Side by side", id="arena"):
                with gr.Row():
                    arena_variants = gr.CheckboxGroup(variant_choices(), value=default_pair(), label="Variants (2 to 4)",
                                                      elem_id="arena-variants")
                    anonymous = gr.Checkbox(True, label="Anonymous (names shown after the vote)", elem_id="arena-anonymous")
                with gr.Row():
                    arena_q = gr.Textbox(placeholder="One question for every variant…", label="Question for every variant",
                                         scale=5, elem_id="arena-question")
                    arena_go = gr.Button("Compare", variant="primary", scale=1, min_width=80, elem_id="arena-go")
                cols, heads, bodies = [], [], []
                with gr.Row():
                    for i in range(4):
                        with gr.Column(visible=i < 2, min_width=280) as col:
                            heads.append(gr.Markdown(f"### Model {ARENA_LABELS[i]}", elem_id=f"arena-head-{i}"))
                            bodies.append(gr.HTML("", elem_id=f"arena-answer-{i}", min_height=120))
                        cols.append(col)
                with gr.Row():
                    vote_buttons = [gr.Button(f"{ARENA_LABELS[i]} is better", visible=i < 2, elem_id=f"vote-{ARENA_LABELS[i]}")
                                    for i in range(4)]
                    vote_buttons.append(gr.Button("Tie", elem_id="vote-tie"))
                    vote_buttons.append(gr.Button("All bad", elem_id="vote-both_bad"))
                corrected = gr.Textbox(label="Corrected answer (optional: saved as the preferred answer over all shown)",
                                       lines=2, elem_id="arena-corrected")
                arena_status = gr.Markdown("", elem_id="arena-status")
                with gr.Row(visible=False) as confirm_row:
                    confirm_btn = gr.Button("Save this vote", variant="primary", elem_id="vote-confirm")
                    cancel_btn = gr.Button("Cancel", elem_id="vote-cancel")
                undo_btn = gr.Button("Undo my last vote", visible=False, elem_id="vote-undo")
                arena_state = gr.State(None)
                gr.Markdown("### Tally and leaderboard")
                tally = gr.Markdown(tally_markdown(), elem_id="arena-tally")
                rank_by = gr.Radio(["variant", "variant @ build"], value="variant", label="Rank")
                board = gr.HTML("", elem_id="leaderboard")
                refresh_board = gr.Button("Refresh", elem_id="leaderboard-refresh")
                arena_io = dict(inputs=[arena_q, arena_variants, anonymous],
                                outputs=[*cols, *heads, *bodies, arena_state, arena_status, *vote_buttons],
                                api_visibility="undocumented")
                arena_go.click(arena_ask, **arena_io).then(lambda: (gr.Row(visible=False), gr.Button(visible=False)), None,
                                                           [confirm_row, undo_btn], api_visibility="undocumented")
                arena_q.submit(arena_ask, **arena_io).then(lambda: (gr.Row(visible=False), gr.Button(visible=False)), None,
                                                           [confirm_row, undo_btn], api_visibility="undocumented")
                for choice, button in zip(("A", "B", "C", "D", "tie", "both_bad"), vote_buttons):
                    button.click(functools.partial(arena_vote, choice), [corrected, arena_state],
                                 [arena_status, arena_state, confirm_row], api_visibility="undocumented")
                confirm_btn.click(arena_confirm, arena_state, [*heads, arena_status, arena_state, tally, corrected, confirm_row, undo_btn],
                                  api_visibility="undocumented").then(leaderboard_rows, rank_by, board, api_visibility="undocumented")
                cancel_btn.click(arena_cancel, arena_state, [arena_status, arena_state, confirm_row], api_visibility="undocumented")
                undo_btn.click(arena_undo, arena_state, [arena_status, arena_state, tally, undo_btn],
                               api_visibility="undocumented").then(leaderboard_rows, rank_by, board, api_visibility="undocumented")
                refresh_board.click(lambda by: (tally_markdown(), leaderboard_rows(by)), rank_by, [tally, board],
                                    api_visibility="undocumented")
                rank_by.change(leaderboard_rows, rank_by, board, api_visibility="undocumented")

            with gr.Tab("Eval", id="eval"):
                eval_verdict = gr.Markdown("", elem_id="eval-verdict")
                with gr.Row():
                    suite = gr.Dropdown(suite_choices(), value="all", label="Suite", elem_id="eval-suite")
                    eval_variants = gr.CheckboxGroup(variant_choices(), value=default_pair(), label="Variants", elem_id="eval-variants")
                    limit = gr.Number(QUICK_EVAL_QUESTIONS, precision=0, minimum=0, label="Questions (0 = all of the test split)",
                                      elem_id="eval-limit")
                eval_estimate_md = gr.Markdown("", elem_id="eval-estimate")
                eval_go = gr.Button("Run eval", variant="primary", elem_id="eval-run")
                eval_status = gr.Markdown("", elem_id="eval-status")
                download = gr.DownloadButton("Download the report (HTML)", visible=False, elem_id="eval-download")
                metrics = gr.HTML("", visible=False, elem_id="eval-metrics")
                chart = gr.Image(label="Chart", type="pil", interactive=False, visible=False, elem_id="eval-chart")
                per_question = gr.HTML("", visible=False, elem_id="eval-questions")
                eval_go.click(run_eval_ui, [suite, eval_variants, limit], [eval_verdict, eval_status, metrics, chart, per_question, download],
                              concurrency_limit=1, concurrency_id="heavy", api_visibility="undocumented").then(
                    estimate, [suite, eval_variants, limit], eval_estimate_md, api_visibility="undocumented")
                for control in (suite, eval_variants, limit):
                    control.change(estimate, [suite, eval_variants, limit], eval_estimate_md, api_visibility="undocumented")

            with gr.Tab("Build", id="build"):
                with gr.Row():
                    with gr.Column(min_width=300):
                        files = gr.File(label=f"Add documents ({' '.join(UPLOAD_SUFFIXES)}; up to {MAX_UPLOAD_MB} MB each)",
                                        file_count="multiple", elem_id="upload")
                        upload_btn = gr.Button("Add to docs/", elem_id="upload-add")
                        upload_status = gr.Markdown("", elem_id="upload-status")
                        docs = gr.Dataframe(headers=["document", "chunks"], value=docs_table(), interactive=False, wrap=True,
                                            label="Documents", elem_id="docs-table")
                    with gr.Column(min_width=300):
                        with gr.Row():
                            index_btn = gr.Button("Index documents", variant="primary", elem_id="build-index")
                            build_btn = gr.Button("Full build (train)…", elem_id="build-full")
                        with gr.Row(visible=False) as build_confirm_row:
                            build_go = gr.Button("Start the full build", variant="primary", elem_id="build-confirm")
                            build_cancel = gr.Button("Cancel", elem_id="build-cancel")
                        build_status = gr.Markdown("", elem_id="build-status")
                        build_log = gr.Textbox(label="Log", lines=12, max_lines=12, autoscroll=True, elem_id="build-log")
                with gr.Row():
                    search_q = gr.Textbox(placeholder="Search the knowledge base…", label="Search the documents", scale=5,
                                          elem_id="search-query")
                    search_k = gr.Number(5, precision=0, minimum=1, maximum=50, label="results", scale=1, min_width=80)
                    search_btn = gr.Button("Search", scale=1, min_width=80, elem_id="search-go")
                search_status = gr.Markdown("", elem_id="search-status")
                results = gr.Dataframe(headers=["rank", "file", "page", "score", "text"], value=[], interactive=False, wrap=True,
                                       elem_id="search-results", column_widths=["6%", "24%", "6%", "8%", "56%"])
                upload_btn.click(upload, files, [upload_status, docs, files], api_visibility="undocumented")
                build_outputs = [build_status, build_log, docs, variant, arena_variants]
                index_btn.click(functools.partial(run_build, "index"), None, build_outputs, concurrency_limit=1,
                                concurrency_id="heavy", api_visibility="undocumented").then(
                    refresh_choices, None, [variant, arena_variants, eval_variants, header], api_visibility="undocumented")
                build_btn.click(confirm_build, None, [build_status, build_confirm_row], api_visibility="undocumented")
                build_cancel.click(lambda: ("Full build cancelled: nothing was started.", gr.Row(visible=False)), None,
                                   [build_status, build_confirm_row], api_visibility="undocumented")
                build_go.click(lambda: gr.Row(visible=False), None, build_confirm_row, api_visibility="undocumented").then(
                    functools.partial(run_build, "build"), None, build_outputs, concurrency_limit=1,
                    concurrency_id="heavy", api_visibility="undocumented").then(
                    refresh_choices, None, [variant, arena_variants, eval_variants, header], api_visibility="undocumented")
                search_btn.click(search, [search_q, search_k], [search_status, results], api_visibility="undocumented")
                search_q.submit(search, [search_q, search_k], [search_status, results], api_visibility="undocumented")

        with gr.Column(visible=False):  # the API: gradio_client calls /ask and /vote by these names
            api_q, api_variant = gr.Textbox(), gr.Textbox()
            api_answer, api_sources = gr.Textbox(), gr.JSON()
            api_fields = [gr.Textbox() for _ in range(7)]
            api_result = gr.JSON()
            api_ask_btn, api_vote_btn = gr.Button(), gr.Button()
        api_ask_btn.click(api_ask, [api_q, api_variant], [api_answer, api_sources], api_name="ask")
        api_vote_btn.click(api_vote, api_fields, api_result, api_name="vote")
        demo.load(refresh_choices, None, [variant, arena_variants, eval_variants, header], api_visibility="undocumented")
        demo.load(lambda by: (tally_markdown(), leaderboard_rows(by)), rank_by, [tally, board], api_visibility="undocumented")
        demo.load(latest_eval, None, [eval_verdict, eval_status, metrics, chart, per_question, download], api_visibility="undocumented")
        demo.load(estimate, [suite, eval_variants, limit], eval_estimate_md, api_visibility="undocumented")
        demo.load(disclaimer_text, None, disclaimer, api_visibility="undocumented")
    return demo


def _vote_buttons(gr, n: int) -> list:
    """Vote button updates: one 'X is better' per shown column, then Tie and All bad. They stay
    clickable, so a vote at the wrong moment gets an explanation rather than a dead button."""
    return [gr.Button(visible=i < n) for i in range(4)] + [gr.skip(), gr.skip()]


def _arena_head(state: dict, i: int) -> str:
    label = ARENA_LABELS[i]
    return f"Model {label}" if state.get("anonymous") else f"{label}: {state['variants'][i]}"


def _sources_line(answer) -> str:
    """Under a side-by-side answer: the documents it cites, by title."""
    line = ""
    if answer.sources:
        cited = "; ".join(f"[{c.n}] {_where(c)}" + (" (added by Tailor)" if c.attributed else "") for c in answer.sources)
        label = "Sources" if answer.sources[0].cited else "Given (the answer cites none)"
        line = f"\n\n<small>{label}: {_esc(cited)}</small>"
    return line  # the verified-or-flagged line is already in bubble_html


def _snippet(text: str, n: int = 240) -> str:
    text = " ".join(text.split())
    return text if len(text) <= n else text[: n - 1] + "…"


def _status_line(live: LiveAssistant) -> str:
    if live.assistant is None:
        return f"Not ready: {live.error}"
    variants = ", ".join(live.variants) or "none"
    build = f"build `{live.build_id}`" if live.build_id else "not built yet (retrieval-only)"
    note = getattr(live.assistant, "serving_note", None)
    note = note() if callable(note) else note
    return f"{build} · variants: {variants}" + (f"<br>{note}" if isinstance(note, str) and note else "")


def _summary_text(summary) -> str:
    """One line about what an index run or a build changed."""
    if summary is None:
        return ""
    if hasattr(summary, "added") and hasattr(summary, "n_chunks"):  # knowledge.IndexReport
        changes = {k: len(getattr(summary, k, []) or []) for k in ("added", "changed", "removed")}
        return f"Documents added {changes['added']}, changed {changes['changed']}, removed {changes['removed']}; {summary.n_chunks} chunks."
    text = str(summary)
    return text if type(summary).__str__ is not object.__str__ and len(text) < 400 else ""


QUICK_EVAL_QUESTIONS = 20  # the Eval tab's default: a stratified sample, minutes rather than hours on a CPU
FALLBACK_SECONDS_PER_ANSWER = 6.0  # before any eval has run: SmolLM2-135M on 2 busy CPU cores, 200 new tokens


def latest_report_dir(folder: Path) -> Path | None:
    """The newest build/reports/*/ with a summary.json, from the app or `tailor eval` alike."""
    root = Path(folder) / "build" / "reports"
    dirs = [p for p in root.iterdir() if (p / "summary.json").is_file()] if root.is_dir() else []
    return max(dirs, key=lambda p: (p / "summary.json").stat().st_mtime) if dirs else None


def _summary(report_dir: Path) -> dict | None:
    try:
        return json.loads((report_dir / "summary.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def eval_questions(folder: Path, suite: str, limit: int | None, test_share: float) -> int:
    """How many test-split questions an eval of `suite` ("all" or a file name) would answer."""
    from evals import load_suite, split_items

    path = Path(folder) / "evals" / ("" if suite == "all" else suite)
    try:
        n = len(split_items(load_suite(path), "test", test_share))
    except TailorError:
        return 0
    return min(n, limit) if limit else n


def seconds_per_answer(folder: Path) -> float | None:
    """Measured on this machine by the latest eval report: its time over the answers it gave."""
    latest = latest_report_dir(folder)
    summary = _summary(latest) if latest else None
    if not summary:
        return None
    elapsed = summary.get("elapsed_s") or _report_seconds(latest)
    answers = (summary.get("n_questions") or 0) * len(summary.get("variants") or [])
    return elapsed / answers if answers and elapsed else None


def _report_seconds(report_dir: Path) -> float | None:
    """Wall time of a report: from the time in its folder name to its summary.json."""
    match = re.search(r"(\d{8}-\d{6})", report_dir.name)
    if not match:
        return None
    started = datetime.strptime(match.group(1), "%Y%m%d-%H%M%S").timestamp()
    seconds = (report_dir / "summary.json").stat().st_mtime - started
    return seconds if seconds > 0 else None


def eval_estimate(folder: Path, suite: str, variants: list[str], limit: int | None, test_share: float) -> str:
    n = eval_questions(folder, suite, limit, test_share)
    if not n or not variants:
        return "Pick a suite and at least one variant."
    per = seconds_per_answer(folder)
    basis = "from the last eval on this machine" if per else "a rough guess: no eval has run here yet"
    total = n * len(variants) * (per or FALLBACK_SECONDS_PER_ANSWER)
    took = f"{total / 60:.0f} min" if total >= 90 else f"{total:.0f} s"
    return f"{n} test questions x {len(variants)} variants: about **{took}** ({basis})."


def report_view(report_dir: Path | None):
    """(verdict, status, metric rows, headers, per-question rows, headers, report.html path) of a
    report folder, written by the app or by `tailor eval`; empty values when there is none."""
    from evals import primary_score
    from evals._report import human_name, regressions, verdict
    from evals._runner import read_results

    summary = _summary(report_dir) if report_dir else None
    if not summary:
        return ("No eval report yet: run the quick eval below (or `tailor eval FOLDER --limit 20`).", "", [], ["metric"], [], ["question"], None)
    variants = summary["variants"]
    head = verdict(summary) or "No two model variants compared in this report."
    lines = [f"**{head}**"]
    lines += [f"- **Regression:** {r}" for r in regressions(summary)]
    when = datetime.fromtimestamp((report_dir / "summary.json").stat().st_mtime).strftime("%Y-%m-%d %H:%M")
    lines += ["", f"Report of {when}: suite {summary['suite']}, {summary['n_questions']} questions ({summary.get('split', 'test')} split) x "
              f"{len(variants)} variants in {summary.get('elapsed_s') or _report_seconds(report_dir) or 0:.0f} s. Download it below, or open {report_dir / 'report.html'}."]
    lines += [f"- Note: {n}" for n in summary.get("notes", [])] + [f"- **Gate failed:** {g}" for g in summary.get("gate_failures", [])]

    def cell(e: dict, digits: int) -> str:
        if not e or e.get("value") is None:
            return "-"
        if e.get("low") is None:
            return f"{e['value']:.{digits}f}"
        return f"{e['value']:.{digits}f} ({e['low']:.{digits}f}–{e['high']:.{digits}f})"

    table = []
    for name, row in summary["metrics"].items():
        table.append([f"{human_name(name)} ({name})"] + [cell(row.get(v), 2) for v in variants])
    by_question: dict[str, list] = {}
    for rec in read_results(report_dir / "results.jsonl"):
        if rec.get("variant") not in variants:
            continue
        row = by_question.setdefault(rec["id"], [rec.get("question", ""), rec.get("reference") or "(decline)"] + [""] * len(variants))
        score = primary_score(rec)
        row[2 + variants.index(rec["variant"])] = f"[{'-' if score is None else f'{score:.2f}'}] {_snippet(rec.get('answer') or '', 200)}"
    html_path = report_dir / "report.html"
    return ("\n".join(lines[:1 + len(regressions(summary))]), "\n".join(lines[1 + len(regressions(summary)):]),
            table, ["metric (95% interval)", *variants], list(by_question.values()), ["question", "reference", *variants],
            str(html_path) if html_path.is_file() else None)


def table_html(rows: list[list], headers: list[str], caption: str) -> str:
    """A plain HTML table that wraps to the screen (a phone included), unlike a data grid."""
    head = "".join(f"<th scope='col'>{_esc(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{_esc(c)}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table class='tailor-table'><caption>{_esc(caption)}</caption><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def questions_html(rows: list[list], headers: list[str]) -> str:
    """Every question with each variant's "[score] answer", one block per question."""
    blocks = []
    for row in rows:
        answers = "".join(f"<li><strong>{_esc(v)}</strong>: {_esc(a)}</li>" for v, a in zip(headers[2:], row[2:]))
        blocks.append(f"<details class='tailor-question'><summary>{_esc(row[0])}</summary>"
                      f"<p>Reference: {_esc(row[1])}</p><ul>{answers}</ul></details>")
    return f"<p><strong>Per question</strong> ([score] answer; select one to see the answers)</p>{''.join(blocks)}"


def build_estimate(folder: Path) -> str:
    """How long a full build should take, from the stage times the last build recorded."""
    stages = Path(folder) / "build" / "stages"
    seconds = 0.0
    for path in stages.glob("*.json") if stages.is_dir() else []:
        try:
            seconds += float(json.loads(path.read_text(encoding="utf-8")).get("seconds") or 0)
        except (OSError, ValueError, AttributeError):
            continue
    if seconds >= 60:
        return (f"The last build's stages took {seconds / 60:.0f} min in all; a build that retrains takes about as long "
                "(stages whose inputs did not change are skipped).")
    return "No earlier build recorded here: a first build takes about 10-15 min on 2 CPU cores (1-2 min on one GPU)."


def main() -> None:
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    try:
        cli()  # click handles usage errors and Ctrl-C itself (exit codes 2 and 1)
    except TailorError as exc:
        typer.secho(f"error: {exc}", fg=typer.colors.RED, err=True)
        sys.exit(1)


if __name__ == "__main__":
    main()
