"""`tailor eval`: answer every suite question with every variant, score, and report.

Each result line is appended and flushed as soon as it is scored, so an interrupted run
keeps its answers and `--resume` picks up where it stopped. The numbers in the report are
always recomputed from results.jsonl, so a resumed run reports exactly as a fresh one would.
"""
from __future__ import annotations

import json
import re
import sys
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from evals._aggregate import METRIC_BY_NAME, Comparison, comparisons, disagreements, estimates
from evals._ground import GROUNDED_THRESHOLD, Grounder
from evals._judge import Judge
from evals._report import write_reports
from evals._score import is_rag, score_answer
from evals._stats import Estimate
from evals._leakage import leaked_in_build, read_eval_texts
from evals._suite import ANSWER_TYPES, EvalItem, load_suite, sample_items, split_items, suite_name, suite_suggestions
from evals.config import EvalsConfig
from chat import VARIANTS
from chat.config import ServingConfig
from knowledge.errors import InputError
from knowledge.files import read_jsonl_tolerant, write_text_atomic
from knowledge.folder import AssistantFolder

ALL_VARIANTS = VARIANTS  # chat's list: extract (the no-model floor), base, base+rag, tuned, tuned+rag
FLOOR = "extract"  # the no-model variant every report runs beside the models
OTHER_PREFIX = "other:"
RESULTS = "results.jsonl"
RUN_INFO = "run.json"


# --- gates ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class Gate:
    """`--fail-under [VARIANT:]METRIC=VALUE`: the run fails when the metric is below VALUE
    (for VARIANT, or for every variant that measures it)."""

    metric: str
    threshold: float
    variant: str | None = None

    def __str__(self) -> str:
        return f"{self.variant + ':' if self.variant else ''}{self.metric}={self.threshold:g}"


def parse_gates(specs: list[str] | None) -> list[Gate]:
    """Parse and check every gate before the run starts, so a typo costs seconds, not a whole run."""
    gates = []
    for spec in specs or []:
        m = re.fullmatch(r"\s*(?:(?P<variant>[^=]+?):)?(?P<metric>[\w@]+)\s*=\s*(?P<value>[-+0-9.eE]+)\s*", spec)
        if not m:
            raise InputError(f"--fail-under {spec!r}: write METRIC=VALUE or VARIANT:METRIC=VALUE, e.g. f1=0.3 or tuned+rag:f1=0.3")
        metric = m.group("metric")
        if metric not in METRIC_BY_NAME:
            raise InputError(f"--fail-under {spec!r}: unknown metric {metric!r}; choose from {', '.join(METRIC_BY_NAME)}")
        if not METRIC_BY_NAME[metric].higher_is_better:
            raise InputError(f"--fail-under {spec!r}: {metric} is better when lower, so a floor on it means nothing; "
                             "gate a quality metric such as f1, accuracy or decline_recall")
        try:
            value = float(m.group("value"))
        except ValueError:
            raise InputError(f"--fail-under {spec!r}: {m.group('value')!r} is not a number") from None
        gates.append(Gate(metric, value, m.group("variant")))
    return gates


def check_gates(gates: list[Gate], metrics: dict[str, dict[str, Estimate]]) -> list[str]:
    """One message per failed gate, naming variant, metric, value and floor."""
    failures = []
    for gate in gates:
        row = metrics.get(gate.metric, {})
        targets = [gate.variant] if gate.variant else [v for v, e in row.items() if e.value is not None]
        if gate.variant and (row.get(gate.variant) is None or row[gate.variant].value is None):
            failures.append(f"{gate}: {gate.variant} has no {gate.metric} on this suite (nothing to measure it on)")
            continue
        if not targets:
            failures.append(f"{gate}: no variant measured {gate.metric} on this suite")
        for variant in targets:
            value = row[variant].value
            if value < gate.threshold:
                failures.append(f"{variant}:{gate.metric} = {value:.3f} is under {gate.threshold:g}")
    return failures


# --- variants ------------------------------------------------------------------------------

