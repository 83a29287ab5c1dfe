"""Training data from documents alone: the `synthesize` stage.

Most users arrive with documents and nothing else. This stage turns docs/ into SFT
conversations and DPO pairs, from four sources, each counted in the build log:

1. Q&A the documents already hold: "Q:/A:" blocks, question headings followed by their
   answer, glossary-style term/definition pairs and two-column (key | value) tables.
   The answer is the document's own text.
2. Headings (`heading`): a section headed "Symptoms", "Treatment", "Fees", "Eligibility" ...
   in a document about X becomes the question a reader asks of it ("What are the symptoms
   of X?"), answered by the section's first sentences.
3. Structure: for each sentence that states a fact a person asks about (an amount, a
   rate, a time, a duration, a phone number, a person's name), a who/what/when/how-much
   question formed from the section heading and the sentence's subject; the answer is the
   sentence itself, so it is grounded by construction. Deterministic, fast, offline.
4. A teacher model (optional, off by default): an OpenAI-compatible endpoint or a local
   Hugging Face model folder writes a question and answer for sampled chunks (RAFT-style);
   answers whose content is not supported by their chunk are dropped.

DPO pairs: the grounded answer is chosen; the rejected answer states a fact of the same kind
from another part of the documents (a distractor), so it is plausible but wrong.

Every example records the chunk it came from, and questions that duplicate or nearly
duplicate an eval-suite question are dropped and counted, so the eval stays held out.
"""
from __future__ import annotations

import json
import random
import re
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable

import numpy as np

from knowledge import Chunk, Document, load_document
from knowledge.errors import BuildError

SOURCES = ("faq", "table", "definition", "heading", "structure", "teacher")
DUPLICATE_SIMILARITY = 0.85  # cosine at or above this counts as the same question (eval leakage)
MAX_ANSWER_WORDS = 90


@dataclass
class SynthExample:
    question: str
    answer: str
    source: str  # document path relative to docs/
    kind: str  # one of SOURCES
    offset: int = 0  # where the answer's text starts in the document (to find its chunk)
    fact: str = ""  # fact type for structure examples (money, time, ...); distractors match it
    chunk_id: str | None = None

    def conversation(self) -> dict:
        return {
            "messages": [{"role": "user", "content": self.question}, {"role": "assistant", "content": self.answer}],
            "source": self.source,
            "chunk_id": self.chunk_id,
            "synthesized": self.kind,
        }


@dataclass
class SynthResult:
    examples: list[SynthExample]
    pairs: list[dict]
    counts: Counter = field(default_factory=Counter)  # kept examples per source
    dropped: Counter = field(default_factory=Counter)  # why examples were dropped
    notes: list[str] = field(default_factory=list)

    def samples(self, per_source: int = 2) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {}
        for ex in self.examples:
            if len(out.setdefault(ex.kind, [])) < per_source:
                words = ex.answer.split()
                shown = " ".join(words[:25]) + (" …" if len(words) > 25 else "")
                out[ex.kind].append(f"Q: {ex.question} | A: {shown}")
        return out

    def summary(self) -> str:
        lines = [f"synthesized {len(self.examples)} conversations and {len(self.pairs)} DPO pairs from documents"]
        lines.append("  by source: " + ", ".join(f"{k} {self.counts.get(k, 0)}" for k in SOURCES))
        if self.dropped:
            lines.append("  dropped: " + ", ".join(f"{k} {v}" for k, v in sorted(self.dropped.items())))
        for kind, samples in self.samples().items():
            for s in samples:
                lines.append(f"  e.g. [{kind}] {s}")
        lines.extend(f"  note: {n}" for n in self.notes)
        return "\n".join(lines)


# --- 1. Q&A already in the documents ----------------------------------------------------

