"""Training data from documents alone: the `synthesize` stage.

Most users arrive with documents and nothing else. This stage turns docs/ into SFT
conversations and DPO pairs. builder._extractors reads each document (sections under headings
of any depth, lists, tables of any width, financial statements, sentences stating facts, the
Q&A a document already holds) into questions a person would ask, each naming its subject, with
the answer the passage holds; an optional teacher model writes more under the same rules.
Then every candidate is checked, and the build log counts what each check dropped:

- ambiguous: the same question asked of passages with different answers (disambiguated by the
  document's title first, dropped when that does not separate them);
- duplicate: the same question and answer twice;
- near an eval question: within cosine 0.85 of an eval-suite question, so the eval stays held out;
- holds an eval answer: shares a 13-word run with an eval text (the data stage's leakage check,
  applied here too so that it is counted per extractor and the cap is filled with kept examples);
- not self-retrievable: searching the question (the knowledge base the data stage renders with)
  does not put its own passage in the top k, so the model would be trained to answer from
  context it will not be served.

DPO pairs: chosen = the grounded answer; rejected = an answer clearly wrong for this question,
made by the extractor where the document has one (another period's or another row's figure),
else the same kind of answer about another entity (another condition's symptoms), else the
grounded answer with a claim the passage does not hold. Answer-vs-decline pairs are the data
stage's (builder._data), not made here.
"""
from __future__ import annotations

import json
import random
import re
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from knowledge import Chunk, load_document
from knowledge.errors import BuildError

from ._extractors import EXTRACTORS, MAX_ANSWER_WORDS, SynthExample, content_words, split_sentences  # noqa: F401
from ._extractors import (  # noqa: F401  (the extractors, importable from here too)
    extract_definitions, extract_faq, extract_facts, extract_lists, extract_sections, extract_statements, extract_tables,
)

SYNTHESIS_VERSION = 3  # part of a documents-only build's data key: a new Tailor re-synthesizes with its new extractors

SOURCES = (*EXTRACTORS, "teacher")
DUPLICATE_SIMILARITY = 0.85  # cosine at or above this counts as the same question (eval leakage)
DROP_REASONS = ("ambiguous", "duplicate", "near an eval question", "holds an eval answer", "not self-retrievable")
SELF_RETRIEVAL_POOL = 3  # candidates searched per example kept: enough to fill max_examples after the check drops some


@dataclass
class SynthResult:
    examples: list[SynthExample]
    pairs: list[dict]
    counts: Counter = field(default_factory=Counter)  # kept examples per extractor
    dropped: Counter = field(default_factory=Counter)  # why examples were dropped, all extractors
    made: Counter = field(default_factory=Counter)  # candidates per extractor
    dropped_by: dict = field(default_factory=lambda: defaultdict(Counter))  # extractor -> reason -> count
    retrieval: dict = field(default_factory=dict)  # self-retrieval: searched, top1, topk, k
    notes: list[str] = field(default_factory=list)

    def drop(self, ex: SynthExample, reason: str) -> None:
        self.dropped[reason] += 1
        self.dropped_by[ex.kind][reason] += 1

    def samples(self, per_source: int = 3) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {}
        rng = random.Random(0)
        by_kind: dict[str, list[SynthExample]] = defaultdict(list)
        for ex in self.examples:
            by_kind[ex.kind].append(ex)
        for kind, exs in by_kind.items():
            for ex in rng.sample(exs, min(per_source, len(exs))):
                words = ex.answer.split()
                shown = " ".join(words[:30]) + (" …" if len(words) > 30 else "")
                out.setdefault(kind, []).append(f"Q: {ex.question} | A: {shown} | {ex.source}")
        return out

    def summary(self) -> str:
        types = Counter(e.answer_type for e in self.examples)
        lines = [
            f"synthesized {len(self.examples)} conversations and {len(self.pairs)} DPO pairs from documents "
            f"({', '.join(f'{t} {n}' for t, n in sorted(types.items()))})"
        ]
        r = self.retrieval
        if r.get("searched"):
            lines.append(
                f"  self-retrieval: {r['top1']}/{r['searched']} questions rank their own passage first "
                f"({r['top1'] / r['searched']:.2f}), {r['topk']}/{r['searched']} in the top {r['k']} ({r['topk'] / r['searched']:.2f})"
            )
        samples = self.samples()
        for kind in SOURCES:
            if not self.made.get(kind):
                continue
            why = self.dropped_by.get(kind, {})
            reasons = ", ".join(f"{reason} {n}" for reason, n in sorted(why.items())) or "none"
            lines.append(f"  {kind}: made {self.made[kind]}, kept {self.counts.get(kind, 0)}; dropped: {reasons}")
            for s in samples.get(kind, []):
                lines.append(f"    e.g. {s}")
        lines.extend(f"  note: {n}" for n in self.notes)
        return "\n".join(lines)