def parse_variants(text: str | list[str] | None) -> list[str] | None:
    """'base,tuned+rag' -> ['base', 'tuned+rag']; None means the configured default."""
    if text is None:
        return None
    parts = text.split(",") if isinstance(text, str) else list(text)
    names = [p.strip() for p in parts if p.strip()]
    for name in names:
        if name.removeprefix(OTHER_PREFIX) not in ALL_VARIANTS:
            raise InputError(f"--variants: unknown variant {name!r}; choose from {', '.join(ALL_VARIANTS)} "
                             f"(prefix '{OTHER_PREFIX}' for the --against build)")
    return list(dict.fromkeys(names)) or None


def resolve_variants(requested, default, have: list[str], other_have: list[str] | None) -> tuple[list[str], list[str]]:
    """The variants to run and notes about configured ones the build lacks.

    Variants asked for on the command line must exist; configured defaults the build lacks
    (tuned before `tailor build`) are skipped with a note, so a retrieval-only build still evaluates.
    """
    notes = []
    if requested:
        chosen = []
        for name in requested:
            if name.startswith(OTHER_PREFIX):
                if other_have is None:
                    raise InputError(f"--variants {name}: '{OTHER_PREFIX}' variants need --against OTHER_BUILD")
                if name.removeprefix(OTHER_PREFIX) not in other_have:
                    raise InputError(f"--variants {name}: the --against build has only {', '.join(other_have)}")
            elif name not in have:
                raise InputError(f"--variants {name}: this build has only {', '.join(have)}; "
                                 "run `tailor build FOLDER` for the tuned variants, or choose from those")
            chosen.append(name)
        if other_have is not None and not any(n.startswith(OTHER_PREFIX) for n in chosen):
            chosen += [OTHER_PREFIX + n for n in chosen if n in other_have]
        return chosen, notes
    chosen = [v for v in default if v in have]
    missing = [v for v in default if v not in have]
    if missing:
        notes.append(f"skipped {', '.join(missing)}: not in this build (retrieval-only until `tailor build`)")
    if other_have is not None:
        chosen += [OTHER_PREFIX + v for v in default if v in other_have]
    if not chosen:
        raise InputError(f"none of the configured variants ({', '.join(default)}) is in this build (it has {', '.join(have)}); "
                         "pass --variants or set evals.variants in assistant.yaml")
    return chosen, notes


def check_suite(path, test_share: float = 0.5) -> list[str]:
    """`tailor eval --check`: load and validate a suite (every bad line raises, all at once) and
    list what would score poorly, with the dev/test split it gets."""
    items = load_suite(Path(path))
    kinds = ", ".join(f"{sum(it.answer_type == t for it in items)} {t}" for t in ANSWER_TYPES if any(it.answer_type == t for it in items))
    n_test = len(split_items(items, "test", test_share))
    lines = [f"{path}: {len(items)} questions ({kinds}); split {len(items) - n_test} dev / {n_test} test (evals.test_share {test_share:g})"]
    return lines + suite_suggestions(items)


# --- report folders ------------------------------------------------------------------------

def reports_dir(folder: Path) -> Path:
    return AssistantFolder(folder).reports


def latest_report_dir(folder: Path, suite: str) -> Path | None:
    """The newest build/reports/<suite>-<timestamp>/ (timestamps sort as text)."""
    pattern = re.compile(rf"^{re.escape(suite)}-\d{{8}}-\d{{6}}(?:-\d+)?$")
    root = reports_dir(folder)
    dirs = [p for p in root.iterdir() if p.is_dir() and pattern.match(p.name)] if root.is_dir() else []
    return max(dirs, key=lambda p: (p.name[: len(suite) + 16], len(p.name), p.name)) if dirs else None


def new_report_dir(folder: Path, suite: str) -> Path:
    root = reports_dir(folder)
    root.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    path, n = root / f"{suite}-{stamp}", 1
    while path.exists():
        n += 1
        path = root / f"{suite}-{stamp}-{n}"
    path.mkdir()
    return path


def read_results(path: Path) -> list[dict]:
    """Every complete line of results.jsonl; a line cut by an interruption is skipped."""
    return [row for row in read_jsonl_tolerant(path) if "id" in row and "variant" in row]


# --- the report ----------------------------------------------------------------------------