_QA = re.compile(
    r"(?:^|\n)[ \t>*-]*(?:\*\*)?(?:Q|Question)(?:\*\*)?\s*[:.)]\s*(?:\*\*)?(?P<q>[^\n]+?)\s*\n+"
    r"[ \t>*-]*(?:\*\*)?(?:A|Answer)(?:\*\*)?\s*[:.)]\s*(?P<a>.+?)(?=\n[ \t>*-]*(?:\*\*)?(?:Q|Question)(?:\*\*)?\s*[:.)]|\n\s*\n\s*\n|\n#|\Z)",
    re.S,
)
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9\"'(\[-])")
_ABBREVIATIONS = {"a.m.", "p.m.", "dr.", "mr.", "mrs.", "ms.", "mx.", "st.", "e.g.", "i.e.", "no.", "approx.", "etc.", "vs.", "inc.", "u.s."}
GENERIC_HEADINGS = {"frequently asked questions", "faq", "faqs", "glossary", "glossary of terms", "overview", "introduction", "summary", "details", "more information", "notes"}


def split_sentences(text: str) -> list[str]:
    """Sentences of a paragraph, not split after 'a.m.', 'Dr.' and similar abbreviations."""
    text = " ".join(text.replace("**", "").split())
    out, start = [], 0
    for m in _SENTENCE_END.finditer(text):
        last_word = text[start : m.start()].rsplit(" ", 1)[-1].lower()
        if last_word in _ABBREVIATIONS:
            continue
        out.append(text[start : m.start()])
        start = m.end()
    if text[start:].strip():
        out.append(text[start:])
    return [s.strip().lstrip("-*• ").strip() for s in out if s.strip().lstrip("-*• ").strip()]


def _clip(text: str, words: int = MAX_ANSWER_WORDS) -> str:
    """Whole sentences up to about `words` words: answers stay short, like a front-desk reply."""
    sentences = split_sentences(text)
    if sentences and len(sentences[0].split()) > 2 * words:
        return ""  # one run-on "sentence" (a list or table flattened without stops): no clean answer
    out: list[str] = []
    for s in sentences:
        if out and len(" ".join(out + [s]).split()) > words:
            break
        out.append(s)
    return " ".join(out)


def _sections(doc: Document) -> Iterable[tuple[list[str], str, int]]:
    for s in doc.sections:
        body = doc.text[s.start : s.end]
        if body.strip():
            yield s.headings, body, s.start


def extract_faq(doc: Document) -> list[SynthExample]:
    """'Q: ... A: ...' blocks and question headings ('How do I enrol?') followed by their answer."""
    out: list[SynthExample] = []
    for m in _QA.finditer(doc.text):
        q, a = m.group("q").strip(" *"), _clip(m.group("a"))
        if len(q) > 8 and len(a) > 3:
            out.append(SynthExample(q if q.endswith("?") else q + "?", a, doc.source, "faq", m.start("a")))
    for headings, body, start in _sections(doc):
        if headings and headings[-1].rstrip().endswith("?") and not _QA.search(body):
            answer = _clip(body)
            if len(answer.split()) >= 3:
                out.append(SynthExample(headings[-1].strip(), answer, doc.source, "faq", start))
    return out


_TABLE_ROW = re.compile(r"^\s*\|?\s*([^|\n]+?)\s*\|\s*([^|\n]+?)\s*\|?\s*$")
_SEPARATOR = re.compile(r"^[\s|:\-]+$")


