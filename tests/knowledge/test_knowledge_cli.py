"""`tailor index` and `tailor search` through the real CLI (real MiniLM, loaded once)."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from app import cli
from knowledge.errors import IndexError_, InputError

pytestmark = pytest.mark.e2e
runner = CliRunner()


def test_index_then_search(corpus, minilm):
    result = runner.invoke(cli, ["index", str(corpus), "--quiet"])
    assert result.exit_code == 0, result.output
    assert "5 added" in result.output and "0 skipped" in result.output and "chunks" in result.output
    assert (corpus / "build" / "index" / "CURRENT").is_file()

    again = runner.invoke(cli, ["index", str(corpus), "-q"])
    assert "5 unchanged" in again.output and "(0 embedded in this run)" in again.output

    found = runner.invoke(cli, ["search", str(corpus), "when are you open on saturday", "-k", "2"])
    assert found.exit_code == 0, found.output
    first = found.output.splitlines()[0]
    assert first.startswith(" 1.") and "guide.md" in first

    pdf = runner.invoke(cli, ["search", str(corpus), "dermatology wing", "--mode", "bm25", "-k", "1"])
    assert "report.pdf p. 2" in pdf.output


def test_search_json_and_queries_file(corpus, minilm, tmp_path):
    runner.invoke(cli, ["index", str(corpus), "-q"])
    single = runner.invoke(cli, ["search", str(corpus), "yellow fever price", "--json", "--mode", "dense", "-k", "3"])
    data = json.loads(single.output)
    assert data["question"] == "yellow fever price" and len(data["hits"]) == 3
    assert data["hits"][0]["source"] == "vaccines.html" and data["hits"][0]["rank"] == 1
    assert {"score", "similarity", "text", "page", "headings", "start", "end", "id"} <= set(data["hits"][0])

    suite = tmp_path / "suite.jsonl"
    rows = [
        {"id": "q1", "question": "when are you open on saturday", "answer": "9am to 1pm", "answer_type": "free"},
        {"id": "q2", "question": "what is the fee for a second missed visit", "answer": "$25", "answer_type": "number"},
    ]
    suite.write_text("\n".join(json.dumps(r) for r in rows) + "\n", encoding="utf-8")
    many = runner.invoke(cli, ["search", str(corpus), "--queries", str(suite), "--json", "-k", "2"])
    assert many.exit_code == 0, many.output
    lines = [json.loads(line) for line in many.output.splitlines()]
    assert [line["id"] for line in lines] == ["q1", "q2"]
    assert lines[0]["hits"][0]["source"] == "guide.md"
    assert lines[1]["hits"][0]["source"] == "policies/cancellation.docx"


def test_cli_bad_input(corpus, minilm, tmp_path):
    missing = runner.invoke(cli, ["search", str(corpus), "hours"])
    assert isinstance(missing.exception, IndexError_) and "tailor index" in str(missing.exception)
    runner.invoke(cli, ["index", str(corpus), "-q"])
    empty = runner.invoke(cli, ["search", str(corpus), "   "])
    assert isinstance(empty.exception, InputError) and "empty" in str(empty.exception)
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"question": "ok"}\n{"q": "no question field"}\n', encoding="utf-8")
    broken = runner.invoke(cli, ["search", str(corpus), "--queries", str(bad), "--json"])
    assert isinstance(broken.exception, InputError) and f"{bad}:2" in str(broken.exception)
    assert broken.output == ""  # every line is checked before the first search


def test_cli_error_is_one_line_and_exit_1(tmp_path):
    """Through the installed entry point: a clear message, no traceback."""
    (tmp_path / "empty" / "docs").mkdir(parents=True)
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    tailor = Path(sys.executable).parent / "tailor"
    proc = subprocess.run([str(tailor), "index", str(tmp_path / "empty")], capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode == 1
    assert "error:" in proc.stderr and "is empty" in proc.stderr and "Traceback" not in proc.stderr
