"""Extractors: the questions a person would ask of a document, with the answers it holds.

Each extractor reads one `knowledge.Document` (Markdown, text, HTML, PDF or Word, as the loader
gives it) and returns `SynthExample`s: a question that names its subject (the company, the
condition, the document's title or a section's entity), answerable without seeing the passage,
and an answer made of the passage's own sentences, or for a table cell one sentence naming row,
column and value with its unit and period. Wrong answers for preference pairs come with them
where the document has them (a sibling cell, another period).

| extractor | reads | asks |
|---|---|---|
| faq | "Q:/A:" blocks, question headings ("How can I pay?") | the document's own question |
| section | a heading of any depth that names a kind of question (Symptoms, Fees, Eligibility ...) or defines its entity | "What are the symptoms of X?" |
| list | a lead-in sentence ("Risk factors for X include:") and its list | "What are the risk factors for X?" |
| table | Markdown and HTML tables of any width, label/value lines of PDFs | "What was PepsiCo's net revenue in 2022?" |
| statement | financial statements flattened to text (line items by period) | the same, per line item and period |
| definition | glossary entries ('**APR**: The yearly cost ...', term lines followed by a definition) | "What does APR mean?" |
| fact | sentences stating an amount, rate, time, duration or phone number about a named thing | "What is the no-show fee?", "Is the no-show fee $55?" |

Nothing here decides what is kept: builder._synthesize drops the ambiguous, the duplicates, the
ones near an eval question and those whose passage retrieval cannot find.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

from knowledge import Document

MAX_ANSWER_WORDS = 60  # a front-desk reply, not the whole section
MAX_CELLS_PER_TABLE = 16  # a wide table would otherwise carry the data set


@dataclass
class SynthExample:
    question: str
    answer: str
    source: str  # document path relative to docs/
    kind: str  # the extractor that made it (builder._synthesize.SOURCES)
    offset: int = 0  # where the answer's text starts in the document (to find its chunk)
    fact: str = ""  # what kind of fact (money, symptoms, cell ...): distractors match it
    chunk_id: str | None = None
    end: int = -1  # where the answer's text ends (-1: offset + a sentence)
    answer_type: str = "free"  # free | number | yes_no, as the eval suites type answers
    wrong: list[str] = field(default_factory=list)  # answers clearly wrong for this question (sibling row, other period)
    title: str = ""  # the document's title, to disambiguate a question asked of several documents
    subject: str = ""  # the entity the question is about

    def conversation(self) -> dict:
        return {
            "messages": [{"role": "user", "content": self.question}, {"role": "assistant", "content": self.answer}],
            "source": self.source,
            "chunk_id": self.chunk_id,
            "synthesized": self.kind,
        }


# --- text helpers ----------------------------------------------------------------------------

_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9\"'(\[-])")
_ABBREVIATIONS = {"a.m.", "p.m.", "dr.", "mr.", "mrs.", "ms.", "mx.", "st.", "e.g.", "i.e.", "no.", "approx.", "etc.", "vs.", "inc.", "u.s.", "fig.", "al.", "ext.", "tel.", "ph.", "dept.", "jr.", "sr."}
GENERIC_HEADINGS = {
    "frequently asked questions", "faq", "faqs", "glossary", "glossary of terms", "overview", "introduction", "summary",
    "details", "more information", "notes", "key points", "contents", "table of contents", "see also", "references",
    "background", "methods", "results", "conclusions", "conclusion", "discussion", "abstract",
}  # fmt: skip
_LIST_ITEM = re.compile(r"^\s*(?:[-*•◦▪–]|\d{1,2}[.)])\s+")
_STOP = {
    "the", "a", "an", "of", "for", "to", "in", "on", "and", "or", "is", "are", "was", "were", "what", "how", "who", "when",
    "which", "does", "do", "did", "can", "i", "my", "your", "you", "be", "with", "by", "at", "as", "it", "its", "this", "that",
}  # fmt: skip


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


def content_words(text: str) -> set[str]:
    return {w for w in re.findall(r"[a-z0-9]+", text.lower()) if w not in _STOP and len(w) > 1}


_PROPER = {
    "monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday", "january", "february", "march", "april",
    "may", "june", "july", "august", "september", "october", "november", "december", "i",
}  # fmt: skip


def lower_first(phrase: str) -> str:
    """'The no-show fee' -> 'the no-show fee', but 'Membership Share Savings' and 'APR' keep their capitals."""
    words = phrase.split()
    rest = [w for w in words[1:] if w[:1].isalpha() and w.lower() not in _STOP]
    if not words or words[0][1:2].isupper() or words[0].strip(",.").lower() in _PROPER or (rest and sum(w[:1].isupper() for w in rest) * 2 > len(rest)):
        return phrase
    return phrase[0].lower() + phrase[1:]


def upper_first(text: str) -> str:
    return text[:1].upper() + text[1:]


def unwrap(text: str) -> str:
    """Join hard-wrapped lines (PDF text) where a line ends mid-sentence and the next starts in lower
    case. Same length as the input, so offsets stay valid."""
    return re.sub(r"(?<=[^.!?:\n])\n(?=[a-z0-9(])", " ", text)


def _is_heading_line(line: str) -> bool:
    s = line.strip()
    return s.startswith("#") or s.lower().rstrip(":") in GENERIC_HEADINGS


def prose(body: str) -> list[str]:
    """The sentences of a section's running text: headings, 'Key Points' labels, list items,
    table rows and list lead-ins ('... include the following:') left out."""
    out: list[str] = []
    for para in re.split(r"\n\s*\n", unwrap(body)):
        for line in re.split(r"\n| {3,}", para):  # a run of spaces: a heading or list flattened into the line
            s = line.strip()
            if not s or _is_heading_line(s) or _LIST_ITEM.match(s) or "|" in s:
                continue
            if not re.search(r"[.!?]\"?$", s) and len(s.split()) <= 8:
                continue  # a label or sub-heading without a stop
            inline_list = re.search(r":\s+-\s", s)  # 'Risk factors include: - a - b' flattened on one line
            if inline_list:
                s = s[: inline_list.start() + 1]
            for x in split_sentences(s):
                x = strip_run_in_heading(x)
                if re.search(r"\s-\s+[A-Za-z]", x):
                    break  # a list flattened into the sentence ('exploring how to - promote ...'): the line ends here
                if x.endswith(":") or any(_similar(x, y) for y in out):
                    continue  # a list lead-in, or a sentence said again (a key point repeated in the text)
                out.append(x)
    return out


_SMALL = {"of", "for", "and", "with", "the", "to", "in", "a", "an", "on", "or", "vs", "at", "by", "your", "from"}


_STARTERS = {
    "there", "the", "a", "an", "some", "many", "most", "if", "when", "doctors", "people", "your", "you", "during", "in", "it",
    "this", "these", "each", "every", "researchers", "scientists", "treatment", "symptoms", "signs", "about", "although", "because",
    "to", "for", "one", "two", "several", "often", "sometimes", "not", "no", "all", "any", "currently", "other", "at", "after", "before",
}  # fmt: skip


def strip_run_in_heading(sentence: str) -> str:
    """'Causes of Hearing Loss Hearing loss happens for many reasons.' -> 'Hearing loss happens for many
    reasons.': a bold sub-heading flattened into the sentence after it (a run of title-case words,
    then a capitalised word that starts the sentence proper)."""
    words = sentence.split()
    if len(words) > 3 and words[0].lower() == words[1].lower() and words[0][:1].isupper():
        return " ".join(words[1:])  # 'Surgery Surgery is the most common treatment'
    for i in range(min(9, len(words) - 2), 1, -1):
        head = words[:i]
        if (all(w[:1].isupper() or w.lower() in _SMALL for w in head) and head[-1].lower() not in _SMALL
                and sum(w[:1].isupper() for w in head) >= 2 and words[i][:1].isupper() and words[i + 1][:1].islower()
                and (words[i].lower() in _STARTERS or words[i].lower() in {w.lower() for w in head})
                and not re.search(r"[.,:;]$", " ".join(head))):  # fmt: skip
            return " ".join(words[i:])
    return sentence


def _similar(a: str, b: str) -> bool:
    wa, wb = content_words(a), content_words(b)
    return bool(wa) and bool(wb) and len(wa & wb) / len(wa | wb) >= 0.6


def restates(sentence: str, question: str) -> bool:
    """The sentence says nothing the question does not: 'What are the symptoms of X?' answered
    with 'What are the signs and symptoms of X?' or 'Symptoms of X'."""
    if sentence.rstrip().endswith("?"):
        return True
    words = content_words(sentence)
    return len(words - content_words(question) - {"signs", "symptoms", "information"}) < 3


_CONNECTIVE = re.compile(r"(?:however|but|also|in addition|therefore|thus|this|these|that|those|such|it|they|he|she|for example|for instance|another|other|and|or|so)\b", re.I)


def answer_sentences(sentences: list[str], question: str, words: int = MAX_ANSWER_WORDS) -> str:
    """Whole sentences up to about `words` words, none of them restating the question."""
    out: list[str] = []
    for s in sentences:
        if not out and (restates(s, question) or _CONNECTIVE.match(s) or len(s.split()) < 4):
            continue  # a first sentence that leans on what came before ('However, ...', 'These ...') or a fragment
        if out and (len(s.split()) < 4 or s.endswith("?") or re.search(r"\b(?:below|the following)\b", s, re.I)):
            break  # a flattened list item ('Age.', 'Smoking.'): the answer ends before it
        if len(s.split()) > 2 * words or not re.search(r"[a-z]", s):
            break  # a run-on 'sentence' (a flattened list or table): no clean answer
        if out and len(" ".join(out + [s]).split()) > words:
            break
        s = re.sub(r"(?<=[a-z)])\.?\d{1,2}\.?$", ".", s)  # a footnote mark ('... problems.1.')
        out.append(s if s.endswith((".", "!", "?", '"')) else s + ".")
    answer = " ".join(out)
    return answer if len(answer.split()) >= 5 else ""


# --- the document's subject ------------------------------------------------------------------

_FILING = re.compile(r"^(?P<name>.+?)\s*[-–—:]\s*(?:form\s+)?(?:10-?K|10-?Q|8-?K|20-?F|earnings|annual report|quarterly report)\b", re.I)
_COMPANY_LINE = re.compile(r"^(?:Company|Issuer|Registrant)\s*:\s*(?P<name>[^.\n|]{2,60})", re.I | re.M)


@dataclass
class Subject:
    name: str  # 'PepsiCo', 'Small Intestine Cancer', 'Fees and insurance'
    company: bool = False  # a company: questions use the possessive ("PepsiCo's net revenue")
    usable: bool = True  # a title that names nothing ('PubMed abstract 10548670') is not used

    @property
    def proper(self) -> bool:
        """A name ('Anxiety Disorders', 'Kidney Stones in Adults'), not a topic ('Fees and insurance')."""
        words = [w for w in self.name.split() if w[:1].isalpha() and w.lower() not in _STOP]
        return self.usable and bool(words) and sum(w[:1].isupper() for w in words) * 2 > len(words) and len(words) > 1 or self.company

    def possessive(self) -> str:
        return self.name + ("'" if self.name.endswith("s") else "'s")


def doc_subject(doc: Document) -> Subject:
    """What the document is about: the company of a filing (a 'Company:' line or a title like
    'PepsiCo - 10K 2022'), else the title with a generic prefix ('Annual report extract: X') cut."""
    head = doc.text[:1500]
    m = _COMPANY_LINE.search(head) or _FILING.match(doc.title.strip())
    if m:
        return Subject(m.group("name").strip().rstrip(","), company=True)
    title = doc.title.strip()
    if " | " in title:
        title = title.split(" | ", 1)[0].strip()  # a web page's 'Page | Site name': the page is the subject
    if ":" in title:
        before, after = (part.strip() for part in title.split(":", 1))
        if after.lower() in GENERIC_HEADINGS or after.lower() in ("help", "faq", "questions", "q&a"):
            title = before  # 'Bracken Online and Bracken Mobile: Help'
        elif len(after.split()) >= 2:
            title = after  # 'Annual report extract: PepsiCo net revenue'
    truncated = title.endswith(("...", "…"))
    title = title.rstrip(". …")
    usable = bool(title) and not truncated and not re.search(r"\d{5,}", title) and len(title.split()) <= 10 and not _QUESTION_START.match(title)
    return Subject(title, usable=usable)


_QUESTION_START = re.compile(r"^(?:who|what|when|where|why|how|which|can|could|do|does|did|is|are|was|were|will|should|if)\b", re.I)
_NUMBERING = re.compile(r"^(?:(?:step|part|section|item)\s+\d+[a-z]?\s*[:.)\-–—]?|\d+(?:\.\d+)*[.)]?)\s+", re.I)


def clean_heading(h: str) -> str:
    h = _NUMBERING.sub("", h.strip()).rstrip(":").strip()
    return re.sub(r"\s*\(\d+\)$", "", h)


def _sections(doc: Document):
    """(heading trail, body, start) per section; PDF pages are split at heading-like lines."""
    for s in doc.sections:
        body = doc.text[s.start : s.end]
        if not body.strip():
            continue
        if s.page is not None and not s.headings:
            yield from _pdf_subsections(body, s.start, doc.title)
        else:
            yield [clean_heading(h) for h in s.headings], body, s.start


def _looks_like_heading(line: str, next_line: str) -> bool:
    s = line.strip()
    return (
        0 < len(s.split()) <= 7 and s[:1].isupper() and not re.search(r"[.,;:!]$|\$|\d{2,}", s)
        and len(next_line.split()) > len(s.split()) and re.search(r"[.!?]$", next_line.strip() + "" if len(next_line.split()) > 8 else ".") is not None
    )  # fmt: skip


def _pdf_subsections(body: str, start: int, title: str):
    """A PDF page has no heading marks: a short capitalised line without a stop, followed by
    running text, starts a section ('Self-pay prices' then 'If you do not have insurance, ...')."""
    lines = body.split("\n")
    pos, cuts = 0, []
    for i, line in enumerate(lines):
        nxt = lines[i + 1] if i + 1 < len(lines) else ""
        if i > 0 and _looks_like_heading(line, nxt) and len(nxt.split()) >= 8:
            cuts.append((pos, line.strip()))
        pos += len(line) + 1
    if not cuts:
        yield [], body, start
        return
    yield [], body[: cuts[0][0]], start
    for (p, heading), nxt in zip(cuts, [c[0] for c in cuts[1:]] + [len(body)]):
        yield [title, heading], body[p + len(heading) + 1 : nxt], start + p + len(heading) + 1


# --- faq ---------------------------------------------------------------------------------------

_QA = re.compile(
    r"(?:^|\n)[ \t>*-]*(?:\*\*)?(?:Q|Question)(?:\*\*)?\s*[:.)]\s*(?:\*\*)?(?P<q>[^\n]+?)\s*\n+"
    r"[ \t>*-]*(?:\*\*)?(?:A|Answer)(?:\*\*)?\s*[:.)]\s*(?P<a>.+?)(?=\n[ \t>*-]*(?:\*\*)?(?:Q|Question)(?:\*\*)?\s*[:.)]|\n\s*\n\s*\n|\n#|\Z)",
    re.S,
)


def extract_faq(doc: Document) -> list[SynthExample]:
    """'Q: ... A: ...' blocks and question headings ('How do I enrol?') followed by their answer."""
    out: list[SynthExample] = []
    for m in _QA.finditer(doc.text):
        q = m.group("q").strip(" *")
        q = q if q.endswith("?") else q + "?"
        a = _short(m.group("a")) or answer_sentences(split_sentences(m.group("a")), q)
        if len(q) > 8 and a:
            out.append(SynthExample(q, a, doc.source, "faq", m.start("a"), "faq", end=m.end("a"), title=doc.title))
    for headings, body, start in _sections(doc):
        if headings and headings[-1].rstrip().endswith("?") and not _QA.search(body):
            q = " ".join(headings[-1].split())
            answer = answer_sentences(prose(body), q)
            if answer:
                out.append(SynthExample(q, answer, doc.source, "faq", start, "faq", end=start + len(body), title=doc.title))
    return out


def _short(text: str) -> str:
    """A short authored answer ('Yes. Results appear ...', 'At extension 214.') kept whole."""
    sentences = split_sentences(text)
    if any(x.endswith("?") for x in sentences):  # the next question, run into this answer (PDF text)
        sentences = sentences[: next(i for i, x in enumerate(sentences) if x.endswith("?"))]
    text = " ".join(sentences)
    return text if 2 <= len(text.split()) <= MAX_ANSWER_WORDS and text.endswith((".", "!")) else ""


# --- section -----------------------------------------------------------------------------------

# Headings that say what kind of question the section answers, in health, finance and policy
# documents alike; {t} is the section's subject.
HEADING_QUESTIONS: list[tuple[str, re.Pattern, str]] = [
    (kind, re.compile(rf"^(?:{pattern})$", re.I), template)
    for kind, pattern, template in (
        ("overview", r"overview|about|introduction|what is it|description|summary|definition", "What is {t}?"),
        ("symptoms", r"(?:signs and )?symptoms|signs|symptoms and signs|signs & symptoms", "What are the symptoms of {t}?"),
        ("causes", r"causes?|what causes it|why it happens|cause and risk factors", "What causes {t}?"),
        ("treatment", r"treatments?|treatment options|how is it treated|management|therapy", "How is {t} treated?"),
        ("diagnosis", r"diagnosis|diagnosis \(exams and tests\)|exams and tests|tests|how is it diagnosed|screening", "How is {t} diagnosed?"),
        ("risk", r"who is at risk|risk factors|who gets it", "Who is at risk for {t}?"),
        ("prevention", r"prevention|how can it be prevented|preventing it", "How can {t} be prevented?"),
        ("outlook", r"outlook|prognosis|outlook \(prognosis\)", "What is the outlook for {t}?"),
        ("complications", r"complications|possible complications", "What are the complications of {t}?"),
        ("stages", r"stages|staging|stages of the disease", "What are the stages of {t}?"),
        ("research", r"research|clinical trials|current research", "What research is being done on {t}?"),
        ("inheritance", r"inheritance|inheritance pattern|genetics|genetic changes", "Is {t} inherited?"),
        ("frequency", r"frequency|how common is it|prevalence", "How common is {t}?"),
        ("eligibility", r"eligibility|who can join|who is eligible|who qualifies|membership eligibility", "Who is eligible for {t}?"),
        ("fees", r"fees?|costs?|pricing|prices|charges|fees and charges|rates", "What are the fees for {t}?"),
        ("how_to_apply", r"how to apply|applying|how to enrol|how to enroll|how to sign up|getting started|how to book", "How do I apply for {t}?"),
        ("requirements", r"requirements|what you need|what to bring|documents needed|what you will need", "What do I need for {t}?"),
        ("limits", r"limits|limitations|restrictions|exclusions", "What are the limits of {t}?"),
        ("hours", r"hours|opening hours|office hours|when we are open", "What are the hours of {t}?"),
        ("contact", r"contact|contact us|how to reach us|questions", "How do I contact {t}?"),
        ("location", r"location|where we are|address|directions", "Where is {t}?"),
    )
]


# Words an answer of each kind uses: a section whose opening says none of them answers something else.
ON_TOPIC = {kind: re.compile(pattern, re.I) for kind, pattern in {
    "symptoms": r"sign|symptom|feel|pain|notice|experience|cause|problem",
    "causes": r"caus|result|due to|lead|trigger|gene|mutation|risk|factor|develop|from",
    "treatment": r"treat|therap|surgery|medic|drug|manag|care|cure|relie|control",
    "diagnosis": r"diagnos|test|exam|scan|biops|x.?ray|imaging|doctor|detect|find|measure|history",
    "risk": r"risk|likely|common|age|affect|chance|increase|more often",
    "prevention": r"prevent|avoid|reduc|lower|risk|vaccin|protect|quit|stop",
    "outlook": r"prognos|outlook|recover|surviv|chance|life|expect|depend|factor",
    "research": r"research|stud|trial|scientist|investigat|develop|test",
    "stages": r"stage|spread|grade",
    "inheritance": r"inherit|gene|parent|family|mutation|pass",
    "frequency": r"common|rare|affect|case|people|prevalen|per |estimat|occur",
    "complications": r"complicat|lead|cause|risk|problem|damage",
}.items()}  # fmt: skip


def _section_subject(headings: list[str], subject: Subject) -> str:
    """The most specific heading naming an entity (not a kind of question, not generic), else the document's subject."""
    for h in reversed(headings[:-1]):
        if h and h.lower() not in GENERIC_HEADINGS and not h.endswith("?") and not _QUESTION_START.match(h) and not _kind(h):
            if h.strip().lower() != subject.name.lower():
                return h.strip()
            break
    return subject.name if subject.usable else ""