def extract_tables(doc: Document) -> list[SynthExample]:
    """Two-column tables (key | value) become 'What is the <value column> for <key>?' questions.

    The header row names the value column ('Fee', 'Hours', 'APR'); rows of wider tables are left
    to the structure questions, since a key/value reading of them would be wrong.
    """
    out: list[SynthExample] = []
    lines = doc.text.split("\n")
    offsets = np.cumsum([0] + [len(line) + 1 for line in lines])
    i = 0
    while i < len(lines):
        block = []
        while i < len(lines) and (_TABLE_ROW.match(lines[i]) or (block and _SEPARATOR.match(lines[i]) and "|" in lines[i])):
            if lines[i].count("|") - (lines[i].strip().startswith("|") + lines[i].strip().endswith("|")) == 1:
                block.append(i)
            elif not _SEPARATOR.match(lines[i]):
                block = []  # a row with more than two columns: not a key/value table
                while i < len(lines) and "|" in lines[i]:
                    i += 1
                break
            i += 1
        if len(block) >= 3:  # a header and at least two rows
            head_key, head_value = (g.strip(" *") for g in _TABLE_ROW.match(lines[block[0]]).groups())
            labelled = _is_label(head_key) and _is_label(head_value)
            column = head_value.lower() if labelled else ""
            if column in ("detail", "details", "value", "information", "info"):
                column = ""
            topic = _topic(_section_at(doc, int(offsets[block[0]])), doc.title, lower=False)  # a name: 'Eastgate'

            for row in block[1:] if labelled else block:
                key, value = (g.strip(" *") for g in _TABLE_ROW.match(lines[row]).groups())
                if not key or not value or _SEPARATOR.match(key) or len(value.split()) > MAX_ANSWER_WORDS:
                    continue
                if labelled:  # | Service | Fee |: each row's key is the thing asked about
                    question = f"What is the {column} for {_lower_first(key)}?" if column else f"What are the details for {_lower_first(key)}?"
                elif topic:  # | Phone | (402) 555-0110 |: rows are attributes of the section's subject
                    verb = "are" if re.search(r"[^s]s$", key.split()[-1]) else "is"
                    question = f"What {verb} the {_lower_first(key)} for {topic}?"
                else:
                    continue
                out.append(SynthExample(question, f"{key}: {value.rstrip('.')}.", doc.source, "table", int(offsets[row])))
        i += 1
    return out


def _is_label(cell: str) -> bool:
    """A column heading ('Fee', 'Lobby hours'), not a value ('410 Quarry Lane', '$25')."""
    return 0 < len(cell.split()) <= 4 and not re.search(r"\d|[$€£%@]", cell)


_TERM = re.compile(r"^[A-Z][\w/&'().,\- ]{1,60}$")


def extract_definitions(doc: Document) -> list[SynthExample]:
    """Glossary entries: a short term on its own line (or '**Term**: text') followed by its definition."""
    out: list[SynthExample] = []
    for m in re.finditer(r"(?:^|\n)\s*(?:[-*]\s*)?\*\*([^*\n]{2,60})\*\*\s*[:\-–—]\s*([^\n]{20,})", doc.text):
        term, body = m.group(1).strip(), _clip(m.group(2))
        if not body:
            continue
        section = _section_at(doc, m.start())
        if _is_definition(body, section):
            question = f"What does {term} mean?"
        else:  # a labelled line ('**Day after Thanksgiving**: only two branches open'), not a glossary entry
            topic = _topic(section, doc.title)
            question = f"What should I know about {term}" + (f" ({topic})?" if topic and topic.lower() not in term.lower() else "?")
        out.append(SynthExample(question, body, doc.source, "definition", m.start(2)))
    headings = {h.strip().lower() for sec in doc.sections for h in sec.headings}
    paragraphs = [(m.start(), m.group(0)) for m in re.finditer(r"[^\n]+(?:\n(?!\n)[^\n]+)*", doc.text)]
    run: list[tuple[int, str, int, str]] = []
    for (p0, term), (p1, body) in zip(paragraphs, paragraphs[1:]):
        term = term.strip()
        if term.lower().lstrip("# ") in headings or term.startswith("#") or (term.isupper() and len(term) > 5):
            continue  # headings (including ALL-CAPS ones in plain text) are not glossary terms
        if (_TERM.match(term) and not term.endswith((".", ":", "?")) and len(term.split()) <= 8
                and 8 <= len(body.split()) <= 60 and body.rstrip().endswith(".")):  # a definition is short; a long body follows a sub-heading
            run.append((p0, term, p1, body))
    glossary = any(_GLOSSARY.search(h) for h in [doc.title, *headings])
    definitional = sum(bool(_DEFINITION_START.match(body.strip())) for _, _, _, body in run)
    # Only a run of such pairs is a glossary (a lone one is a heading), and only when the bodies read
    # as definitions ('The fixed amount ...'): plain-text sub-headings ('Outlook' then 'Doctors often
    # treat ...') make runs too.
    if len(run) >= 3 and (glossary or definitional * 3 >= len(run) * 2):
        for _, term, p1, body in run:
            answer = _clip(body)
            if answer:
                out.append(SynthExample(f"What does {term} mean?", answer, doc.source, "definition", p1))
    return out


