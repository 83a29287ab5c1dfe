"""`tailor build`: the stages, each cached by a hash of its inputs, then the manifest.

    index -> base -> data -> sft -> dpo -> calibrate -> export -> evaluate (+ the variant to serve) -> manifest

A stage runs when the hash of its inputs (files, settings, and the fingerprints of the stages it
reads from) differs from the one recorded in build/stages/<stage>.json after its last success;
otherwise it is skipped and says so. A stage's fingerprint changes whenever it actually runs,
so `--force sft` retrains SFT and everything after it, while a second `tailor build` with
nothing changed trains nothing. The manifest is written last and atomically: until then the
previous build (build/model/ and build/manifest.json) stays loadable.
"""
from __future__ import annotations

import json
import os
import random
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from chat import DECODING_VERSION
from chat.manifest import MANIFEST_NAME, DeclineCalibration, Manifest, write_manifest
from chat.prompt import PROMPT_FORMAT_VERSION
from knowledge.errors import BuildError, InputError
from knowledge.folder import AssistantFolder

from ._leakage import LEAKAGE_RULES, read_eval_texts
from ._synthesize import SYNTHESIS_VERSION
from ._common import (
    fmt_seconds,
    hash_file,
    hash_json,
    hash_tree,
    is_main_process,
    library_versions,
    log,
    read_jsonl,
    setup_log,
    training_precision,
    use_bf16,
    use_cuda,
)
from knowledge.files import append_jsonl, write_json, write_jsonl

MIN_PAIRS = 4  # fewer preference pairs than this are not worth a DPO run
DEFAULT_CPU_TOKENS_PER_S = 120.0  # SmolLM2-135M LoRA on 2 CPU cores in fp32, for the first ETA (bf16 autocast: 207, x1.7)


@dataclass
class StageReport:
    name: str
    status: str  # "ran", "cached", "skipped"
    note: str = ""
    seconds: float = 0.0
    result: dict = field(default_factory=dict)


@dataclass
class BuildSummary:
    """What `tailor build` did: per stage ran/cached/skipped, the held-out comparison, where things are."""

    folder: Path
    build_dir: Path
    stages: list[StageReport] = field(default_factory=list)
    manifest_written: bool = False
    retrieval_only: bool = False
    evaluation: dict = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    log_path: Path | None = None
    seconds: float = 0.0
    settings_updated: list[str] = field(default_factory=list)  # serving settings applied without retraining

    @property
    def trained(self) -> list[str]:
        return [s.name for s in self.stages if s.status == "ran" and s.name in ("sft", "dpo")]

    def stage(self, name: str) -> StageReport | None:
        return next((s for s in self.stages if s.name == name), None)

    def __str__(self) -> str:
        lines = [f"Build of {self.folder} in {fmt_seconds(self.seconds)}:"]
        for s in self.stages:
            lines.append(f"  {s.name:<9} {s.status:<8} {fmt_seconds(s.seconds) if s.status == 'ran' else '':>6}  {s.note}")
        ev = self.evaluation
        if ev.get("base") and ev.get("tuned"):
            b, t = ev["base"], ev["tuned"]
            lines.append(f"Held-out conversations ({ev['n']}), both with retrieval:")
            lines.append(f"  eval loss   base {b['eval_loss']:.3f}  ->  tuned {t['eval_loss']:.3f}")
            lines.append(f"  token F1    base {b['token_f1']:.3f}  ->  tuned {t['token_f1']:.3f}")
        ran = [s for s in self.stages if s.status == "ran"]
        if ran:
            lines.append("Stage times (s): " + ", ".join(f"{s.name} {s.seconds:.0f}" for s in ran) + f"; total {self.seconds:.0f}")
        serving = ev.get("serving")
        if serving:
            lines.append(serving["reason"][:1].upper() + serving["reason"][1:] + ".")
            if serving["variant"] != "tuned+rag":
                lines.append(f"  `tailor ask/chat/serve` answer with {serving['variant']} unless --variant says otherwise; the tuned model stays available as tuned+rag.")
        if self.settings_updated:
            lines.append(f"Serving settings changed ({', '.join(self.settings_updated)}): the manifest now carries them; nothing was retrained.")
        elif not any(s.status == "ran" for s in self.stages):
            lines.append("Nothing changed since the last build: nothing was retrained.")
        if self.retrieval_only:
            lines.append("Retrieval-only assistant: the base model answers from the knowledge base (no fine-tuning).")
        lines.extend(f"note: {n}" for n in self.notes)
        if self.manifest_written:
            lines.append(f"Manifest: {self.build_dir / MANIFEST_NAME}")
        if self.log_path:
            lines.append(f"Log: {self.log_path}")
        return "\n".join(lines)


class _Build:
    """One run of the pipeline: paths, recorded stage states, and lazily loaded shared things."""

    def __init__(self, folder: Path, cfg, resume: bool):
        self.folder, self.cfg, self.resume = Path(folder), cfg, resume
        self.paths = paths = AssistantFolder(folder)
        self.build_dir, self.docs_dir, self.index_dir = paths.build, paths.docs, paths.index
        self.data_dir, self.adapters_dir, self.state_dir = paths.training_data, paths.adapters, paths.stages
        self.conversations, self.preferences, self.feedback = paths.conversations, paths.preferences, paths.feedback_pairs
        self.states = {s: self._read_state(s) for s in STAGES}
        self.keys: dict[str, str] = {}
        self.new_model_dir: Path | None = None
        self._kb = None
        self._tokenizer = None

    # -- recorded state ---------------------------------------------------------------------

    def _read_state(self, stage: str) -> dict:
        path = self.state_dir / f"{stage}.json"
        try:
            return json.loads(path.read_text()) if path.exists() else {}
        except ValueError:
            return {}

    def save_state(self, stage: str, key: str, result: dict, seconds: float) -> None:
        state = {"key": key, "fingerprint": hash_json([key, time.time()]), "result": result, "seconds": round(seconds, 1)}
        self.states[stage] = state
        if is_main_process():
            write_json(self.state_dir / f"{stage}.json", state)

    def fingerprint(self, stage: str) -> str:
        return self.states.get(stage, {}).get("fingerprint", "")

    def result(self, stage: str) -> dict:
        return self.states.get(stage, {}).get("result", {})

    def current(self, stage: str) -> bool:
        """Built for the present inputs, and so is everything it reads from (after `--only sft`,
        export and evaluate are stale although their own keys still match)."""
        own = bool(self.states.get(stage)) and self.states[stage].get("key") == self.keys.get(stage)
        return own and all(self.current(d) for d in STAGE[stage].depends_on)

    # -- shared resources -------------------------------------------------------------------

    @property
    def kb(self):
        if self._kb is None:
            from knowledge import load_index

            self._kb = load_index(self.index_dir, self.cfg.knowledge)
        return self._kb

    @property
    def base_path(self) -> str:
        return self.result("base").get("path") or _resolve_base(self.cfg)

    @property
    def tokenizer(self):
        if self._tokenizer is None:
            from ._generate import load_tokenizer

            self._tokenizer = load_tokenizer(self.base_path)
        return self._tokenizer


