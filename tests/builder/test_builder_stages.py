"""The build's stage records: one definition per stage that the pipeline, the cache keys, the CLI
help and `builder.train` all read."""
from typer.testing import CliRunner

from builder import STAGE, STAGES, prerequisites
from builder._build import _Build
from builder.config import TailorConfig


def test_stages_read_only_from_earlier_stages():
    assert STAGES == ("index", "base", "data", "sft", "dpo", "calibrate", "export", "evaluate")
    for i, name in enumerate(STAGES):
        assert set(STAGE[name].depends_on) <= set(STAGES[:i]), name
    assert prerequisites("sft") == ["index", "base", "data"]  # what `builder.train sft` brings up to date first
    assert prerequisites("dpo") == ["index", "base", "data", "sft"]


def test_a_setting_changes_the_key_of_the_stages_that_read_it(tmp_path):
    def keys(cfg):
        b = _Build(tmp_path, cfg, resume=False)
        return {name: STAGE[name].key(b) for name in STAGES}

    base = keys(TailorConfig(name="clinic"))
    assert keys(TailorConfig(name="clinic")) == base  # stable
    epochs = keys(TailorConfig(name="clinic", builder={"sft": {"epochs": 2}}))
    assert {s for s in STAGES if epochs[s] != base[s]} == {"sft"}  # later stages follow through the fingerprint, once sft has run
    prompt = keys(TailorConfig(name="clinic", chat={"system_prompt": "Answer as {name}."}))
    assert {s for s in STAGES if prompt[s] != base[s]} == {"data"}
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "a.md").write_text("# A\n\nOpen at 9.\n")
    assert {s for s, k in keys(TailorConfig(name="clinic")).items() if k != base[s]} == {"index"}


def test_new_extractors_resynthesize_and_new_decoding_rechooses_but_leave_conversation_builds_alone(tmp_path, monkeypatch):
    import builder._build as build

    def keys():
        b = _Build(tmp_path, TailorConfig(name="clinic"), resume=False)
        return {name: STAGE[name].key(b) for name in STAGES}

    docs_only = keys()  # no data/conversations.jsonl: the data stage synthesizes
    monkeypatch.setattr(build, "SYNTHESIS_VERSION", build.SYNTHESIS_VERSION + 1)
    assert {s for s in STAGES if keys()[s] != docs_only[s]} == {"data"}
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "conversations.jsonl").write_text('{"messages": []}\n')
    conversations = keys()
    monkeypatch.setattr(build, "SYNTHESIS_VERSION", build.SYNTHESIS_VERSION + 1)
    assert keys() == conversations  # nothing synthesized: new extractors retrain nothing
    monkeypatch.setattr(build, "DECODING_VERSION", build.DECODING_VERSION + 1)
    assert {s for s in STAGES if keys()[s] != conversations[s]} == {"evaluate"}  # the served variant is chosen again


def test_the_cli_help_lists_the_stages():
    from app import cli

    out = CliRunner().invoke(cli, ["build", "--help"], env={"COLUMNS": "300"}).output
    assert ", ".join(STAGES) in " ".join(out.replace("│", " ").split())