@dataclass
class EvalReport:
    """What one `tailor eval` run measured; `dir` holds results.jsonl, report.md and report.html."""

    dir: Path
    suite: str
    suite_path: str
    n_questions: int
    n_suite: int
    seed: int
    split: str
    limit: int | None
    variants: list[str]
    metrics: dict[str, dict[str, Estimate]]
    comparisons: list[Comparison]
    disagreements: list[dict]
    records: list[dict]
    gate_failures: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    build_ids: dict[str, str | None] = field(default_factory=dict)
    elapsed_s: float = 0.0
    timing: dict = field(default_factory=dict)  # answering_s, scoring_s (metrics, groundedness, judge), report_s
    grounded_threshold: float = GROUNDED_THRESHOLD
    bootstrap_samples: int = 1000
    test_share: float = 0.5
    n_split: int = 0  # questions in the split before any --limit sample
    floor_flags: list[str] = field(default_factory=list)  # model variants that do not beat the extractive floor

    def value(self, metric: str, variant: str) -> float | None:
        est = self.metrics.get(metric, {}).get(variant)
        return None if est is None else est.value

    def significant(self) -> list[Comparison]:
        return [c for c in self.comparisons if c.winner is not None]

    def to_dict(self) -> dict:
        return {
            "suite": self.suite, "suite_path": self.suite_path, "n_questions": self.n_questions, "n_suite": self.n_suite,
            "split": self.split, "test_share": self.test_share, "n_split": self.n_split, "floor_flags": self.floor_flags,
            "seed": self.seed, "limit": self.limit, "variants": self.variants, "build_ids": self.build_ids,
            "metrics": {m: {v: e.to_dict() for v, e in row.items()} for m, row in self.metrics.items()},
            "comparisons": [c.to_dict() for c in self.comparisons], "gate_failures": self.gate_failures,
            "notes": self.notes, "elapsed_s": self.elapsed_s, "grounded_threshold": self.grounded_threshold,
            "bootstrap_samples": self.bootstrap_samples, "dir": str(self.dir),
        }


def _kb_embedder(assistant):
    """The assistant's own knowledge-base embedder, so groundedness uses the model retrieval uses."""
    for name in ("kb", "knowledge", "knowledge_base", "index"):
        kb = getattr(assistant, name, None)
        embedder = getattr(kb, "embedder", None)
        if embedder is not None:
            return embedder
    return None


def _progress(total: int, initial: int, enabled: bool):
    from tqdm.auto import tqdm

    return tqdm(total=total, initial=initial, disable=not enabled, unit="answer", file=sys.stderr, dynamic_ncols=True)


def batch_size(configured: int | None) -> int:
    """evals.batch_size, or what suits the device: 8 questions at once on a CPU, 32 on a GPU."""
    if configured:
        return configured
    import torch

    return 32 if torch.cuda.is_available() else 8


def answer_items(assistant, items: list[EvalItem], variant: str, batch: int):
    """(item, Answer) for each item, in order, with up to `batch` questions being answered at once.

    Each question still goes through `Assistant.answer` (retrieval, declining, prompt, citations);
    answers in flight at the same time decode in one batch on the model (chat/_batching.py), or
    reach an OpenAI-compatible server together. Greedy answers are the same at any batch size.
    Under batching an answer's first_token_s and total_s include waiting for a place in the batch
    and for the other questions' prompts to be read, as a user's would under that load.
    The first question is answered alone: it loads the models (its answer is the cold one), and
    the questions after it should not all time that wait."""
    if not items:
        return
    yield items[0], assistant.answer(items[0].question, variant=variant)
    if batch <= 1:
        for item in items[1:]:
            yield item, assistant.answer(item.question, variant=variant)
        return
    from concurrent.futures import ThreadPoolExecutor

    pool = ThreadPoolExecutor(max_workers=batch, thread_name_prefix="tailor-eval")
    try:
        futures = [pool.submit(assistant.answer, item.question, variant=variant) for item in items[1:]]
        for item, future in zip(items[1:], futures):
            yield item, future.result()
    finally:
        pool.shutdown(wait=True, cancel_futures=True)  # interrupted: questions not yet started are dropped


