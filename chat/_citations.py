"""Turning the [n] markers an answer writes into the documents they point at, and naming the
supporting documents for an answer that writes none.

Small models often answer from the right chunk without writing its marker. Rather than show
such an answer unsourced, `attribute` looks for the chunks that support it, sentence by
sentence. A marker Tailor adds vouches for the whole answer, so it is added only when every
claim of the answer is supported by a chunk the model was given; one invented sentence, URL or
number leaves the answer unsourced. A claim is supported by a chunk when both hold:

- it says what the chunk says: its embedding (the knowledge base's own embedder) reaches
  SUPPORT_THRESHOLD cosine similarity to one of the chunk's sentences (the groundedness
  threshold of Tailor's evals);
- it says nothing the chunk does not: every number, URL, email address and phone number in it
  appears in the chunk, and at least LEXICAL_SUPPORT of its content words do. Embeddings see
  topics, not facts: "we open at 10" matches "we open at 9", and an invented paragraph about
  the clinic matches any clinic passage, including one that holds only an injected command.

The chunks that support the claims (fewest needed, higher-ranked first) get the markers, and
their citations say `attributed=True`, so a reader can tell a marker Tailor added from one the
model wrote. tests/chat/attribution_cases.py is the labelled set this is measured on.
"""
from __future__ import annotations

import re

import numpy as np

from chat._types import Citation

_MARKER = re.compile(r"\[(\s*\d+(?:\s*[,;]\s*\d+)*\s*)\]")
SNIPPET_CHARS = 200
# A sentence is supported by a passage at this cosine similarity to one of its sentences. Chosen
# on the labelled set in tests/evals/grounding_cases.py; evals' groundedness uses the same value.
SUPPORT_THRESHOLD = 0.60
MIN_CLAIM_WORDS = 4  # "Yes." or "See [2]." state nothing to match
# Share of a claim's content words that must occur in the supporting chunk. On the labelled set
# (tests/chat/attribution_cases.py) supported restatements kept 0.57-1.0 of their words, and the
# inventions that passed the embedding test with no new number 0.30-0.50 (the 0.50: a real base+rag
# answer, "placements are available on any day of the month"): paraphrase swaps some words,
# invention brings many new ones.
LEXICAL_SUPPORT = 0.55

_URL = re.compile(r"\b(?:https?://|www\.)[^\s<>\"')\]]+|\b[a-z0-9-]+(?:\.[a-z0-9-]+)*\.(?:com|org|net|gov|edu|io|info)(?:/[^\s<>\"')\]]*)?", re.I)
_EMAIL = re.compile(r"\b[\w.+-]{1,64}@[\w-]{1,63}(?:\.[\w-]{1,63}){1,8}\b")
_DIGITS = re.compile(r"\d+")
_WORD = re.compile(r"[a-z]+(?:'[a-z]+)?")
_NUMBER_WORDS = {w: str(i) for i, w in enumerate(
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen "
    "sixteen seventeen eighteen nineteen twenty".split())}
_STOPWORDS = frozenset("""
a about above after again against all also am an and any are as at be because been before being below
between both but by can cannot could did do does doing down during each either else ever every few for from
further had has have having he her here hers herself him himself his how i if in into is it its itself just
may me might more most must my myself no nor not now of off on once only or other our ours ourselves out
over own per same shall she should since so some such than that the their theirs them themselves then there
these they this those through to too under until up upon us very was we were what when where which while
who whom whose why will with within would yes yet you your yours yourself yourselves
am pm also however please thank thanks sure glad happy hope helps help let know questions question
anything else further information below above following get got
""".split())


def sentences(text: str) -> list[str]:
    """Split into sentences at . ! ? or line breaks; good enough for answers and chunks."""
    parts = re.split(r"(?<=[.!?])\s+(?=[\"'(\[]?[A-Z0-9])|\n+", text or "")
    return [p.strip() for p in parts if p and p.strip()]


def cited_numbers(text: str, k: int) -> list[int]:
    """The document numbers cited in `text`, in order of first mention; [1], [2, 3] and [1][4]
    all count. Numbers outside 1..k (the model invented a source) are ignored."""
    seen: list[int] = []
    for match in _MARKER.finditer(text):
        for part in re.split(r"[,;]", match.group(1)):
            n = int(part)
            if 1 <= n <= k and n not in seen:
                seen.append(n)
    return seen