def _resolve_base(cfg) -> str:
    from chat.models import resolve_model

    return resolve_model(cfg.builder.base_model)


# --- stage keys ----------------------------------------------------------------------------


def _inputs_index(b: _Build) -> list:
    return [hash_tree(b.docs_dir), b.cfg.knowledge.model_dump()]


def _inputs_base(b: _Build) -> list:
    return [b.cfg.builder.base_model]


def _inputs_data(b: _Build) -> list:
    cfg, bc = b.cfg, b.cfg.builder
    return [
        PROMPT_FORMAT_VERSION, cfg.name, cfg.chat.system_prompt, cfg.chat.decline_message,
        cfg.knowledge.top_k, cfg.knowledge.search_mode, hash_file(b.conversations), hash_file(b.preferences),
        hash_file(b.feedback), bc.eval_split, bc.raft_distractor_only, bc.seed, bc.oracle_min_recall, bc.min_conversations,
        bc.sft.max_length, bc.dpo.max_length, bc.synthesize.model_dump(), _eval_suites_hash(b), LEAKAGE_RULES,
        cfg.chat.evidence_tokens, cfg.generation.max_new_tokens,
    ] + (["synthesized rows: no distractor-only declines", SYNTHESIS_VERSION] if _synthesizes(b) else [])  # fmt: skip


def _synthesizes(b: _Build) -> bool:
    """Whether the data stage adds conversations synthesized from docs/ (builder.synthesize.mode)."""
    mode = b.cfg.builder.synthesize.mode
    return mode == "always" or (mode == "auto" and not b.conversations.exists())


def _inputs_sft(b: _Build) -> list:
    bc = b.cfg.builder
    inputs = [[bc.lora_r, bc.lora_alpha, bc.lora_dropout, bc.lora_target_modules], bc.seed, bc.sft.model_dump(exclude={"checkpoint_steps"})]
    return inputs + _precision_input(b)


def _precision_input(b: _Build) -> list:
    """The arithmetic training ran in, where it is not fp32 (fp32 builds keep their earlier keys)."""
    precision = training_precision(b.cfg.builder.precision)
    return [] if precision == "fp32" else [precision]


def _inputs_dpo(b: _Build) -> list:
    gen = b.cfg.generation
    return [b.cfg.builder.dpo.model_dump(), gen.max_new_tokens, gen.repetition_penalty, b.cfg.builder.seed, *_precision_input(b)]


def _inputs_calibrate(b: _Build) -> list:
    data = Path(__file__).parent / "data"
    rules = Path(__file__).parent.parent / "chat" / "_coverage.py"  # the coverage check's rules are part of the gate
    kc = b.cfg.knowledge
    # The held-out conversations in build/data sharpen the gate when they exist, but a retrieval-only
    # build calibrates without them: data's fingerprint is an input, not a stage it waits for.
    return [b.fingerprint("data"), hash_file(b.conversations), hash_file(data / "general_questions.txt"), hash_file(data / "near_domain_entities.txt"),
            hash_file(rules), kc.top_k, kc.search_mode, b.cfg.builder.seed, b.cfg.chat.decline_message]


def _inputs_export(b: _Build) -> list:
    return []


def _inputs_evaluate(b: _Build) -> list:
    cfg = b.cfg
    dev = [_eval_suites_hash(b), cfg.evals.select_limit, cfg.evals.seed, cfg.evals.test_share, cfg.generation.model_dump()]
    return [cfg.builder.eval_max_new_tokens, cfg.generation.repetition_penalty, dev, DECODING_VERSION]


# --- the stages ----------------------------------------------------------------------------


def _stage_index(b: _Build) -> tuple[dict, str]:
    from knowledge import build_index

    if not b.docs_dir.is_dir():
        raise InputError(f"{b.docs_dir}: no docs/ folder; put the assistant's documents there (any mix of .md .txt .html .pdf .docx)")
    report = build_index(b.docs_dir, b.index_dir, b.cfg.knowledge, progress=True)
    b._kb = None
    info = {
        "files": len(report.indexed), "chunks": report.n_chunks, "embedded": report.n_embedded,
        "skipped": report.skipped, "warnings": report.warnings,
    }  # fmt: skip
    for warning in report.warnings:
        log.warning(f"  warning: {warning}")
    return info, f"{len(report.indexed)} files, {report.n_chunks} chunks ({report.n_embedded} embedded now)"