def _kind(heading: str):
    return next(((k, t) for k, p, t in HEADING_QUESTIONS if p.match(heading)), None)


def extract_sections(doc: Document) -> list[SynthExample]:
    """A section under a heading of any depth that names a kind of question ('Symptoms' in a page
    about X: 'What are the symptoms of X?'), or whose first sentence defines its heading
    ('Telehealth visits are video appointments ...': 'What are telehealth visits?')."""
    subject = doc_subject(doc)
    out: list[SynthExample] = []
    seen: set[tuple[str, str]] = set()
    for headings, body, start in _sections(doc):
        if not headings or headings[-1].endswith("?"):
            continue
        heading = headings[-1]
        kind = _kind(heading)
        sentences = prose(body)
        if kind:
            about = _section_subject(headings, subject)
            if not about or (kind[0], about) in seen or _kind(about) or kind[0] in content_words(about):
                continue
            question = kind[1].format(t=about)
            if _be(about)[1] == "are":  # 'How are Kidney Stones in Adults diagnosed?'
                question = re.sub(r"^(How|What|Is)( is|)\b", lambda m: "How are" if m.group(1) == "How" and m.group(2) else
                                  ("What are" if m.group(1) == "What" and m.group(2) else ("Are" if m.group(1) == "Is" else m.group(0))), question)
                question = question.replace(f"How common is {about}", f"How common are {about}")
            fact = kind[0]
        else:
            first = sentences[0] if sentences else ""
            m = re.match(rf"(?:the |an? )?{re.escape(heading)}\s+(is|are)\s+(?:a|an|the|one|our|your|any|each|when|how)\s", first, re.I)
            if not m or heading.lower() in GENERIC_HEADINGS or len(heading.split()) > 6:
                continue
            question = f"What {m.group(1).lower()} {lower_first(heading)}?"
            if subject.company and subject.name.lower() not in heading.lower():
                question = f"What {m.group(1).lower()} {lower_first(heading)} at {subject.name}?"
            about, fact = heading, "definition"
        answer = answer_sentences(sentences, question)
        if not answer or (fact in ON_TOPIC and not ON_TOPIC[fact].search(" ".join(split_sentences(answer)[:2]))):
            continue  # nothing under the heading, or text that does not answer its kind ('Diagnosis' holding risk factors)
        seen.add((fact, about))
        ex = SynthExample(question, answer, doc.source, "section", start, fact, end=start + len(body), title=doc.title, subject=about)
        if fact == "inheritance":
            ex = _yes_no_inheritance(ex)
            if ex is None:
                continue
        out.append(ex)
    return out