_GLOSSARY = re.compile(r"glossary|definitions?|terms|jargon|what .* means?|abbreviations", re.I)


def _section_at(doc: Document, offset: int) -> list[str]:
    """The headings of the section holding `offset`."""
    return next((s.headings for s in doc.sections if s.start <= offset < s.end), [])


_DEFINITION_START = re.compile(r"(?:The|A|An|Any|Each|Money|Your|What|When|Where|Someone|Something|Anyone|Amount|Part|Type|Kind)\b")


def _is_definition(body: str, headings: list[str]) -> bool:
    """A glossary entry: under a glossary-like heading, or worded as a definition ('The yearly cost
    of ...', 'A loan that ...'); a labelled fact ('only two branches open') is not."""
    if any(_GLOSSARY.search(h) for h in headings):
        return True
    return bool(_DEFINITION_START.match(body))


# --- 2. Questions from headings ----------------------------------------------------------

# Section headings that say what kind of question the section answers, in health, finance and
# policy documents alike; {t} is the document's subject (its title).
HEADING_QUESTIONS: list[tuple[str, re.Pattern, str]] = [
    (kind, re.compile(rf"^(?:{pattern})$", re.I), template)
    for kind, pattern, template in (
        ("overview", r"overview|about|introduction|what is it|description|summary|key points", "What is {t}?"),
        ("symptoms", r"(?:signs and )?symptoms|signs|symptoms and signs", "What are the symptoms of {t}?"),
        ("causes", r"causes?|what causes it|why it happens", "What causes {t}?"),
        ("treatment", r"treatments?|treatment options|how is it treated|management|therapy", "How is {t} treated?"),
        ("diagnosis", r"diagnosis|diagnosis \(exams and tests\)|exams and tests|tests|how is it diagnosed|screening", "How is {t} diagnosed?"),
        ("risk", r"who is at risk|risk factors|who gets it", "Who is at risk for {t}?"),
        ("prevention", r"prevention|how can it be prevented|how to prevent it", "How can {t} be prevented?"),
        ("outlook", r"outlook|prognosis|outlook \(prognosis\)|expectations", "What is the outlook for {t}?"),
        ("complications", r"complications|possible complications", "What are the complications of {t}?"),
        ("stages", r"stages|stages of .*", "What are the stages of {t}?"),
        ("inheritance", r"inheritance|genetics|is it inherited|inheritance pattern", "Is {t} inherited?"),
        ("frequency", r"how common is it|frequency|prevalence", "How common is {t}?"),
        ("eligibility", r"eligibility|who can apply|who can join|who qualifies|who is eligible", "Who is eligible for {t}?"),
        ("fees", r"fees?|costs?|charges|pricing|fees and charges|what it costs", "What are the fees for {t}?"),
        ("apply", r"how to apply|applying|how to open|how to get started|getting started|how to enrol|how to enroll", "How do I apply for {t}?"),
        ("requirements", r"requirements|what you need|documents needed|what to bring", "What do I need for {t}?"),
        ("limits", r"limits|limits and cut-off times|cut-off times|deadlines", "What are the limits and deadlines for {t}?"),
        ("contact", r"contact|contact us|how to reach us|questions", "Who do I contact about {t}?"),
    )
]