def _stage_base(b: _Build) -> tuple[dict, str]:
    from transformers import AutoConfig

    from ._template import training_chat_template

    path = _resolve_base(b.cfg)
    try:
        config = AutoConfig.from_pretrained(path)
    except (OSError, ValueError) as exc:
        from knowledge.errors import ConfigError

        raise ConfigError(
            f"builder.base_model: cannot load '{b.cfg.builder.base_model}' from {path} ({str(exc).splitlines()[0][:200]}); "
            "set builder.base_model in assistant.yaml to a folder holding a Hugging Face model, or to smollm2-135m-instruct"
        ) from None
    b._tokenizer = None
    marked = training_chat_template(b.tokenizer) is not None
    info = {"name": b.cfg.builder.base_model, "path": path, "model_type": config.model_type, "assistant_only_template": marked}
    return info, f"{b.cfg.builder.base_model} ({config.model_type})"


def _eval_suites_hash(b: _Build) -> str:
    return hash_json([hash_file(p) for p in b.paths.suites()])


def _synthesize(b: _Build, eval_questions: list[str]):
    """Conversations and DPO pairs made from the documents (builder._synthesize), logged per
    extractor with what each check dropped; none repeats an eval question (`eval_questions`) or
    holds an eval text, and each question finds its own passage with the search serving uses."""
    from collections import Counter

    from ._inputs import Conversation, PreferencePair
    from ._synthesize import SynthExample, local_teacher, openai_teacher, synthesize

    sc = b.cfg.builder.synthesize
    teacher, saved = None, b.data_dir / "synth_teacher.jsonl"
    if sc.teacher_url:
        teacher = openai_teacher(sc.teacher_url, sc.teacher_model, timeout=sc.teacher_timeout)
    elif sc.teacher_model:
        teacher = local_teacher(sc.teacher_model)

    def keep(ex: SynthExample) -> None:  # teacher output survives a teacher that fails later
        append_jsonl(saved, [ex.conversation()])

    sources = sorted(b.kb.sources())
    k, mode = b.cfg.knowledge.top_k, b.cfg.knowledge.search_mode

    def search(question: str, k: int) -> list:  # what the data stage will retrieve for the question
        return [h.chunk for h in b.kb.search(question, k=k, mode=mode)]

    from ._leakage import LeakChecker, read_eval_texts

    evals = read_eval_texts(b.paths.evals)
    leaks = LeakChecker(evals).text_leaks if not evals.empty else None

    result = synthesize(
        b.docs_dir, sources, b.kb.chunks, b.kb.embedder.encode, eval_questions, search=search, k=k, leaks=leaks, seed=b.cfg.builder.seed,
        max_examples=sc.max_examples, max_pairs=sc.max_pairs, teacher=teacher,
        teacher_chunks=sc.teacher_chunks if teacher else 0, on_teacher_example=keep,
    )  # fmt: skip
    for line in result.summary().splitlines():
        log.info(f"  {line}")
    if is_main_process():
        write_jsonl(b.data_dir / "synth_conversations.jsonl", [e.conversation() for e in result.examples])
        write_jsonl(b.data_dir / "synth_preferences.jsonl", result.pairs)
    convs = [Conversation(e.conversation()["messages"], 0, {"synthesized": e.kind, "source": e.source, "chunk_id": e.chunk_id}) for e in result.examples]
    pairs = [
        PreferencePair([{"role": "user", "content": p["prompt"]}], p["chosen"], p["rejected"], "synthesized", 0, {"source": p["source"]})
        for p in result.pairs
    ]
    info = {
        "by_source": dict(result.counts), "dropped": dict(result.dropped), "pairs": len(result.pairs), "samples": result.samples(),
        "made": dict(result.made), "dropped_by_source": {k: dict(v) for k, v in result.dropped_by.items()},
        "self_retrieval": result.retrieval, "answer_types": dict(Counter(e.answer_type for e in result.examples)),
        "pair_kinds": dict(Counter(p["synthesized"] for p in result.pairs)),
    }  # fmt: skip
    return convs, pairs, info


def _drop_leaks(b: _Build, evals, convs: list, pairs: list, feedback: list) -> tuple[list, list, list, dict]:
    """Every conversation, pair and vote that holds an eval question or answer (`evals`, the
    suites' texts), dropped (builder._leakage)."""
    from ._leakage import LeakChecker, LeakReport, drop_leaks

    report = LeakReport(suites_hash=evals.suites_hash)
    if not evals.empty:
        checker = LeakChecker(evals, b.kb.embedder.encode)
        convs, kept = drop_leaks(convs, pairs + feedback, checker, report)
        pairs = [p for p in kept if p.source != "feedback"]
        feedback = [p for p in kept if p.source == "feedback"]
    log.info(f"  {report.summary()}")
    for ex in report.examples[:3]:
        log.info(f"    dropped ({ex['source']}, {ex['reason']}): {ex['text'][:100]!r}")
    return convs, pairs, feedback, report.to_dict()


