"""Turning conversations and preference pairs into training rows, with retrieved evidence.

Every row is rendered by chat.prompt -- the functions chat/ serves with -- and its evidence is
chosen by chat.evidence.select_evidence, the one evidence policy: a training row holds the very
passages serving would show for its question, within the same budget (chat.evidence_tokens).
The prompt is then fitted the way serving fits it (oldest history first, then the last
passages); the answer is reserved first, so it is never what gets cut.

Following RAFT (Zhang et al. 2024), each training conversation whose answer can be traced to a
chunk of the knowledge base (its "oracle", matched with numbers kept intact: `answer_recall`)
gets one of two contexts:
- the answering passage among distractors: the chunks retrieved for the question, the oracle
  put in if retrieval missed it, in random order, the answer citing the oracle's [n]. The model
  learns to find the answer among passages that look alike, not that [1] is always right.
- distractors only (a `builder.raft_distractor_only` share, 10% by default): chunks retrieved
  for the question from *other* documents than the oracle's, and the decline message as the
  target. Distractors from the oracle's own document ("right document, wrong section") would
  teach the model to decline whenever the best passage is not a perfect match; from other
  documents they teach what serving must do when retrieval found something merely related.
  RAFT keeps the reference answer here, to push knowledge into the weights; a 135M model in a
  few LoRA epochs cannot memorise the documents, so that would teach answering from nothing.
Distractor-only rows come from the user's conversations only, never from conversations
synthesized from the documents: every synthesized answer is a statement its passage makes
outright, so a decline taught beside them reads "decline unless the evidence states the answer
word for word". On the shared finance documents that made the tuned model decline 38 of 40
answerable test questions (they ask for ratios and changes computed from the figures). A
documents-only build leaves declining to the calibrated decline gate, which declined every
finance decline question there; without trained declines the dev split's F1 went from 0.15 below
base+rag to 0.10 above it (docs/EVALUATION.md).
A conversation whose answer no chunk holds keeps the top-ranked evidence (never an empty
context followed by a full answer). Held-out conversations get exactly what serving gives.
"""
from __future__ import annotations

import hashlib
import random
import re
from dataclasses import dataclass, field

from chat.evidence import content_terms, select_evidence
from chat.prompt import build_messages, fit_messages, retrieval_query
from evals import parse_numbers

from ._common import log
from ._inputs import Conversation, PreferencePair

ROW_MARGIN = 16  # tokens kept free for the answer's turn markup and its [n]


def system_prompt(cfg) -> str:
    """The served system prompt: chat.system_prompt with {name} filled in."""
    return cfg.chat.system_text(cfg.name)


@dataclass
class RenderStats:
    rows: int = 0
    oracle: int = 0  # evidence holds the answering passage among distractors
    distractors: int = 0  # distractor passages shown beside the answering one, in all
    distractor_only: int = 0  # evidence from other documents only; the target is the decline message
    no_oracle: int = 0  # answer not traceable to one chunk: the top-ranked evidence as served
    oracle_inserted: int = 0  # retrieval missed the oracle; it was put in
    answer_outside_passage: int = 0  # the oracle's passage (cut to its share) holds under half of the answer
    evidence_trimmed: int = 0  # rows whose passages or earlier turns were left out to fit max_length
    answers_shortened: int = 0  # answers over generation.max_new_tokens, cut at a sentence end
    truncated: list = field(default_factory=list)  # rows still over max_length (their answers would be cut): should stay empty

    def to_dict(self) -> dict:
        return {**{k: v for k, v in self.__dict__.items() if k != "truncated"}, "truncated": len(self.truncated), "truncated_lines": self.truncated[:50]}


def token_length(tokenizer, messages: list[dict], add_generation_prompt: bool = False) -> int:
    text = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=add_generation_prompt)
    return len(tokenizer(text, add_special_tokens=False)["input_ids"])


def retrieve(kb, turns: list[dict], k: int, mode: str | None) -> list:
    """The top-k hits serving would retrieve when the conversation's last question is asked
    (chat.prompt.retrieval_query: the question alone unless it refers back)."""
    last = max(i for i, m in enumerate(turns) if m["role"] == "user")
    return kb.search(retrieval_query(turns[last]["content"], turns[:last]), k=k, mode=mode)