def _yes_no_inheritance(ex: SynthExample) -> SynthExample | None:
    """'Is X inherited?' is a yes/no question: answered 'Yes.'/'No.' only when the section says so."""
    first = ex.answer.split(". ")[0].lower()
    if re.search(r"\b(?:is|are) (?:usually |typically |generally )?(?:not inherited|not passed)", first):
        ex.answer = "No. " + ex.answer
    elif re.search(r"\b(?:is|are) (?:usually |typically |generally )?inherited\b|\binherited in an?\b", first):
        ex.answer = "Yes. " + ex.answer
    else:
        return ex  # the section explains without a plain yes or no: a free answer
    ex.answer_type = "yes_no"
    return ex


# --- list ------------------------------------------------------------------------------------

_LEAD_IN = re.compile(
    r"^(?P<np>[A-Z][^:.]{3,90}?)\s+(?P<verb>include|includes|are|may include|can include|might include|consist of|cover|covers)"
    r"(?:\s+the following|\s+these)?(?:\s*\([^)]*\))?\s*:\s*$"
)
MAX_LIST_ITEMS = 8


def extract_lists(doc: Document) -> list[SynthExample]:
    """A lead-in ('Risk factors for small intestine cancer include the following:') and the list
    under it become a question ('What are the risk factors for small intestine cancer?') and one
    sentence naming the items."""
    subject = doc_subject(doc)
    out: list[SynthExample] = []
    for headings, body, start in _sections(doc):
        lines = unwrap(body).split("\n")
        offsets, pos = [], 0
        for line in lines:
            offsets.append(pos)
            pos += len(line) + 1
        for i, line in enumerate(lines):
            lead = split_sentences(line.strip())
            if not lead:
                continue
            m = _LEAD_IN.match(lead[-1])
            if not m:
                continue
            items = []
            for nxt in lines[i + 1 :]:
                if not nxt.strip():
                    if items:
                        break
                    continue
                if not _LIST_ITEM.match(nxt):
                    break
                items.append(_LIST_ITEM.sub("", nxt).strip().rstrip(".;,").strip())
            items = [it for it in items if 1 <= len(it.split()) <= 15 and not it.endswith(":")]
            if len(items) < 2:
                continue
            np_ = m.group("np").strip()
            if np_.split()[0].lower() in {"these", "they", "it", "this", "some", "other", "others", "there"}:
                continue
            about = _section_subject(headings + [""], subject)
            head = re.split(r"\s+(?:of|for|to|in|with|that|which)\s+", np_)[0].split()[-1]
            be = "are" if head.lower().endswith("s") and not head.lower().endswith(("ss", "sis", "us")) else "is"
            question = f"What {be} {_with_article(lower_first(np_))}?"
            if about and not content_words(about) & content_words(np_):
                question = f"What {be} {_with_article(lower_first(np_))} for {about}?"
            shown = [it if re.match(r"[A-Z]{2}|I\b", it) else lower_first(it[:1].lower() + it[1:]) for it in items[:MAX_LIST_ITEMS]]
            joined = ", ".join(shown[:-1]) + (", and " if len(shown) > 2 else " and ") + shown[-1]
            answer = f"{upper_first(np_)} {m.group('verb')} {joined}."
            if len(answer.split()) > MAX_ANSWER_WORDS * 1.5:
                continue
            end = start + offsets[min(i + len(items), len(offsets) - 1)] + 1
            out.append(SynthExample(question, answer, doc.source, "list", start + offsets[i], "list", end=end, title=doc.title, subject=about))
            # a yes/no question the list supports: is <item> one of <np>? (only 'yes': a list does not say what it leaves out)
            item = shown[len(out) % len(shown)]
            np_l = _with_article(lower_first(np_))
            if len(item.split()) <= 8 and be == "are" and not re.match(r"(?:a|an|the)\s", item, re.I):
                yn = f"{'Is' if _be(item)[1] == 'is' or item.split()[0].endswith('ing') else 'Are'} {item} one of {np_l}{'' if about and content_words(about) & content_words(np_) or not about else ' for ' + about}?"
                out.append(SynthExample(yn, f"Yes. {answer}", doc.source, "list", start + offsets[i], "list_yes_no", end=end, answer_type="yes_no",
                                        wrong=[f"No. {upper_first(np_l)} do not include {item}."], title=doc.title, subject=about))  # fmt: skip
    return out