def extract_headings(doc: Document) -> list[SynthExample]:
    """'What are the symptoms of X?' for a section headed 'Symptoms' in a document about X: the
    question a reader would ask of that section, answered by the section's own first sentences."""
    subject = doc.title.strip()
    if not subject or re.search(r"\d{6,}", subject) or len(subject.split()) > 10 or _QUESTION_START.match(subject):
        return []  # no usable subject: 'PubMed abstract 10548670', a sentence or a question for a title
    out: list[SynthExample] = []
    seen: set[str] = set()
    for headings, body, start in _sections(doc):
        if not headings:
            continue
        heading = _NUMBERING.sub("", headings[-1].strip()).rstrip(":").strip()
        heading = re.sub(r"\s*\(\d+\)$", "", heading)  # 'Overview (2)'
        kind = next(((k, t) for k, pattern, t in HEADING_QUESTIONS if pattern.match(heading)), None)
        if kind is None or kind[0] in seen:
            continue
        answer = _clip(_unwrap(body).replace("\n", " "))
        if len(answer.split()) < 5:
            continue
        seen.add(kind[0])
        out.append(SynthExample(kind[1].format(t=subject), answer, doc.source, "heading", start, kind[0]))
    return out


# --- 3. Questions from facts in sentences -------------------------------------------------

FACTS: dict[str, tuple[re.Pattern, str]] = {
    "phone": (re.compile(r"(?:\+?1[-. ])?\(?\b\d{3}\)?[-. ]\d{3}[-. ]\d{4}\b|\bext(?:ension)?\.? ?\d{2,5}\b", re.I), "What number do I call about {t}?"),
    "money": (re.compile(r"[$€£]\s?\d[\d,]*(?:\.\d+)?"), "How much is {t}?"),
    "percent": (re.compile(r"\b\d+(?:\.\d+)?\s?%"), "What is the rate for {t}?"),
    "time": (re.compile(r"\b\d{1,2}(?::\d{2})?\s?(?:a\.?m\.?|p\.?m\.?)(?=\W|$)", re.I), "When is {t}?"),
    "duration": (
        re.compile(r"\b(?:\d+|one|two|three|four|five|six|seven|ten|twelve|thirty)\s+(?:business\s+|working\s+|calendar\s+)?(?:days?|weeks?|months?|years?|hours?|minutes?)\b", re.I),
        "How long is {t}?",
    ),
    "person": (re.compile(r"\b(?:Dr|Mr|Mrs|Ms|Mx)\.?\s+[A-Z][a-z]+(?:[ -][A-Z][a-z]+)?"), "Who handles {t}?"),
}
_VERB = re.compile(
    r"\b(?:is|are|was|were|costs?|charges?|takes?|opens?|closes?|runs?|lasts?|must|can|cannot|will|may|should|"
    r"has|have|applies|apply|starts?|ends?|requires?|needs?|pays?|earns?|gets?|offers?|covers?|includes?)\b",
    re.I,
)


def _lower_first(phrase: str) -> str:
    """'The no-show fee' -> 'the no-show fee', but 'Membership Share Savings' and 'APR' keep their capitals."""
    words = phrase.split()
    if not words or words[0][1:2].isupper() or any(w[:1].isupper() for w in words[1:]):
        return phrase
    return phrase[0].lower() + phrase[1:]


_NUMBERING = re.compile(r"^(?:(?:step|part|section)\s+\d+\s*[:.)\-–—]?|\d+(?:\.\d+)*[.)]?)\s+", re.I)
_QUESTION_START = re.compile(r"^(?:who|what|when|where|why|how|which|can|could|do|does|did|is|are|will|should|if)\b", re.I)


