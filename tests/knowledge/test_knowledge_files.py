"""knowledge.files and knowledge.folder: the writes, JSONL readers and paths every package shares."""
import json
import os
import stat

import pytest

from knowledge.errors import InputError
from knowledge.files import append_jsonl, jsonl_rows, read_jsonl, read_jsonl_tolerant, write_json, write_jsonl, write_text_atomic
from knowledge.folder import AssistantFolder


def test_atomic_writes_make_ordinary_files_and_leave_no_temp(tmp_path):
    old = os.umask(0o022)
    try:
        paths = [write_json(tmp_path / "a" / "x.json", {"k": "é"}), write_jsonl(tmp_path / "y.jsonl", [{"n": 1}, {"n": 2}]),
                 write_text_atomic(tmp_path / "z.txt", "hi")]
    finally:
        os.umask(old)
    assert [stat.S_IMODE(p.stat().st_mode) for p in paths] == [0o644] * 3  # one policy, whichever writer
    assert json.loads(paths[0].read_text(encoding="utf-8")) == {"k": "é"}
    assert read_jsonl(paths[1]) == [{"n": 1}, {"n": 2}]
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["a", "x.json", "y.jsonl", "z.txt"]


def test_a_failed_write_keeps_the_old_file(tmp_path):
    path = write_json(tmp_path / "state.json", {"v": 1})
    with pytest.raises(TypeError):
        write_jsonl(path, [{"v": object()}])  # not JSON: fails before anything replaces the file
    assert json.loads(path.read_text()) == {"v": 1} and [p.name for p in tmp_path.iterdir()] == ["state.json"]


def test_jsonl_rows_names_every_bad_line(tmp_path):
    path = tmp_path / "conversations.jsonl"
    path.write_bytes(b'{"ok": 1}\n{"cut": \n\n[1, 2]\n{"bad": "\xe9"}\n' + b"[" * 100_000 + b"\n{\"ok\": 2}\n")
    rows, problems = jsonl_rows(path, label=path.name)
    assert rows == [(1, {"ok": 1}), (7, {"ok": 2})]
    assert [p.split(": ")[0] for p in problems] == [f"conversations.jsonl:{n}" for n in (2, 4, 5, 6)]
    assert "not valid JSON" in problems[0] and "expected a JSON object" in problems[1]
    assert "not UTF-8 (byte 0xe9" in problems[2] and "nested too deeply" in problems[3]
    with pytest.raises(InputError, match=r"conversations.jsonl:2: not valid JSON .*; rebuild"):
        read_jsonl(path, fix="rebuild")


def test_appends_survive_a_torn_last_line(tmp_path):
    path = tmp_path / "feedback" / "votes.jsonl"
    append_jsonl(path, [{"id": "a"}])
    with open(path, "ab") as fh:
        fh.write(b'{"id": "b", "que')  # a crash mid-write
    append_jsonl(path, [{"id": "c"}, {"id": "d"}])
    assert [r["id"] for r in read_jsonl_tolerant(path)] == ["a", "c", "d"]  # the torn row is skipped, no later one is lost


def test_the_folder_layout(tmp_path):
    where = AssistantFolder(tmp_path)
    assert where.docs == tmp_path / "docs" and where.index == tmp_path / "build" / "index"
    assert where.votes == tmp_path / "feedback" / "votes.jsonl" and where.feedback_pairs.name == "preferences.jsonl"
    assert where.conversations == tmp_path / "data" / "conversations.jsonl" and where.suites() == []
    where.evals.mkdir()
    (where.evals / "b.jsonl").write_text("")
    (where.evals / "a.jsonl").write_text("")
    (where.evals / "notes.md").write_text("")
    assert [p.name for p in where.suites()] == ["a.jsonl", "b.jsonl"]
    assert AssistantFolder.of(tmp_path / "build").root == tmp_path and AssistantFolder.of(tmp_path).root == tmp_path
