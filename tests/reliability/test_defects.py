"""One test per defect of the hardening issue: each failed on the code before the fix."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from pdf_samples import encrypted_pdf, text_pdf, unsupported_filter_pdf

import app
from chat import check_history, check_question
from evals import record_vote, redact
from knowledge.files import read_jsonl_tolerant
from knowledge import build_index, load_index
from knowledge.errors import ConfigError, InputError, TailorError

REPO = Path(__file__).resolve().parents[2]


def _index(folder, cfg, embedder):
    return build_index(folder / "docs", folder / "build" / "index", cfg, progress=False, embedder=embedder)


# 1. One request froze the app: the email pattern was quadratic, and nothing bounded a vote.


@settings(deadline=1000, max_examples=12, suppress_health_check=[HealthCheck.too_slow, HealthCheck.large_base_example])
@given(unit=st.sampled_from(["a", "a.", "1 ", "x@", "1-", "+1", "a-"]), n=st.integers(5_000, 20_000))
@example(unit="a", n=40_000)  # 13 s with the old email pattern
@example(unit="1 ", n=20_000)  # the digit pattern restarted at every digit
def test_redaction_of_long_adversarial_text_is_fast(unit, n):
    """Hypothesis' deadline bounds each call: the old patterns took seconds at this size."""
    text = unit * n + "x"
    assert len(redact(text)) <= len(text) + 8


def test_redaction_still_masks():
    out = redact("mail ann.lee+x@mail.example.org or call (555) 123-4567, card 4111 1111 1111 1111, id 1234567")
    assert "ann.lee" not in out and "[email]" in out
    assert "[phone]" in out and "4111" not in out and "1234567" not in out


def test_vote_sizes_and_variant_names_are_checked(tmp_path):
    with pytest.raises(InputError, match="limit is 4,000"):
        record_vote(tmp_path, "q" * 5_000, ["base", "base+rag"], ["a", "b"], "base")
    with pytest.raises(InputError, match="limit is 20,000"):
        record_vote(tmp_path, "q?", ["base", "base+rag"], ["a" * 30_000, "b"], "base")
    with pytest.raises(InputError, match="unknown variant '<script>'"):
        record_vote(tmp_path, "q?", ["<script>", "base"], ["a", "b"], "base", known_variants=["base", "base+rag"])
    with pytest.raises(InputError, match="build it first"):
        record_vote(tmp_path, "q?", ["base", "base+rag"], ["a", "b"], "base", known_variants=[])
    assert not (tmp_path / "feedback").exists()


def test_question_and_history_limits():
    with pytest.raises(InputError, match="limit is 4,000"):
        check_question("x" * 4_001)
    assert check_question("  When?  ") == "When?"
    with pytest.raises(InputError, match="press Reset"):
        check_history([{"role": "user", "content": "x" * 60_000}])
    check_history([{"role": "user", "content": "hi"}] * 10)


# 2. One PDF stopped all indexing.


def test_unsupported_pdf_filter_is_a_skipped_file(folder, kcfg, fake_embedder):
    unsupported_filter_pdf(folder / "docs" / "scan.pdf")
    report = _index(folder, kcfg, fake_embedder)
    assert "NotImplementedError" in report.skipped["scan.pdf"]
    assert sorted(report.indexed) == ["billing.md", "hours.md", "vaccines.txt"]


def test_every_loader_failure_is_a_skip(folder, kcfg, fake_embedder, monkeypatch):
    """Whatever a format library raises (here: RecursionError from a parser) names the file."""
    import knowledge._load as load

    def boom(path, source):
        raise RecursionError("maximum recursion depth exceeded")

    monkeypatch.setattr(load, "_load_html", boom)
    (folder / "docs" / "deep.html").write_text("<div>" * 10 + "x", encoding="utf-8")
    report = _index(folder, kcfg, fake_embedder)
    assert "RecursionError" in report.skipped["deep.html"]


def test_password_protected_pdf_says_encrypted(folder, kcfg, fake_embedder):
    encrypted_pdf(folder / "docs" / "locked.pdf")
    report = _index(folder, kcfg, fake_embedder)
    assert report.skipped["locked.pdf"].startswith("encrypted PDF")