def _topic(headings: list[str], title: str, lower: bool = True) -> str:
    """The most specific heading that says what the section is about: generic ones ('FAQ') and
    question-like ones ('Who can join?') skipped, numbering ('Step 3:', '2.') removed."""
    for h in [*reversed(headings), title]:
        if h.strip().endswith("?"):
            continue
        is_title = h is title
        h = _NUMBERING.sub("", h.strip()).rstrip(":").strip()
        if (h and h.lower() not in GENERIC_HEADINGS and not _QUESTION_START.match(h) and not re.search(r"\d{6,}|^page \d+$", h, re.I)
                and (is_title or not any(pattern.match(h) for _, pattern, _ in HEADING_QUESTIONS))):  # 'Prevention' says what kind, not what about
            return _lower_first(h) if lower else h
    return ""


def _subject(sentence: str) -> str:
    """The words before the sentence's first verb ('The no-show fee' in 'The no-show fee is $40.')."""
    m = _VERB.search(sentence)
    if not m:
        return ""
    words = sentence[: m.start()].strip(" ,;:-").split()
    if not 1 <= len(words) <= 7 or words[0].lower() in _NOT_SUBJECTS or any(c.isdigit() for c in "".join(words)):
        return ""
    if not any(len(w) > 3 and w.lower() not in {"the", "your", "our", "their", "then", "also", "only"} for w in words):
        return ""
    return _lower_first(" ".join(words))


_NOT_SUBJECTS = {
    "you", "we", "it", "this", "that", "they", "if", "when", "i", "there", "these", "those", "please", "call", "ask",
    "visit", "bring", "choose", "allow", "keep", "deposit", "send", "use", "see", "contact", "go", "email", "a:", "q:",
    "at", "in", "on", "for", "from", "with", "after", "before", "during", "by", "under", "as", "to", "within", "once",
    "as long as", "unless", "while", "because", "since",
}  # fmt: skip


def _unwrap(text: str) -> str:
    """Join hard-wrapped lines (PDF text) where a line ends mid-sentence and the next starts in lower case.
    Same length as the input, so offsets stay valid."""
    return re.sub(r"(?<=[^.!?:\n])\n(?=[a-z0-9(])", " ", text)


def extract_structure(doc: Document, per_section: int = 3) -> list[SynthExample]:
    """Who/what/when/how-much questions about the facts under each heading (or the title)."""
    out: list[SynthExample] = []
    for headings, body, start in _sections(doc):
        topic = _topic(headings, doc.title)
        if not topic:
            continue
        kept = 0
        sentences = [
            (start + line.start(), sentence)
            for line in re.finditer(r"[^\n]+", _unwrap(body))
            for sentence in split_sentences(line.group(0))
        ]
        for offset, sentence in sentences:
            if not 5 <= len(sentence.split()) <= MAX_ANSWER_WORDS or "|" in sentence or re.match(r"(?:Q|A|Question|Answer)\s*[:.)]", sentence):
                continue
            fact = next((name for name, (pattern, _) in FACTS.items() if pattern.search(sentence)), None)
            if fact is None:
                continue
            subject = _subject(sentence)
            about = f"{subject} ({topic})" if subject and subject.lower() not in topic.lower() else topic
            answer = sentence if sentence.endswith((".", "!", "?")) else sentence + "."
            out.append(SynthExample(FACTS[fact][1].format(t=about), answer, doc.source, "structure", offset, fact))
            kept += 1
            if kept >= per_section:
                break
    return out


# --- 4. Teacher model (optional) ----------------------------------------------------------