# --- 4. Teacher model (optional) ----------------------------------------------------------

TEACHER_PROMPT = (
    "Here is a passage from {title}:\n\n{text}\n\n"
    "Write one question a customer could ask that this passage answers. The question must name what it is about "
    "(the company, condition, service or document: {title}) so that it can be answered without seeing the passage. "
    "Then write the answer using only sentences of the passage. "
    'Reply with JSON only: {{"question": "...", "answer": "..."}}'
)


def _content_tokens(text: str) -> set[str]:
    return {t for t in re.findall(r"\w+", text.lower()) if len(t) > 2 or t.isdigit()}


def supported(answer: str, passage: str, min_share: float = 0.7) -> bool:
    """An answer is supported when most of its content words (and every number) occur in the passage."""
    tokens = _content_tokens(answer)
    if not tokens:
        return False
    passage_tokens = _content_tokens(passage)
    numbers = {t for t in tokens if any(c.isdigit() for c in t)}
    return numbers <= passage_tokens and len(tokens & passage_tokens) / len(tokens) >= min_share


def names_subject(question: str, chunk: Chunk) -> bool:
    """The question names what it is about: a word of the document's title or of a heading above the
    passage (a title that names nothing, like a bare file number, asks nothing of the question)."""
    names = content_words(" ".join([chunk.title, *chunk.headings]))
    names = {w for w in names if not w.isdigit()}
    return not names or bool(names & content_words(question))


def parse_teacher_reply(reply: str) -> tuple[str, str] | None:
    """The (question, answer) in a teacher's reply, or None when it is not the JSON asked for."""
    m = re.search(r"\{.*\}", reply, re.S)
    if not m:
        return None
    try:
        data = json.loads(m.group(0))
    except json.JSONDecodeError:
        return None
    q, a = data.get("question") if isinstance(data, dict) else None, data.get("answer") if isinstance(data, dict) else None
    if isinstance(q, str) and isinstance(a, str) and q.strip() and a.strip():
        return q.strip(), a.strip()
    return None


def openai_teacher(url: str, model: str | None, timeout: float = 60.0, retries: int = 3) -> Callable[[str], str]:
    """A teacher that asks an OpenAI-compatible server (vLLM, llama.cpp, Ollama); bounded retries with backoff."""
    import httpx

    endpoint = url.rstrip("/") + ("/chat/completions" if url.rstrip("/").endswith("/v1") else "/v1/chat/completions")

    def ask(prompt: str) -> str:
        last = ""
        for attempt in range(retries):
            try:
                r = httpx.post(
                    endpoint,
                    json={"model": model or "default", "messages": [{"role": "user", "content": prompt}], "temperature": 0.2, "max_tokens": 300},
                    timeout=timeout,
                )
                r.raise_for_status()
                return r.json()["choices"][0]["message"]["content"]
            except (httpx.HTTPError, KeyError, IndexError, TypeError, ValueError) as exc:
                last = f"{type(exc).__name__}: {exc}"
                time.sleep(min(2**attempt, 4) * 0.25)
        raise BuildError(f"teacher endpoint {endpoint} failed {retries} times ({last}); check that the server is up, or remove builder.synthesize.teacher_url")

    return ask