def snippet(text: str, limit: int = SNIPPET_CHARS) -> str:
    """The start of a chunk on one line, cut at a word: enough to recognise the passage."""
    flat = " ".join(text.split())
    if len(flat) <= limit:
        return flat
    return flat[:limit].rsplit(" ", 1)[0] + " …"


def citation(n: int, hit, cited: bool, attributed: bool = False) -> Citation:
    chunk = hit.chunk
    return Citation(
        n=n,
        source=chunk.source,
        page=chunk.page,
        snippet=snippet(chunk.text),
        score=float(hit.score),
        chunk_id=chunk.id,
        text=chunk.text,
        similarity=float(hit.similarity),
        cited=cited,
        attributed=attributed,
        title=(getattr(chunk, "title", "") or "").strip().lstrip("#").strip(),
        section=((getattr(chunk, "headings", None) or [""])[-1] or "").strip().lstrip("#").strip(),
    )


# --- what a claim states --------------------------------------------------------------------

def _stem(word: str) -> str:
    """A crude stem, enough to match 'reimbursed' with 'reimburse' and 'visits' with 'visit'."""
    word = word.split("'")[0]
    for suffix in ("ing", "ed", "es", "s", "ly"):
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            return word[: -len(suffix)]
    return word


def content_words(text: str) -> set[str]:
    """The stems of the words that carry content: no stopwords, no courtesy phrases; number
    words become digits ("three" and "3" are the same fact)."""
    out = set()
    for word in _WORD.findall(text.lower()):
        if word in _NUMBER_WORDS:
            out.add(_NUMBER_WORDS[word])
        elif word not in _STOPWORDS and len(word) > 1:
            out.add(_stem(word))
    return out


def key_terms(text: str) -> set[str]:
    """The checkable facts of a text: URLs, email addresses and every run of digits (numbers,
    prices, times, phone numbers), lowercased. Each must appear in a passage that supports it."""
    urls = {u.lower().rstrip(".,;:!?").removeprefix("https://").removeprefix("http://").removeprefix("www.") for u in _URL.findall(text)}
    emails = {e.lower() for e in _EMAIL.findall(text)}
    rest = _EMAIL.sub(" ", _URL.sub(" ", text))
    digits = {d.lstrip("0") or "0" for d in _DIGITS.findall(rest)}
    digits |= {_NUMBER_WORDS[w] for w in _WORD.findall(rest.lower()) if w in _NUMBER_WORDS}
    return urls | emails | digits


def _passage_facts(text: str) -> tuple[str, set[str], set[str]]:
    """(lowercased text, content-word stems, digit runs and number words) of a passage."""
    lower = text.lower()
    digits = {d.lstrip("0") or "0" for d in _DIGITS.findall(text)} | {_NUMBER_WORDS[w] for w in _WORD.findall(lower) if w in _NUMBER_WORDS}
    return lower, content_words(text), digits


def states_nothing_new(claim: str, passage_facts, min_share: float = LEXICAL_SUPPORT) -> bool:
    """Whether every URL, email and number of `claim` occurs in the passage and at least
    `min_share` of its content words do."""
    lower, words, digits = passage_facts
    for term in key_terms(claim):
        if term.isdigit():
            if term not in digits:
                return False
        elif term not in lower:
            return False
    mine = content_words(claim)
    return not mine or len(mine & words) / len(mine) >= min_share


def is_claim(sentence: str) -> bool:
    """A sentence that states something to check: at least MIN_CLAIM_WORDS words, or any URL,
    email or number ("Call 555-0199." is short but checkable); "Yes." and "I hope this helps!" are not."""
    if key_terms(sentence):
        return True
    return len(sentence.split()) >= MIN_CLAIM_WORDS and bool(content_words(sentence))


# A passage's label as the prompt shows it, "(Opening hours (hours.md))": a model that copies
# one into its answer states nothing by it (2 of 40 tuned answers on the clinic example's dev split).
_LABEL_ECHO = re.compile(r"\((?:[^()]*\()?[^()\s]+\.(?:md|markdown|txt|html?|pdf|docx)\)\)?", re.I)


def claims(text: str) -> list[str]:
    return [c for c in sentences(_LABEL_ECHO.sub(" ", _MARKER.sub("", text))) if is_claim(c)]


def states_anything(text: str) -> bool:
    """Whether an answer says anything beyond markers and copied passage labels ("Yes." does)."""
    return bool(re.search(r"\w", _LABEL_ECHO.sub(" ", _MARKER.sub(" ", text or ""))))


# --- attribution ----------------------------------------------------------------------------