def test_empty_files_are_not_duplicates_of_each_other(folder, kcfg, fake_embedder):
    (folder / "docs" / "empty.md").write_bytes(b"")
    (folder / "docs" / "empty.pdf").write_bytes(b"")
    report = _index(folder, kcfg, fake_embedder)
    assert report.skipped["empty.pdf"] == "empty file" and report.skipped["empty.md"] == "empty file"


# 5. Serving settings were ignored by `tailor build --skip-train`.


def test_serving_settings_reach_the_manifest_without_a_rebuild(folder, tiny_model_dir):
    from builder import build
    from builder.config import load_config
    from chat import Assistant

    yaml = "name: Clinic\nknowledge:\n  chunk_size: 64\nbuilder:\n  base_model: {m}\ngeneration:\n  max_new_tokens: {n}\n"
    (folder / "assistant.yaml").write_text(yaml.format(m=tiny_model_dir, n=20), encoding="utf-8")
    build(folder, load_config(folder), skip_train=True, quiet=True)
    assert Assistant.load(folder).generation.max_new_tokens == 20
    (folder / "assistant.yaml").write_text(yaml.format(m=tiny_model_dir, n=7), encoding="utf-8")
    summary = build(folder, load_config(folder), skip_train=True, quiet=True)
    assert summary.settings_updated == ["generation.max_new_tokens"]
    assert "Nothing changed" not in str(summary)
    assert Assistant.load(folder).generation.max_new_tokens == 7
    again = build(folder, load_config(folder), skip_train=True, quiet=True)
    assert not again.settings_updated and "Nothing changed" in str(again)


# 6. Symlinks left docs/.


