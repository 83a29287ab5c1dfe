"""Which variant the build serves by default, chosen by measurement and said in one sentence.

The rule (`choose_variant`), on the eval suites' dev split when the assistant has suites,
else on the held-out conversations:

    tuned+rag is served when its F1 is at least base+rag's (a tie goes to the tuned model);
    otherwise base+rag is served, and the reason says the tuned model scored lower.
    `extract` (no model: sentences copied from the evidence) is the floor: it is always
    reported, and served only when its F1 is above both model variants'.

F1 is the suites' headline token F1 on free-text answers (the same F1 `tailor eval` reports),
or on held-out conversations the token F1 of the answer to the last question. The test split
is never used here, so the headline test figures stay untouched by the build's choice.
"""
from __future__ import annotations

from pathlib import Path

from ._common import log

CANDIDATES = ("extract", "base+rag", "tuned+rag")


def choose_variant(f1: dict[str, float | None], n: int, where: str, difference: dict | None = None) -> dict:
    """The served variant, the sentence saying why, and the figures, from F1 per variant.

    `f1` holds base+rag and tuned+rag (extract when measured); `where` names what was measured
    ("dev questions", "held-out conversations"); `difference` the paired tuned - base F1 with
    its 95% interval when the suites measured one."""
    tuned, base, floor = f1.get("tuned+rag"), f1.get("base+rag"), f1.get("extract")
    figures = {"f1": {k: (None if v is None else round(v, 4)) for k, v in f1.items()}, "n": n, "measured_on": where}
    if difference:
        figures["tuned_minus_base"] = difference
    if tuned is None or base is None:
        variant = "tuned+rag" if tuned is not None else "base+rag"
        return {"variant": variant, "reason": f"serving {variant}: no F1 to compare on {where}", **figures}
    interval = ""
    if difference and difference.get("low") is not None:
        interval = f", difference {difference['diff']:+.2f} [{difference['low']:+.2f}, {difference['high']:+.2f}]"
    if floor is not None and floor > max(tuned, base):
        variant = "extract"
        reason = (f"serving extract (evidence sentences, no model): it scored above both models on your {where}, "
                  f"F1 {floor:.2f} vs tuned+rag {tuned:.2f} and base+rag {base:.2f} ({n} questions)")
    elif tuned >= base:
        variant = "tuned+rag"
        reason = f"serving tuned+rag: it scored at least as well as base+rag on your {where}, F1 {tuned:.2f} vs {base:.2f} ({n} questions{interval})"
    else:
        variant = "base+rag"
        reason = f"serving base+rag: the tuned model scored lower on your {where}, F1 {tuned:.2f} vs {base:.2f} ({n} questions{interval})"
    return {"variant": variant, "reason": reason, **figures}


def dev_figures(folder: Path, cfg, assistant, limit: int | None) -> dict:
    """Run the suites in folder/evals on their dev split with extract, base+rag and tuned+rag
    (`limit`: a seeded sample of that many questions, decline questions kept in proportion),
    through `evals.run_eval`, the code `tailor eval --split dev` runs. Returns F1 per variant,
    the number of free-text questions behind it, the paired tuned - base difference, and the
    report folder."""
    from evals import run_eval

    report = run_eval(folder, cfg.evals, cfg.serving(), variants=",".join(CANDIDATES), limit=limit, split="dev", progress=False, assistant=assistant)
    f1 = {v: report.value("f1", v) for v in CANDIDATES if v in report.variants}
    n = max((report.metrics.get("f1", {}).get(v).n for v in f1 if report.metrics.get("f1", {}).get(v)), default=0)
    difference = None
    for c in report.comparisons:
        if c.metric == "f1" and {c.a, c.b} == {"base+rag", "tuned+rag"} and c.difference.diff is not None:
            sign = 1 if c.b == "tuned+rag" else -1
            lo, hi = c.difference.low, c.difference.high
            difference = {"diff": round(sign * c.difference.diff, 4), "n": c.difference.n,
                          "low": None if lo is None else round(min(sign * lo, sign * hi), 4),
                          "high": None if hi is None else round(max(sign * lo, sign * hi), 4),
                          "p_adjusted": c.p_adjusted}
    log.info(f"  dev split: {report.n_questions} questions ({n} free-text) of {report.n_split}; report in {report.dir}")
    return {"f1": f1, "n": n, "difference": difference, "questions": report.n_questions, "report": str(report.dir)}