def run_eval(
    folder,
    evals: EvalsConfig | None = None,
    serving: ServingConfig | None = None,
    suite=None,
    variants=None,
    limit: int | None = None,
    seed: int | None = None,
    resume: bool = False,
    against=None,
    progress: bool = True,
    fail_under: list[str] | None = None,
    split: str = "test",
    *,
    assistant=None,
    other=None,
    embedder=None,
) -> EvalReport:
    """Answer the suite with each variant, score every answer, and write build/reports/<suite>-<time>/.

    `suite` is a JSONL file or folder (default FOLDER/evals/); `variants` a list or 'a,b' text
    (default evals.variants that the build has); `limit` a stratified sample of that many
    questions drawn with `seed` (default evals.seed); `against` another build whose variants
    run too, prefixed 'other:'. `assistant`, `other` and `embedder` replace the loaded ones (tests).
    Gates in `fail_under` are checked before anything runs and reported in `gate_failures`.
    """
    started = time.perf_counter()
    folder = Path(folder)
    evals = evals or EvalsConfig()
    serving = serving or ServingConfig(name=folder.resolve().name)
    suite_path = Path(suite) if suite else AssistantFolder(folder).evals
    if suite is None and not suite_path.is_dir():
        raise InputError(f"{suite_path}: no eval suites; add JSONL files there (see docs/EVALUATION.md) or pass --suite PATH")
    items = load_suite(suite_path)
    name = suite_name(suite_path)
    seed = evals.seed if seed is None else seed
    in_split = split_items(items, split, evals.test_share)
    if not in_split:
        raise InputError(f"{suite_path}: none of its {len(items)} questions falls in the {split} split "
                         f"(evals.test_share {evals.test_share:g}); use --split all or add questions")
    chosen = sample_items(in_split, limit, seed)
    maybe = any(it.answer_type == "yes_no" and it.answer.strip().lower() == "maybe" for it in items)
    options = ["Yes", "No", "Maybe"] if maybe else ["Yes", "No"]
    gates = parse_gates(fail_under)
    requested = parse_variants(variants)

    if assistant is None:
        from chat import Assistant

        assistant = Assistant.load(folder, serving)
    if against is not None and other is None:
        from chat import Assistant

        other = Assistant.load(Path(against))
    run_variants, notes = resolve_variants(requested, list(evals.variants), list(assistant.variants),
                                           None if other is None else list(other.variants))
    if FLOOR in assistant.variants and FLOOR not in run_variants:
        run_variants.insert(0, FLOOR)  # every report shows what copying the evidence scores
    notes.insert(0, _split_note(split, len(in_split), len(items), evals.test_share))
    numeric = suite_suggestions(items)
    if numeric:
        notes.append(f"{len(numeric)} free references are bare numbers and are scored by number matching "
                     f"(`tailor eval --check` lists them)")
    notes.extend(_leakage_notes(assistant, suite_path))
    for gate in gates:
        if gate.variant and gate.variant not in run_variants:
            raise InputError(f"--fail-under {gate}: {gate.variant} is not evaluated in this run ({', '.join(run_variants)})")
    if limit is not None and limit < len(in_split):
        notes.append(f"sample of {len(chosen)} of {len(in_split)} {split} questions (seed {seed}, decline questions kept in proportion)")

    judge, grounder = _scorers(evals, serving, run_variants, assistant, embedder)

    build_ids = {"this": getattr(assistant, "build_id", None)}
    if other is not None:
        build_ids["other"] = getattr(other, "build_id", None)

    out_dir = latest_report_dir(folder, name) if resume else None
    if resume and out_dir is None:
        notes.append(f"--resume: no earlier {name} report, started a new one")
    out_dir = out_dir or new_report_dir(folder, name)
    results_path = out_dir / RESULTS
    info = {"suite": name, "suite_path": str(suite_path), "seed": seed, "limit": limit, "variants": run_variants, "split": split,
            "ids": [it.id for it in chosen], "build_ids": build_ids, "started": datetime.now().isoformat(timespec="seconds"),
            "against": None if against is None else str(against), "judge_url": evals.judge_url}
    write_text_atomic(out_dir / RUN_INFO, json.dumps(info, indent=2))

    def build_of(variant: str):
        return build_ids["other" if variant.startswith(OTHER_PREFIX) else "this"]

    done = {(r["id"], r["variant"]) for r in read_results(results_path) if r.get("build_id") == build_of(r["variant"])}
    todo = [(it, v) for it in chosen for v in run_variants if (it.id, v) not in done]
    if resume and done:
        notes.append(f"resumed: {len(chosen) * len(run_variants) - len(todo)} answers kept from the interrupted run")

    with open(results_path, "a", encoding="utf-8") as out, _progress(len(chosen) * len(run_variants),
                                                                    len(chosen) * len(run_variants) - len(todo), progress) as bar:
        if out.tell() > 0 and not results_path.read_bytes().endswith(b"\n"):
            out.write("\n")  # the interrupted run was cut mid-line; start clean
        try:
            spent = _answer_and_score(todo, {"this": assistant, "other": other}, build_of, serving.chat, evals, options,
                                      grounder, judge, out, bar)
        except KeyboardInterrupt:
            bar.close()
            print(f"\ninterrupted: the answers scored so far are kept in {results_path}; "
                  f"run the same command with --resume to continue", file=sys.stderr)
            raise
    if judge is not None:
        judge.close()

    report = aggregate_report(out_dir, chosen, run_variants, seed, limit, len(items), str(suite_path),
                              evals.bootstrap_samples, build_ids, notes, split=split)
    report.test_share, report.n_split = evals.test_share, len(in_split)
    report.gate_failures = check_gates(gates, report.metrics)

    t_report = time.perf_counter()
    write_reports(report)
    report.timing = {**spent, "report_s": time.perf_counter() - t_report}
    report.elapsed_s = time.perf_counter() - started
    return report


