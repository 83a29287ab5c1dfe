"""Turning conversations and preference pairs into training rows, with retrieved context.

Every row is rendered by chat.prompt.build_messages -- the function chat/ serves with -- so the
model is trained on exactly the prompt it will see: the system prompt, the retrieved documents
fenced in <documents>, then the conversation.

Following RAFT (Zhang et al. 2024), each training conversation whose answer can be traced to a
chunk of the knowledge base (its "oracle") gets one of two contexts:
- oracle among distractors: the chunks retrieved for the question, with the oracle put in at a
  random position if retrieval missed it. The model learns to find the answer in its context.
- distractors only (a `builder.raft_distractor_only` share): the retrieved chunks that do NOT
  hold the answer. RAFT keeps the reference answer as the target here, to push domain knowledge
  into the weights. Tailor makes the target the decline message instead: a small model cannot
  memorise a document set in a few LoRA epochs, so keeping the answer would teach it to answer
  confidently from nothing -- the opposite of what the served system prompt asks ("if the
  context does not contain the answer, say that the documents do not cover it"). Declining on
  distractor-only context is what chat/ needs when retrieval finds something related but wrong.
Held-out conversations get exactly what serving would give: the top-k retrieved chunks.
"""
from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass, field

from chat.prompt import build_messages, retrieval_query, source_label

from ._common import log, token_recall
from ._inputs import Conversation, PreferencePair


def system_prompt(cfg) -> str:
    """The served system prompt: chat.system_prompt with {name} filled in."""
    return cfg.chat.system_prompt.replace("{name}", cfg.name)


@dataclass
class RenderStats:
    rows: int = 0
    oracle: int = 0  # context holds the answering chunk among distractors
    distractor_only: int = 0  # target is the decline message
    no_oracle: int = 0  # answer not traceable to one chunk: plain retrieved context
    oracle_inserted: int = 0  # retrieval missed the oracle; it was put in
    chunks_dropped: int = 0  # lowest-ranked chunks dropped to fit max_length
    truncated: list = field(default_factory=list)  # where (line, or document for synthesized rows) still over max_length

    def to_dict(self) -> dict:
        return {**{k: v for k, v in self.__dict__.items() if k != "truncated"}, "truncated": len(self.truncated), "truncated_lines": self.truncated[:50]}


def token_length(tokenizer, messages: list[dict], add_generation_prompt: bool = False) -> int:
    text = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=add_generation_prompt)
    return len(tokenizer(text, add_special_tokens=False)["input_ids"])


def retrieve(kb, turns: list[dict], k: int, mode: str | None) -> list:
    """The top-k hits serving would retrieve when the conversation's last question is asked:
    chat.prompt.retrieval_query (the question plus the user's previous message)."""
    last = max(i for i, m in enumerate(turns) if m["role"] == "user")
    return kb.search(retrieval_query(turns[last]["content"], turns[:last]), k=k, mode=mode)


def find_oracle(kb, answer: str, candidates: list, min_recall: float, mode: str | None):
    """The chunk holding most of the answer's words: among the retrieved candidates and the
    chunks retrieved for the answer itself. None when no chunk holds `min_recall` of it."""
    pool = {h.id: h for h in candidates}
    for h in kb.search(answer, k=3, mode=mode):
        pool.setdefault(h.id, h)
    best, best_recall = None, 0.0
    for hit in pool.values():
        r = token_recall(answer, hit.text)
        if r > best_recall:
            best, best_recall = hit, r
    return best if best_recall >= min_recall else None


def fit(tokenizer, system: str, history: list[dict], chunks: list, max_length: int, keep=None, reserve: int = 0):
    """The messages cut to fit max_length tokens, the number of chunks dropped, and whether the
    result still overflows. Like chat.prompt.fit_messages when serving, what goes first is the
    lowest-ranked chunks (never `keep`, the chunk holding the answer), then the oldest exchanges
    of the conversation; the last question and its answer always stay."""
    chunks, history = list(chunks), list(history)
    dropped = 0
    while True:
        messages = build_messages(system, history, chunks)
        gen = history[-1]["role"] == "user"
        if token_length(tokenizer, messages, add_generation_prompt=gen) + reserve <= max_length:
            return messages, dropped, False
        removable = [i for i, c in enumerate(chunks) if keep is None or c.id != keep.id]
        last_user = max(i for i, m in enumerate(history) if m["role"] == "user")
        if removable:
            chunks.pop(removable[-1])
            dropped += 1
        elif last_user > 0:
            del history[0]
            while history[0]["role"] != "user":  # a conversation opens with the user
                del history[0]
        else:
            return messages, dropped, True