_NEGATION = re.compile(r"\b(?:not|no|never|none|cannot|can't|don't|doesn't|didn't|won't|isn't|aren't|wasn't|weren't|"
                       r"without|neither|nor)\b|n't\b", re.I)


def _negated(text: str) -> bool:
    return bool(_NEGATION.search(text))


def passage_units(text: str) -> list[str]:
    """A passage's sentences, and the clauses of those that have several ("You can pay by card
    at the desk, or online at ..."): an answer often restates one clause of a long sentence."""
    units = []
    for sentence in sentences(text):
        units.append(sentence)
        clauses = [c for c in re.split(r"[,;:]\s+", sentence) if len(c.split()) >= MIN_CLAIM_WORDS]
        if len(clauses) > 1:
            units.extend(clauses)
    return units


_VERB_NEGATION = re.compile(r"\b(?:not|never|cannot)\b|n't\b", re.I)


class _Encoded:
    """An embedder that encodes each distinct text once: one answer's check embeds its claims and
    passage sentences for the support test and again, in part, for the figure test."""

    def __init__(self, embedder) -> None:
        self.embedder, self.vectors = embedder, {}

    def encode(self, texts: list[str]) -> np.ndarray:
        missing = [t for t in dict.fromkeys(texts) if t not in self.vectors]
        if missing:
            self.vectors.update(zip(missing, np.asarray(self.embedder.encode(missing), dtype=np.float32)))
        return np.stack([self.vectors[t] for t in texts]) if texts else np.zeros((0, 0), np.float32)


def unit_vectors(embedder, texts: list[str]) -> np.ndarray:
    """TEXTS embedded and scaled to length 1, so a dot product is the cosine."""
    vectors = np.asarray(embedder.encode(texts), dtype=np.float32)
    return vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)


def _affirmed(claim: str) -> str:
    """A negated claim said the other way: "We do not give flu shots" -> "We do give flu shots"."""
    text = re.sub(r"\bwon't\b", "will", claim, flags=re.I)
    text = re.sub(r"\bcan't\b|\bcannot\b", "can", text, flags=re.I)
    text = re.sub(r"n't\b", "", text, flags=re.I)
    return re.sub(r"\s+", " ", re.sub(r"\b(?:not|never)\b", " ", text, flags=re.I)).strip()


def support_matrix(claim_list: list[str], hits: list, embedder, threshold: float = SUPPORT_THRESHOLD) -> np.ndarray:
    """claims x hits, True where the hit's chunk supports the claim (meaning and facts both).

    A negated claim is supported by a close negated unit, unless a passage says the opposite:
    the claim said the other way ("We do give flu shots" for "We do not give flu shots") is
    closer to one of its plain sentences, and that sentence itself holds the claim's words. Then
    the claim contradicts the passage and no passage supports it. (Embeddings barely see "not":
    "we do not give flu shots" is as close to "flu shots cover ... with no copay" as to "we give
    flu shots"; the words of the one sentence decide.)"""
    units = [(n, u) for n, hit in enumerate(hits) for u in passage_units(hit.chunk.text)]
    supported = np.zeros((len(claim_list), len(hits)), dtype=bool)
    if not claim_list or not units:
        return supported
    # Only a negated verb ("do not", "isn't", "never") is said the other way: "no" and "without"
    # mostly qualify ("with no income, a signed statement is enough").
    flipped = [i for i, c in enumerate(claim_list) if _VERB_NEGATION.search(c)]
    texts = claim_list + [_affirmed(claim_list[i]) for i in flipped] + [u for _, u in units]
    vectors = unit_vectors(embedder, texts)
    n_rows = len(claim_list) + len(flipped)
    sims = vectors[:n_rows] @ vectors[n_rows:].T  # (claims, then affirmed claims) x units
    owner = np.array([n for n, _ in units])
    facts = [_passage_facts(hit.chunk.text) for hit in hits]
    negated = np.array([_negated(u) for _, u in units])
    for j in range(len(hits)):
        mine = owner == j
        if not mine.any():
            continue
        for i, claim in enumerate(claim_list):
            # A close unit that says the same thing: same polarity ("we do not give flu shots"
            # is close to "we give flu shots" in meaning-space, and says the opposite).
            close = mine & (sims[i] >= threshold) & (negated == _negated(claim))
            supported[i, j] = bool(close.any()) and states_nothing_new(claim, facts[j])
    for row, i in enumerate(flipped, start=len(claim_list)):
        own = max((sims[i, u] for u, (_, text) in enumerate(units)
                   if negated[u] and sims[i, u] >= threshold and states_nothing_new(claim_list[i], _passage_facts(text))), default=0.0)
        affirmed = _affirmed(claim_list[i])
        if any(not negated[u] and sims[row, u] >= threshold and sims[row, u] > own and states_nothing_new(affirmed, _passage_facts(text))
               for u, (_, text) in enumerate(units)):
            supported[i, :] = False
    return supported