def _with_article(np_: str) -> str:
    """'risk factors for X' -> 'the risk factors for X' (a plural noun phrase with 'for/of' reads better with 'the')."""
    if np_[:1].islower() and not re.match(r"(?:the|a|an|some|most|common|many|all|your|our)\b", np_) and re.search(r"\b(?:for|of|to|with)\b", np_):
        return "the " + np_
    return np_


# --- table -------------------------------------------------------------------------------------

_NUMBER = re.compile(r"^[-–(]?\s*[$€£]?\s?\(?-?\d[\d,]*(?:\.\d+)?\)?\s?(?:%|x|million|billion|thousand|bn|m|k)?\)?$", re.I)
_UNIT = re.compile(r"\bin\s+(millions|thousands|billions)\b|\b(millions|thousands|billions)\s+of\s+(?:u\.?s\.?\s+)?dollars\b", re.I)
_DATE = r"(?:jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)[a-z]*\.?\s+\d{1,2},?\s+(?:19|20)\d{2}"
_PERIOD = re.compile(
    rf"^(?:(?:fy|fiscal(?: year)?|year|q[1-4]|quarter|h[12])\s*)?(?:19|20)\d{{2}}(?:\s*(?:q[1-4]|fy))?$|^{_DATE}$|"
    rf"^(?:as of|year ended|years ended|three months ended|six months ended|nine months ended|fiscal year ended)\s+{_DATE}$",
    re.I,
)


def _cells(line: str) -> list[str]:
    s = line.strip()
    if s.startswith("|"):
        s = s[1:]
    if s.endswith("|"):
        s = s[:-1]
    return [c.strip().strip("*").strip() for c in s.split("|")]


def _table_blocks(text: str):
    """(start offset, rows) for each run of '|' lines (Markdown tables and the loader's HTML and Word tables)."""
    lines = text.split("\n")
    pos, block, block_start = 0, [], 0
    for line in lines + [""]:
        if "|" in line and line.strip():
            if not block:
                block_start = pos
            if not re.fullmatch(r"[\s|:\-]+", line):
                block.append((pos, _cells(line)))
        elif block:
            yield block_start, block
            block = []
        pos += len(line) + 1


def _is_label(cell: str) -> bool:
    return 0 < len(cell.split()) <= 6 and not cell.strip().endswith("?") and not _NUMBER.match(cell) and not re.search(r"[$€£@]|\d{3,}", cell)


def _format_value(value: str, unit: str, currency: str = "") -> str:
    """'$ 86,392' in millions -> '$86,392 million'; '(939)' -> '-$939 million' where the table is in dollars (`currency`)."""
    v = " ".join(value.split())
    if currency and re.fullmatch(r"\(?-?[\d,]+(?:\.\d+)?\)?", v):
        v = f"({currency}{v.strip('()')})" if v.startswith("(") else currency + v
    v = re.sub(r"([$€£])\s+", r"\1", v)
    m = re.fullmatch(r"([$€£]?)\(\s*([$€£]?)([\d,.]+)\s*\)", v)
    if m:  # a negative figure, written as the document writes it: '$(939)'
        v = f"{m.group(1) or m.group(2)}({m.group(3)})"
    if unit and re.fullmatch(r"-?[$€£]?\(?-?[\d,]+(?:\.\d+)?\)?", v):
        v += f" {unit}"
    return v


def _unit(text: str) -> str:
    m = _UNIT.search(text)
    if not m:
        return ""
    return (m.group(1) or m.group(2)).lower().rstrip("s")


def _phrase_period(column: str) -> str:
    c = column.strip()
    if re.fullmatch(r"(?:19|20)\d{2}", c):
        return f"in {c}"
    if re.match(r"(?:as of|year ended|years ended|three months ended|six months ended|nine months ended)\b", c, re.I):
        return lower_first(c) if not c.lower().startswith("as of") else c[0].lower() + c[1:]
    if re.match(r"(?:jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)", c, re.I):
        return f"as of {c}"
    return f"in {c}"


_SINGULAR_S = {
    "diabetes", "news", "series", "species", "aids", "gas", "lens", "its", "this", "pancreas", "measles", "rabies", "shingles",
    "mumps", "rickets", "herpes", "scabies", "rubella", "tetanus", "earnings",
}  # fmt: skip


def _be(label: str) -> tuple[str, str]:
    """('was', 'is') or ('were', 'are'): 'Inventories were', 'Net revenue was'."""
    head = re.split(r",|\s+(?:of|for|from|in|on|to|and|by|with|provided|used|attributable|before|after|net)\s+", label.strip())[0].split()
    word = head[-1].lower() if head else ""
    plural = word.endswith("s") and not word.endswith(("ss", "ness", "is", "us", "ics")) and word not in _SINGULAR_S
    return ("were", "are") if plural else ("was", "is")


_ATTRIBUTE_HEADERS = {"feature", "features", "item", "items", "detail", "details", "attribute", "category", "benefit", "benefits", "term", "terms", ""}


def _cell_sentences(subject: Subject, context: str, row: str, column: str, value: str, by_column: bool = False) -> tuple[str, str]:
    """('What was PepsiCo's net revenue in 2022?', "PepsiCo's net revenue in 2022 was $86,392 million.")"""
    row_l = lower_first(re.sub(r"\s*\(\d\)$|\(\d\)|^(?:less|add|plus)\s*:\s*", "", row, flags=re.I).rstrip(":").strip())
    was, is_ = _be(row_l)
    if _PERIOD.match(column):
        when = _phrase_period(column)
        if subject.company:
            return f"What {was} {subject.possessive()} {row_l} {when}?", f"{subject.possessive()} {row_l} {when} {was} {value}."
        if context:
            return (f"What {was} {_the(row_l)} {when}, according to {context}?",
                    f"According to {context}, {_the(row_l)} {when} {was} {value}.")  # fmt: skip
        return f"What {was} {_the(row_l)} {when}?", f"{upper_first(_the(row_l))} {when} {was} {value}."
    col_l = lower_first(column)
    if by_column:  # | Feature | Everyday Checking | Plus Checking |: the columns are the things asked about
        row_l, col_l = col_l, row_l
        was, is_ = _be(col_l)
    if subject.company:
        return f"What {is_} the {col_l} for {row_l} at {subject.name}?", f"The {col_l} for {row_l} at {subject.name} {is_} {value}."
    if context:
        return f"What {is_} the {col_l} for {row_l}, according to {context}?", f"According to {context}, the {col_l} for {row_l} {is_} {value}."
    return f"What {is_} the {col_l} for {row_l}?", f"The {col_l} for {row_l} {is_} {value}."


def _the(np_: str) -> str:
    return np_ if re.match(r"(?:the|a|an|total|net)\b", np_, re.I) or np_[:1].isupper() else "the " + np_


