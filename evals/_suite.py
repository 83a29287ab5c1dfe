"""Eval suites: JSONL files of questions with reference answers, validated line by line.

A suite is the contract between the people who know the domain and the numbers Tailor
reports, so a bad line is an error naming the file and line (all of them at once), and
fields Tailor does not use (such as `source`) are kept and copied into the results.
"""
from __future__ import annotations

import hashlib
import random
import re
from dataclasses import dataclass, field
from pathlib import Path

from knowledge.errors import InputError
from knowledge.files import jsonl_rows, read_jsonl_tolerant

ANSWER_TYPES = ("free", "yes_no", "number", "choice", "decline")
SPLITS = ("dev", "test", "all")
DEFAULT_TEST_SHARE = 0.5  # evals.test_share
# Words that may stand beside a bare number in a reference without making it a sentence.
_UNIT_WORDS = frozenset(
    "usd eur gbp dollars dollar euros percent per cent thousand million billion trillion mn bn k m b "
    "days day weeks week months month years year hours hour minutes minute mg ml kg g times x shares".split()
)
KNOWN_FIELDS = {"id", "question", "answer", "answer_type", "gold_docs", "tags", "choices", "tolerance"}
MAX_PROBLEMS = 20  # a broken file lists this many lines, then a count, so the message stays readable


@dataclass
class EvalItem:
    """One question of a suite.

    `choices` (optional, for `choice` questions) lists the options, so an answer can be
    matched by letter ("B") or by the option's text; `tolerance` (optional, for `number`
    questions) overrides the default relative tolerance. Every other field lands in `extra`.
    """

    id: str
    question: str
    answer: str
    answer_type: str
    gold_docs: list[str] = field(default_factory=list)
    tags: list[str] = field(default_factory=list)
    choices: list[str] = field(default_factory=list)
    tolerance: float | None = None
    extra: dict = field(default_factory=dict)
    file: str = ""
    line: int = 0

    @property
    def is_decline(self) -> bool:
        return self.answer_type == "decline"

    def split(self, test_share: float = DEFAULT_TEST_SHARE) -> str:
        """'dev' or 'test', fixed by a hash of the id: the same question lands in the same split on
        every machine and run, and adding questions never moves the others."""
        bucket = int(hashlib.sha256(self.id.encode("utf-8")).hexdigest()[:8], 16) / 0x100000000
        return "test" if bucket < test_share else "dev"

    @property
    def numeric_reference(self) -> bool:
        """A free reference that is a bare amount, count or percentage ("$1577.00", "35%",
        "12 days"): word overlap cannot score it ("Capex was $1,577 million." has F1 0 against
        it), number matching can."""
        return self.answer_type == "free" and is_bare_number(self.answer)


def is_bare_number(text: str) -> bool:
    """True for "$1577.00", "35%", "1,234 million", "12 days": one number and at most unit words."""
    words = re.findall(r"[A-Za-z]+", text)
    numbers = re.findall(r"\d[\d,]*(?:\.\d+)?", text)
    return len(numbers) == 1 and all(w.lower() in _UNIT_WORDS for w in words)


def split_items(items: list[EvalItem], split: str, test_share: float = DEFAULT_TEST_SHARE) -> list[EvalItem]:
    """The questions of one split ('dev', 'test') or all of them ('all')."""
    if split not in SPLITS:
        raise InputError(f"--split {split!r}: choose dev, test or all")
    return list(items) if split == "all" else [it for it in items if it.split(test_share) == split]


def suite_suggestions(items: list[EvalItem]) -> list[str]:
    """`file:line: ...` notes on lines that load but would be scored poorly: free references
    that are bare numbers (scored by number matching; better written as answer_type number)."""
    return [f"{it.file}:{it.line}: the reference {it.answer!r} is a bare number; it is scored by number matching. "
            'Set "answer_type": "number" to say so' for it in items if it.numeric_reference]


def suite_files(path: Path) -> list[Path]:
    """The JSONL files of a suite given as one file or a folder of them (sorted, so runs repeat)."""
    path = Path(path)
    if path.is_file():
        return [path]
    if path.is_dir():
        files = sorted(p for p in path.glob("*.jsonl") if p.is_file())
        if not files:
            raise InputError(f"{path}: no *.jsonl eval suites in this folder; add one (one JSON question per line) or pass --suite FILE")
        return files
    raise InputError(f"{path}: no such eval suite file or folder")


def suite_rows(path: Path) -> list[tuple[Path, list[dict]]]:
    """(file, its readable rows) for a suite file or each *.jsonl in a folder, bad lines skipped:
    for readers that must never fail on a suite (the build's leakage check, the app's example
    questions); `load_suite` is the one that reports them."""
    path = Path(path)
    files = [path] if path.is_file() else sorted(p for p in path.glob("*.jsonl") if p.is_file()) if path.is_dir() else []
    return [(file, read_jsonl_tolerant(file)) for file in files]


def suite_name(path: Path) -> str:
    """The name reports are filed under: the file's stem, or a folder's single file's stem, or the folder's name."""
    path = Path(path)
    files = suite_files(path)
    if path.is_file() or len(files) == 1:
        return files[0].stem
    return path.resolve().name