def attribute(text: str, hits: list, embedder, threshold: float = SUPPORT_THRESHOLD, question: str = "") -> list[int]:
    """The [n] of the given chunks that support the answer, fewest first (each chosen to cover
    the most claims still uncovered; ties: the higher-ranked), or [] when any claim is supported
    by none of them (the marker would vouch for an invention), the answer makes no claim, or
    the chosen chunks give one of its figures for something else (`flagged_figures`, the figure
    test `check_support` applies): "open on Saturday from 8:30 am to 12:30 pm" against a page
    saying 1:00 pm, 12:30 pm being the last walk-in, passes the per-claim test but gets no marker."""
    claim_list = claims(text)
    if not claim_list or not hits:
        return []
    supported = support_matrix(claim_list, hits, embedder, threshold)
    if not supported.any(axis=1).all():
        return []
    chosen: list[int] = []
    left = np.ones(len(claim_list), dtype=bool)
    while left.any():
        gains = (supported & left[:, None]).sum(axis=0)
        j = int(gains.argmax())  # argmax takes the first, i.e. the higher-ranked, of equal gains
        chosen.append(j + 1)
        left &= ~supported[:, j]
    if flagged_figures(text, [hits[n - 1].chunk.text for n in chosen], embedder, question):
        return []
    return sorted(chosen)


def resolve_citations(text: str, hits: list, attributed: list[int] | None = None) -> list[Citation]:
    """The sources of an answer: the hits its [n] markers name (`attributed` lists the markers
    Tailor added), or, when it names none, every hit it was given, flagged `cited=False`
    (the answer may have come from them, but no passage was found to support all of it)."""
    added = set(attributed or [])
    numbers = cited_numbers(text, len(hits))
    if numbers:
        return [citation(n, hits[n - 1], cited=True, attributed=n in added) for n in numbers]
    return [citation(n, hit, cited=False) for n, hit in enumerate(hits, start=1)]


# --- verified or flagged --------------------------------------------------------------------

NOT_FOUND_NOTE = "Not found in the documents as stated: check with the front desk."
SUPPORTED_NOTE = "Checked: every statement is in the cited passages."
# The figures a reader acts on: prices, clock times, phone numbers, then any other number.
_FIGURE = re.compile(
    r"\$\s?\d[\d,]*(?:\.\d+)?"                                    # $125, $1,200.50
    r"|(?:\+?1[\s.-]?)?\(?\d{3}\)?[\s.-]\d{3}[\s.-]\d{4}"          # (555) 010-0199, 555-010-0199
    r"|\b\d{3}[\s.-]\d{4}\b"                                      # 555-0199
    r"|\b\d{1,2}(?::\d{2})?\s?(?:[ap]\.?m\.?)(?![a-z])"            # 9am, 5:30 pm
    r"|\b\d[\d,]*(?:\.\d+)?\s?%?",                                 # 38, 2.5, 20%
    re.I,
)


def figures(text: str) -> list[str]:
    """The figures of an answer as written ("$15", "9am", "555-0199"), markers left out."""
    found = []
    for match in _FIGURE.finditer(_MARKER.sub(" ", text or "")):
        figure = match.group(0).strip().rstrip(".,")
        if figure and figure not in found:
            found.append(figure)
    return found


def _digit_runs(text: str) -> set[str]:
    return {d.lstrip("0") or "0" for d in _DIGITS.findall(text)}


def unsupported_figures(text: str, passages: list[str]) -> list[str]:
    """The answer's figures with a digit run that none of the passages holds: "$15" against a
    fee list that says $125, a phone number no document gives. A figure split over passages
    (the area code in one, the number in another) is not flagged; one invented digit run is."""
    known, prices = set(), set()
    for passage in passages:
        known |= _digit_runs(passage)
        known |= {_NUMBER_WORDS[w] for w in _WORD.findall(passage.lower()) if w in _NUMBER_WORDS}
        prices |= {_price(m) for m in _PRICE.findall(passage)}

    def found(figure: str) -> bool:
        if figure.startswith("$"):  # a price must be a price there: "$15" is not in "$125 ... 15 minutes"
            return _price(figure) in prices
        return _digit_runs(figure) <= known

    return [f for f in figures(text) if not found(f)]