def local_teacher(model_dir: str, max_new_tokens: int = 200) -> Callable[[str], str]:
    """A teacher from a local Hugging Face model folder (greedy decoding)."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForCausalLM.from_pretrained(model_dir)
    model.eval()

    def ask(prompt: str) -> str:
        import torch

        ids = tok.apply_chat_template([{"role": "user", "content": prompt}], add_generation_prompt=True, return_tensors="pt", return_dict=True)
        with torch.no_grad():
            out = model.generate(**ids, max_new_tokens=max_new_tokens, do_sample=False)
        return tok.decode(out[0][ids["input_ids"].shape[1] :], skip_special_tokens=True)

    return ask


def teacher_examples(
    chunks: list[Chunk], ask: Callable[[str], str], n: int, seed: int, result: SynthResult, on_example: Callable[[SynthExample], None] | None = None
) -> list[SynthExample]:
    """Ask the teacher about `n` sampled chunks; keep supported answers. A teacher that fails
    raises BuildError, after `on_example` has already saved what was generated."""
    rng = random.Random(seed)
    out: list[SynthExample] = []
    for chunk in rng.sample(chunks, min(n, len(chunks))):
        reply = ask(TEACHER_PROMPT.format(title=chunk.title or chunk.source, text=chunk.text))
        parsed = parse_teacher_reply(reply)
        if parsed is None:
            result.dropped["teacher: malformed reply"] += 1
            result.dropped_by["teacher"]["malformed reply"] += 1
            continue
        q, a = parsed
        if not supported(a, chunk.text):
            result.dropped["teacher: answer not supported by its chunk"] += 1
            result.dropped_by["teacher"]["answer not supported by its chunk"] += 1
            continue
        if not names_subject(q, chunk):
            result.dropped["teacher: question does not name its subject"] += 1
            result.dropped_by["teacher"]["question does not name its subject"] += 1
            continue
        ex = SynthExample(q, a, chunk.source, "teacher", chunk.start, "teacher", chunk_id=chunk.id, end=chunk.end, title=chunk.title)
        out.append(ex)
        if on_example:
            on_example(ex)
    return out



# --- checks ------------------------------------------------------------------------------------


def _norm(question: str) -> str:
    return " ".join(re.findall(r"[a-z0-9$%.,']+", question.lower())).strip(" .,?")


def locate(ex: SynthExample, text: str) -> None:
    """Point the example at where its answer's first words stand in the document (the section start
    an extractor gives can fall in the chunk before), so its chunk is the one holding the answer."""
    words = re.sub(r"^(?:Yes|No)\. ", "", ex.answer).replace("**", "").split()[:6]
    if len(words) < 4:
        return
    m = re.compile(r"\W+".join(re.escape(w.strip(".,;:")) for w in words)).search(text, max(0, ex.offset - 200))
    if m and (ex.end < 0 or m.start() <= ex.end):
        ex.offset = m.start()


def well_formed(ex: SynthExample) -> bool:
    """An answer users want: no heading marks, list debris or table pipes, whole sentences, and not
    a restatement of its question."""
    a = ex.answer
    if not a or re.search(r"(?:^|\s)#{1,6}\s|\bKey Points\b|\|", a) or re.match(r"\s*[-*•]", a):
        return False
    if not re.search(r"[.!?\"')]$", a) or len(a.split()) < 3:
        return False
    return not (content_words(a) <= content_words(ex.question) | {"yes", "no"})


def resolve_ambiguous(examples: list[SynthExample], result: SynthResult) -> list[SynthExample]:
    """A question asked with different answers (two documents' 'What are the symptoms?') is asked
    of its document ('..., according to <title>?') when that tells them apart; otherwise dropped.
    Repeats with the same answer are duplicates."""
    groups: dict[str, list[SynthExample]] = defaultdict(list)
    for ex in examples:
        groups[_norm(ex.question)].append(ex)
    out: list[SynthExample] = []
    for group in groups.values():
        answers = {_norm(e.answer) for e in group}
        firsts = [content_words(split_sentences(e.answer)[0]) if e.answer else set() for e in group]
        alike = all(len(a & b) >= 0.6 * len(a | b) for a in firsts for b in firsts)  # the same definition in several documents
        if len(answers) == 1 or alike or len({e.source for e in group}) == 1:  # one answer, or one document asked twice: keep its first
            out.append(group[0])
            for ex in group[1:]:
                result.drop(ex, "duplicate")
            continue
        titles = [e.title.strip() for e in group]
        usable = all(t and not re.match(r"(?:who|what|when|where|why|how)\b", t, re.I) and not re.search(r"\d{5,}", t) for t in titles)
        if usable and len(set(titles)) == len(group) and all(t.lower() not in g.question.lower() for t, g in zip(titles, group)):
            for ex in group:
                ex.question = f"{ex.question.rstrip('?')}, according to {ex.title.strip()}?"
                out.append(ex)
            continue
        for ex in group:
            result.drop(ex, "ambiguous")
    return out


def drop_near_eval(examples: list[SynthExample], eval_questions: list[str], encode: Callable[[list[str]], np.ndarray], result: SynthResult) -> list[SynthExample]:
    """Questions too close to an eval question (the eval stays held out)."""
    if not examples or not eval_questions:
        return examples
    q = encode([ex.question for ex in examples])
    e = encode(eval_questions)
    too_close = (q @ e.T).max(axis=1) >= DUPLICATE_SIMILARITY
    for ex, close in zip(examples, too_close):
        if close:
            result.drop(ex, "near an eval question")
    return [ex for ex, close in zip(examples, too_close) if not close]


def drop_duplicates(examples: list[SynthExample], eval_questions: list[str], encode: Callable[[list[str]], np.ndarray], result: SynthResult) -> list[SynthExample]:
    """Exact repeats, then questions too close to an eval question."""
    return drop_near_eval(resolve_ambiguous(examples, result), eval_questions, encode, result)


def _squash(text: str) -> str:
    return " ".join(re.findall(r"\w+", text.lower()))


def _holds(chunk: Chunk, ex: SynthExample) -> bool:
    """The chunk is the example's passage: its id, the same document covering the answer's start,
    or a chunk of the same document that holds the answer's first sentence word for word (a summary
    at the top of a page that repeats it)."""
    if ex.chunk_id and chunk.id == ex.chunk_id:
        return True
    if chunk.source != ex.source:
        return False
    if chunk.start <= ex.offset < max(chunk.end, chunk.start + 1):
        return True
    first = split_sentences(re.sub(r"^(?:Yes|No)\. ", "", ex.answer))[:1]
    return bool(first) and ex.kind not in ("table", "statement") and len(first[0].split()) >= 6 and _squash(first[0]) in _squash(chunk.text)


def self_retrievable(examples: list[SynthExample], search: Callable[[str, int], list[Chunk]], k: int, result: SynthResult) -> list[SynthExample]:
    """Keep the questions whose own passage comes back in the top `k` when the question is searched:
    the data stage renders each example with what retrieval finds, and a question retrieval cannot
    place is one the documents do not answer without seeing the passage."""
    kept, top1, topk = [], 0, 0
    for ex in examples:
        hits = search(ex.question, k)
        rank = next((i for i, c in enumerate(hits) if _holds(c, ex)), None)
        if rank == 0:
            top1 += 1
        if rank is not None:
            topk += 1
            kept.append(ex)
        else:
            result.drop(ex, "not self-retrievable")
    result.retrieval = {"searched": len(examples), "top1": top1, "topk": topk, "k": k}
    return kept


def attach_chunks(examples: list[SynthExample], chunks: list[Chunk]) -> None:
    """Record which chunk each example came from (the chunk of its source covering its offset)."""
    by_source: dict[str, list[Chunk]] = {}
    for c in chunks:
        by_source.setdefault(c.source, []).append(c)
    for ex in examples:
        if ex.chunk_id:
            continue
        candidates = by_source.get(ex.source, [])
        covering = [c for c in candidates if c.start <= ex.offset < c.end]
        if covering:
            ex.chunk_id = covering[0].id
        elif candidates:
            ex.chunk_id = min(candidates, key=lambda c: abs(c.start - ex.offset)).id


def _balanced(examples: list[SynthExample], n: int, seed: int) -> list[SynthExample]:
    """`n` examples, taken in turn from each extractor (shuffled within it), so no one template
    carries the data set; document order kept in the result."""
    if len(examples) <= n:
        return examples
    rng = random.Random(seed)
    by_kind: dict[str, list[int]] = defaultdict(list)
    for i, ex in enumerate(examples):
        by_kind[ex.kind].append(i)
    for idx in by_kind.values():
        rng.shuffle(idx)
    chosen: list[int] = []
    while len(chosen) < n:
        for idx in by_kind.values():
            if idx and len(chosen) < n:
                chosen.append(idx.pop())
    return [examples[i] for i in sorted(chosen)]


# --- DPO pairs ---------------------------------------------------------------------------------

UNSUPPORTED_CLAIMS = (
    "This is guaranteed in every case, with no exceptions.",
    "No other conditions or limits apply.",
    "This was confirmed again last month and will not change.",
)


def distractor_pairs(examples: list[SynthExample], seed: int, limit: int, leaks: Callable[[str], bool] | None = None) -> list[dict]:
    """chosen = the grounded answer; rejected = clearly wrong for this question: the extractor's own
    wrong answer (another period's or another row's figure, the opposite yes/no), else the same kind
    of answer about another entity from another document, else the grounded answer plus a claim no
    passage makes. A rejected answer that shares the chosen one's figures is not used."""
    rng = random.Random(seed)
    by_fact: dict[str, list[SynthExample]] = defaultdict(list)
    for ex in examples:
        by_fact[ex.fact or ex.kind].append(ex)
    pairs = []
    for ex in rng.sample(examples, len(examples)):
        rejected, how = None, ""
        if ex.wrong:
            rejected, how = rng.choice(ex.wrong), "wrong figure"
        else:
            pool = [o for o in by_fact.get(ex.fact or ex.kind, []) if o.source != ex.source and _norm(o.answer) != _norm(ex.answer)]
            if pool:
                rejected, how = rng.choice(pool).answer, "other entity"
            elif ex.answer_type == "free":
                rejected, how = f"{ex.answer} {rng.choice(UNSUPPORTED_CLAIMS)}", "unsupported claim"
        if not rejected or _norm(rejected) == _norm(ex.answer) or (leaks is not None and leaks(rejected)):
            continue
        pairs.append({"prompt": ex.question, "chosen": ex.answer, "rejected": rejected, "source": ex.source,
                      "chunk_id": ex.chunk_id, "synthesized": how})  # fmt: skip
        if len(pairs) >= limit:
            break
    return pairs


