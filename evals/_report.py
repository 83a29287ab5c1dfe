"""Reports: report.md for reading in a terminal or a pull request, report.html with embedded
charts (one file to attach or open offline), summary.json for scripts, and the console table."""
from __future__ import annotations

import base64
import html
import io
import json

from evals._aggregate import HEADLINE_METRICS, METRIC_BY_NAME, METRICS

GROUP_ORDER = ["answers", "declining", "retrieval", "grounding", "safety", "latency"]
HEADLINE = HEADLINE_METRICS  # correctness, declining precision and recall, the model's own citations


def _rows(report):
    """(metric name, label, {variant: Estimate}) in display order."""
    for metric in METRICS:
        if metric.name in report.metrics:
            yield metric.name, metric.label, report.metrics[metric.name]


def _digits(name: str) -> int:
    return 2 if METRIC_BY_NAME[name].group == "latency" else 3


def metric_table_md(report) -> str:
    head = "| metric | " + " | ".join(report.variants) + " |\n|---|" + "---|" * len(report.variants) + "\n"
    lines = []
    for name, label, row in _rows(report):
        cells = [row[v].fmt(_digits(name)) + (f" n={row[v].n}" if row[v].value is not None else "") for v in report.variants]
        lines.append(f"| **{name}**: {label} | " + " | ".join(cells) + " |")
    return head + "\n".join(lines)


def _header_lines(report) -> list[str]:
    pool = report.n_split or report.n_suite
    sample = (f"a stratified random sample of **{report.n_questions}** of the {pool} questions of the **{report.split}** split "
              f"(seed {report.seed})" if report.limit is not None and report.n_questions < pool
              else f"all **{report.n_questions}** questions of the **{report.split}** split")
    builds = ", ".join(f"{k}: {v}" for k, v in report.build_ids.items() if v) or "retrieval-only build (no manifest)"
    return [
        f"Suite `{report.suite}` ({report.suite_path}): {sample}.",
        f"Variants: {', '.join(report.variants)}. Builds: {builds}.",
        f"Values are on the questions each metric applies to (n); intervals are 95% bootstrap intervals "
        f"({report.bootstrap_samples} resamples of the questions, seed {report.seed}). Support threshold "
        f"{report.grounded_threshold:.2f} (cosine, knowledge-base embedder). Citation metrics count only the [n] the "
        f"model wrote; attributed_share is how often Tailor added one. Every RAG variant and `extract` see the same "
        f"passages for a question (results.jsonl records them under `evidence`).",
        f"Comparisons are paired on the questions where both variants have a value. Headline metrics "
        f"({', '.join(HEADLINE)}) are tested together with Holm's correction; the others are exploratory (uncorrected).",
    ]


def report_markdown(report) -> str:
    parts = [f"# Eval report: {report.suite} ({report.split} split)", "", *_header_lines(report), ""]
    if report.floor_flags:
        parts += ["**Below the extractive floor:**", *[f"- {f}" for f in report.floor_flags], ""]
    if report.notes:
        parts += ["Notes:", *[f"- {n}" for n in report.notes], ""]
    if report.gate_failures:
        parts += ["**Failed gates:**", *[f"- {g}" for g in report.gate_failures], ""]
    parts += ["## Metrics", "", metric_table_md(report), "", "## Paired comparisons: headline metrics (Holm-corrected)", ""]
    head = [c for c in report.comparisons if c.headline and c.difference.diff is not None]
    parts += [f"- {'**' if c.winner else ''}{c.sentence()}{'**' if c.winner else ''}" for c in head] or ["- nothing to compare"]
    explore = [c for c in report.significant() if not c.headline]
    if explore:
        parts += ["", "## Other differences (exploratory, uncorrected)", ""] + [f"- {c.sentence()}" for c in explore]
    parts += ["", "## Where variants disagree", ""]
    if not report.disagreements:
        parts.append("No question where the variants' scores differ by 0.5 or more.")
    for row in report.disagreements:
        parts += [f"### {row['id']} ({row['answer_type']})", f"**Q:** {row['question']}", "",
                  f"**Reference:** {row['reference'] or '(decline: not in the documents)'}", ""]
        for variant, a in row["answers"].items():
            score = "-" if a["score"] is None else f"{a['score']:.2f}"
            text = " ".join(a["answer"].split())
            parts.append(f"- **{variant}** (score {score}{', declined' if a['declined'] else ''}): {text[:400]}")
        parts.append("")
    return "\n".join(parts) + "\n"