_AMOUNT_WORDS = {"thousand", "million", "billion", "trillion", "dollar", "cent", "usd", "approximately", "around", "respective"}


# Words that say an amount is a price, not what it is the price of ("the self-pay price is $55").
_PRICE_WORDS = {"price", "cost", "fee", "charge", "pay", "self", "paid", "rate", "insurance", "without", "service", "amount", "much"}


def misplaced_prices(text: str, passages: list[str], question: str = "") -> list[str]:
    """Prices of the answer that the passages hold, but never for what the answer says they are
    for: "A standard visit is $15" against a fee list where $15 is the paper copy of a record.
    A price belongs to the words before it in its sentence, back to the price before it (a fee
    table read from a PDF is one run of "Standard visit (20 minutes) $125 Adult annual physical
    $210"), or to the words after it when it leads ("$38 for a flu shot"); the claim naming it
    must share a content word with them, leaving out the words that only say it is a price
    ("self-pay", "fee"). An answer naming nothing else ("The self-pay price is $55.") is placed by
    the question's words; with fewer than two such words in both, the price is not judged."""
    out = []
    segments = [s for passage in passages for s in re.split(r"(?<=[.!?])\s+", passage)]
    for claim in claims(text):
        words = {w for w in content_words(claim) if not w.isdigit()} - _AMOUNT_WORDS - _PRICE_WORDS
        if len(words) < 2:  # "The self-pay price is $55.": what it is the price of is in the question
            words |= {w for w in content_words(question) if not w.isdigit()} - _AMOUNT_WORDS - _PRICE_WORDS
        if len(words) < 2:  # "$58.2 million.", "Calculation: $213,654-$239,275.": nothing to place it by
            continue
        for figure in _PRICE.findall(claim):
            figure = figure.strip().rstrip(",")
            labels = [label for segment in segments for label in _price_labels(segment, _price(figure))]
            if labels and not any(words & content_words(label) for label in labels) and figure not in out:
                out.append(figure)
    return out


def _price_labels(segment: str, price: str) -> list[str]:
    """The words naming each occurrence of `price` in one sentence of a passage. A price right
    after another ("United States $65.8 $62.8": a table's next column) has the other's label."""
    marks = list(_PRICE.finditer(segment))
    every: list[str] = []
    for k, m in enumerate(marks):
        label = segment[marks[k - 1].end() if k else 0: m.start()]
        if k and not content_words(label) - _AMOUNT_WORDS:  # "$2.3 million, $2.1 million and $1.9 million"
            label = every[k - 1]
        elif len(content_words(label) - _AMOUNT_WORDS) < 2:  # the price leads: "$38 for a standard flu shot"
            label += " " + segment[m.end(): marks[k + 1].start() if k + 1 < len(marks) else len(segment)]
        every.append(label)
    return [label for m, label in zip(marks, every) if _price(m.group(0).strip().rstrip(",")) == price]


_PRICE = re.compile(r"\$\s?\d[\d,]*(?:\.\d+)?")


def _price(text: str) -> str:
    value = text.replace("$", "").replace(",", "").strip()
    return value[:-3] if value.endswith(".00") else value


# A passage sentence this close to a claim restates it; its prices and clock times are the ones
# the claim should give. Clinic example, the 29 reference answers with a price or time against
# their own top-4 passages: 0.80 flagged 1 correct answer and caught 14 of 26 with one figure
# swapped for another of the same passages; 0.75 flagged 2 and caught 17.
RESTATES = 0.80
_CLOCK = re.compile(r"\b(\d{1,2})(?::(\d{2}))?\s?([ap])\.?m\.?(?![a-z])|\b(\d{1,2}):(\d{2})\b", re.I)


def _prices_and_times(text: str) -> set[str]:
    """A text's prices ("$125") and clock times ("13:00" for 1 pm, 1:00 pm and 13:00), normalised."""
    found = {"$" + _price(m.strip().rstrip(",")) for m in _PRICE.findall(text)}
    for m in _CLOCK.finditer(text):
        if m.group(3):
            hour = int(m.group(1)) % 12 + (12 if m.group(3).lower() == "p" else 0)
            found.add(f"{hour}:{m.group(2) or '00'}")
        else:
            found.add(f"{int(m.group(4))}:{m.group(5)}")
    return found