def _stage_data(b: _Build) -> tuple[dict, str]:
    from ._data import decline_pairs, render_eval, render_pairs, render_train, split_conversations, warn_truncated
    from ._inputs import load_conversations, load_preferences

    cfg, notes = b.cfg, []
    evals = read_eval_texts(b.paths.evals)  # kept out of training: questions for synthesis, everything for leakage
    convs = load_conversations(b.conversations) if b.conversations.exists() else []
    synth_pairs, synth_info = [], None
    mode = cfg.builder.synthesize.mode
    if _synthesizes(b):
        synth_convs, synth_pairs, synth_info = _synthesize(b, evals.questions)
        convs = convs + synth_convs
        if not synth_convs and not b.conversations.exists():
            notes.append(f"no {b.conversations.relative_to(b.folder)} and nothing could be synthesized from docs/: SFT is skipped")
    if not convs and not b.conversations.exists():
        if mode == "never":
            notes.append(f"no {b.conversations.relative_to(b.folder)}: SFT is skipped (builder.synthesize.mode is never)")
    elif len(convs) < cfg.builder.min_conversations and not b.conversations.exists():
        # Synthesized from documents alone, too few to train on: a retrieval-only build, not an error.
        notes.append(
            f"only {len(convs)} conversation(s) could be synthesized from docs/ (SFT needs builder.min_conversations = "
            f"{cfg.builder.min_conversations}): SFT is skipped; add data/conversations.jsonl to fine-tune"
        )
        convs = []
    elif len(convs) < cfg.builder.min_conversations:
        raise InputError(
            f"{b.conversations}: {len(convs)} usable conversation(s); SFT needs at least builder.min_conversations = "
            f"{cfg.builder.min_conversations}. Add conversations, or build a retrieval-only assistant with `tailor build --skip-train`."
        )
    pairs = (load_preferences(b.preferences)[0] if b.preferences.exists() else []) + synth_pairs
    feedback, skipped = load_preferences(b.feedback, source="feedback", strict=False) if b.feedback.exists() else ([], [])
    for problem in skipped:
        log.warning(f"  warning: skipped a damaged app vote: {problem}")
    convs, pairs, feedback, leakage = _drop_leaks(b, evals, convs, pairs, feedback)
    train, held_out = split_conversations(convs, cfg.builder.eval_split, cfg.builder.seed)
    train_rows, train_stats = render_train(train, b.kb, cfg, b.tokenizer)
    eval_rows, eval_stats = render_eval(held_out, b.kb, cfg, b.tokenizer)
    pair_rows, pair_stats = render_pairs(pairs + feedback, b.kb, cfg, b.tokenizer)
    declines = decline_pairs(train_rows, cfg)
    pair_rows += declines
    warn_truncated(train_stats, "training conversations", cfg.builder.sft.max_length, "builder.sft.max_length")
    warn_truncated(pair_stats, "preference pairs", cfg.builder.sft.max_length, "builder.sft.max_length")
    if is_main_process():
        write_jsonl(b.data_dir / "sft_train.jsonl", train_rows)
        write_jsonl(b.data_dir / "sft_eval.jsonl", eval_rows)
        write_jsonl(b.data_dir / "pairs.jsonl", pair_rows)
    info = {
        "conversations": len(convs), "train": len(train_rows), "held_out": len(eval_rows),
        "train_contexts": train_stats.to_dict(), "eval_contexts": eval_stats.to_dict(),
        "pairs": {"user": len(pairs), "feedback": len(feedback), "decline": len(declines)}, "pair_contexts": pair_stats.to_dict(),
        "feedback_skipped": len(skipped), "notes": notes, "synthesized": synth_info, "leakage": leakage,
    }  # fmt: skip
    s = train_stats
    per_row = s.distractors / s.oracle if s.oracle else 0.0
    msg = (
        f"{len(train_rows)} train / {len(eval_rows)} held-out conversations. RAFT mix: {s.oracle} with the answering passage "
        f"among {per_row:.1f} distractors on average ({s.oracle_inserted} put in where retrieval missed it), "
        f"{s.distractor_only} distractors-only from other documents -> decline ({s.distractor_only / max(1, s.rows):.0%}"
        f"{'; none from synthesized conversations, the decline gate declines for them' if synth_info else ''}), "
        f"{s.no_oracle} with no answering passage found (top-ranked evidence kept). "
        f"Answer truncations: {len(s.truncated) + len(eval_stats.truncated)}; evidence trimmed to fit in {s.evidence_trimmed} rows; "
        f"{s.answers_shortened} answers over {cfg.generation.max_new_tokens} tokens ended at a sentence; "
        f"{len(pairs)} preference pairs + {len(feedback)} app votes + {len(declines)} answer-vs-decline pairs"
    )
    if leakage["dropped"]:
        msg += f"; leakage: dropped {sum(leakage['dropped'].values())} items holding an eval question or answer"
    if synth_info:
        by = ", ".join(f"{k} {v}" for k, v in synth_info["by_source"].items())
        msg += f"; synthesized from documents: {sum(synth_info['by_source'].values())} conversations ({by}), {synth_info['pairs']} pairs"
    return info, msg


def _stage_sft(b: _Build) -> tuple[dict, str]:
    from ._sft import run_sft

    rows = read_jsonl(b.data_dir / "sft_train.jsonl")
    if not rows:
        return {"skipped": True}, "skipped: no conversations"
    n_tokens = sum(len(r["messages"][0]["content"]) + sum(len(m["content"]) for m in r["messages"][1:]) for r in rows) / 4
    rate, source = _tokens_per_s_estimate(b)
    log.info(f"  training LoRA on {len(rows)} conversations (~{n_tokens / 1000:.0f}k tokens x {b.cfg.builder.sft.epochs:g} epochs), "
             f"ETA ~{fmt_seconds(n_tokens * b.cfg.builder.sft.epochs / rate)} on {'GPU' if use_cuda() else 'CPU'} "
             f"at {rate:.0f} tokens/s ({source})")  # fmt: skip
    result = run_sft(
        b.base_path, rows, b.cfg, b.adapters_dir / "sft", b.build_dir / "checkpoints" / "sft", key=b.keys["sft"], resume=b.resume
    )
    _remember_rate(b, result["tokens_per_s"])
    return result, f"train loss {result['train_loss']:.3f}, {result['steps']} steps, {result['tokens_per_s']:.0f} tokens/s"