def _scorers(evals: EvalsConfig, serving: ServingConfig, variants: list[str], assistant, embedder) -> tuple:
    """(the LLM judge when evals.judge_url is set, else None; the groundedness scorer when a
    variant reads the documents, else None)."""
    judge = None
    if evals.judge_url:
        judge = Judge(evals.judge_url, evals.judge_model)
        judge.check()
    grounder = None
    if any(is_rag(v) for v in variants) or getattr(assistant, "kb", None) is not None:
        emb = embedder or _kb_embedder(assistant)
        if emb is None:
            from knowledge import load_embedder

            emb = load_embedder(serving.knowledge.embedder)
        grounder = Grounder(emb)
    return judge, grounder


def _answer_and_score(todo: list, builds: dict, build_of, chat_cfg, evals: EvalsConfig, options: list[str],
                      grounder, judge, out, bar) -> dict:
    """Answer TODO's (item, variant) pairs one variant at a time (its questions batch together),
    score each answer and append its record to OUT as it comes; the seconds spent on each part."""
    spent = {"answering_s": 0.0, "choice_s": 0.0, "scoring_s": 0.0}
    gold = _GoldTexts(getattr(builds["this"], "kb", None))
    batch = batch_size(evals.batch_size)
    for variant in dict.fromkeys(v for _, v in todo):
        bar.set_description(variant)
        who, real = (builds["other"], variant.removeprefix(OTHER_PREFIX)) if variant.startswith(OTHER_PREFIX) else (builds["this"], variant)
        own_chat = getattr(who, "chat", None) or chat_cfg  # the answering build's own guardrail texts
        mine = [it for it, v in todo if v == variant]
        t_answer = time.perf_counter()
        for n, (item, answer) in enumerate(answer_items(who, mine, real, batch)):
            spent["answering_s"] += time.perf_counter() - t_answer
            t1 = time.perf_counter()
            choice = _choice(who, item, real, options)
            t2 = time.perf_counter()
            record = score_answer(item, variant, answer, grounder=grounder, judge=judge,
                                  decline_message=own_chat.decline_message, disclaimer=own_chat.disclaimer,
                                  gold_texts=gold.texts(item.gold_docs), choice=choice)
            record["split"] = item.split(evals.test_share)
            if record["build_id"] is None:
                record["build_id"] = build_of(variant)
            record["timings"]["batch_size"] = batch
            if n == 0:
                record["timings"]["cold"] = True  # loaded models on the way: left out of latency
            out.write(json.dumps(record, ensure_ascii=False) + "\n")
            out.flush()
            spent["choice_s"] += t2 - t1
            spent["scoring_s"] += time.perf_counter() - t2
            bar.update(1)
            t_answer = time.perf_counter()
    return spent


