"""Tailor's command line (`tailor ...`) and its Gradio app (`tailor serve`).

Both are thin adapters over the packages: each command loads the assistant's config once
and calls one library function. Every TailorError becomes a clear message and exit code 1
here, in `main()`, and nowhere else.
"""
from __future__ import annotations

import contextlib
import contextvars
import functools
import json
import logging
import os
import queue
import random
import re
import sys
import threading
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Optional

import typer

from builder import STAGES, build_estimate, export_gguf, init_folder
from builder import build as run_build
from chat import (
    Assistant, LiveAssistant, answer_footer, answer_json, ask_once, chat_loop, check_history, check_question,
    clean_snippet, decline_topics, one_line, plain_text, read_manifest, source_where, with_turn, without_disclaimer,
)  # fmt: skip
from evals import (
    MIN_GAMES_FOR_INTERVAL, NO_WINNER, chart_images, check_corrected, check_suite, eval_estimate, example_questions,
    leaderboard, newest_report_dir, pair_tally, print_report, read_votes, record_vote, report_view, run_eval, undo_vote,
    vote_preview,
)  # fmt: skip
from knowledge import (
    MAX_UPLOAD_MB, UPLOAD_SUFFIXES, add_documents, build_index, document_rows, load_index, search_many,
)  # fmt: skip
from knowledge.errors import ConfigError, TailorError
from knowledge.folder import AssistantFolder


class _Gradio:
    """gradio, imported on first use: it takes seconds, and only `tailor serve` needs it."""

    def __getattr__(self, name: str):
        import gradio

        return getattr(gradio, name)


gr = _Gradio()

cli = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    help="Turn a folder of documents into a domain assistant.",
)


@cli.callback()
def _root() -> None:
    """Turn a folder of documents into a domain assistant: index, build, chat, eval, serve."""


def _load(folder: Path):
    """The assistant folder's config, loaded once per command."""
    from builder.config import load_config

    if not folder.is_dir():
        raise TailorError(f"{folder}: no such assistant folder; create one with `tailor init NAME`")
    return load_config(folder)


def _serving(folder: Path):
    """assistant.yaml's serving slice, for FOLDER or its build/ folder (`ask` and `chat` take either)."""
    root = AssistantFolder.of(folder).root
    return _load(root).serving() if root.is_dir() else None


@cli.command()
def init(name: str = typer.Argument(..., help="Folder to create for the new assistant.")) -> None:
    """Scaffold a new assistant folder with a commented assistant.yaml."""
    folder = init_folder(Path(name))
    typer.echo(
        f"Created {folder}/ with assistant.yaml, docs/, data/ and evals/.\n"
        f"Next: put your documents in {folder}/docs/, then run `tailor index {folder}`."
    )


# --- knowledge commands: index, search -------------------------------------------------