def test_links_outside_docs_are_refused_and_listed(folder, kcfg, fake_embedder, tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text("root:x:0:0:the password file of the machine\n", encoding="utf-8")
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    (outside / "more.md").write_text("# More\n\nOutside text.\n", encoding="utf-8")
    docs = folder / "docs"
    os.symlink(secret, docs / "passwd.txt")
    os.symlink(outside, docs / "linked")
    os.symlink(docs / "hours.md", docs / "hours-link.md")
    os.symlink(tmp_path / "missing.md", docs / "broken.md")
    report = _index(folder, kcfg, fake_embedder)
    assert "outside docs/" in report.skipped["passwd.txt"]
    assert "outside docs/" in report.skipped["linked"]
    assert "broken link" in report.skipped["broken.md"]
    copies = [report.skipped.get(n, "") for n in ("hours.md", "hours-link.md")]  # a link inside docs/ is a copy
    assert sum("same content as" in c for c in copies) == 1
    kb = load_index(folder / "build" / "index", kcfg, embedder=fake_embedder)
    assert not any("password" in c.text for c in kb.chunks)


# 7. The smaller ones.


def test_non_utf8_conversations_name_file_and_line(tmp_path):
    from builder._inputs import load_conversations

    path = tmp_path / "conversations.jsonl"
    good = json.dumps({"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]})
    path.write_bytes((good + "\n").encode() + b'{"messages": "caf\xe9"}\n')
    with pytest.raises(InputError, match=r"conversations.jsonl:2: not UTF-8 \(byte 0xe9"):
        load_conversations(path)


def test_torn_multibyte_last_vote_is_skipped(tmp_path):
    path = tmp_path / "votes.jsonl"
    whole = json.dumps({"id": "1", "prompt": "café"}, ensure_ascii=False).encode()
    path.write_bytes(whole + b"\n" + whole[: whole.index(b"\xc3") + 1])  # cut inside "é"
    assert read_jsonl_tolerant(path) == [{"id": "1", "prompt": "café"}]


def test_missing_base_model_says_what_to_set(tmp_path):
    from chat.models import resolve_model

    with pytest.raises(ConfigError, match="base_model.*does not exist; set builder.base_model"):
        resolve_model(str(tmp_path / "no-such-model"))
    with pytest.raises(ConfigError, match="neither a local model folder nor in the Hugging Face cache"):
        resolve_model("nobody/no-such-model-xyz")


def test_missing_base_model_at_ask_is_not_run_build(tmp_path):
    (tmp_path / "docs").mkdir()
    (tmp_path / "build" / "index").mkdir(parents=True)  # indexed, never built: ask uses the base model
    (tmp_path / "assistant.yaml").write_text("builder:\n  base_model: nobody/no-such-model-xyz\n", encoding="utf-8")
    out = subprocess.run([sys.executable, "-m", "app", "ask", str(tmp_path), "hi"], capture_output=True, text=True,
                         cwd=REPO, timeout=300)
    assert out.returncode == 1
    assert "set builder.base_model" in out.stderr and "Traceback" not in out.stderr


def test_port_in_use_says_pass_port():
    import socket

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        with pytest.raises(TailorError, match=f"port {port} is in use.*pass --port"):
            app.check_port("127.0.0.1", port)


def test_chunk_overlap_must_be_below_chunk_size(tmp_path):
    from builder.config import load_config

    (tmp_path / "assistant.yaml").write_text("knowledge:\n  chunk_size: 64\n  chunk_overlap: 100\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="chunk_overlap.*must be smaller than knowledge.chunk_size"):
        load_config(tmp_path)


def test_killed_embedding_resumes_from_saved_batches(folder, kcfg, fake_embedder):
    """A run killed after 3 batches (the embedder dies) leaves them saved; the next run embeds the rest."""
    import numpy as np

    class Dies(Exception):
        pass

    (folder / "docs" / "long.md").write_text(
        "# Services\n\n" + "\n\n".join(f"Service {i}: the clinic offers treatment number {i} on weekday {i % 5}. " * 3 for i in range(12)),
        encoding="utf-8",
    )
    total = len(_chunk_texts(folder, kcfg, fake_embedder))
    assert total >= 8
    calls = {"n": 0}
    real_encode = fake_embedder.encode

    def encode(texts, batch_size=64, progress=False):
        calls["n"] += 1
        if calls["n"] == 4:
            raise Dies()
        return real_encode(texts, batch_size=batch_size)

    fake_embedder.encode = encode
    with pytest.raises(Dies):
        _index(folder, kcfg, fake_embedder)
    fake_embedder.encode = real_encode
    report = _index(folder, kcfg, fake_embedder)
    assert report.n_embedded == total - 3 * kcfg.batch_size
    kb = load_index(folder / "build" / "index", kcfg, embedder=fake_embedder)
    fresh = _fresh_vectors(kb)
    assert np.allclose(kb.embeddings, fresh, atol=1e-6)
    assert not (folder / "build" / "index" / ".embed-progress").exists()


def _chunk_texts(folder, kcfg, embedder):
    from knowledge import chunk_document, embedding_text, load_document

    texts = []
    for path in sorted((folder / "docs").iterdir()):
        doc = load_document(path, path.name)
        texts += [embedding_text(c, kcfg.chunk_context) for c in chunk_document(doc, embedder.count_tokens, kcfg.chunk_size, kcfg.chunk_overlap, context=kcfg.chunk_context)]
    return set(texts)


def _fresh_vectors(kb):
    """The vectors a fresh fake embedder gives the index's chunks: resumed rows must equal them."""
    from knowledge import embedding_text
    from knowledge_fixtures import FakeEmbedder

    return FakeEmbedder().encode([embedding_text(c, kb.cfg.chunk_context) for c in kb.chunks])


def test_failed_logins_are_slowed_down():
    import asyncio

    waits = []

    async def sleep(s):
        waits.append(s)

    guard = app.LoginGuard("ann", "pw", sleep=sleep)
    results = [asyncio.run(guard("ann", f"guess{i}")) for i in range(30)]
    assert not any(results)
    assert waits[:4] == [0.5, 1.0, 2.0, 4.0] and waits[-1] == guard.MAX_DELAY_S
    assert sum(waits) > 200  # 30 guesses cost minutes, not milliseconds
    assert asyncio.run(guard("ann", "pw")) is True and guard.failures == 0
