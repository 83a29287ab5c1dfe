"""The latest eval report as the app shows it, and how long the next eval would take.

Reports are read from build/reports/*/ whoever wrote them (the app or `tailor eval`); the time
estimate is measured by the latest report on this machine, so it follows the hardware.
"""
from __future__ import annotations

import json
import re
from datetime import datetime
from pathlib import Path

from chat import one_line
from evals._aggregate import primary_score
from evals._report import human_name, regressions, verdict
from evals._runner import read_results
from evals._suite import load_suite, split_items
from knowledge.errors import TailorError
from knowledge.folder import AssistantFolder

FALLBACK_SECONDS_PER_ANSWER = 6.0  # before any eval has run: SmolLM2-135M on 2 busy CPU cores, 200 new tokens
NO_REPORT = "No eval report yet: run the quick eval below (or `tailor eval FOLDER --limit 20`)."


def newest_report_dir(folder: str | Path) -> Path | None:
    """The newest build/reports/*/ with a summary.json, of any suite, from the app or `tailor eval` alike."""
    root = AssistantFolder(folder).reports
    dirs = [p for p in root.iterdir() if (p / "summary.json").is_file()] if root.is_dir() else []
    return max(dirs, key=lambda p: (p / "summary.json").stat().st_mtime) if dirs else None


def report_summary(report_dir: Path) -> dict | None:
    """A report's summary.json, or None when it is missing or damaged."""
    try:
        return json.loads((report_dir / "summary.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def eval_questions(folder: str | Path, suite: str, limit: int | None, test_share: float) -> int:
    """How many test-split questions an eval of `suite` ("all" or a file name) would answer."""
    path = AssistantFolder(folder).evals / ("" if suite == "all" else suite)
    try:
        n = len(split_items(load_suite(path), "test", test_share))
    except TailorError:
        return 0
    return min(n, limit) if limit else n


def _report_seconds(report_dir: Path) -> float | None:
    """Wall time of a report: from the time in its folder name to its summary.json."""
    match = re.search(r"(\d{8}-\d{6})", report_dir.name)
    if not match:
        return None
    started = datetime.strptime(match.group(1), "%Y%m%d-%H%M%S").timestamp()
    seconds = (report_dir / "summary.json").stat().st_mtime - started
    return seconds if seconds > 0 else None


def seconds_per_answer(folder: str | Path) -> float | None:
    """Measured on this machine by the latest eval report: its time over the answers it gave."""
    latest = newest_report_dir(folder)
    summary = report_summary(latest) if latest else None
    if not summary:
        return None
    elapsed = summary.get("elapsed_s") or _report_seconds(latest)
    answers = (summary.get("n_questions") or 0) * len(summary.get("variants") or [])
    return elapsed / answers if answers and elapsed else None


def eval_estimate(folder: str | Path, suite: str, variants: list[str], limit: int | None, test_share: float) -> str:
    """'N test questions x V variants: about **T**', measured here or guessed (and which)."""
    n = eval_questions(folder, suite, limit, test_share)
    if not n or not variants:
        return "Pick a suite and at least one variant."
    per = seconds_per_answer(folder)
    basis = "from the last eval on this machine" if per else "a rough guess: no eval has run here yet"
    total = n * len(variants) * (per or FALLBACK_SECONDS_PER_ANSWER)
    took = f"{total / 60:.0f} min" if total >= 90 else f"{total:.0f} s"
    return f"{n} test questions x {len(variants)} variants: about **{took}** ({basis})."


def _cell(e: dict | None, digits: int = 2) -> str:
    """An estimate with its interval, '0.71 (0.60–0.80)'; '-' when not measured."""
    if not e or e.get("value") is None:
        return "-"
    if e.get("low") is None:
        return f"{e['value']:.{digits}f}"
    return f"{e['value']:.{digits}f} ({e['low']:.{digits}f}–{e['high']:.{digits}f})"


def _status_lines(report_dir: Path, summary: dict) -> list[str]:
    """When, what and how long, where to find the file, then the notes and failed gates."""
    variants = summary["variants"]
    when = datetime.fromtimestamp((report_dir / "summary.json").stat().st_mtime).strftime("%Y-%m-%d %H:%M")
    seconds = summary.get("elapsed_s") or _report_seconds(report_dir) or 0
    lines = ["", f"Report of {when}: suite {summary['suite']}, {summary['n_questions']} questions ({summary.get('split', 'test')} split) x "
             f"{len(variants)} variants in {seconds:.0f} s. Download it below, or open {report_dir / 'report.html'}."]
    return lines + [f"- Note: {n}" for n in summary.get("notes", [])] + [f"- **Gate failed:** {g}" for g in summary.get("gate_failures", [])]


def _question_rows(report_dir: Path, variants: list[str]) -> list[list[str]]:
    """One row per question: the question, its reference, then "[score] answer" per variant."""
    by_question: dict[str, list] = {}
    for rec in read_results(report_dir / "results.jsonl"):
        if rec.get("variant") not in variants:
            continue
        row = by_question.setdefault(rec["id"], [rec.get("question", ""), rec.get("reference") or "(decline)"] + [""] * len(variants))
        score = primary_score(rec)
        row[2 + variants.index(rec["variant"])] = f"[{'-' if score is None else f'{score:.2f}'}] {one_line(rec.get('answer') or '', 200)}"
    return list(by_question.values())


def report_view(report_dir: Path | None):
    """(verdict, status, metric rows, headers, per-question rows, headers, report.html path) of a
    report folder, written by the app or by `tailor eval`; empty values when there is none."""
    summary = report_summary(report_dir) if report_dir else None
    if not summary:
        return (NO_REPORT, "", [], ["metric"], [], ["question"], None)
    variants = summary["variants"]
    head = [f"**{verdict(summary) or 'No two model variants compared in this report.'}**"]
    head += [f"- **Regression:** {r}" for r in regressions(summary)]
    table = [[f"{human_name(name)} ({name})"] + [_cell(row.get(v)) for v in variants] for name, row in summary["metrics"].items()]
    html_path = report_dir / "report.html"
    return ("\n".join(head), "\n".join(_status_lines(report_dir, summary)),
            table, ["metric (95% interval)", *variants], _question_rows(report_dir, variants), ["question", "reference", *variants],
            str(html_path) if html_path.is_file() else None)