def _same_number(a, b) -> bool:
    pairs = [(a.value, b.value), (a.mantissa, b.mantissa)]
    return any(abs(x - y) <= 0.005 * max(abs(y), 1e-9) for x, y in pairs)


def _is_year(n) -> bool:
    return not n.scaled and not n.percent and n.decimals == 0 and 1900 <= n.value <= 2100


_NUMBER_WORDS = frozenset("thousand million billion trillion mn mm mln bn bln tn percent per cent usd dollar".split())


def _words(text: str) -> set[str]:
    """Content words without the numbers and their scale words, which are matched by value."""
    return {w for w in content_terms(text) if not any(ch.isdigit() for ch in w) and w not in _NUMBER_WORDS}


def answer_recall(answer: str, passage: str, question: str = "") -> float:
    """How much of the answer the passage holds: the share of its content words and its numbers
    found there. Numbers are compared by value, so 1,577 meets 1577.00 and $1.6 billion meets
    1,600 million, and "533,340-315,535" is two numbers, not one word. An answer of years and
    little else ("2018; 2019.") says nothing about which passage it came from: unless at least
    three of its words or numbers are not years, the passage must also hold half of the
    question's words."""
    words, numbers = _words(answer), parse_numbers(answer)
    total = len(words) + len(numbers)
    if not total:
        return 0.0
    have_words, have_numbers = _words(passage), parse_numbers(passage)
    found = len(words & have_words) + sum(any(_same_number(n, m) for m in have_numbers) for n in numbers)
    recall = found / total
    informative = len(words) + sum(not _is_year(n) for n in numbers)
    if informative < 3 and question:
        asked = _words(question)
        if asked and len(asked & have_words) < len(asked) / 2:
            return 0.0
    return recall


def find_oracle(kb, question: str, answer: str, candidates: list, min_recall: float, mode: str | None):
    """The chunk holding most of the answer (`answer_recall`): among the retrieved candidates
    and the chunks retrieved for the answer itself. None when no chunk holds `min_recall` of it."""
    pool = {h.id: h for h in candidates}
    for h in kb.search(answer, k=3, mode=mode):
        pool.setdefault(h.id, h)
    best, best_recall = None, 0.0
    for hit in pool.values():
        r = answer_recall(answer, hit.text, question)
        if r > best_recall:
            best, best_recall = hit, r
    return best if best_recall >= min_recall else None


def shorten_answer(tokenizer, answer: str, limit: int) -> tuple[str, bool]:
    """The answer within `limit` tokens, cut after its last whole sentence that fits (or at a
    word when even the first sentence is longer): serving stops at generation.max_new_tokens,
    so the model learns answers it can finish."""
    if len(tokenizer.encode(answer, add_special_tokens=False)) <= limit:
        return answer, False
    kept = ""
    for m in re.finditer(r".+?(?:[.!?](?=\s|$)|$)", answer, flags=re.S):
        candidate = answer[: m.end()].rstrip()
        if len(tokenizer.encode(candidate, add_special_tokens=False)) > limit:
            break
        kept = candidate
    if not kept:
        ids = tokenizer.encode(answer, add_special_tokens=False)[:limit]
        kept = tokenizer.decode(ids).rsplit(" ", 1)[0].rstrip(" ,;:") + " …"
    return kept, True


def _row(tokenizer, system: str, history: list[dict], question: str, chunks: list, cfg, reserve: int,
         keep: int | None, stats: RenderStats) -> tuple[list[dict], list]:
    """The prompt for one row and the passages it holds: the evidence chosen by chat.evidence,
    fitted like serving's prompt into builder.sft.max_length less `reserve` tokens (the answer's)."""
    passages = select_evidence(tokenizer, question, chunks, cfg.chat.evidence_tokens, keep=keep)
    keep_at = next((i for i, p in enumerate(passages) if p.index == keep), None)
    budget = cfg.builder.sft.max_length - reserve - ROW_MARGIN
    messages, dropped = fit_messages(tokenizer, system, history, passages, budget, keep=keep_at)
    if dropped["chunks"] or dropped["history_messages"]:
        stats.evidence_trimmed += 1
    gone = set(dropped["chunks"])
    return messages, [p for p in passages if p.id not in gone]