def conflicting_figures(text: str, passages: list[str], embedder, near: float = RESTATES) -> list[str]:
    """Prices and clock times of the answer that the passage sentence restating its claim gives
    otherwise: "We are open on Saturday from 8:30 am - 12:30 pm" against "We are open on Saturday
    from 8:30 am to 1:00 pm" (12:30 pm being, elsewhere in the page, when the phones close). A
    claim whose figures are all somewhere in the passages still passes the word-level checks;
    the sentence that says the same thing decides which figures are right."""
    # One fact per claim (a price, a time, a range of two): a claim listing several ("Monday to
    # Thursday 7:30 am - 7:00 pm, Friday ..., Saturday 8:30 am - 1:00 pm") restates several
    # sentences, and the closest one holds only its own figures.
    claim_list = [c for c in claims(text) if 0 < len(_prices_and_times(c)) <= 2]
    units = [u for p in passages for u in passage_units(p) if _prices_and_times(u)]
    if not claim_list or not units:
        return []
    vectors = unit_vectors(embedder, claim_list + units)
    sims = vectors[: len(claim_list)] @ vectors[len(claim_list):].T
    out: list[str] = []
    for i, claim in enumerate(claim_list):
        # A sentence restates the claim when it is close in meaning and names what the claim names
        # ("On Saturdays the clinic opens at 9 am" is closer to "open Monday to Friday from 8 am"
        # than to "On Saturdays we open from 9 am to noon", but only the latter says Saturday).
        names = content_words(" ".join(re.findall(r"(?<=\s)[A-Z][a-z]+", claim)))
        close = [_prices_and_times(units[j]) for j in np.flatnonzero(sims[i] >= near) if names <= content_words(units[j])]
        if not close:
            continue
        given = set().union(*close)
        out += [f for f in sorted(_prices_and_times(claim)) if f not in given and f not in out]
    return out


def flagged_figures(text: str, passages: list[str], embedder, question: str = "") -> list[str]:
    """The answer's figures that PASSAGES do not give, place elsewhere (a price the question does
    not name) or give otherwise in the sentence that restates the claim."""
    bad = unsupported_figures(text, passages)
    bad += [f for f in misplaced_prices(text, passages, question) if f not in bad]
    conflicts = set(conflicting_figures(text, passages, embedder)) if passages else set()
    return bad + [f for f in figures(text) if _prices_and_times(f) & conflicts and f not in bad]


def check_support(text: str, hits: list, embedder, cited: list[int] | None = None,
                  threshold: float = SUPPORT_THRESHOLD, question: str = "") -> dict:
    """Whether the passages an answer cites support what it says: the same test as `attribute`
    (meaning and facts, per claim) and as evals' groundedness threshold.

    `cited` are the [n] of `hits` the answer cites (all of them when it cites none: then the
    question is whether anything it was given supports it); `question` places a price the answer
    does not name (`misplaced_prices`). Returns
    {"verified": True/False, or None for an answer that makes no claim to check ("Yes."); False
        for one that says nothing but markers and copied passage labels,
     "unsupported_claims": [sentences no cited passage supports],
     "unsupported_figures": [figures in no cited passage, or given there for something else],
     "supporting": [the [n] of cited passages that support at least one claim]}.
    """
    embedder = _Encoded(embedder)
    numbers = [n for n in (cited or range(1, len(hits) + 1)) if 1 <= n <= len(hits)]
    chosen = [hits[n - 1] for n in numbers]
    claim_list = claims(text)
    bad_figures = flagged_figures(text, [h.chunk.text for h in chosen], embedder, question)
    if not claim_list:  # nothing to check, unless it says nothing at all ("[1] (Vaccinations (vaccines.html))")
        return {"verified": False if bad_figures or not states_anything(text) else None, "unsupported_claims": [],
                "unsupported_figures": bad_figures, "supporting": []}
    matrix = support_matrix(claim_list, chosen, embedder, threshold) if chosen else np.zeros((len(claim_list), 0), bool)
    if matrix.size:  # a claim stating a flagged figure is supported by no passage ("$18" is not in "18th birthday")
        wrong = np.array([any(f in claim for f in bad_figures) for claim in claim_list])
        matrix[wrong, :] = False
    covered = matrix.any(axis=1) if matrix.size else np.zeros(len(claim_list), bool)
    return {
        "verified": bool(covered.all()) and not bad_figures,
        "unsupported_claims": [c for c, ok in zip(claim_list, covered) if not ok],
        "unsupported_figures": bad_figures,
        "supporting": [n for j, n in enumerate(numbers) if matrix.size and matrix[:, j].any()],
    }