# --- the stage ---------------------------------------------------------------------------------


def synthesize(
    docs_dir: Path,
    sources: list[str],
    chunks: list[Chunk],
    encode: Callable[[list[str]], np.ndarray],
    eval_questions: list[str],
    *,
    search: Callable[[str, int], list[Chunk]] | None = None,
    k: int = 4,
    leaks: Callable[[str], bool] | None = None,
    seed: int = 42,
    max_examples: int = 400,
    max_pairs: int = 120,
    teacher: Callable[[str], str] | None = None,
    teacher_chunks: int = 0,
    on_teacher_example: Callable[[SynthExample], None] | None = None,
) -> SynthResult:
    """Conversations and DPO pairs from the documents in `sources` (paths relative to docs_dir).
    `search(question, k)` is the knowledge base's search (chunks, best first); without it the
    self-retrieval check is skipped and a note says so. `leaks(text)` is the data stage's leakage
    check (builder._leakage): an example whose question or answer holds an eval text is dropped here,
    counted against its extractor, so the cap is filled with examples the data stage keeps."""
    result = SynthResult([], [])
    found: list[SynthExample] = []
    for source in sources:
        try:
            doc = load_document(Path(docs_dir) / source, source)
        except Exception as exc:  # the index stage already warned about unreadable files
            result.notes.append(f"{source}: skipped ({exc})")
            continue
        for name, extract in EXTRACTORS.items():
            made = extract(doc)
            result.made[name] += len(made)
            for ex in made:
                locate(ex, doc.text)
                if well_formed(ex):
                    found.append(ex)
                else:
                    result.drop(ex, "not a clean answer")
    if teacher is not None and teacher_chunks > 0:
        made = teacher_examples(chunks, teacher, teacher_chunks, seed, result, on_teacher_example)
        result.made["teacher"] += len(made)
        found.extend(made)
    attach_chunks(found, chunks)
    kept = drop_duplicates(found, eval_questions, encode, result)
    if leaks is not None:
        clean = []
        for ex in kept:
            if leaks(ex.question) or leaks(ex.answer):
                result.drop(ex, "holds an eval answer")
            else:
                clean.append(ex)
        kept = clean
        for ex in kept:
            ex.wrong = [w for w in ex.wrong if not leaks(w)]
    if search is not None:
        pool = _balanced(kept, SELF_RETRIEVAL_POOL * max_examples, seed)
        if len(pool) < len(kept):
            result.dropped["over max_examples"] += len(kept) - len(pool)
        kept = self_retrievable(pool, search, k, result)
    else:
        result.notes.append("no knowledge base given: the self-retrieval check was skipped")
    final = _balanced(kept, max_examples, seed)
    if len(final) < len(kept):
        result.dropped["over max_examples"] += len(kept) - len(final)
    result.examples = final
    result.counts = Counter(e.kind for e in final)
    result.pairs = distractor_pairs(final, seed, max_pairs, leaks)
    if not final:
        result.notes.append(
            "no training examples found: the documents have no Q&A, headed sections, lists, tables, or sentences "
            "stating amounts, times, durations or phone numbers about a named thing; add data/conversations.jsonl "
            "or configure a teacher model"
        )
    return result
