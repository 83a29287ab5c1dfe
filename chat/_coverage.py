"""The coverage check: decline when the question names something the documents never mention.

Similarity alone cannot tell "What are the symptoms of Ebola?" from "What are the symptoms of
malaria?" when the documents hold malaria: both retrieve the malaria page, both score high. What
differs is that "Ebola" occurs nowhere in the documents. So after the similarity check, the
question's distinctive terms -- names (capitalised words and runs of them: "Ebola", "American
Water Works"), codes and tickers ("JnJ", "FY2019", "IVIC"), years, and words rare in English
(split into several word pieces by the embedder's own vocabulary: "palmitoyltransferase") -- are
looked up in the knowledge base's vocabulary, built once from its chunks (text, titles, headings,
file names). A question with a missing distinctive term is declined.

What does not decline: common words ("what are your hours?" over a page titled "Opening times":
a paraphrase, not a gap), a plural or a change of case ("Kidney Stone" / "kidney stones": terms
are stemmed), a typo one or two letters off a word the documents hold, a compound written
together ("cashflow" for "cash flow"). Codes and years (often abbreviations or periods a question
adds: "PPNE", "FY20") and rare lower-case words ("nosocomial", "topline") decline only when the
retrieved evidence holds neither another distinctive term of the question ("Pfizer") nor a word
of it that is rare in the documents by their own document frequency ("pneumonia"): a question
anchored on a term the documents hold is about them. Names always decline when missing: "JnJ"
beside "sales growth" is another company, not a paraphrase.
"""
from __future__ import annotations

import re
import threading
from collections import Counter
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import PurePosixPath

# Word-ish tokens: letter/digit runs, with an apostrophe inside ("Adobe's", "don't").
_TOKEN = re.compile(r"[^\W_]+(?:['’][^\W_]+)*")
_YEAR = re.compile(r"(?:19|20)\d\d")
_HYPHENATED = re.compile(r"(?<![^\W\d_])([^\W\d_]+)-([^\W\d_]+)(?![^\W\d_])")
# A full stop after a title ("Dr. Whitfield") does not end the sentence, so the name after it
# is read as a name, not as a sentence's first word.
_SENTENCE_END = re.compile(r"(?<!\bDr)(?<!\bMr)(?<!\bMs)(?<!\bMrs)(?<!\bProf)(?<!\bSt)[.?!:;]\s+|\n")
# Words that are capitalised for grammar, not because they name something.
_FUNCTION_WORDS = frozenset(
    "a an and are as at be but by can could did do does for from had has have how i if in into is it its may "
    "might must my no not of on or our shall should so such than that the their them then there these they this "
    "those to was we were what when where which who whom whose why will with would you your yes also about after "
    "before between during over under per vs".split()
)
# Contractions as tokens() writes them ("I'm" -> "Im", "you've" -> "youve"), conversational
# words and titles: grammar, not names ("If I'm late", "OK. What floor is your clinic on?", "Dr.").
_SPOKEN = frozenset(
    "im ive youve youre youd youll weve theyre theyve theyll dont doesnt didnt cant wont isnt arent wasnt "
    "werent hasnt havent hadnt shouldnt wouldnt couldnt mustnt lets thats whats wheres whos hows heres theres "
    "ok okay hi hello thanks thank please dr mr ms mrs prof".split()
)
# Capitalised for the calendar, not because they name something the documents must hold.
_CALENDAR = frozenset(
    "january february march april may june july august september october november december "
    "monday tuesday wednesday thursday friday saturday sunday".split()
)
MIN_RARE_LENGTH = 5  # shorter words split into pieces are mostly abbreviations or fragments, not names
PAIR_PREFIX = 5  # letters of each word compared in a multi-word name: forgives -s, -an, -ian endings
TITLE_CASE_SHARE = 0.5  # a question capitalising this share of its grammar words is Title Case: capitals say nothing
# A word in at most this share of the chunks marks what a question is about: "pneumonia" anchors
# "...diagnosis of nosocomial pneumonia..." to the pneumonia abstract although "nosocomial" is
# not in it. 0.02 is 16 of the 806 chunks of the shared clinic data; see docs/EVALUATION.md.
ANCHOR_SHARE = 0.02