def _stage_dpo(b: _Build) -> tuple[dict, str]:
    from ._dpo import auto_pairs, count_sources, run_dpo, split_pairs, time_budget

    d = b.cfg.builder.dpo
    if not d.enabled:
        return {"skipped": True}, "skipped: builder.dpo.enabled is false"
    sft_ran = bool(b.result("sft")) and not b.result("sft").get("skipped") and (b.adapters_dir / "sft").exists()
    sft_adapter = str(b.adapters_dir / "sft") if sft_ran else None
    pairs = read_jsonl(b.data_dir / "pairs.jsonl")
    if d.auto_pairs and sft_ran and d.max_auto_pairs > 0:
        log.info(f"  making automatic pairs: the SFT model answers up to {d.max_auto_pairs} held-in questions at full length")
        pairs += auto_pairs(b.base_path, sft_adapter, read_jsonl(b.data_dir / "sft_train.jsonl"), b.cfg)
    counts = count_sources(pairs)
    log.info(f"  preference pairs by source: {', '.join(f'{k} {v}' for k, v in counts.items()) or 'none'}"
             " (user: data/preferences.jsonl, feedback: app votes)")
    if len(pairs) < MIN_PAIRS:
        return {"skipped": True, "pairs": counts}, f"skipped: {len(pairs)} preference pair(s); DPO needs at least {MIN_PAIRS}"
    train, held_out, too_few = split_pairs(pairs, b.cfg)
    notes = [too_few] if too_few else []
    if too_few:
        log.warning(f"  {too_few}")
    budget = time_budget(b.cfg)
    train, fitted, skip = _fit_budget(b, train, budget)
    if skip:
        log.warning(f"  {skip}")
        return {"skipped": True, "pairs": counts, "over_budget": True, "notes": [skip]}, f"skipped: {skip}"
    if fitted:
        log.info(f"  {fitted}")
        notes.append(fitted)
    log.info(f"  training on {len(train)} pairs ({', '.join(f'{k} {v}' for k, v in count_sources(train).items())}), "
             f"{len(held_out)} held out; lr {d.learning_rate:g}, beta {d.beta:g}, SFT term weight {d.sft_weight:g}"
             + (f", CPU time budget {budget:g} s" if budget else ""))
    result = run_dpo(b.base_path, sft_adapter, train, held_out, b.cfg, b.adapters_dir / "dpo", b.build_dir / "checkpoints" / "dpo")
    result.update(pairs=counts, train_by_source=count_sources(train), held_out_by_source=count_sources(held_out),
                  held_out_too_few=bool(too_few), notes=notes)
    note = f"{result['pairs_seen']} of {len(train)} pairs trained in {result['steps']} steps"
    if result["stopped_by_time_budget"]:
        note += f" (dpo.max_seconds {result['time_budget_s']:g})"
    before, after = result["before"], result["after"]
    if after:
        note += (f"; held-out ({after['n']}{', too few' if too_few else ''}): prefers chosen {before['preference_accuracy']:.0%} -> "
                 f"{after['preference_accuracy']:.0%}, reward accuracy {before['reward_accuracy']:.2f} -> {after['reward_accuracy']:.2f}, "
                 f"margin {before['reward_margin']:.3f} -> {after['reward_margin']:.3f}")
    return result, note


DPO_COST = 2.2  # seconds of DPO per token, relative to SFT's: 164 s per 8,350-token step against SFT's 110 tokens/s (shared clinic data)
# A CPU run trains only when this many optimizer steps fit dpo.max_seconds. Shared clinic data, 20
# held-out pairs, lr 2e-4: 3 steps of 4 pairs (600 s) took the model's own preference for the
# chosen answer 55% -> 60%, the reward accuracy 0 -> 0.65 and the margin 0 -> 0.15; 4 steps (an
# experiment on user and decline pairs) 50% -> 60%, 0 -> 0.90 and 0 -> 0.60; 1 step at 5e-5 moved
# the margin to 0.02 and the preference not at all.
MIN_DPO_STEPS = 3


def _fit_budget(b: _Build, train: list[dict], budget: float | None) -> tuple[list[dict], str | None, str | None]:
    """(pairs to train, a note when only some fit, why DPO is skipped or None). On a CPU the pairs
    that fit dpo.max_seconds train, a seeded sample keeping the sources in proportion, estimated
    from the tokens each pair holds and the rate SFT just measured on this machine (a DPO pair
    reads its prompt with each answer, plus a reference pass: DPO_COST times SFT's seconds per
    token). Fewer than MIN_DPO_STEPS steps would not move the model: then DPO is skipped
    and the tuned model is the SFT adapter alone."""
    d = b.cfg.builder.dpo
    rate = (b.result("sft") or {}).get("tokens_per_s")
    if not budget or not rate or not train:
        return train, None, None
    from ._data import token_length

    seconds = [sum(token_length(b.tokenizer, [*p["prompt"], *p[side]]) for side in ("chosen", "rejected")) * DPO_COST / rate
               for p in train]
    if sum(seconds) * d.epochs <= budget:
        return train, None, None
    # Sources in proportion: each source's pairs in a seeded order, interleaved by their place in
    # it (the 3rd of 50 user pairs comes before the 2nd of 10 decline pairs).
    rng = random.Random(b.cfg.builder.seed + 2)
    by_source: dict[str, list[int]] = {}
    for i in sorted(range(len(train)), key=lambda i: rng.random()):
        by_source.setdefault(train[i].get("source", ""), []).append(i)
    place = {i: (k + 0.5) / len(group) for group in by_source.values() for k, i in enumerate(group)}
    order = sorted(place, key=place.get)
    keep, spent = [], 0.0
    for i in order:
        if spent + seconds[i] * d.epochs > budget:
            break  # in order, so the sources stay in proportion (skipping ahead would favour short pairs)
        keep.append(i)
        spent += seconds[i] * d.epochs
    need = MIN_DPO_STEPS * d.batch_size
    if len(keep) < need:
        return [], None, (f"{len(keep)} of {len(train)} pairs fit dpo.max_seconds {budget:g} on this CPU (every pair: about "
                          f"{sum(seconds) * d.epochs / 60:.0f} min at SFT's {rate:.0f} tokens/s); fewer than {need} pairs "
                          f"({MIN_DPO_STEPS} steps) would not move the model, so the tuned model is the SFT adapter alone. Raise "
                          f"builder.dpo.max_seconds, set it to null to train every pair, or build on a GPU")
    chosen = [train[i] for i in sorted(keep)]
    return chosen, (f"{len(chosen)} of {len(train)} pairs fit dpo.max_seconds {budget:g} on this CPU (every pair: about "
                    f"{sum(seconds) * d.epochs / 60:.0f} min); a GPU build trains them all"), None


