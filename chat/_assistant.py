"""`Assistant`: a built assistant that answers questions, streaming, with cited sources.

One answer, in order: escalation rules (urgent messages get the configured reply, no model);
retrieval over the knowledge base (RAG variants) with the recent conversation as the query;
declining when nothing retrieved is similar enough; the prompt (`chat.prompt`, the same
format the model was trained on) fitted to the context window; generation, streamed; the
[n] markers resolved to the documents they cite.
"""
from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Callable, Iterator

from chat import _backends
from chat._citations import NOT_FOUND_NOTE, SUPPORTED_NOTE, attribute, check_support, cited_numbers, resolve_citations
from chat._coverage import CoverageCheck
from chat._guardrails import compile_rules, decline_text, document_titles, match_escalation
from chat._extract import extract_answer
from chat._types import VARIANTS, Answer, Token, uses_retrieval
from chat.config import ChatConfig, GenerationConfig, ServingConfig
from chat.evidence import select_evidence
from chat.manifest import MANIFEST_NAME, read_manifest
from chat.models import resolve_model
from chat.prompt import fit_messages, format_context, retrieval_query
from knowledge.errors import BuildError, InputError
from knowledge.folder import AssistantFolder

# Decline threshold before a build has calibrated one (retrieval-only, or a manifest without
# `decline`): the best cosine similarity between the question and any chunk, as MiniLM
# (all-minilm-l6-v2) scores it. Measured on the clinic and finance data sets: 15 general
# questions (sport, geography, cooking, ...) scored 0.09-0.32 against both (one finance-adjacent
# one, the price of bitcoin, 0.41), while 95% of their answerable eval questions scored above
# 0.34 (clinic: all above 0.54). 0.35 declines the off-topic ones and few answerable ones; the
# build's calibration on the assistant's own documents replaces it (manifest.decline.threshold).
FALLBACK_DECLINE_THRESHOLD = 0.35
FALLBACK_DECLINE_METHOD = (
    "fallback: no calibrated threshold in the build; 0.35 separates off-topic from answerable "
    "questions on the clinic and finance data sets with the default embedder"
)
RETRIEVAL_ONLY_BUILD_ID = "retrieval-only"


def _paths(path: Path) -> tuple[Path, Path]:
    """(assistant folder, build folder) from either of them."""
    path = Path(path)
    if not path.is_dir():
        raise BuildError(f"{path}: no such folder; give an assistant folder (with docs/ and build/) and run `tailor build {path}`")
    where = AssistantFolder.of(path)
    return where.root, (path if where.root != path else where.build)


def _runtime_overrides(chat: ChatConfig, gen: GenerationConfig, cfg: ServingConfig | None) -> tuple[ChatConfig, GenerationConfig]:
    """Guardrails and where generation runs come from the current assistant.yaml, so changing
    them needs no rebuild; the system prompt and sampling stay as the model was built with."""
    if cfg is None:
        return chat, gen
    chat = chat.model_copy(update={k: getattr(cfg.chat, k) for k in ("escalation", "disclaimer", "decline_message")})
    gen = gen.model_copy(update={k: getattr(cfg.generation, k) for k in ("backend", "url", "model", "threads", "dtype", "max_batch")})
    return chat, gen