def extract_tables(doc: Document) -> list[SynthExample]:
    """Tables of any width. A header row names the columns; the first cell of a row names it. A
    cell becomes 'What was <row> in <column>?' when the column is a period, else 'What is the
    <column> for <row>?', answered by one sentence with the value and its unit. A two-column table
    without a header row (| Phone | (402) 555-0110 |) gives facts about its section. The other
    cells of the row and column are the wrong answers for preference pairs."""
    subject = doc_subject(doc)
    out: list[SynthExample] = []
    for block_start, block in _table_blocks(doc.text):
        block = [(pos, cells) for pos, cells in block if any(cells)]
        if len(block) < 2 or max(len(c) for _, c in block) < 2:
            continue
        width = max(len(c) for _, c in block)
        block = [(pos, cells + [""] * (width - len(cells))) for pos, cells in block]
        section = _section_at(doc, block_start)
        context = _context(section, subject)
        if not subject.company and not context:
            continue  # rows of a table that names nothing ('Costa Rica | 127,963'): no question says what they are
        before = doc.text[max(0, block_start - 400) : block_start]
        header, data = block[0][1], block[1:]
        unit = _unit(" ".join(" ".join(c) for _, c in block[:3]) + " " + before)
        currency = next((m.group(0) for _, c in block for m in [re.search(r"[$€£]", " ".join(c[1:]))] if m), "")
        # header rows that continue the column names ('|  | Allocation |') or give the unit ('| (in millions) |')
        while data and not data[0][1][0] and all(not _NUMBER.match(c) or _PERIOD.match(c) for c in data[0][1][1:] if c):
            row = data[0][1]
            if any(_PERIOD.match(c) for c in row if c):  # '|  | 2019 | 2018 |' under 'Years Ended December 31,': the periods name the columns
                header = [c if _PERIOD.match(c) else h for h, c in zip(header, row)]
            else:
                header = [f"{h} {c}".strip() if c and not _UNIT.search(c) else h for h, c in zip(header, row)]
            data = data[1:]
        if width == 2:
            out.extend(_key_value(doc, block, section, subject, 0))
            continue
        # a column that is not a period is asked about as an attribute of the row ('the fee for X'): only
        # when the first column's heading says what the rows are ('Service', 'Plan')
        by_column = header[0].strip().lower() in _ATTRIBUTE_HEADERS and all(_is_label(h) and not _PERIOD.match(h) for h in header[1:] if h.strip())
        named_rows = _is_label(header[0]) or by_column
        columns = [(j, " ".join(h.split())) for j, h in enumerate(header)
                   if j > 0 and (_PERIOD.match(h.strip()) or (named_rows and _is_label(h) and not re.search(r"\(\d\)", h)))]  # fmt: skip
        cells = []
        for pos, row in data:
            label = " ".join(row[0].split())
            if not label or not _is_row_label(label):
                continue
            for j, column in columns:
                value = row[j]
                if not value or value in ("—", "-", "–", "n/a", "N/A") or len(value.split()) > 12:
                    continue
                cells.append((pos, label, column, value, row))
        if not cells:
            continue
        step = max(1, len(cells) // MAX_CELLS_PER_TABLE)
        for pos, label, column, value, row in cells[::step][:MAX_CELLS_PER_TABLE]:
            scaled = unit if _NUMBER.match(value) and "%" not in value and not re.search(r"\bper\b|%|ratio|margin|rate|price", label, re.I) else ""
            money = currency if not re.search(r"share|%|ratio|percent|number|employees|units|days", label + " " + column, re.I) else ""
            shown = _format_value(value, scaled, money)
            q, a = _cell_sentences(subject, context, label, column, shown, by_column)
            wrong = []
            for j, other in columns:  # the same row in another column (another period)
                if other != column and row[j] and row[j] != value:
                    wrong.append(_cell_sentences(subject, context, label, column, _format_value(row[j], scaled, money), by_column)[1])
            for _, other_label, other_col, other_value, _ in cells:  # another row in the same column
                if other_col == column and other_label != label and other_value != value:
                    wrong.append(_cell_sentences(subject, context, label, column, _format_value(other_value, scaled, money), by_column)[1])
                    break
            out.append(SynthExample(q, a, doc.source, "table", pos, "cell", end=pos + 1,
                                    answer_type="number" if _NUMBER.match(value) else "free", wrong=wrong[:3], title=doc.title,
                                    subject=subject.name))  # fmt: skip
        out.extend(_table_yes_no(doc, subject, context, data, columns, unit, currency))
    out.extend(_pdf_line_tables(doc, subject))
    return out


def _is_row_label(label: str) -> bool:
    if _PERIOD.match(label) or re.match(r"(?:at|as of|as at|balance at)\s+\d", label, re.I):
        return False  # a period ('At 31 December'), not a line item
    return (0 < len(label.split()) <= 12 and re.search(r"[A-Za-z]{3}", label) is not None and not _NUMBER.match(label)
            and label.rstrip(":").lower() not in {"total", "basic", "diluted", "other", "net", "assets", "liabilities"} and not label.endswith(":"))  # fmt: skip


def _number(value: str) -> float | None:
    v = value.replace("$", "").replace("€", "").replace("£", "").replace(",", "").strip()
    neg = v.startswith("(") and v.endswith(")")
    v = v.strip("() ")
    try:
        n = float(v)
    except ValueError:
        return None
    return -n if neg else n


def _table_yes_no(doc, subject: Subject, context: str, data, columns, unit: str, currency: str) -> list[SynthExample]:
    """'Did PepsiCo's net revenue increase from 2021 to 2022?' where two period columns hold numbers."""
    periods = [(j, c) for j, c in columns if re.fullmatch(r"(?:19|20)\d{2}", c)]
    if len(periods) < 2 or not subject.company:
        return []
    (j1, c1), (j2, c2) = periods[0], periods[1]
    later, earlier = ((j1, c1), (j2, c2)) if c1 > c2 else ((j2, c2), (j1, c1))
    out = []
    for k, (pos, row) in enumerate(data):
        label = " ".join(row[0].split())
        a, b = _number(row[later[0]]), _number(row[earlier[0]])
        if not _is_row_label(label) or a is None or b is None or a == b or len(out) >= 3:
            continue
        row_l = lower_first(label)
        direction = "increase" if k % 2 == 0 else "decrease"
        yes = (a > b) == (direction == "increase")
        money = currency if not re.search(r"share|%|ratio|percent|number|employees", label, re.I) else ""
        fmt = lambda v: _format_value(v, unit if "%" not in v else "", money)  # noqa: E731
        q = f"Did {subject.possessive()} {row_l} {direction} from {earlier[1]} to {later[1]}?"
        move = "up" if a > b else "down"
        ans = f"{'Yes' if yes else 'No'}. {subject.possessive()} {row_l} was {fmt(row[later[0]])} in {later[1]}, {move} from {fmt(row[earlier[0]])} in {earlier[1]}."
        wrong = f"{'No' if yes else 'Yes'}. {subject.possessive()} {row_l} was {fmt(row[earlier[0]])} in {later[1]}, {'down' if move == 'up' else 'up'} from {fmt(row[later[0]])} in {earlier[1]}."
        out.append(SynthExample(q, ans, doc.source, "table", pos, "trend", end=pos + 1, answer_type="yes_no", wrong=[wrong], title=doc.title, subject=subject.name))
    return out


def _key_value(doc: Document, rows, section: list[str], subject: Subject, base: int) -> list[SynthExample]:
    """| Phone | (402) 555-0110 | rows: attributes of the section's entity; | Service | Fee | header: the key is asked about.
    `rows` are (offset from `base`, [key, value])."""
    out = []
    header = rows[0][1]
    labelled = _is_label(header[0]) and _is_label(header[1])
    about = _context(section, subject)
    heading = clean_heading(section[-1]) if section else ""
    fees = bool(_ATTRIBUTES_ONLY.match(heading) and re.search(r"\bfees?\b", heading, re.I))  # the table lists fees (and more)
    for pos, cells in (rows[1:] if labelled else rows):
        key, value = " ".join(cells[0].split()), " ".join(cells[1].split())
        if not key or not value or not _is_row_label(key) or len(value.split()) > 30:
            continue
        shown = _format_value(value, "")
        shown = shown.lower() if shown in ("None", "Free", "Not available", "N/A", "No", "Yes") else shown
        if labelled and header[1].lower() not in ("detail", "details", "value", "information", "info", "description", "notes"):
            column = lower_first(header[1])
            where = f" at {subject.name}" if subject.company else ""
            is_ = _be(column)[1]
            q, a = f"What {is_} the {column} for {lower_first(key)}{where}?", f"The {column} for {lower_first(key)}{where} {is_} {shown.rstrip('.')}."
        elif fees and re.match(r"[$€£]", value) and not _AMOUNT_NOUN.search(key):
            # '| Incoming domestic wire | $10 |' under 'Fees, limits and cut-off times': the row is a service, the value its fee
            where = "" if {w.rstrip("s") for w in content_words(about)} & {w.rstrip("s") for w in content_words(key)} else f" ({about})" if about else ""
            q, a = f"What is the fee for {lower_first(key)}{where}?", f"The fee for {lower_first(key)}{where} is {shown.rstrip('.')}."
        elif about:
            verb = "are" if re.search(r"[^s]s$", key.split()[-1]) else "is"
            q, a = f"What {verb} the {lower_first(key)} for {about}?", f"The {lower_first(key)} for {about} {verb} {shown.rstrip('.')}."
        else:
            continue
        out.append(SynthExample(q, a, doc.source, "table", base + pos, "cell", end=base + pos + 1,
                                answer_type="number" if _NUMBER.match(value) else "free", title=doc.title, subject=about))  # fmt: skip
    values = [e.answer for e in out]
    for e in out:  # another row's value, said of this row
        others = [v for v in values if v != e.answer]
        if others:
            e.wrong = [_swap_value(e.answer, others[0])]
    return out


def _swap_value(answer: str, other: str) -> str:
    """'The fee for X is $40.' with the value of 'The fee for Y is $15.': 'The fee for X is $15.'"""
    head = answer.rsplit(" is ", 1)[0] if " is " in answer else answer.rsplit(" are ", 1)[0]
    verb = " is " if " is " in answer else " are "
    value = other.rsplit(" is ", 1)[-1] if " is " in other else other.rsplit(" are ", 1)[-1]
    return head + verb + value


def _section_at(doc: Document, offset: int) -> list[str]:
    return next((s.headings for s in doc.sections if s.start <= offset < s.end), [])


def _context(section: list[str], subject: Subject) -> str:
    """The entity a table's rows belong to: its section heading when that names one, else the document's subject."""
    for h in reversed(section):
        h = clean_heading(h)
        if h.strip() == subject.name or (":" in h and subject.name in h):
            break
        if h and h.lower() not in GENERIC_HEADINGS and not h.endswith("?") and not _kind(h) and not _QUESTION_START.match(h) and not _ATTRIBUTES_ONLY.match(h):
            return h
    return subject.name if subject.usable else ""


# A heading that lists what a table holds ('Fees, limits and cut-off times', 'Rates & terms') names no entity: the rows
# belong to the heading above it ('Wire Transfers'), not to 'Fees, limits and cut-off times'.
_ATTRIBUTES_ONLY = re.compile(
    r"^(?:(?:fees?|limits?|rates?|charges?|prices?|pricing|costs?|(?:cut-?off )?times?|hours|deadlines?|terms|"
    r"contacts?|details|requirements|eligibility|dividends?|minimums?|balances?|key facts|at a glance)(?:\s*,\s*(?:and\s+)?|\s+and\s+|\s*&\s*|$))+$",
    re.I,
)


def _pdf_line_tables(doc: Document, subject: Subject) -> list[SynthExample]:
    """A PDF table comes out as one cell per line ('Service', 'Self-pay price', 'Video visit', '$95', ...):
    a header pair of labels followed by at least two label/value pairs whose values hold a number."""
    out = []
    for sec in doc.sections:
        if sec.page is None:
            continue
        text = doc.text[sec.start : sec.end]
        lines = text.split("\n")
        offsets, pos = [], 0
        for line in lines:
            offsets.append(pos)
            pos += len(line) + 1
        i = 0
        while i + 5 < len(lines):
            h1, h2 = lines[i].strip(), lines[i + 1].strip()
            if not (_is_label(h1) and _is_label(h2) and _pdf_key(h1) and _pdf_key(h2) and not _pdf_value(h2) and len(h2.split()) <= 4):
                i += 1
                continue
            pairs, j = [], i + 2
            while j + 1 < len(lines) and _pdf_key(lines[j]) and _pdf_value(lines[j + 1]) and (j + 2 >= len(lines) or lines[j + 2][:1].isupper() or not lines[j + 2].strip()):
                pairs.append((j, lines[j].strip(), lines[j + 1].strip()))
                j += 2
            if len(pairs) < 2:
                i += 1
                continue
            rows = [(offsets[i], [h1, h2])] + [(offsets[k], [key, value]) for k, key, value in pairs]
            for ex in _key_value(doc, rows, _pdf_heading_before(lines, i), subject, sec.start):
                out.append(ex)
            i = j
    return out


def _pdf_key(line: str) -> bool:
    """A whole cell on its own line: capitalised, parentheses closed, not cut mid-phrase ('Home equity line of')."""
    s = line.strip()
    return (_is_row_label(s) and s[:1].isupper() and s.count("(") == s.count(")")
            and not re.search(r"(?:\b(?:of|for|and|or|the|a|to|in|with|per|on)|[,(/-])$", s, re.I))  # fmt: skip


def _pdf_value(line: str) -> bool:
    s = line.strip()
    return (0 < len(s.split()) <= 6 and re.match(r"(?:[$€£]?\d|None\b|Free\b|No\b|Yes\b|N/A\b)", s, re.I) is not None
            and s.count("(") == s.count(")") and not re.search(r"(?:\b(?:of|for|and|or|the|a|to|in|with|per|on)|[,(/-])$", s, re.I))  # fmt: skip


def _pdf_heading_before(lines: list[str], i: int) -> list[str]:
    for k in range(i - 1, -1, -1):
        nxt = lines[k + 1] if k + 1 < len(lines) else ""
        if _looks_like_heading(lines[k], nxt) or (0 < len(lines[k].split()) <= 5 and not re.search(r"[.,;:]$", lines[k].strip())):
            return [lines[k].strip()]
    return []


# --- statement ---------------------------------------------------------------------------------

_YEARS = re.compile(r"\b((?:19|20)\d{2})\s+((?:19|20)\d{2})(?:\s+((?:19|20)\d{2}))?\b")
_AMOUNT = r"(?:\$\s?)?\(?-?\d[\d,]*(?:\.\d+)?\)?%?"
_STATEMENT_TITLE = re.compile(
    r"(consolidated\s+)?(statements?\s+of\s+(?:income|operations|earnings|cash\s+flows|comprehensive\s+income)|balance\s+sheets?)", re.I
)


def extract_statements(doc: Document) -> list[SynthExample]:
    """Financial statements whose table was flattened into one run of text (PDF extraction of a
    10-K: '... 2022 2021 2020 Net Revenue $ 86,392 $ 79,474 $ 70,372 Cost of sales 40,576 ...'):
    after a header of years, a line item is a label followed by exactly one amount per year."""
    subject = doc_subject(doc)
    if not subject.company:
        return []
    out: list[SynthExample] = []
    for m in _STATEMENT_TITLE.finditer(doc.text):
        window = doc.text[m.start() : m.start() + 6000]
        years = _YEARS.search(window[:700])
        if not years:
            continue
        periods = [y for y in years.groups() if y]
        if sorted(periods, reverse=True) != periods:
            continue
        unit = _unit(window[: years.start() + 1]) or "million"
        if len(re.findall(r"\b[a-z]{15,}\b", window[:3000])) >= 3:
            continue  # text extracted without spaces between words ('debtissuancecosts'): its labels are not readable
        statement = " ".join(m.group(0).split()).lower()
        body_start = m.start() + years.end()
        item = re.compile(
            rf"(?P<label>[A-Z][A-Za-z,'’&\-/ ]{{2,80}}?)\s+(?P<values>{_AMOUNT}(?:\s+{_AMOUNT}){{{len(periods) - 1}}})(?=\s+[A-Z]|\s*$)"
        )
        made = 0
        for it in item.finditer(doc.text, body_start, min(len(doc.text), body_start + 5000)):
            label = " ".join(it.group("label").split()).strip(" ,")
            values = re.findall(_AMOUNT, it.group("values"))
            if len(values) != len(periods) or not _is_row_label(label) or len(label.split()) > 10 or re.search(r"\bper\b|share", label, re.I):
                if re.search(r"see accompanying|notes to", label, re.I):
                    break
                continue
            if label.split()[0].lower() in {"table", "page", "see", "less", "in", "and"} or max(len(w) for w in label.split()) > 18:
                continue  # a page marker, or words run together by the PDF extraction ('lossonearlyretirementofdebt')
            money = "$" if "$" in window[: it.end() - m.start()] else ""
            shown = [_format_value(v if v.startswith("$") or not money else money + v if not v.startswith("(") else f"({money}{v.strip('()')})", unit) for v in values]
            for k, (period, value) in enumerate(zip(periods, shown)):
                if k > 0:
                    break  # the latest period only: one question per line item keeps the rest as wrong answers
                item_l, (was, _) = lower_first(label), _be(label)
                if "cash" in statement:  # a cash-flow line is a change ('Accounts payable 111'), not a balance: say where it is from
                    q = f"In {subject.possessive()} {period} cash flow statement, what {was} {item_l}?"
                    say = lambda v: f"In {subject.possessive()} {period} cash flow statement, {item_l} {was} {v}."  # noqa: E731
                else:
                    q = f"What {was} {subject.possessive()} {item_l} in {period}?"
                    say = lambda v: f"{subject.possessive()} {item_l} in {period} {was} {v}."  # noqa: E731
                a = say(value)
                wrong = [say(other) for other in shown if other != value]
                out.append(SynthExample(q, a, doc.source, "statement", it.start(), "cell", end=it.end(), answer_type="number",
                                        wrong=wrong, title=doc.title, subject=f"{subject.name} {statement}"))  # fmt: skip
            if len(periods) >= 2 and made < 3 and "cash" not in statement:
                now, before = _number(values[0]), _number(values[1])
                if now is not None and before is not None and now != before:
                    direction = "increase" if made % 2 == 0 else "decrease"
                    yes = (now > before) == (direction == "increase")
                    move = "up" if now > before else "down"
                    q = f"Did {subject.possessive()} {item_l} {direction} from {periods[1]} to {periods[0]}?"
                    a = f"{'Yes' if yes else 'No'}. {subject.possessive()} {item_l} {was} {shown[0]} in {periods[0]}, {move} from {shown[1]} in {periods[1]}."
                    w = f"{'No' if yes else 'Yes'}. {subject.possessive()} {item_l} {was} {shown[1]} in {periods[0]}, {'down' if move == 'up' else 'up'} from {shown[0]} in {periods[1]}."
                    out.append(SynthExample(q, a, doc.source, "statement", it.start(), "trend", end=it.end(), answer_type="yes_no",
                                            wrong=[w], title=doc.title, subject=subject.name))  # fmt: skip
            made += 1
            if made >= 12:
                break
    return out


# --- fact ---------------------------------------------------------------------------------------

FACTS: dict[str, re.Pattern] = {
    "phone": re.compile(r"(?:\+?1[-. ])?\(?\b\d{3}\)?[-. ]\d{3}[-. ]\d{4}\b"),
    "money": re.compile(r"[$€£]\s?\d[\d,]*(?:\.\d+)?(?:\s?(?:million|billion|thousand))?"),
    "percent": re.compile(r"\b\d+(?:\.\d+)?\s?(?:%|percent\b)"),
    "time": re.compile(r"\b\d{1,2}(?::\d{2})?\s?(?:a\.?m\.?|p\.?m\.?)(?=\W|$)", re.I),
    "duration": re.compile(
        r"\b(?:\d+|one|two|three|four|five|six|seven|eight|nine|ten|twelve|thirty)\s+(?:business\s+|working\s+|calendar\s+)?(?:days?|weeks?|months?|years?|hours?|minutes?)\b",
        re.I,
    ),
}
_COPULA = re.compile(r"\b(is|are|was|were|costs?|takes?|lasts?|opens?|closes?|charges?|earns?|pays?)\b")
_NOT_SUBJECT_START = {
    "you", "we", "it", "this", "that", "they", "if", "when", "i", "there", "these", "those", "please", "call", "ask", "he",
    "she", "visit", "bring", "at", "in", "on", "for", "from", "with", "after", "before", "during", "by", "under", "as", "to",
    "within", "once", "unless", "while", "because", "since", "all", "each", "most", "some", "any", "our", "one", "about", "only",
    "also", "both", "such", "here", "then", "so", "but", "and", "or", "however", "approximately", "nearly", "about", "overall",
    "every", "without", "no", "many", "several", "other", "another", "following",
}  # fmt: skip


_VALUE_LEAD = {"about", "approximately", "around", "nearly", "only", "up", "to", "at", "least", "most", "just", "under", "over", "from",
               "between", "by", "within", "usually", "typically", "generally", "currently", "now", "a", "an", "the", "flat", "fee", "of"}
# A figure followed by a comparative or an adjective qualifies that word, it is not the subject's value:
# 'X is 100 percent preventable', 'Y was 5 percent higher', 'Z is 30 percent more likely' ask 'what is X?' of nothing.
_QUALIFIED = re.compile(
    r"(?:more|less|higher|lower|greater|fewer|larger|smaller|likely|unlikely|faster|slower|better|worse|"
    r"\w+(?:able|ible|ive|ful|ous))\b"
)


_AMOUNT_NOUN = re.compile(
    r"\b(?:fees?|prices?|costs?|charges?|payments?|amounts?|balances?|deposits?|revenues?|income|sales|expenses?|limits?|minimum|"
    r"maximum|deductibles?|copays?|premiums?|salary|total|fines?|penalty|rates?|budget|value|profit|loss|earnings|cash|debt|dividends?|price)\b",
    re.I,
)


def _fact_question(np_: str, verb: str, fact: str, subject: Subject) -> str:
    np_l = lower_first(np_)
    if subject.company and subject.name.lower() not in np_l.lower():
        bare = re.sub(r"^(?:the|our)\s+", "", np_l)
        np_l = f"{subject.possessive()} {bare}"
    elif subject.proper and not content_words(subject.name) & content_words(np_):
        np_l = f"{np_l} for {subject.name}"  # 'the average age of onset for Anxiety Disorders'

    v = verb.lower()
    base = {"costs": "cost", "takes": "take", "lasts": "last", "opens": "open", "closes": "close", "charges": "charge", "earns": "earn", "pays": "pay"}.get(v, v)
    past = v in ("was", "were")
    if v in ("is", "are", "was", "were"):
        if fact == "duration" and re.search(r"\b(?:period|time|wait|stay|term|duration|follow-?up|window|delay|length|course)\b", np_l, re.I):
            return f"How long {v} {np_l}?"
        if fact == "time":
            return f"When {v} {np_l}?"
        if fact == "money" and not _AMOUNT_NOUN.search(np_l):
            return f"How much {v} {np_l}?"  # 'Sports physicals are $55': how much, not what
        return f"What {v} {np_l}?"
    aux = "do" if np_l.split()[-1].endswith("s") and not np_l.split()[-1].endswith("ss") else "does"
    if past:
        aux = "did"
    if base in ("cost", "charge", "earn", "pay"):
        return f"How much {aux} {np_l} {base}?"
    if base in ("take", "last"):
        return f"How long {aux} {np_l} {base}?"
    return f"When {aux} {np_l} {base}?"


def extract_facts(doc: Document, per_section: int = 4) -> list[SynthExample]:
    """A sentence that states an amount, rate, time, duration or phone number about a named thing
    ('The no-show fee is $40.') asks about that thing ('What is the no-show fee?'); with the value
    right after 'is', also a yes/no question with another value of the same kind from the document
    ('Is the no-show fee $55?' 'No. The no-show fee is $40.')."""
    subject = doc_subject(doc)
    out: list[SynthExample] = []
    values: dict[str, list[str]] = {}
    if not subject.usable:
        return []  # a document that names nothing (a bare abstract number): its figures cannot be asked about without it
    for headings, body, start in _sections(doc):
        kept = 0
        for line in re.finditer(r"[^\n]+", unwrap(body)):
            if "|" in line.group(0) or _LIST_ITEM.match(line.group(0)):
                continue
            for sentence in map(strip_run_in_heading, split_sentences(line.group(0))):
                if kept >= per_section or not 5 <= len(sentence.split()) <= 45 or sentence.endswith("?"):
                    continue
                fact = next((name for name, p in FACTS.items() if p.search(sentence)), None)
                if fact is None:
                    continue
                v = _COPULA.search(sentence)
                if not v:
                    continue
                words = sentence[: v.start()].strip(" ,;:-").split()
                if not 1 <= len(words) <= 8 or words[0].lower().strip(",") in _NOT_SUBJECT_START or re.search(r"\d", " ".join(words)):
                    continue
                np_ = " ".join(words)
                if "," in np_:
                    continue  # 'Without insurance, there is ...': a clause, not a subject
                specific = [w for w in content_words(np_) if len(w) > 2]
                if len(specific) < 2 and not re.search(r"\b[A-Z][a-z]+\b", " ".join(words[1:])):
                    continue  # 'The fee is $40': which fee? not asked without its passage
                value = FACTS[fact].search(sentence[v.end() :])
                lead = sentence[v.end() : v.end() + value.start()].split() if value else []
                if not value or not all(w.lower() in _VALUE_LEAD for w in lead):
                    continue  # the figure is not what the verb says of the subject ('X is a disease of children under 10 years')
                if _QUALIFIED.match(sentence[v.end() + value.end() :].lstrip()):
                    continue  # the figure qualifies another word ('X is 100 percent preventable'): not X's value
                answer = sentence if sentence.endswith((".", "!")) else sentence + "."
                question = _fact_question(np_, v.group(1), fact, subject)
                offset = start + line.start()
                ex = SynthExample(question, answer, doc.source, "fact", offset, fact, end=offset + len(line.group(0)),
                                  answer_type="number" if fact in ("money", "percent") else "free", title=doc.title, subject=np_)  # fmt: skip
                ex._value = value.group(0)  # type: ignore[attr-defined]
                ex._direct = sentence[v.end() :].lstrip().startswith(value.group(0)) and v.group(1) in ("is", "are", "was", "were")  # type: ignore[attr-defined]
                values.setdefault(fact, []).append(value.group(0))
                out.append(ex)
                kept += 1
    yes_no = []
    for i, ex in enumerate(out):  # wrong answers: the same sentence with another value of its kind
        others = [v for v in dict.fromkeys(values.get(ex.fact, [])) if v != ex._value and content_words(v) != content_words(ex._value)]  # type: ignore[attr-defined]
        if not others:
            continue
        other = others[i % len(others)]
        ex.wrong = [ex.answer.replace(ex._value, other, 1)]  # type: ignore[attr-defined]
        if ex._direct and ex.question.startswith("What "):  # type: ignore[attr-defined]
            verb = ex.question.split()[1]
            np_q = ex.question.split(" ", 2)[2].rstrip("?")
            asked, yes = (ex._value, True) if i % 2 == 0 else (other, False)  # type: ignore[attr-defined]
            q = f"{upper_first(verb)} {np_q} {asked}?"
            a = f"{'Yes' if yes else 'No'}. {ex.answer}"
            wrong = f"{'No' if yes else 'Yes'}. {ex.wrong[0]}" if yes else f"Yes. {upper_first(np_q)} {verb} {other}."
            yes_no.append(SynthExample(q, a, ex.source, "fact", ex.offset, ex.fact, end=ex.end, answer_type="yes_no", wrong=[wrong], title=ex.title, subject=ex.subject))
    return out + yes_no


# --- definition --------------------------------------------------------------------------------

_TERM = re.compile(r"^[A-Z][\w/&'().,\- ]{1,60}$")
_GLOSSARY = re.compile(r"glossary|definitions?|terms|jargon|what .* means?|abbreviations", re.I)
_DEFINITION_START = re.compile(r"(?:The|A|An|Any|Each|Money|Your|What|When|Where|Someone|Something|Anyone|Amount|Part|Type|Kind)\b")


_DEFINES = re.compile(r"^(?P<art>An? |The )?(?P<np>[A-Za-z][\w\-]*(?: [\w\-]+){0,3}(?: \([^)]{1,30}\))?) (?P<be>is|are) (?:a|an|one|any) ")
MAX_DEFINING = 3  # per document: the terms a page explains, not every 'X is a ...' it says


def _defining_sentences(doc: Document) -> list[SynthExample]:
    """'Leiomyosarcoma is a cancer that starts in smooth muscle cells.' -> 'What is leiomyosarcoma?':
    the terms a page defines in running text (its own subject is the section extractor's)."""
    subject = doc_subject(doc)
    out: list[SynthExample] = []
    seen: set[str] = set()
    for headings, body, start in _sections(doc):
        sentences = prose(body)
        for i, sentence in enumerate(sentences):
            m = _DEFINES.match(sentence)
            if not m or len(out) >= MAX_DEFINING:
                continue
            np_ = m.group("np").strip()
            first = np_.split()[0].lower()
            if first.endswith("ing"):
                continue  # 'Relieving pain is one of the main goals': an activity, not a term
            if first in _NOT_SUBJECT_START or first in _STOP or np_.lower() in seen or set(np_.lower().split()) & {"we", "it", "they", "you", "he", "she", "our"} or (subject.usable and np_.lower() == subject.name.lower()):
                continue
            if len(content_words(np_)) < 1 or np_.lower() in GENERIC_HEADINGS or re.search(r"\d", np_) or set(np_.lower().split()) & _ADVERBS:
                continue
            article = (m.group("art") or "").lower()
            named = re.sub(r"\s*\((?![A-Z0-9/-]+\))[^)]*\)", "", np_)  # 'Bronchitis (bron-KI-tis)' -> 'Bronchitis'; '(DIPG)' stays
            question = f"What {m.group('be')} {article}{lower_first(named)}?"
            head = np_.split()[-1].lower().rstrip("s")
            follow = sentences[i + 1 : i + 2]
            back = _REFERS_BACK.match(follow[0]) if follow else None
            if back and back.group("noun") and back.group("noun").lower() not in sentence.lower().split():
                back = None  # 'This study ...': a thing the defining sentence never named
            if follow and not (back or head in follow[0].lower()):
                follow = []  # the next sentence is about something else ('Bronchitis also may cause ...' after 'Mucus is ...',
                # 'This study aimed ...' after an abstract's 'X is a neglected marker ...')
            answer = answer_sentences([sentence, *follow], question)
            if not answer or not answer.startswith(sentence[:20]):
                continue
            seen.add(np_.lower())
            pos = doc.text.find(sentence[:30], start)
            out.append(SynthExample(question, answer, doc.source, "definition", pos if pos >= 0 else start, "definition",
                                    end=start + len(body), title=doc.title, subject=np_))  # fmt: skip
    return out


# 'It ...', 'They ...', 'This is ...', 'These tubes ...' (a noun the defining sentence used): the next sentence goes on about
# the term; 'This study ...' after 'X is a marker in studies of ...' does not.
_REFERS_BACK = re.compile(r"(?:it|they)\b|(?:this|these)\s+(?:(?:is|are|was|were|can|may|means?|happens|occurs|causes?|makes?|helps?)\b|(?P<noun>[a-z]+)\b)", re.I)
_ADVERBS = {"also", "usually", "often", "only", "sometimes", "then", "still", "now", "generally", "typically", "always", "not"}


def extract_definitions(doc: Document) -> list[SynthExample]:
    """Glossary entries: '**Term**: definition' lines, and runs of a short term line followed by a
    short definition, in a glossary (by its title or headings) or worded as definitions ('The
    yearly cost of ...'). A lone term/paragraph pair is a sub-heading, not an entry."""
    out: list[SynthExample] = []
    headings = {h.strip().lower() for sec in doc.sections for h in sec.headings}
    glossary = any(_GLOSSARY.search(h) for h in [doc.title, *headings])
    for m in re.finditer(r"(?:^|\n)\s*(?:[-*]\s*)?\*\*([^*\n]{2,60})\*\*\s*[:\-–—]\s*([^\n]{20,})", doc.text):
        term, body = m.group(1).strip(), m.group(2).strip()
        in_glossary = any(_GLOSSARY.search(h) for h in _section_at(doc, m.start()))
        if not (in_glossary or _DEFINITION_START.match(body)):
            continue  # a labelled fact ('**Day after Thanksgiving**: only two branches open'), not a definition
        question = f"What does {term} mean?"
        answer = answer_sentences(split_sentences(body), question)
        if answer:
            out.append(SynthExample(question, answer, doc.source, "definition", m.start(2), "definition", end=m.end(2), title=doc.title, subject=term))
    paragraphs = [(m.start(), m.group(0)) for m in re.finditer(r"[^\n]+(?:\n(?!\n)[^\n]+)*", doc.text)]
    run = []
    for (p0, term), (p1, body) in zip(paragraphs, paragraphs[1:]):
        term = term.strip()
        if term.lower().lstrip("# ") in headings or term.startswith("#") or (term.isupper() and len(term) > 5):
            continue
        if (_TERM.match(term) and not term.endswith((".", ":", "?")) and len(term.split()) <= 8
                and 8 <= len(body.split()) <= 60 and body.rstrip().endswith(".")):  # fmt: skip
            run.append((term, p1, body))
    definitional = sum(bool(_DEFINITION_START.match(body.strip())) for _, _, body in run)
    out.extend(_defining_sentences(doc))
    if len(run) >= 3 and (glossary or definitional * 3 >= len(run) * 2):
        for term, p1, body in run:
            question = f"What does {term} mean?"
            answer = answer_sentences(split_sentences(body), question)
            if answer:
                out.append(SynthExample(question, answer, doc.source, "definition", p1, "definition", end=p1 + len(body), title=doc.title, subject=term))
    return out


EXTRACTORS = {
    "faq": extract_faq,
    "section": extract_sections,
    "list": extract_lists,
    "definition": extract_definitions,
    "table": extract_tables,
    "statement": extract_statements,
    "fact": extract_facts,
}