@dataclass
class Term:
    """One distinctive term of a question: its text as written, its kind and the normalised
    words it must be found as (several for a multi-word name)."""

    text: str
    kind: str  # "name", "code", "year" or "rare"
    words: list[str]


@dataclass
class Vocabulary:
    """Document frequency of each normalised word in the knowledge base (per chunk), the
    word pairs that occur next to each other (to check multi-word names) and the lower-cased
    surface forms (to forgive typos)."""

    df: Counter = field(default_factory=Counter)
    pairs: set = field(default_factory=set)
    surface: dict = field(default_factory=dict)  # (first letter, length) -> set of lower-cased words
    n_chunks: int = 0

    def has(self, word: str) -> bool:
        return word in self.df

    def has_all_words(self, text: str) -> bool:
        """Whether every word of TEXT, normalised as a question's are, occurs in the documents."""
        return all(self.has(w) for w in normalise(tokens(text)))


_STEMMER_LOCK = threading.Lock()
_STEMMER = None


def _stemmer():
    global _STEMMER
    with _STEMMER_LOCK:
        if _STEMMER is None:
            try:
                import Stemmer

                _STEMMER = Stemmer.Stemmer("english")
            except ImportError:  # pragma: no cover - PyStemmer is a dependency (BM25 uses it)
                _STEMMER = False
        return _STEMMER


def _surface(token: str) -> str:
    if "'" in token or "’" in token:
        token = re.sub(r"'s$", "", token.replace("’", "'"), flags=re.IGNORECASE).replace("'", "")
    return token


@lru_cache(maxsize=1 << 18)
def _normal(word: str) -> str:
    stemmer = _stemmer()
    low = _surface(word).lower()
    return stemmer.stemWord(low) if stemmer else low


@lru_cache(maxsize=1 << 16)
def _parts(word: str) -> tuple[str, ...]:
    """A mixed word's letter and digit runs: FY2019 -> FY, 2019 (the whole word is kept too)."""
    if word.isalpha() or word.isdigit():
        return ()
    runs = re.findall(r"[^\W\d_]+|\d+", word)
    return tuple(runs) if len(runs) > 1 else ()


def normalise(words: list[str]) -> list[str]:
    """Lower-cased, possessive dropped, stemmed: "Kidney Stones'" and "kidney stone" agree."""
    return [_normal(w) for w in words]


def tokens(text: str) -> list[str]:
    return [_surface(t) for t in _TOKEN.findall(text)]


def build_vocabulary(chunks) -> Vocabulary:
    """The vocabulary of a knowledge base, from its chunks: text, title, headings and file name."""
    vocab = Vocabulary()
    for chunk in chunks:
        source_words = re.sub(r"[_\-./]+", " ", PurePosixPath(getattr(chunk, "source", "") or "").stem)
        texts = [chunk.text, getattr(chunk, "title", "") or "", " ".join(getattr(chunk, "headings", None) or []), source_words]
        seen: set[str] = set()
        for text in texts:
            raw = tokens(text)
            extra = [p for w in raw for p in _parts(w)] + [a + b for a, b in _HYPHENATED.findall(text)]  # "check-up": "checkup"
            normal = normalise(raw)
            seen.update(normal)
            seen.update(normalise(extra))
            vocab.pairs.update(_pairs(normal))
            for w in raw:
                low = w.lower()
                if len(low) >= MIN_RARE_LENGTH and low.isalpha():
                    vocab.surface.setdefault((low[0], len(low)), set()).add(low)
        vocab.df.update(seen)
        vocab.n_chunks += 1
    return vocab


def _is_common(word: str, wordpiece: dict | None) -> bool:
    """True for a word the embedder's vocabulary holds whole: common English (or an
    abbreviation too short to judge). Without a word-piece vocabulary every word is common,
    so only capitals, codes and years can decline."""
    low = word.lower()
    if wordpiece is None or len(low) < MIN_RARE_LENGTH or not low.isalpha():
        return True
    return low in wordpiece