def _stage_calibrate(b: _Build) -> tuple[dict, str]:
    from ._calibrate import calibrate
    from ._inputs import load_conversations

    convs = load_conversations(b.conversations) if b.conversations.exists() else []
    questions, declined = _user_questions(convs, b.cfg.chat.decline_message)
    synthesized = b.data_dir / "synth_conversations.jsonl"
    if not questions and synthesized.exists():  # documents-only: the synthesized questions are the in-domain set
        questions = [r["messages"][0]["content"] for r in read_jsonl(synthesized)]
    cal = calibrate(b.kb, questions, b.cfg.knowledge.top_k, b.cfg.knowledge.search_mode, seed=b.cfg.builder.seed, declined=declined)
    s = cal.stats
    note = f"threshold {cal.threshold:.3f}"
    if "in_domain_answered" in s:
        note += f" (answers {s['in_domain_answered']:.0%} of in-domain questions, declines {s['general_declined']:.0%} of general ones"
        if s.get("near_domain"):
            near = f"{s['near_domain_declined_similarity']:.0%} by similarity, {s['near_domain_declined']:.0%} with the coverage check"
            note += f" and of {s['near_domain']} near-domain ones {near}" if cal.coverage else f"; coverage check off: {cal.method.split('coverage check off: ')[-1].split(';')[0]}"
        if s.get("declined_by_user"):
            note += f"; declines {s['declined_by_user_declined']:.0%} of the {s['declined_by_user']} questions your conversations decline"
        note += ")"
    return cal.model_dump(), note


def _user_questions(convs, decline_message: str) -> tuple[list[str], list[str]]:
    """(questions the conversations answer, questions they answer with a decline), each as
    serving searches it (chat.prompt.retrieval_query: with the previous question when it refers back)."""
    from chat import retrieval_query
    from evals import text_declines

    answered, declined = [], []
    for c in convs:
        for i, m in enumerate(c.messages):
            if m["role"] != "user":
                continue
            reply = c.messages[i + 1]["content"] if i + 1 < len(c.messages) else ""
            (declined if text_declines(reply, decline_message) else answered).append(retrieval_query(m["content"], c.messages[:i]))
    return answered, declined


def _final_adapter(b: _Build) -> Path | None:
    for stage in ("dpo", "sft"):
        if b.states.get(stage) and not b.result(stage).get("skipped") and (b.adapters_dir / stage).exists():
            return b.adapters_dir / stage
    return None


def _stage_export(b: _Build) -> tuple[dict, str]:
    from ._export import merge_adapter

    adapter = _final_adapter(b)
    if adapter is None:
        return {"skipped": True}, "skipped: nothing was trained"
    tmp = b.build_dir / f"model.tmp-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    if is_main_process():
        merge_adapter(b.base_path, str(adapter), tmp)
    b.new_model_dir = tmp
    return {"adapter": adapter.relative_to(b.build_dir).as_posix()}, f"merged {adapter.name} adapter into the base model"


def _stage_evaluate(b: _Build) -> tuple[dict, str]:
    """Held-out conversations, with retrieval: base vs tuned eval loss and answer token F1; then
    the variant to serve (builder._serve): chosen on the eval suites' dev split when the
    assistant has suites, else on these held-out conversations."""
    from ._common import token_f1
    from ._generate import answer_loss, generate, load_model
    from ._serve import choose_variant

    rows = read_jsonl(b.data_dir / "sft_eval.jsonl")
    model_dir = b.new_model_dir or (b.build_dir / "model")
    if b.result("export").get("skipped") or not model_dir.exists():
        return {"skipped": True}, "skipped: no tuned model"
    out: dict = {"n": len(rows)}
    for variant, path in (("base", b.base_path), ("tuned", str(model_dir))) if rows else ():
        model = load_model(path)
        loss = answer_loss(model, b.tokenizer, rows)
        answers = generate(model, b.tokenizer, [r["prompt"] for r in rows], b.cfg.builder.eval_max_new_tokens, b.cfg.generation.repetition_penalty,
                           batch_size=b.cfg.generation.max_batch)
        f1 = sum(token_f1(a, r["reference"]) for a, r in zip(answers, rows)) / len(rows)
        out[variant] = {"eval_loss": round(loss, 4), "token_f1": round(f1, 4), "examples": [{"question": r["question"], "answer": a} for r, a in zip(rows[:3], answers[:3])]}
        del model
    note = (f"held-out eval loss {out['base']['eval_loss']:.3f} -> {out['tuned']['eval_loss']:.3f}, "
            f"token F1 {out['base']['token_f1']:.3f} -> {out['tuned']['token_f1']:.3f} (base -> tuned, with retrieval)") if rows else "no held-out conversations"

    suites = b.paths.suites()
    if suites and b.cfg.evals.select_limit > 0:
        from chat import Assistant

        from ._serve import dev_figures

        log.info(f"  choosing the variant to serve: {', '.join(p.name for p in suites)}, dev split, up to {b.cfg.evals.select_limit} questions")
        candidate = Assistant.from_manifest(_manifest(b, skip_train=False, model_dir=model_dir.name), b.build_dir, b.folder, b.cfg.serving(),
                                            build_id=f"candidate-{b.keys['evaluate'][:12]}")
        dev = dev_figures(b.folder, b.cfg, candidate, b.cfg.evals.select_limit)
        out["dev"] = dev
        out["serving"] = choose_variant(dev["f1"], dev["n"], "dev questions", dev["difference"])
    elif rows:
        f1 = {"base+rag": out["base"]["token_f1"], "tuned+rag": out["tuned"]["token_f1"]}
        out["serving"] = choose_variant(f1, len(rows), "held-out conversations")
    if out.get("serving"):
        log.info(f"  {out['serving']['reason']}")
        note += f"; {out['serving']['reason']}"
    return out, note