def _check_row(row: dict, where: str) -> list[str]:
    """Every problem of one parsed line, each prefixed with FILE:LINE."""
    problems = []
    for key in ("question", "answer_type"):
        if key not in row:
            problems.append(f"{where}: missing field '{key}'")
    if "answer" not in row:
        problems.append(f"{where}: missing field 'answer' (use \"\" for a decline question)")
    question, answer, kind = row.get("question"), row.get("answer"), row.get("answer_type")
    if "question" in row and (not isinstance(question, str) or not question.strip()):
        problems.append(f"{where}: 'question' must be a non-empty string (got {question!r})")
    if "answer" in row and not isinstance(answer, str):
        if isinstance(answer, (int, float)) and not isinstance(answer, bool):
            pass  # a bare number is a fine reference for `number` questions
        else:
            problems.append(f"{where}: 'answer' must be a string (got {type(answer).__name__})")
    if "answer_type" in row and kind not in ANSWER_TYPES:
        problems.append(f"{where}: 'answer_type' must be one of {', '.join(ANSWER_TYPES)} (got {kind!r})")
    for key in ("gold_docs", "tags", "choices"):
        value = row.get(key)
        if value is not None and not (isinstance(value, list) and all(isinstance(v, str) for v in value)):
            problems.append(f"{where}: '{key}' must be a list of strings (got {value!r})")
    if "id" in row and not (isinstance(row["id"], (str, int)) and not isinstance(row["id"], bool) and str(row["id"]).strip()):
        problems.append(f"{where}: 'id' must be a non-empty string (got {row['id']!r})")
    tol = row.get("tolerance")
    if tol is not None and not (isinstance(tol, (int, float)) and not isinstance(tol, bool) and tol >= 0):
        problems.append(f"{where}: 'tolerance' must be a number >= 0 (got {tol!r})")
    if problems:
        return problems
    # Checks of the reference answer against its type: a reference Tailor cannot read
    # would silently score every answer as wrong.
    from evals._metrics import parse_number, parse_yes_no

    text = str(answer).strip()
    if kind == "yes_no" and parse_yes_no(text) is None:
        problems.append(f"{where}: a yes_no answer must be yes, no or maybe (got {text!r})")
    elif kind == "number" and parse_number(text) is None:
        problems.append(f"{where}: a number answer must contain a number such as 42, 3.5%, $1,200 or 2 million (got {text!r})")
    elif kind in ("free", "choice") and not text:
        problems.append(f"{where}: 'answer' is empty; only decline questions have an empty answer")
    elif kind == "choice" and row.get("choices") and not _reference_choice_ok(text, row["choices"]):
        problems.append(f"{where}: the answer {text!r} is neither a letter A-{chr(64 + len(row['choices']))} nor one of the choices")
    if kind == "decline" and row.get("gold_docs"):
        problems.append(f"{where}: a decline question has no gold_docs (the documents do not hold its answer)")
    if any(d.startswith("/") or ".." in Path(d).parts for d in row.get("gold_docs") or []):
        problems.append(f"{where}: gold_docs are paths relative to docs/, such as 'policies/fees.md'")
    return problems


def _reference_choice_ok(text: str, choices: list[str]) -> bool:
    from evals._metrics import parse_choice

    return parse_choice(text, choices) is not None


def load_suite(path: Path) -> list[EvalItem]:
    """Read and validate a suite (a JSONL file or a folder of them); report every bad line at once."""
    items: list[EvalItem] = []
    problems: list[str] = []
    seen: dict[str, str] = {}
    for file in suite_files(Path(path)):
        rows, bad = jsonl_rows(file)
        problems.extend(bad)
        for number, row in rows:
            where = f"{file}:{number}"
            row_problems = _check_row(row, where)
            if row_problems:
                problems.extend(row_problems)
                continue
            item_id = str(row.get("id", f"{file.stem}-{number}")).strip()
            if item_id in seen:
                problems.append(f"{where}: duplicate id {item_id!r} (first at {seen[item_id]})")
                continue
            seen[item_id] = where
            items.append(
                EvalItem(
                    id=item_id,
                    question=row["question"].strip(),
                    answer=str(row["answer"]).strip(),
                    answer_type=row["answer_type"],
                    gold_docs=list(row.get("gold_docs") or []),
                    tags=list(row.get("tags") or []),
                    choices=list(row.get("choices") or []),
                    tolerance=row.get("tolerance"),
                    extra={k: v for k, v in row.items() if k not in KNOWN_FIELDS},
                    file=str(file),
                    line=number,
                )
            )
    if problems:
        shown = problems[:MAX_PROBLEMS]
        more = f"\n... and {len(problems) - MAX_PROBLEMS} more problems" if len(problems) > MAX_PROBLEMS else ""
        raise InputError("invalid eval suite:\n" + "\n".join(shown) + more)
    if not items:
        raise InputError(f"{path}: the suite holds no questions; add lines like "
                         '{"question": "...", "answer": "...", "answer_type": "free"}')
    return items


def sample_items(items: list[EvalItem], limit: int | None, seed: int) -> list[EvalItem]:
    """A fixed random sample of `limit` questions, stratified so decline questions keep their share.

    Without stratification a small sample could hold no decline questions at all and the
    declining metrics would vanish from the report. The sample keeps the suite's order.
    """
    if limit is None or limit >= len(items):
        return list(items)
    if limit < 1:
        raise InputError(f"--limit must be at least 1 (got {limit})")
    rng = random.Random(seed)
    declines = [i for i, it in enumerate(items) if it.is_decline]
    answerable = [i for i, it in enumerate(items) if not it.is_decline]
    n_decline = round(limit * len(declines) / len(items))
    if declines and answerable and limit >= 2:
        n_decline = min(max(n_decline, 1), limit - 1)  # keep both kinds whenever the sample can hold both
    n_decline = min(n_decline, len(declines))
    n_answerable = min(limit - n_decline, len(answerable))
    chosen = set(rng.sample(declines, n_decline)) | set(rng.sample(answerable, n_answerable))
    return [it for i, it in enumerate(items) if i in chosen]