class Assistant:
    """Answers questions for one assistant. Cheap to create; models load on first use, once."""

    def __init__(
        self,
        *,
        name: str,
        base_model: str,
        kb=None,
        tuned_model: str | None = None,
        adapter_dir: str | None = None,
        chat: ChatConfig | None = None,
        generation: GenerationConfig | None = None,
        retrieval: dict | None = None,
        threshold: float = FALLBACK_DECLINE_THRESHOLD,
        threshold_method: str = FALLBACK_DECLINE_METHOD,
        coverage: bool = True,
        build_id: str = RETRIEVAL_ONLY_BUILD_ID,
        folder: Path | None = None,
        serving: dict | None = None,
    ) -> None:
        self.name = name
        self.base_model = base_model
        self.kb = kb
        self.tuned_model = tuned_model
        self.adapter_dir = adapter_dir
        self.chat = chat or ChatConfig()
        self.generation = generation or GenerationConfig()
        self.retrieval = dict(retrieval or {})
        self.threshold = threshold
        self.threshold_method = threshold_method
        self.coverage = coverage
        self._coverage = CoverageCheck(kb) if kb is not None else None
        self.build_id = build_id
        self.folder = folder
        self.serving = serving  # the build's measured choice of default variant (manifest.serving)
        _backends.check_openai_settings(self.generation)
        _backends.set_threads(self.generation.threads)
        self._rules = compile_rules(self.chat.escalation)
        self._titles: dict[str, str] | None = None
        self._retrieval_lock = threading.Lock()
        has_tuned = bool(tuned_model or adapter_dir)
        self.variants = [v for v in VARIANTS if (v.startswith("tuned") <= has_tuned) and (not uses_retrieval(v) or kb is not None)]

    # -- loading ---------------------------------------------------------------------------

    @classmethod
    def load(cls, path: str | Path, config: ServingConfig | None = None) -> "Assistant":
        """Load from an assistant folder or its build folder.

        With build/manifest.json: the built models and index, as recorded there; CONFIG (the
        current assistant.yaml's serving slice, `TailorConfig.serving()`) overrides guardrails and
        where generation runs. Without one (before `tailor build`): "retrieval-only", CONFIG's
        base model plus the index at build/index, variants base and base+rag.
        """
        folder, build_dir = _paths(Path(path))
        if (build_dir / MANIFEST_NAME).exists():
            return cls._from_manifest(folder, build_dir, config)
        return cls._retrieval_only(folder, build_dir, config)

    @classmethod
    def _from_manifest(cls, folder: Path, build_dir: Path, cfg) -> "Assistant":
        manifest, build_id = read_manifest(build_dir)
        return cls.from_manifest(manifest, build_dir, folder, cfg, build_id)

    @classmethod
    def from_manifest(cls, manifest, build_dir: Path, folder: Path, cfg: ServingConfig | None = None, build_id: str = RETRIEVAL_ONLY_BUILD_ID) -> "Assistant":
        """The assistant a manifest describes (the build scores its candidates through this before
        the manifest is written, so what it measures is what it would serve)."""
        tuned = str(build_dir / manifest.model_dir) if manifest.model_dir else None
        adapter = str(build_dir / manifest.adapter_dir) if manifest.adapter_dir else None
        for what, sub in (("model", tuned), ("adapter", adapter)):
            if sub and not Path(sub).is_dir():
                raise BuildError(f"{sub}: the manifest names this {what} folder but it is missing; the build is incomplete: run `tailor build {folder}`")
        index_dir = build_dir / manifest.index_dir
        chat, gen = _runtime_overrides(manifest.chat, manifest.generation, cfg)
        retrieval = dict(manifest.retrieval)
        trained = manifest.record.get("hyperparameters", {}).get("sft", {}).get("max_length")
        if tuned or adapter:  # builds from before the manifest recorded it: the SFT setting is in the record
            retrieval.setdefault("tuned_prompt_tokens", trained)
        return cls(
            name=manifest.name,
            base_model=resolve_model(manifest.base_model),
            kb=_load_kb(index_dir, folder, cfg),
            tuned_model=tuned,
            adapter_dir=None if tuned else adapter,
            chat=chat,
            generation=gen,
            retrieval=retrieval,
            threshold=manifest.decline.threshold if manifest.decline else FALLBACK_DECLINE_THRESHOLD,
            threshold_method=manifest.decline.method if manifest.decline else FALLBACK_DECLINE_METHOD,
            coverage=manifest.decline.coverage if manifest.decline else True,
            build_id=build_id,
            folder=folder,
            serving=manifest.serving.model_dump() if manifest.serving else None,
        )

    @classmethod
    def _retrieval_only(cls, folder: Path, build_dir: Path, cfg) -> "Assistant":
        half_built = [p.name for p in (build_dir / "model", build_dir / "adapters") if p.exists()]
        if half_built:
            raise BuildError(
                f"{build_dir}: has {' and '.join(half_built)}/ but no {MANIFEST_NAME}: the build is unfinished "
                f"(still running, or interrupted); run `tailor build {folder}` (it resumes) and wait for it to finish"
            )
        if not (build_dir / "index").is_dir():
            raise BuildError(
                f"{folder}: not built yet (no {build_dir / MANIFEST_NAME}, no {build_dir / 'index'}); "
                f"run `tailor build {folder}` (or `tailor index {folder}` to chat with the base model over the documents first)"
            )
        if cfg is None:
            cfg = ServingConfig(name=folder.resolve().name)
        return cls(
            name=cfg.name,
            base_model=resolve_model(cfg.base_model),
            kb=_load_kb(build_dir / "index", folder, cfg),
            chat=cfg.chat,
            generation=cfg.generation,
            retrieval={"k": cfg.knowledge.top_k, "mode": cfg.knowledge.search_mode},
            folder=folder,
        )

    # -- answering -------------------------------------------------------------------------

    @property
    def default_variant(self) -> str:
        """The variant the build measured best (manifest.serving); without that choice, tuned+rag
        when the build has a tuned model, else base+rag (else base)."""
        chosen = (self.serving or {}).get("variant")
        if chosen in self.variants:
            return chosen
        for variant in ("tuned+rag", "base+rag", "tuned", "base"):
            if variant in self.variants:
                return variant
        raise BuildError("this assistant has no variants")  # unreachable: base is always there

    @property
    def serving_note(self) -> str | None:
        """One sentence on why the default variant is served ("serving base+rag: the tuned model
        scored lower on your dev questions, F1 0.21 vs 0.26 (40 questions)"); None without a choice."""
        if not self.serving or self.serving.get("variant") != self.default_variant:
            return None
        return self.serving.get("reason")

    def check_variant(self, variant: str | None) -> str:
        variant = variant or self.default_variant
        if variant not in self.variants:
            known = "" if variant in VARIANTS else f" (variants are {', '.join(VARIANTS)})"
            raise InputError(f"variant '{variant}' is not in this build{known}; it has: {', '.join(self.variants)}")
        return variant

    def answer(self, question: str, history: list[dict] | None = None, variant: str | None = None,
               on_token: Callable[[str], None] | None = None) -> Answer:
        """The whole answer; `on_token` is called with each piece of text as it is generated."""
        for event in self.stream(question, history, variant):
            if isinstance(event, Answer):
                return event
            if on_token is not None:
                on_token(event.text)
        raise RuntimeError("stream ended without an Answer")  # stream always ends with one

    def choice_probabilities(self, question: str, options: list[str], variant: str | None = None,
                             history: list[dict] | None = None) -> dict[str, float] | None:
        """The probability that the variant opens its answer with each option ("Yes", "No",
        "Maybe"), for the very prompt `stream` would send (same evidence, same budget): what the
        model knows, apart from how it would phrase it. None where no local model answers
        (`extract`, or generation.backend openai)."""
        question = _check_question(question)
        history = _check_history(history)
        variant = self.check_variant(variant)
        if variant == "extract" or self.generation.backend == "openai":
            return None
        answer = Answer(text="", variant=variant, build_id=self.build_id, question=question)
        hits = self._search(retrieval_query(question, history)) if uses_retrieval(variant) else None
        tokenizer, window, loaded = self._tokenizer(variant)
        messages, _ = self._fit(answer, tokenizer, window, question, history, hits)
        return _backends.first_token_probabilities(loaded, messages, options)

    def stream(self, question: str, history: list[dict] | None = None, variant: str | None = None) -> Iterator[Token | Answer]:
        """`Token` events as the answer is written, then one `Answer`; their texts join into `Answer.text`."""
        question = _check_question(question)
        history = _check_history(history)
        variant = self.check_variant(variant)
        started = time.perf_counter()
        answer = Answer(text="", variant=variant, build_id=self.build_id, question=question)

        rule = match_escalation(self._rules, question)
        if rule is not None:
            answer.text, answer.escalation = rule.message, rule.name
            answer.timings = {"total_s": time.perf_counter() - started}
            yield Token(rule.message)
            yield answer
            return

        hits = None
        if uses_retrieval(variant):
            answer.retrieval_query = retrieval_query(question, history)
            hits = self._search(answer.retrieval_query)
            answer.hits = list(hits)
            answer.max_similarity = max((float(h.similarity) for h in hits), default=None)
            answer.threshold = self.threshold
            answer.timings["retrieval_s"] = time.perf_counter() - started
            reason = self._decline_reason(question, answer.max_similarity, hits)
            if reason is not None:
                answer.declined, answer.decline_reason = True, reason
                yield from self._finish(answer, iter([self._decline_text(hits)]), started, None, None)
                return

        if variant == "extract":
            yield from self._extract(answer, question, history, hits, started)
            return
        pieces, stats, used = self._generate(answer, question, history, hits, started)
        yield from self._finish(answer, pieces, started, stats, used)

    def _decline_reason(self, question: str, best: float | None, hits) -> str | None:
        """Why the documents cannot answer, or None: nothing retrieved is similar enough
        ("similarity"), or the question names something no document mentions ("coverage: ...",
        chat._coverage; the question alone is checked, not the conversation before it)."""
        if best is None or best < self.threshold:
            return "similarity"
        if self.coverage and self._coverage is not None:
            return self._coverage.reason(question, hits)
        return None

    def _search(self, query: str) -> list:
        """The knowledge base's hits for one turn, with the served k and search mode."""
        with self._retrieval_lock:
            return self.kb.search(query, k=self.retrieval.get("k"), mode=self.retrieval.get("mode"))

    def _weights(self, variant: str) -> tuple[str, str | None]:
        """(model weights, adapter) that answer for `variant`; `extract` reads the base tokenizer only."""
        tuned = variant.startswith("tuned")
        weights = (self.tuned_model or self.base_model) if tuned else self.base_model
        return weights, self.adapter_dir if tuned else None

    def _budget(self, variant: str, window: int) -> tuple[int, int | None]:
        """(prompt token budget, the trained length when it is what limits the budget).

        Every variant that reads evidence gets the same budget, so base+rag, tuned+rag and
        extract see the same passages for the same question: a comparison of the models, not of
        how much each was shown. With a tuned model in the build that budget is the context it
        was trained on (builder.sft.max_length): measured on the shared MedQuAD data, a
        512-token-trained model declined 7 of 18 answerable questions given 4 chunks (~1,200
        tokens) and answered them from 1 or 2.
        """
        budget = self.chat.max_prompt_tokens or max(256, window - self.generation.max_new_tokens)
        trained = self.retrieval.get("tuned_prompt_tokens")
        applies = uses_retrieval(variant) or variant.startswith("tuned")
        if trained and applies and (self.tuned_model or self.adapter_dir) and not self.chat.max_prompt_tokens:
            trained = int(trained)
            if trained < budget:
                return trained, trained
        return budget, None

    def _fit(self, answer: Answer, tokenizer, window: int, question: str, history: list[dict], hits):
        """The prompt for this turn within the variant's budget: (messages, the hits it holds).
        Fills answer.dropped, answer.chunk_ids and answer.evidence (chunk ids and token count)."""
        budget, trained = self._budget(answer.variant, window)
        kept = history[-self.chat.history_turns:] if self.chat.history_turns else []
        system = self.chat.system_text(self.name)
        conversation = [*kept, {"role": "user", "content": question}]
        passages = None if hits is None else select_evidence(tokenizer, question, [h.chunk for h in hits], self.chat.evidence_tokens)
        messages, dropped = fit_messages(tokenizer, system, conversation, passages, budget)
        if trained and (dropped["chunks"] or dropped["history_messages"]):
            dropped["notices"].append(f"the prompt is held to the {trained} tokens of context the tuned model was trained on (builder.sft.max_length)")
        dropped["history_messages"] += len(history) - len(kept)
        if len(history) > len(kept):
            dropped["notices"].insert(0, f"kept the last {len(kept)} of {len(history)} earlier messages (chat.history_turns)")
        used = None
        if hits is not None:
            shown = passages[: len(passages) - len(dropped["chunks"])]  # the budget drops from the end
            used = [hits[p.index] for p in shown]
            answer.chunk_ids = [h.chunk.id for h in used]
            answer.passages = [p.text for p in shown]
            answer.evidence = {"chunk_ids": list(answer.chunk_ids), "tokens": len(tokenizer.encode(format_context(shown), add_special_tokens=False)),
                               "budget": self.chat.evidence_tokens, "prompt_budget": budget}
        answer.dropped = dropped
        return messages, used

    def _tokenizer(self, variant: str):
        """(tokenizer, context window, loaded model or None) for the variant's weights."""
        weights, adapter = self._weights(variant)
        if self.generation.backend == "openai" or variant == "extract":
            tokenizer, window = _backends.load_tokenizer(adapter or weights)
            return tokenizer, window, None
        loaded = _backends.load_model(weights, adapter, self.generation.dtype)
        return loaded.tokenizer, loaded.context_window, loaded

    def _extract(self, answer: Answer, question: str, history: list[dict], hits, started: float) -> Iterator[Token | Answer]:
        """The no-model floor: the evidence's best sentences for the question (chat._extract)."""
        tokenizer, window, _ = self._tokenizer("extract")
        _, used = self._fit(answer, tokenizer, window, question, history, hits)
        text = extract_answer(question, answer.passages or [])
        if not text:
            answer.declined, answer.decline_reason = True, "extract: no sentence of the evidence shares a word with the question"
            text = self._decline_text(hits)
        yield from self._finish(answer, iter([text]), started, None, used)

    def _generate(self, answer: Answer, question: str, history: list[dict], hits, started: float):
        """Fit the prompt and start generating: (text pieces, their stats, the hits in the prompt)."""
        weights, adapter = self._weights(answer.variant)
        tokenizer, window, loaded = self._tokenizer(answer.variant)
        messages, used = self._fit(answer, tokenizer, window, question, history, hits)
        answer.timings["prompt_s"] = time.perf_counter() - started - answer.timings.get("retrieval_s", 0.0)
        stats = _backends.GenerationStats()
        if self.generation.backend == "openai":
            model = self.generation.model or adapter or weights
            pieces = _backends.stream_openai(self.generation.url, model, messages, self.generation, stats)
        else:
            pieces = _backends.stream_local(loaded, messages, self.generation, stats)
        return pieces, stats, used

    def _finish(self, answer: Answer, pieces: Iterator[str], started: float, stats, used_hits) -> Iterator[Token | Answer]:
        """Stream the pieces, add the disclaimer, resolve citations, fill timings."""
        parts: list[str] = []
        first_at = None
        for piece in pieces:
            if first_at is None:
                first_at = time.perf_counter()
            parts.append(piece)
            yield Token(piece)
        answer.own_text = "".join(parts)
        attributed = None if answer.variant == "extract" else self._attribution(answer.own_text, used_hits, answer.question)
        answer.attributed = attributed or None
        if attributed:
            marker = " " + "".join(f"[{n}]" for n in attributed)
            parts.append(marker)
            yield Token(marker)
        said = "".join(parts)
        if self.chat.disclaimer:
            tail = ("\n\n" if parts else "") + self.chat.disclaimer
            parts.append(tail)
            answer.disclaimer = self.chat.disclaimer
            yield Token(tail)
        body = "".join(parts)
        answer.text = body
        if used_hits is not None:
            answer.sources = resolve_citations(said, used_hits, attributed)
            if not answer.declined:
                self._verify(answer, said, used_hits)
        end = time.perf_counter()
        timings = answer.timings
        timings["total_s"] = end - started
        if stats is not None:
            timings["first_token_s"] = ((stats.first_token_at or first_at or end) - started)
            timings["new_tokens"] = stats.new_tokens
            decode_s = (stats.finished_at or end) - (stats.first_token_at or end)
            timings["tokens_per_s"] = (stats.new_tokens - 1) / decode_s if stats.new_tokens > 1 and decode_s > 0 else None
        yield answer

    def _verify(self, answer: Answer, said: str, used_hits) -> None:
        """Verified or flagged: whether the passages the answer cites (all it was given when it
        cites none) support each claim and figure in it (`chat._citations.check_support`)."""
        embedder = getattr(self.kb, "embedder", None)
        if embedder is None or not said.strip():
            return
        cited = [c.n for c in answer.sources if c.cited]
        check = check_support(said, used_hits, embedder, cited or None, question=answer.question)
        answer.verified = check["verified"]
        answer.unsupported_claims = check["unsupported_claims"]
        answer.unsupported_figures = check["unsupported_figures"]
        if answer.verified is not None:
            for c in answer.sources:
                c.supports = c.n in check["supporting"]
        if answer.verified is True:
            answer.note = SUPPORTED_NOTE
        elif answer.verified is False:
            figures = f" (figures the cited passages do not give for this: {', '.join(answer.unsupported_figures)})" if answer.unsupported_figures else ""
            answer.note = NOT_FOUND_NOTE[:-1] + figures + "."

    def _attribution(self, text: str, used_hits, question: str) -> list[int]:
        """The markers to add to an answer that cites nothing, when the chunks it was given
        support every claim in it (`chat._citations.attribute`); none otherwise."""
        embedder = getattr(self.kb, "embedder", None)
        if not used_hits or embedder is None or not text.strip() or cited_numbers(text, len(used_hits)):
            return []
        return attribute(text, used_hits, embedder, question=question)

    def _decline_text(self, hits) -> str:
        if self._titles is None:
            self._titles = document_titles(self.kb)
        return decline_text(self.chat.decline_message, self._titles, list(hits), self.kb.sources())


def _load_kb(index_dir: Path, folder: Path, cfg: ServingConfig | None):
    if not index_dir.is_dir():
        raise BuildError(f"{index_dir}: the knowledge base is missing; the build is incomplete: run `tailor build {folder}`")
    from knowledge import load_index

    return load_index(index_dir, cfg.knowledge if cfg is not None else None)


def _check_question(question) -> str:
    if not isinstance(question, str):
        raise InputError(f"the question must be text, got {type(question).__name__}")
    question = question.strip()
    if not question:
        raise InputError("the question is empty; type a question")
    return question


def _check_history(history) -> list[dict]:
    """The conversation so far as {"role": "user"|"assistant", "content": str} messages."""
    checked = []
    for i, message in enumerate(history or []):
        if not isinstance(message, dict) or message.get("role") not in ("user", "assistant") or not isinstance(message.get("content"), str):
            raise InputError(f"history[{i}]: each message must be {{'role': 'user' or 'assistant', 'content': text}}, got {message!r:.80}")
        checked.append({"role": message["role"], "content": message["content"]})
    return checked
