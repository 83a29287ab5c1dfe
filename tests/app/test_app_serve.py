"""The CLI around the app: `tailor serve`'s options and errors, and `tailor init`. The saving of
uploads is tested in tests/knowledge/test_knowledge_upload.py, votes in tests/evals/test_evals_votes.py."""
import pytest
from typer.testing import CliRunner

import app
from app import parse_auth
from knowledge.errors import ConfigError


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


def test_init_scaffolds_a_folder_that_loads_and_never_overwrites(tmp_path, monkeypatch, capsys):
    from builder.config import load_config

    monkeypatch.chdir(tmp_path)
    runner = CliRunner()
    result = runner.invoke(app.cli, ["init", "my-clinic"])
    assert result.exit_code == 0, result.output
    assert "Created my-clinic/ with assistant.yaml, docs/, data/ and evals/." in result.output
    assert "then run `tailor index my-clinic`" in result.output
    folder = tmp_path / "my-clinic"
    assert all((folder / sub).is_dir() for sub in ("docs", "data", "evals"))
    assert load_config(folder).name == "my-clinic"  # the commented template is a valid config
    (folder / "assistant.yaml").write_text("name: edited\n", encoding="utf-8")
    monkeypatch.setattr("sys.argv", ["tailor", "init", "my-clinic"])
    with pytest.raises(SystemExit) as exit_info:
        app.main()
    assert exit_info.value.code == 1
    assert "assistant.yaml already exists; edit it, or choose another NAME" in capsys.readouterr().err
    assert (folder / "assistant.yaml").read_text(encoding="utf-8") == "name: edited\n"
