"""Uploads into docs/, example questions, the document list, and `tailor serve`'s options."""
import pytest
from typer.testing import CliRunner

import app
from app import MAX_UPLOAD_MB, document_rows, example_questions, parse_auth, safe_upload_name, save_upload
from knowledge.errors import ConfigError, InputError


@pytest.mark.parametrize(
    "name, message",
    [
        ("../../etc/passwd", "may not contain folders"),
        ("..\\evil.md", "may not contain folders"),
        ("sub/notes.md", "may not contain folders"),
        ("..", "may not contain folders"),
        (".hidden.md", "start with '.'"),
        ("", "no file name"),
        ("tool.exe", r"unsupported file type \.exe"),
        ("README", r"unsupported file type \(none\)"),
    ],
)
def test_unsafe_or_unsupported_names_are_refused(name, message):
    with pytest.raises(InputError, match=message):
        safe_upload_name(name)


def test_supported_names_keep_their_name():
    assert safe_upload_name("Price list (2024).PDF") == "Price list (2024).PDF"
    assert safe_upload_name("notes.md") == "notes.md"
    assert safe_upload_name("a;b|c.txt") == "a_b_c.txt"


def test_save_upload_copies_into_docs_and_replaces(tmp_path):
    docs = tmp_path / "clinic" / "docs"
    src = tmp_path / "upload" / "hours.md"
    src.parent.mkdir()
    src.write_text("v1", encoding="utf-8")
    dest = save_upload(docs, src)
    assert dest == docs / "hours.md" and dest.read_text() == "v1"
    src.write_text("v2", encoding="utf-8")
    save_upload(docs, src)
    assert dest.read_text() == "v2"
    assert sorted(p.name for p in docs.iterdir()) == ["hours.md"]  # no temp file left behind


def test_save_upload_refuses_traversal_empty_and_oversized(tmp_path):
    docs = tmp_path / "docs"
    src = tmp_path / "x.md"
    src.write_text("secret", encoding="utf-8")
    with pytest.raises(InputError, match="may not contain folders"):
        save_upload(docs, src, name="../../etc/passwd.md")
    assert not (tmp_path / "etc").exists()
    empty = tmp_path / "empty.md"
    empty.write_bytes(b"")
    with pytest.raises(InputError, match="is empty"):
        save_upload(docs, empty)
    big = tmp_path / "big.txt"
    with open(big, "wb") as fh:
        fh.truncate(MAX_UPLOAD_MB * 1024 * 1024 + 1)
    with pytest.raises(InputError, match=f"limit is {MAX_UPLOAD_MB} MB"):
        save_upload(docs, big)
    assert not docs.exists() or not any(docs.iterdir())


def test_example_questions_skip_declines_and_cover_each_suite(fake_folder):
    (fake_folder / "evals" / "billing.jsonl").write_text(
        '{"question": "Do you offer payment plans?", "answer_type": "free"}\nnot json\n', encoding="utf-8"
    )
    qs = example_questions(fake_folder, n=3)
    assert qs == ["Do you offer payment plans?", "When are you open on Saturday?", "Do you take credit cards?"]
    assert "Who won the football world cup?" not in example_questions(fake_folder, n=10)


def test_document_rows_mark_unindexed_and_removed_files(fake_folder):
    rows = document_rows(fake_folder, {"hours.md": 2, "gone.md": 1})
    assert ["hours.md", 2] in rows
    assert ["billing.md", "not indexed"] in rows
    assert ["gone.md", "1 (file removed; re-index)"] in rows


def test_parse_auth():
    assert parse_auth(None) is None
    assert parse_auth("admin:s3:cret") == ("admin", "s3:cret")
    for bad in ("admin", ":pw", "admin:"):
        with pytest.raises(ConfigError, match="USER:PASS"):
            parse_auth(bad)


def test_serve_binds_loopback_by_default_and_reads_auth_from_env(fake_folder, monkeypatch):
    seen = {}
    monkeypatch.setattr(app, "build_ui", lambda folder, cfg: "demo")
    monkeypatch.setattr(app, "launch", lambda demo, **kw: seen.update(kw))
    runner = CliRunner()
    result = runner.invoke(app.cli, ["serve", str(fake_folder)], env={"TAILOR_AUTH": "ann:pw"})
    assert result.exit_code == 0, result.output
    assert seen == {"host": "127.0.0.1", "port": 7860, "auth": ("ann", "pw"), "share": False}
    result = runner.invoke(app.cli, ["serve", str(fake_folder), "--port", "9000", "--auth", "bob:x", "--share"], env={"TAILOR_AUTH": ""})
    assert seen == {"host": "127.0.0.1", "port": 9000, "auth": ("bob", "x"), "share": True}


def test_serve_reports_bad_auth_and_missing_folder(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(app, "launch", lambda demo, **kw: pytest.fail("must not launch"))
    monkeypatch.setattr("sys.argv", ["tailor", "serve", str(tmp_path / "nope")])
    with pytest.raises(SystemExit) as exit_info:
        app.main()
    assert exit_info.value.code == 1
    assert "no such assistant folder" in capsys.readouterr().err
