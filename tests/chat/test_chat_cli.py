"""`tailor ask` and `tailor chat` on a fabricated build (tiny model)."""
import json
import sys

import pytest
from typer.testing import CliRunner

import app


def test_ask_json_prints_the_full_result(built_folder):
    result = CliRunner().invoke(app.cli, ["ask", str(built_folder), "When do you open on Saturday?", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["variant"] == "tuned+rag" and data["declined"] is False and isinstance(data["answer"], str)
    assert {"source", "page", "score", "snippet", "cited", "n"} <= set(data["sources"][0])
    assert {"retrieval_s", "first_token_s", "total_s", "new_tokens", "tokens_per_s"} <= set(data["timings"])
    assert data["hits"][0]["source"] == "hours.md" and data["build_id"] and data["chunk_ids"]


def test_ask_streams_then_lists_sources_and_declines_off_topic(built_folder):
    runner = CliRunner()
    result = runner.invoke(app.cli, ["ask", str(built_folder), "When do you open on Saturday?", "--variant", "base+rag"])
    assert result.exit_code == 0 and "Sources:" in result.stdout and "hours.md" in result.stdout
    result = runner.invoke(app.cli, ["ask", str(built_folder), "Who won the 1998 World Cup?"])
    assert result.exit_code == 0 and "can't find that in my documents" in result.stdout and "declined: best similarity" in result.stdout


def test_chat_commands(built_folder):
    lines = "When do you open?\n/sources\n/variant large\n/variant base\n/bogus\nand on Sunday?\n/reset\n/quit\n"
    result = CliRunner().invoke(app.cli, ["chat", str(built_folder)], input=lines)
    out = result.stdout
    assert result.exit_code == 0, out
    assert "tuned+rag; variants: extract, base, base+rag, tuned, tuned+rag" in out
    assert "[1] hours.md" in out  # /sources after the first answer
    assert "error: variant 'large'" in out and "(variant: base)" in out and "unknown command /bogus" in out
    assert "(no documents: this variant answers without retrieval)" not in out.split("(variant: base)")[0]
    assert "(conversation cleared)" in out and out.count("assistant> ") == 2


def test_errors_are_one_line_and_exit_1(tmp_path, monkeypatch, capsys):
    for argv in (["tailor", "ask", str(tmp_path), "When?"], ["tailor", "ask", str(tmp_path / "missing"), "When?"]):
        monkeypatch.setattr(sys, "argv", argv)
        with pytest.raises(SystemExit) as exc:
            app.main()
        assert exc.value.code == 1
        err = capsys.readouterr().err
        assert err.startswith("error: ") and "tailor build" in err and "Traceback" not in err


def test_empty_question_is_a_clear_error(built_folder, monkeypatch, capsys):
    monkeypatch.setattr(sys, "argv", ["tailor", "ask", str(built_folder), "  "])
    with pytest.raises(SystemExit):
        app.main()
    assert "error: the question is empty" in capsys.readouterr().err