def _finish_row(tokenizer, messages: list[dict], answer: str, cfg, stats: RenderStats, where) -> list[dict]:
    full = [*messages, {"role": "assistant", "content": answer}]
    if token_length(tokenizer, full) > cfg.builder.sft.max_length:
        stats.truncated.append(where)
    return full


def _size(tokenizer, text: str) -> int:
    return len(tokenizer.encode(text, add_special_tokens=False))


def split_conversations(convs: list[Conversation], share: float, seed: int) -> tuple[list, list]:
    """Held-in and held-out conversations. The held-out ones are those with the smallest hash of
    their content, so adding data later leaves the earlier split mostly in place."""
    if share <= 0 or len(convs) < 4:
        return list(convs), []
    n_eval = max(1, round(share * len(convs)))

    def key(c: Conversation) -> str:
        return hashlib.sha256(f"{seed}:{c.messages}".encode()).hexdigest()

    order = sorted(range(len(convs)), key=lambda i: key(convs[i]))
    held_out = set(order[:n_eval])
    return [c for i, c in enumerate(convs) if i not in held_out], [c for i, c in enumerate(convs) if i in held_out]


def _history(conv: Conversation) -> tuple[list[dict], str]:
    """(the conversation up to and including its last question, that question)."""
    last = max(i for i, m in enumerate(conv.messages) if m["role"] == "user")
    return conv.messages[: last + 1], conv.messages[last]["content"]


def render_train(convs: list[Conversation], kb, cfg, tokenizer) -> tuple[list[dict], RenderStats]:
    """SFT rows for held-in conversations, with RAFT evidence (see the module docstring)."""
    rng = random.Random(cfg.builder.seed)
    k, mode = cfg.knowledge.top_k, cfg.knowledge.search_mode
    system, min_recall = system_prompt(cfg), cfg.builder.oracle_min_recall
    stats, rows = RenderStats(), []
    found = []
    for conv in convs:
        history, question = _history(conv)
        hits = retrieve(kb, conv.messages, k, mode)
        # RAFT applies to the last answer (the one the evidence is for); earlier turns are
        # history, answered from their own evidence, exactly as when serving a follow-up.
        found.append((history, question, hits, find_oracle(kb, question, conv.messages[-1]["content"], hits, min_recall, mode)))
    # Exactly the configured share of the user's rows that have an answering passage get
    # distractors only. Synthesized rows never do (see the module docstring).
    with_oracle = [i for i, (conv, (*_, oracle)) in enumerate(zip(convs, found)) if oracle is not None and not conv.extra.get("synthesized")]
    distract = set(rng.sample(with_oracle, round(cfg.builder.raft_distractor_only * len(with_oracle))))
    for i, (conv, (history, question, hits, oracle)) in enumerate(zip(convs, found)):
        reference = conv.messages[-1]["content"]
        answer, shortened = shorten_answer(tokenizer, reference, cfg.generation.max_new_tokens)
        stats.answers_shortened += shortened
        kind, chunks, keep, target = "retrieved", [h.chunk for h in hits], None, answer
        if i in distract:
            pool = retrieve(kb, conv.messages, 8 * k, mode)
            others = [h.chunk for h in pool if h.chunk.source != oracle.chunk.source and answer_recall(reference, h.text, question) < min_recall]
            if others:
                kind, chunks, target = "distractor_only", others[:k], cfg.chat.decline_message
        if kind == "retrieved" and oracle is not None:
            kind = "oracle"
            chunks = [h.chunk for h in hits if h.id != oracle.id][: k - 1]
            stats.oracle_inserted += all(h.id != oracle.id for h in hits)
            rng.shuffle(chunks)
            keep = rng.randrange(len(chunks) + 1)
            chunks.insert(keep, oracle.chunk)
        messages, shown = _row(tokenizer, system, history, question, chunks, cfg, _size(tokenizer, target), keep, stats)
        if kind == "oracle":
            n = next(i for i, p in enumerate(shown, start=1) if p.index == keep)
            stats.answer_outside_passage += answer_recall(reference, shown[n - 1].text, question) < 0.5
            stats.distractors += len(shown) - 1
            target = f"{answer} [{n}]"
        full = _finish_row(tokenizer, messages, target, cfg, stats, _where(conv))
        stats.oracle += kind == "oracle"
        stats.distractor_only += kind == "distractor_only"
        stats.no_oracle += kind == "retrieved"
        rows.append({"messages": full, "kind": kind, "line": conv.line, "reference": reference, "answer": answer})
    stats.rows = len(rows)
    return rows, stats


