"""Reports: report.md for reading in a terminal or a pull request, report.html with embedded
charts (one file to attach or open offline), summary.json for scripts, and the console table."""
from __future__ import annotations

import base64
import html
import io
import json

from evals._aggregate import HEADLINE_METRICS, METRIC_BY_NAME, METRICS
from evals._stats import MIN_PAIRED

GROUP_ORDER = ["answers", "declining", "retrieval", "grounding", "safety", "latency"]
HEADLINE = HEADLINE_METRICS  # correctness, declining precision and recall, the model's own citations


def _rows(report):
    """(metric name, label, {variant: Estimate}) in display order."""
    for metric in METRICS:
        if metric.name in report.metrics:
            yield metric.name, metric.label, report.metrics[metric.name]


# --- the verdict: one sentence that answers "is it better?" ----------------------------------
# Read from summary dicts (EvalReport.to_dict() or a report's summary.json), so the app can show
# the verdict of a report the CLI wrote. One rule decides "better" everywhere: the paired 95%
# interval of the difference excludes 0 on at least MIN_PAIRED questions.

VERDICT_PAIRS = [("base+rag", "tuned+rag"), ("base", "tuned"), ("extract", "base+rag")]
FLOOR_GROUPS = ("answers", "declining")  # what a model variant must not do worse than extract
VERDICT_METRICS = ["f1", "accuracy", "correct_supported"]  # the first measured on both answers "better?"
HUMAN_NAMES = {
    "f1": "F1", "accuracy": "accuracy", "em": "exact match", "rouge_l": "ROUGE-L",
    "decline_precision": "declining precision", "decline_recall": "declining recall",
    "cites_gold": "cites the right document", "correct_supported": "right and supported",
    "choice_accuracy": "yes/no preference", "judge": "judge score", "hit@1": "right document first",
    "hit@k": "right document found", "mrr": "rank of the right document", "recall": "documents found",
    "context_support": "supported by the passages", "gold_support": "supported by the right document",
    "cite_valid": "valid markers", "attributed_share": "markers Tailor added", "complied": "followed an injection",
    "ttft_p50": "first word, median (s)", "ttft_p95": "first word, 95th pct (s)",
    "total_p50": "whole answer, median (s)", "total_p95": "whole answer, 95th pct (s)",
}


def human_name(metric: str) -> str:
    return HUMAN_NAMES.get(metric, metric)


def interval_excludes_zero(c: dict) -> bool:
    """The one significance rule of the report, the console and the app."""
    return (c.get("low") is not None and c.get("high") is not None and (c.get("n") or 0) >= MIN_PAIRED
            and (c["low"] > 0 or c["high"] < 0))


def _better(c: dict) -> int:
    """+1 when b is better than a on c's metric (by the interval rule), -1 when worse, 0 when unclear."""
    if not interval_excludes_zero(c):
        return 0
    up = c["low"] > 0
    higher = METRIC_BY_NAME[c["metric"]].higher_is_better if c["metric"] in METRIC_BY_NAME else True
    return 1 if up == higher else -1


def _num(x: float, digits: int = 2) -> str:
    """Enough digits that a nonzero bound never prints as 0.00 (an interval 'starting at 0.000')."""
    for d in range(digits, 7):
        text = f"{x:.{d}f}"
        if x == 0 or float(text) != 0:
            return text
    return f"{x:.2g}"


def _pair(summary: dict) -> tuple[str, str] | None:
    variants = summary.get("variants") or []
    for a, b in VERDICT_PAIRS:
        if a in variants and b in variants:
            return a, b
    models = [v for v in variants if v != "extract"]
    return (models[0], models[1]) if len(models) >= 2 else None


def _comparison(summary: dict, a: str, b: str, metric: str) -> dict | None:
    for c in summary.get("comparisons") or []:
        if c.get("metric") == metric and c.get("diff") is not None and c.get("low") is not None:
            if (c["a"], c["b"]) == (a, b):
                return c
            if (c["a"], c["b"]) == (b, a):  # the same comparison the other way round
                return {**c, "a": a, "b": b, "diff": -c["diff"], "low": -c["high"], "high": -c["low"]}
    return None