def _png(fig) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90, bbox_inches="tight")
    return base64.b64encode(buf.getvalue()).decode("ascii")


def chart_images(report) -> list[tuple[str, str]]:
    """(title, base64 PNG): quality metrics and latency by variant, each bar with its 95% interval."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    images = []
    n = len(report.variants)
    for title, names in (
        ("Quality by variant (bars: 95% CI)", [m for m, _, _ in _rows(report) if METRIC_BY_NAME[m].group != "latency"]),
        ("Latency by variant (seconds; bars: 95% CI)", [m for m, _, _ in _rows(report) if METRIC_BY_NAME[m].group == "latency"]),
    ):
        if not names:
            continue
        # One axes, metrics side by side and a bar per variant: quick to draw and to compare.
        fig, ax = plt.subplots(figsize=(max(6.0, 0.22 * n * len(names) + 2), 3.6))
        width = 0.8 / n
        for i, variant in enumerate(report.variants):
            ests = [report.metrics[m][variant] for m in names]
            vals = [e.value if e.value is not None else 0.0 for e in ests]
            err_low = [e.value - e.low if e.low is not None else 0.0 for e in ests]
            err_high = [e.high - e.value if e.high is not None else 0.0 for e in ests]
            xs = [j + (i - (n - 1) / 2) * width for j in range(len(names))]
            ax.bar(xs, vals, width, yerr=[[max(0.0, x) for x in err_low], [max(0.0, x) for x in err_high]],
                   capsize=2, label=variant)
        ax.set_xticks(range(len(names)), names, rotation=30, ha="right", fontsize=8)
        ax.set_title(title, fontsize=10)
        ax.legend(fontsize=7, ncols=min(n, 4))
        ax.grid(axis="y", alpha=0.3)
        images.append((title, _png(fig)))
        plt.close(fig)
    return images


_CSS = """body{font-family:system-ui,sans-serif;margin:2em;max-width:1200px;color:#222}
table{border-collapse:collapse;margin:1em 0;font-size:14px}td,th{border:1px solid #ccc;padding:4px 8px;text-align:left;vertical-align:top}
th{background:#f4f4f4}.sig{color:#0a6b2d}.fail{color:#b00020;font-weight:bold}.q{margin:1.5em 0;border-top:1px solid #ddd;padding-top:.5em}
.ans{white-space:pre-wrap;font-size:13px}small{color:#666}"""


def report_html(report) -> str:
    e = html.escape
    out = [f"<!doctype html><html><head><meta charset='utf-8'><title>Eval report: {e(report.suite)}</title>",
           f"<style>{_CSS}</style></head><body><h1>Eval report: {e(report.suite)} ({e(report.split)} split)</h1>"]
    out += [f"<p>{e(line).replace('**', '')}</p>" for line in _header_lines(report)]
    if report.floor_flags:
        out.append("<p class='fail'>Below the extractive floor:</p><ul>" + "".join(f"<li class='fail'>{e(f)}</li>" for f in report.floor_flags) + "</ul>")
    if report.notes:
        out.append("<ul>" + "".join(f"<li>{e(n)}</li>" for n in report.notes) + "</ul>")
    if report.gate_failures:
        out.append("<p class='fail'>Failed gates:</p><ul>" + "".join(f"<li class='fail'>{e(g)}</li>" for g in report.gate_failures) + "</ul>")
    out.append("<h2>Metrics</h2><table><tr><th>metric</th>" + "".join(f"<th>{e(v)}</th>" for v in report.variants) + "</tr>")
    for name, label, row in _rows(report):
        cells = "".join(f"<td>{e(row[v].fmt(_digits(name)))}<br><small>n={row[v].n}</small></td>" for v in report.variants)
        out.append(f"<tr><td><b>{e(name)}</b><br><small>{e(label)}</small></td>{cells}</tr>")
    out.append("</table>")
    for title, png in chart_images(report):
        out.append(f"<h3>{e(title)}</h3><img src=\"data:image/png;base64,{png}\" alt=\"{e(title)}\">")
    out.append("<h2>Paired comparisons: headline metrics (Holm-corrected)</h2><ul>")
    head = [c for c in report.comparisons if c.headline and c.difference.diff is not None]
    out += [f"<li class='{'sig' if c.winner else ''}'>{e(c.sentence())}</li>" for c in head] or ["<li>nothing to compare</li>"]
    out.append("</ul><h2>Other differences (exploratory, uncorrected)</h2><ul>")
    out += [f"<li>{e(c.sentence())}</li>" for c in report.significant() if not c.headline] or ["<li>none</li>"]
    out.append("</ul><h2>Where variants disagree</h2>")
    if not report.disagreements:
        out.append("<p>No question where the variants' scores differ by 0.5 or more.</p>")
    for row in report.disagreements:
        out.append(f"<div class='q'><b>{e(row['id'])}</b> <small>{e(row['answer_type'])}</small><p><b>Q:</b> {e(row['question'])}</p>"
                   f"<p><b>Reference:</b> {e(row['reference'] or '(decline: not in the documents)')}</p><table>"
                   "<tr><th>variant</th><th>score</th><th>answer</th></tr>")
        for variant, a in row["answers"].items():
            score = "-" if a["score"] is None else f"{a['score']:.2f}"
            out.append(f"<tr><td>{e(variant)}</td><td>{score}{' (declined)' if a['declined'] else ''}</td>"
                       f"<td class='ans'>{e(a['answer'])}</td></tr>")
        out.append("</table></div>")
    out.append("</body></html>")
    return "\n".join(out)


def write_reports(report) -> None:
    """report.md, report.html and summary.json, each written atomically next to results.jsonl."""
    from evals._runner import write_atomic

    write_atomic(report.dir / "report.md", report_markdown(report))
    write_atomic(report.dir / "report.html", report_html(report))
    write_atomic(report.dir / "summary.json", json.dumps(report.to_dict(), indent=2))


def print_report(report, console=None) -> None:
    """The metric x variant table with intervals, the significant headline comparisons and where the files are."""
    from rich.console import Console
    from rich.table import Table

    if console is None:
        console = Console()
        if not console.is_terminal:
            console.width = max(console.width, 30 + 24 * len(report.variants))  # a log file: keep each row on one line
    table = Table(title=f"{report.suite}: {report.n_questions} questions, {report.split} split"
                  + (f" (sample, seed {report.seed})" if report.limit is not None and report.n_questions < (report.n_split or report.n_suite) else ""))
    table.add_column("metric")
    for variant in report.variants:
        table.add_column(variant, justify="right")
    for name, _, row in _rows(report):
        table.add_row(name, *[row[v].fmt(_digits(name)) for v in report.variants])
    console.print(table)
    for note in report.notes:
        console.print(f"note: {note}")
    for flag in report.floor_flags:
        console.print(f"[yellow]{flag}[/yellow]")
    headline = [c for c in report.significant() if c.headline]
    for c in headline[:12]:
        console.print(c.sentence())
    if report.comparisons and not headline:
        console.print("no significant difference on the headline metrics (Holm-corrected) between any two variants")
    t = report.timing or {}
    if t.get("answering_s"):
        total = report.elapsed_s or sum(t.values())
        console.print(f"time: answering {t['answering_s']:.0f} s, yes/no choice {t.get('choice_s', 0):.0f} s, "
                      f"scoring {t['scoring_s']:.0f} s ({100 * t['scoring_s'] / total:.1f}% of {total:.0f} s), "
                      f"report {t.get('report_s', 0):.0f} s")
    console.print(f"report: {report.dir / 'report.html'}")
    for failure in report.gate_failures:
        console.print(f"[red]gate failed: {failure}[/red]")