TEACHER_PROMPT = (
    "Here is a passage from {title}:\n\n{text}\n\n"
    "Write one question a customer could ask that this passage answers, and the answer using only the passage. "
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
            continue
        q, a = parsed
        if not supported(a, chunk.text):
            result.dropped["teacher: answer not supported by its chunk"] += 1
            continue
        ex = SynthExample(q, a, chunk.source, "teacher", chunk.start, chunk_id=chunk.id)
        out.append(ex)
        if on_example:
            on_example(ex)
    return out


# --- DPO pairs, chunk ids, de-duplication --------------------------------------------------


def distractor_pairs(examples: list[SynthExample], seed: int, limit: int) -> list[dict]:
    """chosen = the grounded answer; rejected = an answer of the same kind from another document
    section (a wrong fee for a fee question), so the pair teaches reading the context."""
    rng = random.Random(seed)
    by_fact: dict[str, list[SynthExample]] = {}
    for ex in examples:
        by_fact.setdefault(ex.fact or ex.kind, []).append(ex)
    pairs = []
    for ex in rng.sample(examples, len(examples)):
        pool = [o for o in by_fact.get(ex.fact or ex.kind, []) if o.answer != ex.answer and (o.source, o.offset) != (ex.source, ex.offset)]
        if not pool:
            pool = [o for o in examples if o.answer != ex.answer]
        if not pool:
            continue
        other = rng.choice(pool)
        pairs.append({"prompt": ex.question, "chosen": ex.answer, "rejected": other.answer, "source": ex.source, "chunk_id": ex.chunk_id, "synthesized": "distractor"})
        if len(pairs) >= limit:
            break
    return pairs


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


def drop_duplicates(examples: list[SynthExample], eval_questions: list[str], encode: Callable[[list[str]], np.ndarray], result: SynthResult) -> list[SynthExample]:
    """Drop exact repeats, questions too close to an eval question (kept held out), and near-repeats."""
    seen: set[tuple[str, str]] = set()
    unique = []
    for ex in examples:
        key = (" ".join(ex.question.lower().split()), ex.answer)
        if key in seen:
            result.dropped["duplicate"] += 1
            continue
        seen.add(key)
        unique.append(ex)
    if not unique:
        return unique
    q = encode([ex.question for ex in unique])
    keep = np.ones(len(unique), dtype=bool)
    if eval_questions:
        e = encode(eval_questions)
        too_close = (q @ e.T).max(axis=1) >= DUPLICATE_SIMILARITY
        result.dropped["near an eval question"] += int(too_close.sum())
        keep &= ~too_close
    return [ex for ex, k in zip(unique, keep) if k]


def synthesize(
    docs_dir: Path,
    sources: list[str],
    chunks: list[Chunk],
    encode: Callable[[list[str]], np.ndarray],
    eval_questions: list[str],
    *,
    seed: int = 42,
    max_examples: int = 400,
    max_pairs: int = 120,
    teacher: Callable[[str], str] | None = None,
    teacher_chunks: int = 0,
    on_teacher_example: Callable[[SynthExample], None] | None = None,
) -> SynthResult:
    """Conversations and DPO pairs from the documents in `sources` (paths relative to docs_dir)."""
    result = SynthResult([], [])
    found: list[SynthExample] = []
    for source in sources:
        try:
            doc = load_document(Path(docs_dir) / source, source)
        except Exception as exc:  # the index stage already warned about unreadable files
            result.notes.append(f"{source}: skipped ({exc})")
            continue
        for extract in (extract_faq, extract_tables, extract_definitions, extract_headings, extract_structure):
            found.extend(extract(doc))
    if teacher is not None and teacher_chunks > 0:
        found.extend(teacher_examples(chunks, teacher, teacher_chunks, seed, result, on_teacher_example))
    attach_chunks(found, chunks)
    kept = drop_duplicates(found, eval_questions, encode, result)
    if len(kept) > max_examples:
        # keep every document-authored Q&A (and teacher example) first, then a seeded sample of the rest
        authored = [e for e in kept if e.kind not in ("heading", "structure")]
        rest = [e for e in kept if e.kind in ("heading", "structure")]
        rng = random.Random(seed)
        kept = authored[:max_examples] + rng.sample(rest, max(0, min(len(rest), max_examples - len(authored))))
        result.dropped["over max_examples"] += len(found) - len(kept)
    result.examples = kept
    result.counts = Counter(e.kind for e in kept)
    result.pairs = distractor_pairs(kept, seed, max_pairs)
    if not kept:
        result.notes.append(
            "no training examples found: the documents have no Q&A, tables, or sentences with amounts, times, "
            "durations, phone numbers or names; add data/conversations.jsonl or configure a teacher model"
        )
    return result