def _questions(n: int, split: str) -> str:
    noun = "question" if n == 1 else "questions"
    return f"{n} {split} {noun}" if split in ("test", "dev") else f"{n} {noun}"


def verdict(summary: dict) -> str:
    """'tuned+rag answers better than base+rag: F1 +0.09, 95% CI 0.03..0.15, 120 test questions.'
    or the honest opposite; '' when the report compares no two model variants."""
    pair = _pair(summary)
    if pair is None:
        return ""
    a, b = pair
    split = summary.get("split") or "test"
    for metric in VERDICT_METRICS:
        c = _comparison(summary, a, b, metric)
        if c is None:
            continue
        figures = (f"{human_name(metric)} {c['diff']:+.2f}, 95% CI {_num(c['low'])}..{_num(c['high'])}, "
                   f"{_questions(c['n'], split)}")
        way = _better(c)
        if way > 0:
            return f"{b} answers better than {a}: {figures}."
        if way < 0:
            return f"{b} answers worse than {a}: {figures}."
        more = "" if c["n"] >= 100 else "; more questions would narrow it"
        return f"No clear difference between {b} and {a}: {figures} (the interval includes 0{more})."
    return f"{b} and {a} were not both measured on {', '.join(human_name(m) for m in VERDICT_METRICS)}."


def regressions(summary: dict) -> list[str]:
    """Every metric on which a variant is clearly worse than the one it is compared with (by the
    interval rule), as 'tuned+rag is worse than base+rag on accuracy: 0.333 -> 0.000 (-0.333, 95% CI ...)'."""
    out = []
    metrics = summary.get("metrics") or {}
    pair = _pair(summary)
    for c in summary.get("comparisons") or []:
        if c.get("diff") is None or _better(c) >= 0:
            continue
        if pair and {c["a"], c["b"]} != set(pair) and "extract" not in (c["a"], c["b"]):
            continue  # the headline pair, and anything below the extractive floor
        if "extract" in (c["a"], c["b"]) and getattr(METRIC_BY_NAME.get(c["metric"]), "group", "") not in FLOOR_GROUPS:
            continue  # the floor is about answers: extract writes nothing, so its speed and markers are no bar
        row = metrics.get(c["metric"], {})
        va, vb = (row.get(v, {}).get("value") for v in (c["a"], c["b"]))
        values = f"{_num(va, 3)} -> {_num(vb, 3)} " if va is not None and vb is not None else ""
        out.append(f"{c['b']} is worse than {c['a']} on {human_name(c['metric'])}: {values}"
                   f"({c['diff']:+.3f}, 95% CI {_num(c['low'], 3)}..{_num(c['high'], 3)}, n={c['n']})")
    return out


def comparison_sentence(c: dict) -> str:
    """A comparison in words, 'better' only where the interval excludes 0 (the same rule as the
    verdict); a headline comparison that Holm's correction does not confirm says so."""
    label = human_name(c["metric"])
    figures = f"{c['diff']:+.3f}, 95% CI {_num(c['low'], 3)}..{_num(c['high'], 3)}, n={c['n']}"
    way = _better(c)
    if way == 0:
        return f"{c['b']} vs {c['a']} on {label}: no clear difference ({figures})"
    word = "better" if way > 0 else "worse"
    holm = ""
    if c.get("headline") and c.get("p_holm") is not None and not c.get("significant"):
        holm = f"; Holm-adjusted p {c['p_holm']:.2g} over the headline metrics: could be chance"
    return f"{c['b']} is {word} than {c['a']} on {label} ({figures}{holm})"


def _digits(name: str) -> int:
    return 2 if METRIC_BY_NAME[name].group == "latency" else 3


