"""Suite loading: validation with file:line messages, kept extra fields, folders, stratified samples."""
import json

import pytest

from evals_fakes import write_suite
from evals import load_suite, sample_items
from knowledge.errors import InputError


def test_valid_suite_keeps_extra_fields_and_defaults_ids(tmp_path):
    path = write_suite(tmp_path / "s.jsonl", [
        {"id": "q1", "question": "When do you open?", "answer": "At 9.", "answer_type": "free",
         "gold_docs": ["hours.md"], "source": "front desk", "difficulty": 2},
        {"question": "Is parking free?", "answer": "yes", "answer_type": "yes_no", "tags": ["parking"]},
    ])
    items = load_suite(path)
    assert [i.id for i in items] == ["q1", "s-2"]
    assert items[0].extra == {"source": "front desk", "difficulty": 2}
    assert items[0].gold_docs == ["hours.md"] and items[1].tags == ["parking"]
    assert (items[1].file, items[1].line) == (str(path), 2)


def test_every_bad_line_is_reported_with_its_line_number(tmp_path):
    path = tmp_path / "bad.jsonl"
    lines = [
        json.dumps({"question": "ok", "answer": "fine", "answer_type": "free"}),
        "{not json",
        json.dumps({"question": "q", "answer": "x", "answer_type": "essay"}),
        "",
        json.dumps({"question": "q", "answer": "perhaps so", "answer_type": "yes_no"}),
        json.dumps({"question": "q", "answer": "lots", "answer_type": "number"}),
        json.dumps({"answer": "x", "answer_type": "free"}),
        json.dumps({"question": "q", "answer": "x", "answer_type": "free", "gold_docs": "a.md"}),
        json.dumps({"question": "q", "answer": "", "answer_type": "decline", "gold_docs": ["a.md"]}),
        json.dumps([1, 2]),
    ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    with pytest.raises(InputError) as exc:
        load_suite(path)
    msg = str(exc.value)
    for line, words in [(2, "not valid JSON"), (3, "answer_type"), (5, "yes, no or maybe"), (6, "must contain a number"),
                        (7, "missing field 'question'"), (8, "list of strings"), (9, "decline question has no gold_docs"),
                        (10, "JSON object")]:
        assert f"{path}:{line}: " in msg and words in msg, (line, words, msg)
    assert f"{path}:1:" not in msg and f"{path}:4:" not in msg


def test_duplicate_ids_and_empty_suites_are_errors(tmp_path):
    dup = write_suite(tmp_path / "dup.jsonl", [
        {"id": "a", "question": "q1", "answer": "x", "answer_type": "free"},
        {"id": "a", "question": "q2", "answer": "y", "answer_type": "free"},
    ])
    with pytest.raises(InputError, match=r"dup.jsonl:2: duplicate id 'a' \(first at .*dup.jsonl:1\)"):
        load_suite(dup)
    (tmp_path / "empty.jsonl").write_text("\n\n", encoding="utf-8")
    with pytest.raises(InputError, match="no questions"):
        load_suite(tmp_path / "empty.jsonl")
    with pytest.raises(InputError, match="no such eval suite"):
        load_suite(tmp_path / "missing.jsonl")


def test_a_folder_is_every_jsonl_file_in_it(tmp_path):
    write_suite(tmp_path / "suites" / "b.jsonl", [{"question": "q2", "answer": "y", "answer_type": "free"}])
    write_suite(tmp_path / "suites" / "a.jsonl", [{"question": "q1", "answer": "x", "answer_type": "free"}])
    (tmp_path / "suites" / "notes.txt").write_text("not a suite")
    assert [i.id for i in load_suite(tmp_path / "suites")] == ["a-1", "b-1"]
    (tmp_path / "none").mkdir()
    with pytest.raises(InputError, match="no \\*.jsonl"):
        load_suite(tmp_path / "none")


def _items(tmp_path, n_answerable=90, n_decline=10):
    rows = [{"id": f"a{i}", "question": f"q{i}", "answer": "x", "answer_type": "free"} for i in range(n_answerable)]
    rows += [{"id": f"d{i}", "question": f"d{i}", "answer": "", "answer_type": "decline"} for i in range(n_decline)]
    return load_suite(write_suite(tmp_path / "s.jsonl", rows))


def test_limit_sample_is_stratified_and_reproducible(tmp_path):
    items = _items(tmp_path)
    a = sample_items(items, 20, seed=3)
    assert len(a) == 20
    assert sum(i.is_decline for i in a) == 2  # 10% of the suite, 10% of the sample
    assert [i.id for i in a] == [i.id for i in sample_items(items, 20, seed=3)]
    assert [i.id for i in a] != [i.id for i in sample_items(items, 20, seed=4)]
    order = [i.id for i in items]
    assert [order.index(i.id) for i in a] == sorted(order.index(i.id) for i in a)  # suite order kept
    # a small sample still keeps at least one decline question
    assert sum(i.is_decline for i in sample_items(items, 4, seed=0)) == 1
    assert len(sample_items(items, 500, seed=0)) == 100