def distinctive_terms(question: str, wordpiece: dict | None = None) -> list[Term]:
    """The terms a question hinges on, in order: names (runs of capitalised words), codes,
    years and rare words. The first word of each sentence counts as a name only when it is
    rare, since every sentence starts with a capital."""
    sentences = [s for s in _SENTENCE_END.split(question) if s.strip()]
    # Title Case ("What Are The Symptoms Of ...", "Does Sensation Return to the Nasal Tip?")
    # capitalises grammar words, which a sentence never does, or every other word.
    inner = [w for s in sentences for w in tokens(s)[1:] if w.isalpha() and len(w) > 1 and not w.isupper()]
    grammar = [w for w in inner if w.lower() in _FUNCTION_WORDS]
    content = [w for w in inner if w.lower() not in _FUNCTION_WORDS and w.lower() not in _CALENDAR and w.lower() not in _SPOKEN]
    title_case = (bool(grammar) and sum(w[:1].isupper() for w in grammar) >= TITLE_CASE_SHARE * len(grammar)) or (
        len(content) >= 3 and all(w[:1].isupper() for w in content))
    terms: list[Term] = []
    for sentence in sentences:
        run: list[str] = []
        for i, word in enumerate(tokens(sentence)):
            kind = _kind(word, initial=(i == 0), title_case=title_case, wordpiece=wordpiece)
            if kind == "name":
                run.append(word)
                continue
            if run:
                terms.append(Term(" ".join(run), "name", normalise(run)))
                run = []
            if kind is not None:
                terms.append(Term(word, kind, normalise([word])))
        if run:
            terms.append(Term(" ".join(run), "name", normalise(run)))
    return terms


def _kind(word: str, initial: bool, title_case: bool, wordpiece: dict | None) -> str | None:
    low = word.lower()
    if low in _FUNCTION_WORDS or low in _CALENDAR or low in _SPOKEN:
        return None
    if word.isdigit():
        return "year" if _YEAR.fullmatch(word) else None
    has_digit = any(c.isdigit() for c in word)
    if has_digit and any(c.isalpha() for c in word):
        return "code"  # FY2019, 10K, 3M
    if len(word) >= 2 and word.isupper():
        return "code"  # tickers and acronyms: IBM, IVIC, USD
    if len(word) >= 2 and not title_case and not initial and (word[0].isupper() or any(c.isupper() for c in word[1:])):
        return "name"  # Ebola, Nike, JnJ, iPhone
    if not _is_common(word, wordpiece):
        return "rare"
    return None


class CoverageCheck:
    """The knowledge base's vocabulary, built on first use (0.5 s for the 806 chunks of the shared clinic data), and
    the check of one question against it."""

    def __init__(self, kb):
        self.kb = kb
        self._vocab: Vocabulary | None = None
        self._lock = threading.Lock()
        tokenizer = getattr(getattr(kb, "embedder", None), "_tokenizer", None)
        try:
            vocab = tokenizer.get_vocab() if tokenizer is not None else None
        except (AttributeError, TypeError):
            vocab = None
        # Whole English words as entries (WordPiece, as MiniLM and BERT have): else no word is judged rare.
        self.wordpiece = vocab if vocab and "the" in vocab and "question" in vocab else None

    @property
    def vocabulary(self) -> Vocabulary:
        with self._lock:
            if self._vocab is None:
                self._vocab = build_vocabulary(getattr(self.kb, "chunks", []))
            return self._vocab

    def missing(self, question: str, hits=()) -> list[Term]:
        """The question's distinctive terms the documents do not hold (none: the question passes)."""
        vocab = self.vocabulary
        terms = distinctive_terms(question, self.wordpiece)
        absent = [t for t in terms if not _covered(t, vocab)]
        if not absent:
            return []
        strong = [t for t in absent if t.kind == "name"]
        if strong:
            return strong
        if vocab.n_chunks * ANCHOR_SHARE < 1:
            # A small folder (a clinic's few pages) cannot say which words are rare, nor tell a
            # paraphrase ("instalments" for "payment plans") from a missing subject: only a
            # missing name declines there.
            absent = [t for t in absent if t.kind != "rare"]
            if not absent:
                return []
        return [] if self._anchored(question, terms, absent, hits) else absent

    def _anchored(self, question: str, terms: list[Term], absent: list[Term], hits) -> bool:
        """True when the retrieved evidence holds another distinctive term of the question, or a
        word of it that is rare in the documents (in at most ANCHOR_SHARE of the chunks): the
        question is about what the documents hold."""
        vocab = self.vocabulary
        evidence = set(normalise(tokens(" ".join(_hit_text(h) for h in hits))))
        if any(t not in absent and all(w in evidence for w in t.words) for t in terms):
            return True
        missing = {w for t in absent for w in t.words}
        limit = ANCHOR_SHARE * vocab.n_chunks  # below 1/ANCHOR_SHARE chunks no word is rare enough to say
        words = normalise([w for w in tokens(question) if w.lower() not in _FUNCTION_WORDS and not w.isdigit()])
        return any(w not in missing and w in evidence and vocab.df[w] <= limit for w in words)

    def reason(self, question: str, hits=()) -> str | None:
        """'coverage: ...' naming the missing terms, or None when the documents hold them all."""
        absent = self.missing(question, hits)
        if not absent:
            return None
        names = ", ".join(f"'{t.text}'" for t in absent[:3])
        verb = "is" if len(absent) == 1 else "are"
        return f"coverage: {names} {verb} not in the documents"