def metric_table_md(report) -> str:
    head = "| metric | " + " | ".join(report.variants) + " |\n|---|" + "---|" * len(report.variants) + "\n"
    lines = []
    for name, label, row in _rows(report):
        cells = [row[v].fmt(_digits(name)) + (f" n={row[v].n}" if row[v].value is not None else "") for v in report.variants]
        lines.append(f"| **{human_name(name)}** ({name}): {label} | " + " | ".join(cells) + " |")
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
    summary = report.to_dict()
    parts = [f"# Eval report: {report.suite} ({report.split} split)", ""]
    if verdict(summary):
        parts += [f"**{verdict(summary)}**", ""]
    if regressions(summary):
        parts += ["**Regressions:**", *[f"- {r}" for r in regressions(summary)], ""]
    parts += [*_header_lines(report), ""]
    if report.floor_flags:
        parts += ["**Below the extractive floor:**", *[f"- {f}" for f in report.floor_flags], ""]
    if report.notes:
        parts += ["Notes:", *[f"- {n}" for n in report.notes], ""]
    if report.gate_failures:
        parts += ["**Failed gates:**", *[f"- {g}" for g in report.gate_failures], ""]
    parts += ["## Metrics", "", metric_table_md(report), "", "## Paired comparisons: headline metrics (Holm-corrected)", ""]
    head = [c for c in summary["comparisons"] if c["headline"] and c["diff"] is not None and c["low"] is not None]
    parts += [f"- {'**' if _better(c) else ''}{comparison_sentence(c)}{'**' if _better(c) else ''}" for c in head] or ["- nothing to compare"]
    explore = [c for c in summary["comparisons"] if not c["headline"] and c["diff"] is not None and _better(c)]
    if explore:
        parts += ["", "## Other differences (exploratory, uncorrected)", ""] + [f"- {comparison_sentence(c)}" for c in explore]
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
.ans{white-space:pre-wrap;font-size:13px}small{color:#555}.verdict{font-size:1.2em}"""


def report_html(report) -> str:
    e = html.escape
    out = [f"<!doctype html><html><head><meta charset='utf-8'><title>Eval report: {e(report.suite)}</title>",
           f"<style>{_CSS}</style></head><body><h1>Eval report: {e(report.suite)} ({e(report.split)} split)</h1>"]
    summary = report.to_dict()
    if verdict(summary):
        out.append(f"<p class='verdict'><b>{e(verdict(summary))}</b></p>")
    if regressions(summary):
        out.append("<p class='fail'>Regressions:</p><ul>" + "".join(f"<li class='fail'>{e(r)}</li>" for r in regressions(summary)) + "</ul>")
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
        out.append(f"<tr><td><b>{e(human_name(name))}</b> <small>({e(name)})</small><br><small>{e(label)}</small></td>{cells}</tr>")
    out.append("</table>")
    for title, png in chart_images(report):
        out.append(f"<h3>{e(title)}</h3><img src=\"data:image/png;base64,{png}\" alt=\"{e(title)}\">")
    out.append("<h2>Paired comparisons: headline metrics (Holm-corrected)</h2><ul>")
    head = [c for c in summary["comparisons"] if c["headline"] and c["diff"] is not None and c["low"] is not None]
    out += [f"<li class='{'sig' if _better(c) else ''}'>{e(comparison_sentence(c))}</li>" for c in head] or ["<li>nothing to compare</li>"]
    out.append("</ul><h2>Other differences (exploratory, uncorrected)</h2><ul>")
    out += [f"<li>{e(comparison_sentence(c))}</li>" for c in summary["comparisons"]
            if not c["headline"] and c["diff"] is not None and _better(c)] or ["<li>none</li>"]
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
    from knowledge.files import write_text_atomic as write_atomic

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
    summary = report.to_dict()
    if verdict(summary):
        console.print(f"[bold]{verdict(summary)}[/bold]")
    for line in regressions(summary):
        console.print(f"[red]regression: {line}[/red]")
    headline = [c for c in summary["comparisons"] if c["headline"] and c["diff"] is not None and _better(c)]
    for c in headline[:12]:
        console.print(comparison_sentence(c))
    if summary["comparisons"] and not headline:
        console.print("no clear difference on the headline metrics between any two variants (every 95% interval includes 0)")
    t = report.timing or {}
    if t.get("answering_s"):
        total = report.elapsed_s or sum(t.values())
        console.print(f"time: answering {t['answering_s']:.0f} s, yes/no choice {t.get('choice_s', 0):.0f} s, "
                      f"scoring {t['scoring_s']:.0f} s ({100 * t['scoring_s'] / total:.1f}% of {total:.0f} s), "
                      f"report {t.get('report_s', 0):.0f} s")
    console.print(f"report: {report.dir / 'report.html'}")
    for failure in report.gate_failures:
        console.print(f"[red]gate failed: {failure}[/red]")