def render_eval(convs: list[Conversation], kb, cfg, tokenizer) -> tuple[list[dict], RenderStats]:
    """Held-out rows with the evidence serving would give (top-k retrieval, rank order, nothing
    inserted). Each keeps `prompt` (everything before the last answer) and `reference` for F1."""
    k, mode = cfg.knowledge.top_k, cfg.knowledge.search_mode
    system = system_prompt(cfg)
    stats, rows = RenderStats(), []
    for conv in convs:
        history, question = _history(conv)
        hits = retrieve(kb, conv.messages, k, mode)
        reference = conv.messages[-1]["content"]
        answer, shortened = shorten_answer(tokenizer, reference, cfg.generation.max_new_tokens)
        stats.answers_shortened += shortened
        prompt, _ = _row(tokenizer, system, history, question, [h.chunk for h in hits], cfg, _size(tokenizer, answer), None, stats)
        messages = _finish_row(tokenizer, prompt, answer, cfg, stats, _where(conv))
        rows.append({"messages": messages, "prompt": messages[:-1], "reference": reference, "question": question, "line": conv.line})
    stats.rows = stats.no_oracle = len(rows)
    return rows, stats


def render_pairs(pairs: list[PreferencePair], kb, cfg, tokenizer) -> tuple[list[dict], RenderStats]:
    """DPO rows in TRL's conversational format, the prompt carrying the served evidence, fitted
    with room for the longer of the two answers."""
    k, mode = cfg.knowledge.top_k, cfg.knowledge.search_mode
    system = system_prompt(cfg)
    stats, rows = RenderStats(), []
    for pair in pairs:
        hits = retrieve(kb, pair.prompt, k, mode)
        question = [m for m in pair.prompt if m["role"] == "user"][-1]["content"]
        longest = max(pair.chosen, pair.rejected, key=len)
        prompt, _ = _row(tokenizer, system, pair.prompt, question, [h.chunk for h in hits], cfg, _size(tokenizer, longest), None, stats)
        _finish_row(tokenizer, prompt, longest, cfg, stats, pair.line)
        rows.append(pair_row(prompt, pair.chosen, pair.rejected, pair.source, pair.line))
    stats.rows = len(rows)
    return rows, stats


def decline_pairs(train_rows: list[dict], cfg) -> list[dict]:
    """Answer-vs-decline preference pairs, both ways, from the RAFT rows: on each distractor-only
    row the decline is chosen over the answer; on as many rows holding the answering passage the
    cited answer is chosen over the decline. DPO then learns where the line between them is."""
    rng = random.Random(cfg.builder.seed + 1)
    decline = cfg.chat.decline_message
    out = []
    only = [r for r in train_rows if r["kind"] == "distractor_only"]
    found = [r for r in train_rows if r["kind"] == "oracle"]
    for row in only:
        out.append(pair_row(row["messages"][:-1], decline, row["answer"], "decline", row["line"]))
    for row in rng.sample(found, min(len(found), len(only))):
        out.append(pair_row(row["messages"][:-1], row["messages"][-1]["content"], decline, "decline", row["line"]))
    return out


def pair_row(prompt: list[dict], chosen: str, rejected: str, source: str, line: int = 0) -> dict:
    return {
        "prompt": prompt,
        "chosen": [{"role": "assistant", "content": chosen}],
        "rejected": [{"role": "assistant", "content": rejected}],
        "source": source,
        "line": line,
    }


def _where(conv) -> int | str:
    """A conversation's line in data/, or for one synthesized from docs/, the document it came from."""
    return conv.line or conv.extra.get("source") or 0


def warn_truncated(stats: RenderStats, what: str, max_length: int, key: str) -> None:
    if stats.truncated:
        where = list(dict.fromkeys(stats.truncated))
        lines = ", ".join(map(str, where[:10])) + (" ..." if len(where) > 10 else "")
        kind = "lines" if all(isinstance(w, int) for w in where) else "from"
        log.warning(
            f"  warning: {len(stats.truncated)} {what} longer than {max_length} tokens even without extra context "
            f"({kind} {lines}); they are truncated. Raise {key} to keep them whole."
        )