@dataclass(frozen=True)
class Stage:
    """One build stage, defined once: the stage list, the cache keys, the CLI help, the log and
    `builder.train` all read these records."""

    name: str
    depends_on: tuple[str, ...]  # stages whose output it reads: their fingerprints are part of its key
    inputs: Callable[[_Build], list]  # everything else its output depends on (files, settings, versions)
    run: Callable[[_Build], tuple[dict, str]]
    what: str  # the log line while it runs

    def key(self, b: _Build) -> str:
        """Hash of everything the stage's output depends on."""
        return hash_json([self.name, *(b.fingerprint(d) for d in self.depends_on), *self.inputs(b)])


STAGE_LIST = (
    Stage("index", (), _inputs_index, _stage_index, "indexing documents"),
    Stage("base", (), _inputs_base, _stage_base, "preparing the base model"),
    Stage("data", ("index", "base"), _inputs_data, _stage_data, "rendering training data with retrieved context"),
    Stage("sft", ("data", "base"), _inputs_sft, _stage_sft, "supervised fine-tuning (LoRA)"),
    Stage("dpo", ("sft", "data"), _inputs_dpo, _stage_dpo, "preference tuning (DPO)"),
    Stage("calibrate", ("index",), _inputs_calibrate, _stage_calibrate, "calibrating the decline threshold"),
    Stage("export", ("base", "sft", "dpo"), _inputs_export, _stage_export, "merging the adapter into build/model"),
    Stage("evaluate", ("export", "data", "calibrate"), _inputs_evaluate, _stage_evaluate,
          "scoring base vs tuned (held-out conversations, eval suites' dev split)"),
)
STAGE = {s.name: s for s in STAGE_LIST}
STAGES = tuple(STAGE)


def prerequisites(stage: str) -> list[str]:
    """Every stage STAGE reads from, directly or not, in build order."""
    needed, todo = set(), list(STAGE[stage].depends_on)
    while todo:
        name = todo.pop()
        if name not in needed:
            needed.add(name)
            todo.extend(STAGE[name].depends_on)
    return [s for s in STAGES if s in needed]


def _rate_key(b: _Build) -> str:
    """Where throughput.json keeps this model's SFT rate on this device, in this arithmetic."""
    precision = training_precision(b.cfg.builder.precision)
    return f"{b.cfg.builder.base_model}:{'cuda' if use_cuda() else 'cpu'}" + ("" if precision == "fp32" else f":{precision}")


def _tokens_per_s_estimate(b: _Build) -> tuple[float, str]:
    """(SFT tokens/s, where the figure comes from). The last build's rate on this machine is kept
    as measured, so a build that shared the cores with other work makes the next ETA long; the
    ETA line names its source so that reads as what it is."""
    from chat.models import tailor_home

    path = tailor_home() / "throughput.json"
    try:
        return float(json.loads(path.read_text())[_rate_key(b)]), f"the last build's rate on this machine, {path}"
    except (OSError, ValueError, KeyError):
        if use_cuda():
            return DEFAULT_CPU_TOKENS_PER_S * 100, "a first guess for a GPU"
        bf16 = training_precision(b.cfg.builder.precision) == "bf16-autocast"
        return DEFAULT_CPU_TOKENS_PER_S * (1.7 if bf16 else 1), "a first guess for 2 CPU cores"


def _remember_rate(b: _Build, rate: float) -> None:
    """Measured SFT tokens/s, kept per machine so the next build's ETA is realistic."""
    from chat.models import tailor_home

    path = tailor_home() / "throughput.json"
    try:
        data = json.loads(path.read_text()) if path.exists() else {}
    except ValueError:
        data = {}
    data[_rate_key(b)] = rate
    if is_main_process():
        write_json(path, data)


# --- the pipeline --------------------------------------------------------------------------


def _plan(force, only, skip_train) -> list[str]:
    for name in [*force, *([only] if only else [])]:
        if name not in STAGES:
            raise BuildError(f"unknown stage {name!r}; stages are: {', '.join(STAGES)}")
    if only:
        return [only]
    if skip_train:
        return ["index", "base", "calibrate"]
    return list(STAGES)


def build(folder, cfg, force=(), only: str | None = None, skip_train: bool = False, resume: bool = False, quiet: bool = False) -> BuildSummary:
    """Build the assistant in FOLDER: run the stages whose inputs changed, then write the manifest.

    `force`: stages to run even if cached (later stages follow, since their inputs change).
    `only`: run that one stage (its earlier stages must be built). `skip_train`: a retrieval-only
    assistant over the base model (index, base, calibrate, manifest). `resume`: continue an
    interrupted training stage from its last checkpoint.
    """
    from knowledge import folder_lock

    with folder_lock(AssistantFolder(folder).build, "build"):
        return _build(folder, cfg, force, only, skip_train, resume, quiet)