def aggregate_report(out_dir: Path, items: list[EvalItem], variants: list[str], seed: int, limit, n_suite: int,
                     suite_path: str, samples: int, build_ids: dict, notes: list[str], split: str = "all") -> EvalReport:
    """The report's numbers from results.jsonl: the latest line per (question, variant) of this run's sample."""
    ids = [it.id for it in items]
    wanted = {(i, v) for i in ids for v in variants}
    latest: dict[tuple[str, str], dict] = {}
    for row in read_results(out_dir / RESULTS):
        key = (row["id"], row["variant"])
        if key in wanted:
            latest[key] = row
    metrics = estimates(latest, ids, variants, samples, seed)
    comps = comparisons(latest, ids, variants, list(metrics), samples, seed)
    records = [latest[(i, v)] for i in ids for v in variants if (i, v) in latest]
    return EvalReport(
        dir=out_dir, suite=_suite_of(out_dir), suite_path=suite_path,
        n_questions=len(items), n_suite=n_suite, seed=seed, split=split, limit=limit, variants=variants, metrics=metrics,
        comparisons=comps, disagreements=disagreements(latest, ids, variants), records=records,
        notes=list(notes), build_ids=build_ids, bootstrap_samples=samples,
        floor_flags=floor_flags(metrics, comps, variants),
    )


def floor_flags(metrics: dict, comps: list[Comparison], variants: list[str]) -> list[str]:
    """One line per model variant that does not significantly beat `extract` on a correctness
    metric both were measured on: a model that cannot beat copying its evidence."""
    if FLOOR not in variants:
        return []
    flags = []
    for comp in comps:
        if comp.metric not in ("f1", "accuracy") or FLOOR not in (comp.a, comp.b) or comp.difference.diff is None:
            continue
        model = comp.b if comp.a == FLOOR else comp.a
        if comp.winner != model:
            ours, floor = metrics[comp.metric][model].value, metrics[comp.metric][FLOOR].value
            verdict = "scores below" if comp.winner == FLOOR else "does not beat"
            flags.append(f"{model} {verdict} the extractive floor on {comp.metric} ({ours:.3f} vs {floor:.3f} for extract, no model)")
    return flags


def _split_note(split: str, n_split: int, n_all: int, share: float) -> str:
    if split == "all":
        return f"split: all {n_all} questions (dev and test together; tuning on them would flatter the result)"
    return (f"split: {split}, {n_split} of {n_all} questions (by a hash of each id; evals.test_share {share:g}); "
            + ("the held-out questions to report" if split == "test" else "the questions to tune on, not to report"))


def _leakage_notes(assistant, suite_path: Path) -> list[str]:
    """A warning when the build being evaluated trained on text from these eval questions."""
    folder = getattr(assistant, "folder", None)
    data_dir = AssistantFolder(folder).training_data if folder is not None else None
    if data_dir is None or not data_dir.is_dir():
        return []
    leaked = leaked_in_build(data_dir, read_eval_texts(Path(suite_path)))
    if not leaked:
        return []
    return [f"WARNING: the build trained on {leaked} texts that share a 13-word run with these eval questions or answers "
            f"(suites edited after the build, or a build made before leakage checks): rebuild with `tailor build` so they are dropped"]


def _choice(who, item: EvalItem, variant: str, options: list[str]) -> dict | None:
    """First-token probabilities of the yes/no options, for yes/no questions and model variants."""
    if item.answer_type != "yes_no" or not hasattr(who, "choice_probabilities"):
        return None
    return who.choice_probabilities(item.question, options, variant=variant)


class _GoldTexts:
    """The passages of each gold document, from the knowledge base, for support by a gold document."""

    def __init__(self, kb) -> None:
        self._by_source: dict[str, list[str]] = {}
        for chunk in getattr(kb, "chunks", None) or []:
            self._by_source.setdefault(chunk.source, []).append(chunk.text)

    def texts(self, gold_docs: list[str]) -> list[str]:
        return [t for doc in gold_docs for t in self._by_source.get(doc, [])]


def _suite_of(out_dir: Path) -> str:
    return re.sub(r"-\d{8}-\d{6}(?:-\d+)?$", "", out_dir.name)