def _hit_text(hit) -> str:
    chunk = getattr(hit, "chunk", hit)
    return " ".join([chunk.text, getattr(chunk, "title", "") or "", " ".join(getattr(chunk, "headings", None) or [])])


def _covered(term: Term, vocab: Vocabulary) -> bool:
    words = term.words
    if len(words) > 1 and "".join(words) in vocab.df:
        return True  # "Best Buy" written BESTBUY in a file name
    for word, raw in zip(words, tokens(term.text)):
        if vocab.has(word):
            continue
        if term.kind == "code":
            parts = _parts(raw)  # FY2023: "FY" and "2023" both in the documents
            if parts and all(vocab.has(p) for p in normalise(parts)):
                continue
            return False
        if term.kind == "year" or not (_compound(raw, vocab) or _near(raw, vocab)):
            return False
    if term.kind == "name" and len(words) > 1:
        return all(pair in vocab.pairs for pair in _pairs(words))
    return True


def _pairs(words: list[str]) -> set:
    """Neighbouring words, each cut to PAIR_PREFIX letters: "South African" matches "South Africa"."""
    cut = [w[:PAIR_PREFIX] for w in words]
    return set(zip(cut, cut[1:]))


def _compound(word: str, vocab: Vocabulary) -> bool:
    """"cashflow" -> "cash" + "flow", both in the documents (parts of 4+ letters, so a name
    does not dissolve into syllables)."""
    low = word.lower()
    for i in range(4, len(low) - 3):
        if vocab.has(normalise([low[:i]])[0]) and vocab.has(normalise([low[i:]])[0]):
            return True
    return False


def _near(word: str, vocab: Vocabulary) -> bool:
    """A typo: a word of the documents within one edit (two from 9 letters on), same first letter."""
    low = word.lower()
    if len(low) < MIN_RARE_LENGTH or not low.isalpha():
        return False
    limit = 1 if len(low) < 9 else 2
    for length in range(len(low) - limit, len(low) + limit + 1):
        for candidate in vocab.surface.get((low[0], length), ()):
            if _edit_distance(low, candidate, limit) <= limit:
                return True
    return False


def _edit_distance(a: str, b: str, limit: int) -> int:
    """Edit distance counting a swap of neighbouring letters as one edit ("typhiod" is one from
    "typhoid"), giving up (returning limit + 1) once it must exceed `limit`."""
    if abs(len(a) - len(b)) > limit:
        return limit + 1
    before, previous = None, list(range(len(b) + 1))
    for i, ca in enumerate(a, start=1):
        current = [i]
        for j, cb in enumerate(b, start=1):
            cost = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ca != cb))
            if before is not None and j > 1 and ca == b[j - 2] and a[i - 2] == cb:
                cost = min(cost, before[j - 2] + 1)
            current.append(cost)
        if min(current) > limit:
            return limit + 1
        before, previous = previous, current
    return previous[-1]