def _build(folder, cfg, force, only, skip_train, resume, quiet) -> BuildSummary:
    from ._export import clean_stale

    started = time.time()
    b = _Build(Path(folder), cfg, resume)
    b.build_dir.mkdir(parents=True, exist_ok=True)
    summary = BuildSummary(b.folder, b.build_dir)
    summary.log_path = setup_log(b.build_dir / "logs" if is_main_process() else None, quiet=quiet)
    clean_stale(b.build_dir)
    plan = _plan(tuple(force), only, skip_train)
    precision = training_precision(cfg.builder.precision)
    device = ("CUDA GPU" if use_cuda() else "CPU") + ("" if precision == "fp32" else f" ({precision} training)")
    log.info(f"tailor build {b.folder} on {device}: stages {', '.join(plan)}")

    for i, stage in enumerate(STAGES):
        b.keys[stage] = STAGE[stage].key(b)
        if stage not in plan:
            if only and i < STAGES.index(only) and not b.current(stage) and stage not in ("export", "evaluate"):
                raise BuildError(f"stage {stage!r} is not built for the current inputs; run `tailor build {b.folder}` (or --only {stage}) first")
            continue
        if b.current(stage) and stage not in force:
            summary.stages.append(StageReport(stage, "cached", "up to date", result=b.result(stage)))
            log.info(f"[{i + 1}/{len(STAGES)}] {stage}: up to date, skipped")
            continue
        log.info(f"[{i + 1}/{len(STAGES)}] {stage}: {STAGE[stage].what} ...")
        t0 = time.time()
        result, note = STAGE[stage].run(b)
        seconds = time.time() - t0
        if stage == "export" and not result.get("skipped"):
            # Recorded with the manifest, once the new model folder is in place (see _finish).
            b.states[stage] = {"key": b.keys[stage], "fingerprint": hash_json([b.keys[stage], time.time()]), "result": result, "seconds": round(seconds, 1)}
        else:
            b.save_state(stage, b.keys[stage], result, seconds)
        status = "skipped" if result.get("skipped") else "ran"
        summary.stages.append(StageReport(stage, status, note, seconds, result))
        log.info(f"    {note} ({fmt_seconds(seconds)})")
        summary.notes.extend(result.get("notes", []))

    complete = all(b.current(s) for s in plan if s != "export") and (only is None or only in ("calibrate", "export", "evaluate"))
    unchanged = not any(s.status == "ran" for s in summary.stages) and (b.build_dir / MANIFEST_NAME).exists()
    changed_settings = serving_changes(b.build_dir, cfg) if unchanged else []
    if changed_settings and complete and is_main_process():
        # Serving settings are not inputs of any stage, so no stage ran; the manifest that
        # carries them to `tailor serve` / `ask` is rewritten, and nothing is retrained.
        _finish(b, summary, skip_train, started)
        summary.settings_updated = changed_settings
    elif unchanged:
        summary.manifest_written = True  # the manifest on disk already describes this build; keep its build id
    elif complete and is_main_process():
        _finish(b, summary, skip_train, started)
    elif only:
        summary.notes.append(f"ran only {only}; run `tailor build {b.folder}` to finish the build and write the manifest")
    summary.evaluation = b.result("evaluate") if b.current("evaluate") and not b.result("evaluate").get("skipped") else {}
    summary.seconds = time.time() - started
    log.info(str(summary))
    return summary


def serving_changes(build_dir: Path, cfg) -> list[str]:
    """Settings (dotted keys) that the manifest serves with but assistant.yaml now sets otherwise:
    the chat and generation sections, retrieval k and mode, and the name."""
    from chat.manifest import read_manifest

    try:
        manifest, _ = read_manifest(build_dir)
    except BuildError:
        return []
    changed = [f"chat.{k}" for k, v in cfg.chat.model_dump().items() if manifest.chat.model_dump().get(k) != v]
    changed += [f"generation.{k}" for k, v in cfg.generation.model_dump().items() if manifest.generation.model_dump().get(k) != v]
    if manifest.retrieval.get("k") != cfg.knowledge.top_k:
        changed.append("knowledge.top_k")
    if manifest.retrieval.get("mode") != cfg.knowledge.search_mode:
        changed.append("knowledge.search_mode")
    if manifest.name != cfg.name:
        changed.append("name")
    return changed


def _manifest(b: _Build, skip_train: bool, model_dir: str = "model") -> Manifest:
    """The manifest of this build as its stages left it; `model_dir` names the tuned model's
    folder (the evaluate stage loads the candidate from build/model.tmp-PID through it)."""
    cfg = b.cfg
    adapter = None if skip_train else _final_adapter(b)
    trained = adapter is not None and (b.build_dir / model_dir).exists() and not b.result("export").get("skipped")
    cal = b.result("calibrate")
    stage_record = {s: {"seconds": b.states.get(s, {}).get("seconds"), **{k: v for k, v in b.result(s).items() if k != "examples"}} for s in STAGES}
    serving = b.result("evaluate").get("serving") if trained and b.current("evaluate") else None
    return Manifest(
        name=cfg.name,
        base_model=cfg.builder.base_model,
        model_dir=model_dir if trained else None,
        adapter_dir=adapter.relative_to(b.build_dir).as_posix() if trained else None,
        index_dir="index",
        retrieval={"k": cfg.knowledge.top_k, "mode": cfg.knowledge.search_mode, "tuned_prompt_tokens": cfg.builder.sft.max_length},
        decline=DeclineCalibration(**cal) if cal else None,
        chat=cfg.chat,
        generation=cfg.generation,
        serving={"variant": serving["variant"], "reason": serving["reason"]} if serving else None,
        record={
            "built_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "retrieval_only": not trained,
            "inputs": {
                "docs": hash_tree(b.docs_dir), "conversations": hash_file(b.conversations),
                "preferences": hash_file(b.preferences), "feedback": hash_file(b.feedback),
            },
            "stage_keys": dict(b.keys),
            "hyperparameters": cfg.builder.model_dump(),
            "knowledge": cfg.knowledge.model_dump(),
            "sft": stage_record["sft"], "dpo": stage_record["dpo"], "data": stage_record["data"],
            "leakage": b.result("data").get("leakage"),
            "evaluation": b.result("evaluate"),
            "serving": serving,
            "durations_s": {s: b.states.get(s, {}).get("seconds") for s in STAGES},
            "device": "cuda" if use_cuda() else "cpu", "bf16": use_bf16(), "training_precision": training_precision(cfg.builder.precision),
            "versions": library_versions(),
        },
    )  # fmt: skip


def _finish(b: _Build, summary: BuildSummary, skip_train: bool, started: float) -> None:
    """Swap the new model folder in and write the manifest (last, atomically)."""
    old = None
    if b.new_model_dir is not None:
        # Rename, not copy: readers see the old folder or the new one. The old one is deleted
        # only after the manifest that describes the new one is in place.
        model, old = b.build_dir / "model", b.build_dir / f"model.old-{os.getpid()}"
        if model.exists():
            os.replace(model, old)
        os.replace(b.new_model_dir, model)
        write_json(b.state_dir / "export.json", b.states["export"])
    manifest = _manifest(b, skip_train)
    summary.retrieval_only = manifest.model_dir is None
    write_manifest(b.build_dir, manifest)
    summary.manifest_written = True
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