def cite(messages: list[dict], chunk) -> list[dict]:
    """End the final answer with the [n] marker of the chunk that holds it, so the model learns to
    cite the way chat/ resolves citations. `n` is read from the rendered context, after fitting."""
    context = messages[0]["content"]
    for n in range(1, context.count("\n[") + 2):
        if f"[{n}] ({source_label(chunk)})\n{chunk.text.strip()}" in context:
            answer = messages[-1]["content"].rstrip()
            return [*messages[:-1], {**messages[-1], "content": f"{answer} [{n}]"}]
    return messages


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


def render_train(convs: list[Conversation], kb, cfg, tokenizer) -> tuple[list[dict], RenderStats]:
    """SFT rows for held-in conversations, with RAFT contexts (see the module docstring)."""
    rng = random.Random(cfg.builder.seed)
    k, mode = cfg.knowledge.top_k, cfg.knowledge.search_mode
    system, max_length = system_prompt(cfg), cfg.builder.sft.max_length
    stats, rows = RenderStats(), []
    for conv in convs:
        hits = retrieve(kb, conv.messages, k, mode)
        answer = conv.messages[-1]["content"]
        # RAFT applies to the last answer (the one the retrieved context is for); earlier turns are
        # history, answered from their own contexts, exactly as when serving a follow-up question.
        oracle = find_oracle(kb, answer, hits, cfg.builder.oracle_min_recall, mode)
        history, kind = conv.messages, "retrieved"
        if oracle is not None and rng.random() < cfg.builder.raft_distractor_only:
            kind = "distractor_only"
            pool = retrieve(kb, conv.messages, 3 * k, mode)
            hits = [h for h in pool if h.id != oracle.id and token_recall(answer, h.text) < cfg.builder.oracle_min_recall][:k]
            history = [*conv.messages[:-1], {"role": "assistant", "content": cfg.chat.decline_message}]
        elif oracle is not None:
            kind = "oracle"
            if all(h.id != oracle.id for h in hits):
                hits = hits[: k - 1]
                hits.insert(rng.randrange(len(hits) + 1), oracle)
                stats.oracle_inserted += 1
        messages, dropped, over = fit(tokenizer, system, history, hits, max_length, keep=oracle if kind == "oracle" else None)
        if kind == "oracle":
            messages = cite(messages, oracle)
        stats.chunks_dropped += dropped
        if over:
            stats.truncated.append(_where(conv))
        if kind == "oracle":
            stats.oracle += 1
        elif kind == "distractor_only":
            stats.distractor_only += 1
        else:
            stats.no_oracle += 1
        rows.append({"messages": messages, "kind": kind, "line": conv.line, "reference": answer})
    stats.rows = len(rows)
    return rows, stats


def render_eval(convs: list[Conversation], kb, cfg, tokenizer) -> tuple[list[dict], RenderStats]:
    """Held-out rows with the context serving would give (top-k retrieval, nothing inserted).
    Each keeps `prompt` (everything before the last answer) and `reference` for the F1 check."""
    k, mode = cfg.knowledge.top_k, cfg.knowledge.search_mode
    system, max_length = system_prompt(cfg), cfg.builder.sft.max_length
    stats, rows = RenderStats(), []
    for conv in convs:
        hits = retrieve(kb, conv.messages, k, mode)
        messages, dropped, over = fit(tokenizer, system, conv.messages, hits, max_length)
        stats.chunks_dropped += dropped
        if over:
            stats.truncated.append(_where(conv))
        rows.append(
            {
                "messages": messages,
                "prompt": messages[:-1],
                "reference": conv.messages[-1]["content"],
                "question": conv.user_turns[-1],
                "line": conv.line,
            }
        )
    stats.rows = stats.no_oracle = len(rows)
    return rows, stats


def render_pairs(pairs: list[PreferencePair], kb, cfg, tokenizer) -> tuple[list[dict], RenderStats]:
    """DPO rows in TRL's conversational format, the prompt carrying the served context."""
    k, mode = cfg.knowledge.top_k, cfg.knowledge.search_mode
    system, max_length = system_prompt(cfg), cfg.builder.dpo.max_length
    stats, rows = RenderStats(), []
    for pair in pairs:
        hits = retrieve(kb, pair.prompt, k, mode)
        longest = max(pair.chosen, pair.rejected, key=len)
        reserve = len(tokenizer(longest, add_special_tokens=False)["input_ids"]) + 8  # + the turn's own markup
        prompt, dropped, over = fit(tokenizer, system, pair.prompt, hits, max_length, reserve=reserve)
        stats.chunks_dropped += dropped
        if over:
            stats.truncated.append(pair.line)
        rows.append(pair_row(prompt, pair.chosen, pair.rejected, pair.source, pair.line))
    stats.rows = len(rows)
    return rows, stats


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