@cli.command()
def index(
    folder: Path = typer.Argument(..., help="Assistant folder; its documents are in FOLDER/docs."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bars."),
) -> None:
    """Index FOLDER/docs into FOLDER/build/index (only new and changed files are embedded)."""
    report = build_index(AssistantFolder(folder).docs, AssistantFolder(folder).index, _load(folder).knowledge, progress=not quiet)
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
    if (query is None) == (queries is None):
        raise TailorError("give either a QUERY or --queries FILE.jsonl (not both)")
    cfg = _load(folder).knowledge
    kb = load_index(AssistantFolder(folder).index, cfg)
    if queries is not None:
        for row, hits in search_many(kb, queries, k=k, mode=mode):
            if as_json:
                typer.echo(json.dumps(_hits_json(row["question"], hits, row.get("id")), ensure_ascii=False))
            else:
                typer.echo(f"# {row['question']}\n{_hits_text(hits)}\n")
        return
    hits = kb.search(query, k=k, mode=mode)
    typer.echo(json.dumps(_hits_json(query, hits), ensure_ascii=False) if as_json else _hits_text(hits))


def _hits_text(hits: list, snippet_chars: int = 160) -> str:
    """Rank, score, source (with page) and a one-line snippet per hit: what `tailor search` prints."""
    if not hits:
        return "No matching chunks."
    lines = []
    for hit in hits:
        snippet = " ".join(hit.text.split())
        if len(snippet) > snippet_chars:
            snippet = snippet[: snippet_chars - 1].rstrip() + "…"
        where = hit.chunk.label
        if hit.chunk.headings:
            where += f" § {hit.chunk.headings[-1]}"
        lines.append(f"{hit.rank:>2}. {hit.score:.4f}  {where}\n    {snippet}")
    return "\n".join(lines)


def _hits_json(question: str, hits: list, id: str | None = None) -> dict:
    """The JSON object `tailor search --json` prints for one query."""
    out = {"question": question, "hits": [h.to_dict() for h in hits]}
    return {"id": id, **out} if id is not None else out


# --- chat commands: chat, ask -----------------------------------------------------------

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
    _quiet(verbose)
    assistant = Assistant.load(folder, _serving(folder))
    _serving_note(assistant, variant)
    ask_once(assistant, question, variant, as_json, _echo, verbose)


@cli.command()
def chat(
    folder: Path = typer.Argument(..., help="The assistant folder (or its build/ folder)."),
    variant: Optional[str] = typer.Option(None, "--variant", help=_VARIANT_HELP),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Also show model loading and notes on the prompt (what was left out)."),
) -> None:
    """Chat in the terminal: /sources, /reset, /variant NAME, /quit."""
    _quiet(verbose)
    assistant = Assistant.load(folder, _serving(folder))
    _serving_note(assistant, variant)
    chat_loop(assistant, variant, input, _echo, verbose)


def _serving_note(assistant, variant: Optional[str]) -> None:
    """Why the default variant serves (the build's measurement), once, on stderr: --json output stays clean."""
    if variant is None and getattr(assistant, "serving_note", None):
        typer.secho(assistant.serving_note, err=True, dim=True)

# --- builder commands: build, export ----------------------------------------------------


@cli.command()
def build(
    folder: Path = typer.Argument(..., help="The assistant folder (docs/, data/, assistant.yaml)."),
    force: list[str] = typer.Option([], "--force", help=f"Run this stage even if cached (repeatable): {', '.join(STAGES)}."),
    only: Optional[str] = typer.Option(None, "--only", help="Run just this stage (earlier ones must be built)."),
    skip_train: bool = typer.Option(False, "--skip-train", help="Retrieval-only assistant over the base model: index, calibrate, manifest."),
    resume: bool = typer.Option(False, "--resume", help="Continue an interrupted training stage from its last checkpoint."),
) -> None:
    """Build the assistant: index, fine-tune (SFT, DPO), calibrate, export; cached stage by stage."""
    run_build(folder, _load(folder), force=tuple(force), only=only, skip_train=skip_train, resume=resume)


@cli.command()
def export(
    folder: Path = typer.Argument(..., help="A built assistant folder."),
    format: str = typer.Option("gguf", "--format", help="Export format (gguf)."),
    out: Optional[Path] = typer.Option(None, "--out", help="Output file (default build/<name>.gguf)."),
    dtype: str = typer.Option("f16", "--dtype", help="Weight precision in the file: f16 or f32."),
) -> None:
    """Write the tuned model in another format (GGUF for llama.cpp, Ollama, LM Studio)."""
    if format != "gguf":
        raise TailorError(f"--format {format!r} is not supported; use --format gguf (build/model/ is already Hugging Face format)")
    path = export_gguf(folder, _load(folder), out=out, dtype=dtype)
    typer.echo(f"Wrote {path}")

# --- evals command: eval ----------------------------------------------------------------


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
    cfg = _load(folder)
    if check:
        for line in check_suite(suite or Path(folder) / "evals", cfg.evals.test_share):
            typer.echo(line)
        return
    report = run_eval(folder, cfg.evals, cfg.serving(), suite=suite, variants=variants, limit=limit, seed=seed,
                      resume=resume, against=against, fail_under=fail_under, split=split)
    print_report(report)
    if report.gate_failures:
        typer.secho("error: --fail-under gate failed: " + "; ".join(report.gate_failures), fg=typer.colors.RED, err=True)
        raise typer.Exit(code=1)

# --- app: serve and the Gradio UI -------------------------------------------------------
#
# The app is an adapter: answers come from chat (LiveAssistant, the history and how an answer
# is shown), uploads from knowledge, votes and the leaderboard from evals, builds from builder.
# What lives here is layout: one function per tab, callbacks that return {component: value},
# and the HTML the browser shows. Gradio, chat and evals are imported inside the functions that
# need them, so `tailor --help` and the other commands start fast.

CONCURRENT_EVENTS = 8  # chat sessions served at once; more queue (the one model is shared)
ARENA_LABELS = "ABCD"  # side by side compares 2 to 4 variants, one column each
VOTE_CHOICES = ("A", "B", "C", "D", "tie", "both_bad")  # a button each
QUICK_EVAL_QUESTIONS = 20  # the Eval tab's default: a stratified sample, minutes rather than hours on a CPU
NOT_IN_DOCUMENTS = "Not in the documents"
SOURCES_PLACEHOLDER = "<p>The sources of each answer appear here.</p>"


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
    manifest = AssistantFolder(folder).manifest
    serving = read_manifest(manifest.parent)[0].serving if manifest.exists() else None
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
    return gr.themes.Default(primary_hue=gr.themes.colors.blue).set(
        button_primary_background_fill="#1d4ed8", button_primary_background_fill_hover="#1e40af",
        button_primary_text_color="#ffffff", button_primary_border_color="#1d4ed8",
        checkbox_background_color_selected="#1d4ed8", loader_color="#1d4ed8",
    )


# ---- answers as HTML: verified or flagged, sources with titles, urgent and not-found states ----


def _esc(text) -> str:
    import html

    return html.escape(str(text), quote=True)


def _tidy_decline(text: str) -> str:
    """The decline message with its suggested topics as a list."""
    message, topics = decline_topics(text)
    if not topics:
        return _esc(text)
    return f"{_esc(message)}<br>You can ask about:<ul>" + "".join(f"<li>{_esc(t)}</li>" for t in topics) + "</ul>"


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
    for a decline, else the text with linked [n] and the verified-or-flagged line. The disclaimer
    is shown once per conversation (above the chat), not in every bubble."""
    said = without_disclaimer(answer)
    if getattr(answer, "escalation", None):
        return f'<div class="tailor-urgent" role="alert"><strong>Urgent</strong><br>{_esc(said)}</div>'
    if answer.declined:
        return f'<div class="tailor-notfound"><strong>{NOT_IN_DOCUMENTS}.</strong> {_tidy_decline(said)}</div>'
    body = _link_markers(_esc(said).replace("\n", "<br>"), [c.n for c in answer.sources if c.cited])
    return body + verdict_html(answer)


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


def _source_html(c, partly: bool) -> str:
    """One source: title, section and page with a clean snippet; the whole passage on click, and
    the scores and chunk id behind a 'details' toggle."""
    details = (f"file {_esc(c.source)} · chunk {_esc(c.chunk_id)} · rank score {c.score:.3f}"
               + (f" · similarity {c.similarity:.2f}" if c.similarity is not None else ""))
    passage = "".join(f"<p>{_esc(p)}</p>" for p in plain_text(c.text).split("\n\n") if p.strip())
    return (f'<details class="tailor-source" id="source-{c.n}"><summary><strong>[{c.n}] {_esc(source_where(c))}</strong> '
            f"{_support_label(c, partly)}<br><span class=\"tailor-snippet\">{_esc(clean_snippet(c.text))}</span></summary>"
            f'<div class="tailor-passage">{passage}</div>'
            f'<details class="tailor-tech"><summary>details</summary><small>{details}</small></details></details>')


def sources_html(answer) -> str:
    """The sources panel: what the answer cites, or why there is nothing to cite."""
    if getattr(answer, "escalation", None):
        return "<p>Urgent message: answered by the escalation rule, without the documents.</p>"
    if answer.declined:
        return (f'<p class="tailor-notfound"><strong>{NOT_IN_DOCUMENTS}.</strong> Nothing in them is close enough to '
                "this question to answer it from; no source is cited.</p>")
    if not answer.sources:
        return "<p>This variant answers without the documents: nothing to cite.</p>"
    head = "Sources the answer cites" if answer.sources[0].cited else "Passages it was given (the answer cites none of them)"
    items = "".join(_source_html(c, answer.verified is False) for c in answer.sources)
    return f"<p><strong>{head}</strong> (select one to read the whole passage)</p>" + items


def _sources_line(answer) -> str:
    """Under a side-by-side answer: the documents it cites, by title."""
    if not answer.sources:
        return ""  # the verified-or-flagged line is already in bubble_html
    cited = "; ".join(f"[{c.n}] {source_where(c)}" + (" (added by Tailor)" if c.attributed else "") for c in answer.sources)
    label = "Sources" if answer.sources[0].cited else "Given (the answer cites none)"
    return f"\n\n<small>{label}: {_esc(cited)}</small>"


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


# ---- running things beside the UI: parallel answers, builds in a thread, their log ----


def _is_answer(event) -> bool:
    """chat.stream yields Token events, then one Answer (the only event with sources)."""
    return hasattr(event, "sources")


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

    def tail(self) -> str:
        return "\n".join(self.lines[-200:])


@contextlib.contextmanager
def _captured_logs():
    """A _LogCapture on the packages' loggers (at INFO at least) while the block runs."""
    capture = _LogCapture()
    loggers = [logging.getLogger(n) for n in ("knowledge", "builder", "chat", "evals")]
    for lg in loggers:
        lg.addHandler(capture)
        if lg.getEffectiveLevel() > logging.INFO:
            lg.setLevel(logging.INFO)
    try:
        yield capture
    finally:
        for lg in loggers:
            lg.removeHandler(capture)


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


def _chart_image(report):
    """The report's first chart as a PIL image for gr.Image, or None."""
    import base64
    import io

    from PIL import Image

    images = chart_images(report)
    return Image.open(io.BytesIO(base64.b64decode(images[0][1]))) if images else None


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


# ---- the UI: one function per tab; callbacks return {component: value} ----


def _warn(message: str) -> str:
    """A toast, and the same words for the tab's status line (a toast alone is easy to miss)."""
    gr.Warning(message)
    return f"**Warning:** {message}"


def _hidden(api_name: str | None = None) -> dict:
    """Event options for everything but /ask and /vote: left off the API page, under the endpoint
    name it has always had (bench/soak.py posts to /upload)."""
    return {"api_name": api_name, "api_visibility": "undocumented"}


def build_ui(folder: Path, cfg, live: LiveAssistant | None = None):
    """The Gradio app: Chat, Side by side, Eval and Build tabs over one shared LiveAssistant,
    plus the stable API endpoints /ask and /vote for gradio_client. `ui` holds the folder, the
    assistant and every component a callback reads or updates."""
    ui = SimpleNamespace(folder=Path(folder), name=cfg.name, live=live or LiveAssistant(folder, cfg))
    with gr.Blocks(title=f"{cfg.name} · Tailor", analytics_enabled=False) as demo:
        gr.HTML(f"<h1 class='tailor-title'>{_esc(cfg.name)}</h1>", elem_id="app-title")
        ui.header = gr.Markdown(_status_line(ui.live), elem_id="status-line")
        with gr.Tabs():
            _chat_tab(ui)
            _arena_tab(ui)
            _eval_tab(ui)
            _build_tab(ui)  # last: a build updates the variant pickers of the tabs above
        _api(ui)
        _on_load(ui, demo)
    return demo


def _on_load(ui, demo) -> None:
    """What each page opened gets fresh: a build since the server started changes the variants,
    the disclaimer and the reports, and other sessions add votes."""
    demo.load(functools.partial(_refresh_choices, ui), None, ui.choice_outputs, **_hidden("refresh_choices"))
    demo.load(functools.partial(_votes_update, ui), ui.rank_by, [ui.tally, ui.board], **_hidden())
    demo.load(functools.partial(_latest_eval, ui), None, ui.eval_outputs, **_hidden("latest_eval"))
    demo.load(**ui.estimate_event)
    demo.load(lambda: {ui.disclaimer: _disclaimer_html(ui.live)}, None, ui.disclaimer, **_hidden("disclaimer_text"))


def _refresh_choices(ui) -> dict:
    """The served variants in every picker (defaults: the assistant's, and the pair worth comparing) and the status line."""
    choices, pair = ui.live.variants, ui.live.default_pair()
    return {ui.variant: gr.Dropdown(choices=choices, value=ui.live.default_variant),
            ui.arena_variants: gr.CheckboxGroup(choices=choices, value=pair),
            ui.eval_variants: gr.CheckboxGroup(choices=choices, value=pair or choices),
            ui.header: _status_line(ui.live)}


def _disclaimer_html(live: LiveAssistant) -> str:
    text = getattr(getattr(live.assistant, "chat", None), "disclaimer", None)
    return f"<small>{_esc(text)}</small>" if text else ""


# -- Chat --


def _chat_tab(ui) -> None:
    """Ask, read the streamed answer and check its sources; the conversation carries over."""
    with gr.Tab("Chat", id="chat"):
        with gr.Row(equal_height=False):
            with gr.Column(scale=3, min_width=300):
                ui.disclaimer = gr.HTML(_disclaimer_html(ui.live), elem_id="chat-disclaimer")
                ui.chatbot = gr.Chatbot(label=f"Conversation with {ui.name}", height=420, elem_id="chatbot", feedback_options=None)
                with gr.Row():
                    ui.question = gr.Textbox(placeholder="Ask a question…", label="Your question", scale=5,
                                             elem_id="chat-question", lines=1)
                    send = gr.Button("Send", variant="primary", scale=1, min_width=80, elem_id="chat-send")
                with gr.Row():
                    ui.variant = gr.Dropdown(ui.live.variants, value=ui.live.default_variant, label="Variant", elem_id="chat-variant")
                    reset = gr.Button("New conversation", elem_id="chat-reset")
                ui.footer = gr.Markdown("", elem_classes="tailor-footer", elem_id="chat-footer")
                examples = example_questions(ui.folder)
                if examples:
                    gr.Examples([[q] for q in examples], inputs=[ui.question], label="Examples from the eval suites")
            with gr.Column(scale=2, min_width=300):
                gr.Markdown("### Sources")
                ui.sources = gr.HTML(SOURCES_PLACEHOLDER, elem_id="sources")
        ui.conversation = gr.State([])
        submit = dict(fn=functools.partial(_chat_submit, ui), inputs=[ui.question, ui.chatbot, ui.conversation, ui.variant],
                      outputs=[ui.chatbot, ui.conversation, ui.question, ui.sources, ui.footer], **_hidden("chat_submit"))
        send.click(**submit)
        ui.question.submit(**submit)
        reset.click(lambda: {ui.chatbot: [], ui.conversation: [], ui.sources: SOURCES_PLACEHOLDER, ui.footer: ""},
                    outputs=[ui.chatbot, ui.conversation, ui.sources, ui.footer], **_hidden())


def _chat_submit(ui, question, history, conversation, variant):
    """Stream one answer into the chat; its turn (without the disclaimer) joins the conversation
    sent with the next question."""
    if not (question or "").strip():
        yield {ui.footer: _warn("Type a question first.")}
        return
    try:
        question = check_question(question)
        check_history(conversation)
        assistant = ui.live.require()
    except TailorError as exc:
        yield {ui.footer: _warn(str(exc))}
        return
    history = list(history or []) + [{"role": "user", "content": question}, {"role": "assistant", "content": ""}]
    yield {ui.chatbot: history, ui.question: "", ui.sources: "<p>Answering…</p>", ui.footer: "…"}
    text = ""
    try:
        for event in assistant.stream(question, history=list(conversation or []), variant=variant):
            if _is_answer(event):
                history[-1]["content"] = bubble_html(event)
                yield {ui.chatbot: history, ui.conversation: with_turn(conversation, question, event), ui.question: "",
                       ui.sources: sources_html(event), ui.footer: answer_footer(event)}
                return
            text += event.text
            history[-1]["content"] = _esc(text).replace("\n", "<br>")
            yield {ui.chatbot: history, ui.question: ""}
    except TailorError as exc:
        history[-1]["content"] = f"Error: {_esc(exc)}"
        yield {ui.chatbot: history, ui.question: "", ui.sources: "", ui.footer: _warn(str(exc))}


# -- Side by side --


def _arena_tab(ui) -> None:
    """One question to 2-4 variants at once, then a vote: previewed, confirmed, undoable."""
    with gr.Tab("Side by side", id="arena"):
        with gr.Row():
            ui.arena_variants = gr.CheckboxGroup(ui.live.variants, value=ui.live.default_pair(), label="Variants (2 to 4)",
                                                 elem_id="arena-variants")
            anonymous = gr.Checkbox(True, label="Anonymous (names shown after the vote)", elem_id="arena-anonymous")
        with gr.Row():
            question = gr.Textbox(placeholder="One question for every variant…", label="Question for every variant",
                                  scale=5, elem_id="arena-question")
            go = gr.Button("Compare", variant="primary", scale=1, min_width=80, elem_id="arena-go")
        _arena_answers(ui)
        _vote_controls(ui)
        _leaderboard_panel(ui)
        ask = dict(fn=functools.partial(_arena_ask, ui), inputs=[question, ui.arena_variants, anonymous],
                   outputs=[*ui.arena_cols, *ui.arena_heads, *ui.arena_bodies, ui.arena_state, ui.arena_status, *ui.vote_buttons],
                   **_hidden("arena_ask"))
        hide = dict(fn=lambda: _hide_vote_actions(ui), inputs=None, outputs=[ui.confirm_row, ui.undo_btn], **_hidden())
        go.click(**ask).then(**hide)
        question.submit(**ask).then(**hide)
        _wire_votes(ui)


def _arena_answers(ui) -> None:
    """A column per variant (2 shown until more are asked), its head and its answer."""
    ui.arena_cols, ui.arena_heads, ui.arena_bodies = [], [], []
    with gr.Row():
        for i, label in enumerate(ARENA_LABELS):
            with gr.Column(visible=i < 2, min_width=280) as col:
                ui.arena_heads.append(gr.Markdown(f"### Model {label}", elem_id=f"arena-head-{i}"))
                ui.arena_bodies.append(gr.HTML("", elem_id=f"arena-answer-{i}", min_height=120))
            ui.arena_cols.append(col)


def _vote_controls(ui) -> None:
    """'X is better' per column, Tie, All bad, a corrected answer, and confirm, cancel, undo."""
    with gr.Row():
        ui.vote_buttons = [gr.Button(f"{label} is better", visible=i < 2, elem_id=f"vote-{label}") for i, label in enumerate(ARENA_LABELS)]
        ui.vote_buttons.append(gr.Button("Tie", elem_id="vote-tie"))
        ui.vote_buttons.append(gr.Button("All bad", elem_id="vote-both_bad"))
    ui.corrected = gr.Textbox(label="Corrected answer (optional: saved as the preferred answer over all shown)",
                              lines=2, elem_id="arena-corrected")
    ui.arena_status = gr.Markdown("", elem_id="arena-status")
    with gr.Row(visible=False) as ui.confirm_row:
        ui.confirm_btn = gr.Button("Save this vote", variant="primary", elem_id="vote-confirm")
        ui.cancel_btn = gr.Button("Cancel", elem_id="vote-cancel")
    ui.undo_btn = gr.Button("Undo my last vote", visible=False, elem_id="vote-undo")
    ui.arena_state = gr.State(None)


def _leaderboard_panel(ui) -> None:
    gr.Markdown("### Tally and leaderboard")
    ui.tally = gr.Markdown(_tally_markdown(ui.folder), elem_id="arena-tally")
    ui.rank_by = gr.Radio(["variant", "variant @ build"], value="variant", label="Rank")
    ui.board = gr.HTML("", elem_id="leaderboard")
    ui.refresh_board = gr.Button("Refresh", elem_id="leaderboard-refresh")


def _wire_votes(ui) -> None:
    board = dict(fn=functools.partial(_leaderboard_update, ui), inputs=ui.rank_by, outputs=ui.board, **_hidden("leaderboard_rows"))
    for choice, button in zip(VOTE_CHOICES, ui.vote_buttons):
        button.click(functools.partial(_arena_vote, ui, choice), [ui.corrected, ui.arena_state],
                     [ui.arena_status, ui.arena_state, ui.confirm_row], **_hidden())
    ui.confirm_btn.click(functools.partial(_arena_confirm, ui), ui.arena_state,
                         [*ui.arena_heads, ui.arena_status, ui.arena_state, ui.tally, ui.corrected, ui.confirm_row, ui.undo_btn],
                         **_hidden("arena_confirm")).then(**board)
    ui.cancel_btn.click(functools.partial(_arena_cancel, ui), ui.arena_state, [ui.arena_status, ui.arena_state, ui.confirm_row],
                        **_hidden("arena_cancel"))
    ui.undo_btn.click(functools.partial(_arena_undo, ui), ui.arena_state, [ui.arena_status, ui.arena_state, ui.tally, ui.undo_btn],
                      **_hidden("arena_undo")).then(**board)
    ui.refresh_board.click(functools.partial(_votes_update, ui), ui.rank_by, [ui.tally, ui.board], **_hidden())
    ui.rank_by.change(**board)


def _arena_head(state: dict, i: int) -> str:
    label = ARENA_LABELS[i]
    return f"Model {label}" if state.get("anonymous") else f"{label}: {state['variants'][i]}"


def _arena_view(ui, state: dict, texts: list[str], status: str) -> dict:
    """The columns of the variants asked (the rest hidden), their heads and answers, the state and the status."""
    n = len(state["variants"])
    view = {ui.arena_state: state, ui.arena_status: status}
    for i in range(len(ARENA_LABELS)):
        view[ui.arena_cols[i]] = gr.Column(visible=i < n)
        view[ui.arena_heads[i]] = f"### {_arena_head(state, i)}" if i < n else ""
        view[ui.arena_bodies[i]] = texts[i] if i < n else ""
    return view


def _arena_ask(ui, question, variants, anonymous):
    """Ask every chosen variant at once (in a shuffled order when anonymous); the columns fill in
    parallel. The 'X is better' buttons follow the columns; they stay clickable, so a vote at the
    wrong moment gets an explanation rather than a dead button."""
    question, variants = (question or "").strip(), list(variants or [])
    if not question or not 2 <= len(variants) <= len(ARENA_LABELS):
        yield {ui.arena_status: _warn(f"Pick 2 to 4 variants to compare (got {len(variants)})." if question else "Type a question first.")}
        return
    try:
        question = check_question(question)
        assistant = ui.live.require()
    except TailorError as exc:
        yield {ui.arena_status: _warn(str(exc))}
        return
    order = random.sample(variants, len(variants)) if anonymous else variants
    state = {"question": question, "variants": order, "answers": [None] * len(order), "build_id": None,
             "anonymous": bool(anonymous), "complete": False, "voted": False}
    texts = [""] * len(order)
    buttons = {b: gr.Button(visible=i < len(order)) for i, b in enumerate(ui.vote_buttons[: len(ARENA_LABELS)])}
    yield {**_arena_view(ui, state, texts, "Answering…"), **buttons}
    finished = 0
    for i, event in _stream_side_by_side(assistant, question, order):
        if isinstance(event, Exception):
            texts[i] = f"Error: {event}"
            finished += 1
        elif _is_answer(event):
            texts[i] = bubble_html(event) + _sources_line(event)
            state["answers"][i] = without_disclaimer(event)
            state["build_id"] = event.build_id
            finished += 1
        else:
            texts[i] += event.text
        yield _arena_view(ui, state, texts, f"Answering… {finished}/{len(order)} done")
    state["complete"] = all(a is not None for a in state["answers"])
    yield _arena_view(ui, state, texts, "Which answer is better? Vote below." if state["complete"] else "An answer failed; ask again to vote.")


def _vote_problem(state: dict | None) -> str | None:
    """Why this comparison cannot take a vote now, or None."""
    if not state or not state.get("question"):
        return "Ask a question first: there is nothing to vote on yet."
    if not state.get("complete"):
        return "Wait until every answer is complete, then vote."
    if state.get("voted"):
        return "This comparison already has your vote; undo it, or ask another question."
    return None


def _arena_vote(ui, choice: str, corrected, state) -> dict:
    """Step 1 of a vote: say exactly what it will save, and ask to confirm."""
    problem = _vote_problem(state)
    if problem:
        return {ui.arena_status: _warn(problem)}
    order = state["variants"]
    winner = choice if choice in NO_WINNER else order[ARENA_LABELS.index(choice)]
    try:
        corrected = check_corrected(corrected)
    except TailorError as exc:
        return {ui.arena_status: _warn(str(exc))}
    said = {"tie": "a tie", "both_bad": "all answers bad"}.get(winner, f"answer {choice} is better")
    preview = vote_preview(state["question"], order, state["answers"], winner, corrected)
    return {ui.arena_status: f"**You chose: {said}.** {preview}\n\nSave this vote?",
            ui.arena_state: {**state, "pending": {"winner": winner, "corrected": corrected}},
            ui.confirm_row: gr.Row(visible=True)}


def _arena_confirm(ui, state) -> dict:
    """Step 2: save the confirmed vote; names are revealed and the vote can be undone."""
    pending = (state or {}).get("pending")
    hide = {ui.confirm_row: gr.Row(visible=False)}
    if not pending:
        return {ui.arena_status: _warn("Choose an answer first, then confirm."), **hide}
    order = state["variants"]
    try:
        vote, pairs = record_vote(ui.folder, state["question"], order, state["answers"], pending["winner"], pending["corrected"],
                                  state.get("build_id"), ui.live.cfg.privacy.redact, state["anonymous"],
                                  known_variants=ui.live.variants)
    except TailorError as exc:
        return {ui.arena_status: _warn(str(exc)), **hide}
    state = {**state, "voted": True, "anonymous": False, "pending": None, "vote_id": vote["id"]}
    result = {"tie": "a tie", "both_bad": "all bad"}.get(pending["winner"], f"**{pending['winner']}** better")
    saved = (f"{len(pairs)} training pair(s) saved to feedback/preferences.jsonl" if pairs
             else "no training pair (no winner, no corrected answer)")
    gr.Info(f"Vote saved: {result.replace('**', '')}. You can undo it.")
    heads = {head: f"### {_arena_head(state, i)}" if i < len(order) else "" for i, head in enumerate(ui.arena_heads)}
    return {**heads, **hide, ui.arena_state: state, ui.tally: _tally_markdown(ui.folder), ui.corrected: "",
            ui.arena_status: f"Vote recorded: {result} ({', '.join(order)}). {saved}. Undo it with the button below.",
            ui.undo_btn: gr.Button(visible=True)}


def _arena_cancel(ui, state) -> dict:
    return {ui.arena_status: "Vote cancelled: nothing was saved.", ui.arena_state: {**(state or {}), "pending": None},
            ui.confirm_row: gr.Row(visible=False)}


def _arena_undo(ui, state) -> dict:
    """Take the vote back: it and its training pairs leave feedback/, and the comparison can be voted on again."""
    try:
        _, pairs = undo_vote(ui.folder, (state or {}).get("vote_id"))
    except TailorError as exc:
        return {ui.arena_status: _warn(str(exc)), ui.undo_btn: gr.Button(visible=False)}
    gr.Info("Vote undone.")
    return {ui.arena_status: f"Vote undone: removed it and its {pairs} training pair(s) from feedback/. You can vote again.",
            ui.arena_state: {**state, "voted": False, "vote_id": None}, ui.tally: _tally_markdown(ui.folder),
            ui.undo_btn: gr.Button(visible=False)}


def _hide_vote_actions(ui) -> dict:
    return {ui.confirm_row: gr.Row(visible=False), ui.undo_btn: gr.Button(visible=False)}


def _tally_markdown(folder: Path) -> str:
    """Head-to-head counts from feedback/votes.jsonl, the file the leaderboard reads: they always agree."""
    votes = read_votes(folder)
    tally = pair_tally(votes)
    if not tally:
        return "No votes yet."
    lines = [f"{len(votes)} vote(s) so far.", "", "| pair | wins | ties |", "|---|---|---|"]
    lines += [f"| {a} vs {b} | {row[a]} : {row[b]} | {row['tie']} |" for (a, b), row in sorted(tally.items())]
    return "\n".join(lines)


def _leaderboard_html(folder: Path, by: str) -> str:
    rows = leaderboard(read_votes(folder), by="build" if by.startswith("variant @") else "variant", min_games=MIN_GAMES_FOR_INTERVAL)
    if not rows:
        return "<p>No games yet: the leaderboard starts with the first vote.</p>"
    interval = lambda r: (f"{r['ci_low']:.0f} – {r['ci_high']:.0f}" if r["ci_low"] is not None
                          else f"after {MIN_GAMES_FOR_INTERVAL} games ({r['games']} so far)")
    return table_html([[r["rank"], r["name"], r["rating"], interval(r), r["games"], r["win_rate"]] for r in rows],
                      ["rank", "name", "rating", "95% interval", "games", "win rate"], "Leaderboard (Bradley-Terry rating)")


def _leaderboard_update(ui, by: str) -> dict:
    return {ui.board: _leaderboard_html(ui.folder, by)}


def _votes_update(ui, by: str) -> dict:
    return {ui.tally: _tally_markdown(ui.folder), ui.board: _leaderboard_html(ui.folder, by)}


# -- Eval --


def _eval_tab(ui) -> None:
    """The latest report's verdict, metrics and answers, and a quick eval of the served variants."""
    with gr.Tab("Eval", id="eval"):
        ui.eval_verdict = gr.Markdown("", elem_id="eval-verdict")
        with gr.Row():
            suite = gr.Dropdown(["all"] + [p.name for p in AssistantFolder(ui.folder).suites()], value="all", label="Suite",
                                elem_id="eval-suite")
            ui.eval_variants = gr.CheckboxGroup(ui.live.variants, value=ui.live.default_pair(), label="Variants", elem_id="eval-variants")
            limit = gr.Number(QUICK_EVAL_QUESTIONS, precision=0, minimum=0, label="Questions (0 = all of the test split)",
                              elem_id="eval-limit")
        ui.eval_estimate = gr.Markdown("", elem_id="eval-estimate")
        go = gr.Button("Run eval", variant="primary", elem_id="eval-run")
        ui.eval_status = gr.Markdown("", elem_id="eval-status")
        ui.download = gr.DownloadButton("Download the report (HTML)", visible=False, elem_id="eval-download")
        ui.metrics = gr.HTML("", visible=False, elem_id="eval-metrics")
        ui.chart = gr.Image(label="Chart", type="pil", interactive=False, visible=False, elem_id="eval-chart")
        ui.per_question = gr.HTML("", visible=False, elem_id="eval-questions")

        def run_eval_ui(suite, variants, limit, progress=gr.Progress(track_tqdm=True)):
            return _run_eval(ui, suite, variants, limit, progress)

        ui.eval_outputs = [ui.eval_verdict, ui.eval_status, ui.metrics, ui.chart, ui.per_question, ui.download]
        ui.estimate_event = dict(fn=functools.partial(_estimate_update, ui), inputs=[suite, ui.eval_variants, limit],
                                 outputs=ui.eval_estimate, **_hidden("estimate"))
        go.click(run_eval_ui, [suite, ui.eval_variants, limit], ui.eval_outputs, concurrency_limit=1, concurrency_id="heavy",
                 **_hidden("run_eval_ui")).then(**ui.estimate_event)
        for control in (suite, ui.eval_variants, limit):
            control.change(**ui.estimate_event)


def _estimate_update(ui, suite, variants, limit) -> dict:
    limit = int(limit) if limit else None
    return {ui.eval_estimate: eval_estimate(ui.folder, suite, list(variants or []), limit, ui.live.cfg.evals.test_share)}


def _eval_view(ui, report_dir: Path | None, chart=None) -> dict:
    """A report folder in the Eval tab: verdict, status, metrics, chart, answers per question and the download."""
    head, status, table, headers, questions, q_headers, html_path = report_view(report_dir)
    return {ui.eval_verdict: head, ui.eval_status: status,
            ui.metrics: gr.HTML(value=table_html(table, headers, "Metrics (95% bootstrap interval)"), visible=bool(table)),
            ui.chart: gr.Image(value=chart, visible=chart is not None),
            ui.per_question: gr.HTML(value=questions_html(questions, q_headers), visible=bool(questions)),
            ui.download: gr.DownloadButton(value=html_path, visible=html_path is not None)}


def _latest_eval(ui) -> dict:
    return _eval_view(ui, newest_report_dir(ui.folder))


def _run_eval(ui, suite: str, variants, limit, progress) -> dict:
    """An eval of the served variants (no second copy of the models in memory), then its report."""
    if not variants:
        return {ui.eval_status: _warn("Pick at least one variant.")}
    where = AssistantFolder(ui.folder)
    if not where.suites():
        return {ui.eval_status: _warn(f"No eval suites in {where.evals}: add a .jsonl suite first.")}
    try:
        progress(0, desc="Loading models")
        cfg = ui.live.cfg
        report = run_eval(ui.folder, cfg.evals, cfg.serving(), suite=None if suite == "all" else where.evals / suite,
                          variants=list(variants), limit=int(limit) if limit else None, progress=True,
                          assistant=ui.live.require())
    except TailorError as exc:
        return {ui.eval_status: _warn(str(exc))}
    return _eval_view(ui, report.dir, _chart_image(report))


# -- Build --


def _build_tab(ui) -> None:
    """Add documents, index them or run a full build (confirmed first), and search what was indexed."""
    with gr.Tab("Build", id="build"):
        with gr.Row():
            with gr.Column(min_width=300):
                ui.files = gr.File(label=f"Add documents ({' '.join(UPLOAD_SUFFIXES)}; up to {MAX_UPLOAD_MB} MB each)",
                                file_count="multiple", elem_id="upload")
                upload_btn = gr.Button("Add to docs/", elem_id="upload-add")
                ui.upload_status = gr.Markdown("", elem_id="upload-status")
                ui.docs = gr.Dataframe(headers=["document", "chunks"], value=_docs_rows(ui), interactive=False, wrap=True,
                                       label="Documents", elem_id="docs-table")
            with gr.Column(min_width=300):
                with gr.Row():
                    index_btn = gr.Button("Index documents", variant="primary", elem_id="build-index")
                    build_btn = gr.Button("Full build (train)…", elem_id="build-full")
                with gr.Row(visible=False) as ui.build_confirm_row:
                    build_go = gr.Button("Start the full build", variant="primary", elem_id="build-confirm")
                    build_cancel = gr.Button("Cancel", elem_id="build-cancel")
                ui.build_status = gr.Markdown("", elem_id="build-status")
                ui.build_log = gr.Textbox(label="Log", lines=12, max_lines=12, autoscroll=True, elem_id="build-log")
        _search_panel(ui)
        upload_btn.click(functools.partial(_upload, ui), ui.files, [ui.upload_status, ui.docs, ui.files], **_hidden("upload"))
        ui.choice_outputs = [ui.variant, ui.arena_variants, ui.eval_variants, ui.header]
        refresh = dict(fn=functools.partial(_refresh_choices, ui), inputs=None, outputs=ui.choice_outputs, **_hidden("refresh_choices"))
        heavy = dict(inputs=None, outputs=[ui.build_status, ui.build_log, ui.docs, ui.variant, ui.arena_variants],
                     concurrency_limit=1, concurrency_id="heavy", **_hidden())
        confirm = [ui.build_status, ui.build_confirm_row]
        index_btn.click(_build_runner(ui, "index"), **heavy).then(**refresh)
        build_btn.click(functools.partial(_confirm_build, ui), None, confirm, **_hidden("confirm_build"))
        build_cancel.click(lambda: {ui.build_status: "Full build cancelled: nothing was started.",
                                    ui.build_confirm_row: gr.Row(visible=False)}, None, confirm, **_hidden())
        build_go.click(lambda: {ui.build_confirm_row: gr.Row(visible=False)}, None, ui.build_confirm_row, **_hidden()).then(
            _build_runner(ui, "build"), **heavy).then(**refresh)


def _search_panel(ui) -> None:
    """A search box over the served knowledge base: rank, file, page, score and text per hit."""
    with gr.Row():
        query = gr.Textbox(placeholder="Search the knowledge base…", label="Search the documents", scale=5, elem_id="search-query")
        k = gr.Number(5, precision=0, minimum=1, maximum=50, label="results", scale=1, min_width=80)
        go = gr.Button("Search", scale=1, min_width=80, elem_id="search-go")
    ui.search_status = gr.Markdown("", elem_id="search-status")
    ui.results = gr.Dataframe(headers=["rank", "file", "page", "score", "text"], value=[], interactive=False, wrap=True,
                              elem_id="search-results", column_widths=["6%", "24%", "6%", "8%", "56%"])
    for event in (go.click, query.submit):
        event(functools.partial(_search, ui), [query, k], [ui.search_status, ui.results], **_hidden("search"))


def _docs_rows(ui) -> list[list]:
    return document_rows(AssistantFolder(ui.folder).docs, ui.live.sources())


def _upload(ui, files) -> dict:
    """Uploaded files into docs/ (each checked on its own: one refused file does not stop the others)."""
    if not files:
        return {ui.upload_status: _warn("Choose one or more files to upload first."), ui.files: None}
    files = files if isinstance(files, list) else [files]
    try:
        added, refused = add_documents(AssistantFolder(ui.folder).docs, [Path(getattr(f, "name", f)) for f in files])
    except TailorError as exc:
        return {ui.upload_status: _warn(str(exc)), ui.files: None}
    for problem in refused:
        gr.Warning(problem)
    lines = [f"Added to docs/: {', '.join(added)}. Run Index to make them searchable."] if added else []
    lines += [f"**Not added:** {p}" for p in refused]
    return {ui.upload_status: "\n\n".join(lines), ui.docs: _docs_rows(ui), ui.files: None}


def _search(ui, query, k) -> dict:
    query = (query or "").strip()
    if not query:
        return {ui.search_status: _warn("Type something to search for."), ui.results: []}
    try:
        hits = ui.live.kb().search(query, k=int(k or 5))
    except TailorError as exc:
        return {ui.search_status: _warn(str(exc)), ui.results: []}
    rows = [[h.rank, h.source, h.page if h.page is not None else "", round(float(h.score), 3), one_line(h.text)] for h in hits]
    return {ui.search_status: f"{len(rows)} result(s) for “{query}”." if rows else f"Nothing found for “{query}”.", ui.results: rows}


def _confirm_build(ui) -> dict:
    return {ui.build_status: f"**Full build: retrains the model.** {build_estimate(ui.folder)} The app keeps serving the current "
                             "build meanwhile. Start it?",
            ui.build_confirm_row: gr.Row(visible=True)}


def _build_runner(ui, kind: str):
    """The click handler of Index ("index") or the confirmed full build ("build")."""
    def run_build(progress=gr.Progress(track_tqdm=True)):  # tracks the tqdm bars of the worker thread
        yield from _run_build(ui, kind)

    return run_build


def _run_build(ui, kind: str):
    """Index or build in a worker thread, streaming its log, then serve the result. One at a
    time: a second click is told to wait."""
    if not ui.live.build_lock.acquire(blocking=False):
        yield {ui.build_status: _warn("A build is already running; wait for it to finish.")}
        return
    try:
        try:
            cfg = _load(ui.folder)
        except TailorError as exc:
            yield {ui.build_status: _warn(str(exc))}
            return
        with _captured_logs() as capture:
            yield from _build_and_serve(ui, kind, cfg, capture)
    finally:
        ui.live.build_lock.release()


def _build_work(folder: Path, cfg, kind: str):
    """What Index runs (knowledge.build_index) or what Full build runs (builder.build), as a callable."""
    if kind == "index":
        return lambda: build_index(AssistantFolder(folder).docs, AssistantFolder(folder).index, cfg.knowledge, progress=True)

    return lambda: run_build(folder, cfg)


def _build_and_serve(ui, kind: str, cfg, capture: _LogCapture):
    """Run the work, then swap in the new build; the old one answers until the new one has loaded."""
    started = time.monotonic()
    thread, result = _run_in_thread(_build_work(ui.folder, cfg, kind))
    while thread.is_alive():
        thread.join(0.5)
        yield {ui.build_status: f"Running {kind}… {time.monotonic() - started:.0f} s", ui.build_log: capture.tail()}
    log = capture.tail()
    if "error" in result:
        exc = result["error"]
        if not isinstance(exc, TailorError):
            logging.getLogger("tailor.app").error("%s failed", kind, exc_info=exc)
        msg = str(exc) if isinstance(exc, TailorError) else f"{type(exc).__name__}: {exc}"
        yield {ui.build_status: _warn(f"{kind} failed: {msg}. The app keeps serving the previous build."), ui.build_log: log}
        return
    before = ui.live.build_id
    try:
        ui.live.reload(cfg)
    except TailorError as exc:
        yield {ui.build_status: _warn(f"{kind} finished, but the new build did not load: {exc}"), ui.build_log: log}
        return
    serving = (f"now serving build {ui.live.build_id}" if ui.live.build_id != before
               else f"still serving build {ui.live.build_id} (the answers now search the updated index)" if kind == "index"
               else f"build {ui.live.build_id} is unchanged (nothing needed rebuilding)")
    gr.Info(f"{kind} complete; {serving}.")
    summary, choices = _summary_text(result.get("value")), ui.live.variants
    yield {ui.build_status: f"{kind} complete in {time.monotonic() - started:.0f} s; {serving}. {summary}",
           ui.build_log: summary if summary and not capture.lines else log, ui.docs: _docs_rows(ui),
           ui.variant: gr.Dropdown(choices=choices, value=ui.live.default_variant),
           ui.arena_variants: gr.CheckboxGroup(choices=choices, value=choices[:2])}


# -- API (stable names for gradio_client) --


def _api(ui) -> None:
    """/ask and /vote, on hidden components: what gradio_client and scripts call by name."""
    with gr.Column(visible=False):
        question, variant = gr.Textbox(), gr.Textbox()
        answer, sources = gr.Textbox(), gr.JSON()
        fields = [gr.Textbox() for _ in range(7)]
        result = gr.JSON()
        ask_btn, vote_btn = gr.Button(), gr.Button()

    def api_ask(question: str, variant: str):
        """Stream one answer: (text so far, {}) while generating, then (answer, its JSON: verified or
        flagged with a note, unsupported figures, declined, escalation and the sources)."""
        for text, final in _api_answer(ui.live, question, variant):
            yield {answer: text, sources: final}

    def api_vote(question: str, variant_a: str, answer_a: str, variant_b: str, answer_b: str, winner: str, corrected: str):
        """Record one A/B vote; winner is A, B, tie or both_bad. Returns a summary as JSON."""
        return {result: _api_vote(ui, question, variant_a, answer_a, variant_b, answer_b, winner, corrected)}

    ask_btn.click(api_ask, [question, variant], [answer, sources], api_name="ask")
    vote_btn.click(api_vote, fields, result, api_name="vote")


def _api_answer(live: LiveAssistant, question: str, variant: str):
    """(text so far, {}) per token, then (answer, answer_json); a TailorError becomes the client's error."""
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


def _api_vote(ui, question, variant_a, answer_a, variant_b, answer_b, winner, corrected) -> dict:
    if winner not in ("A", "B", *NO_WINNER):
        raise gr.Error(f"winner must be A, B, tie or both_bad (got {winner!r})")
    name = {"A": variant_a, "B": variant_b}.get(winner, winner)
    try:
        ui.live.require()  # no votes on an app with nothing to serve: they would train on made-up answers
        vote, pairs = record_vote(ui.folder, question or "", [variant_a, variant_b], [answer_a or "", answer_b or ""],
                                  name, corrected or "", ui.live.build_id, ui.live.cfg.privacy.redact,
                                  known_variants=ui.live.variants)
    except TailorError as exc:
        raise gr.Error(str(exc)) from None
    return {"vote_id": vote["id"], "winner": vote["winner"], "pairs": len(pairs)}


def main() -> None:
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    try:
        cli()  # click handles usage errors and Ctrl-C itself (exit codes 2 and 1)
    except TailorError as exc:
        typer.secho(f"error: {exc}", fg=typer.colors.RED, err=True)
        sys.exit(1)


if __name__ == "__main__":
    main()
