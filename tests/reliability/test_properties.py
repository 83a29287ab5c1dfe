"""Property-based tests: random and adversarial input to the readers, parsers and the redactor.

Each property is "no exception other than Tailor's own errors, in bounded time": hypothesis'
deadline fails any example that takes too long, and shrinks it to the smallest such input.
"""
from __future__ import annotations

import json
from pathlib import Path

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from evals import redact
from knowledge.files import read_jsonl_tolerant
from knowledge.errors import TailorError

FAST = settings(deadline=2000, max_examples=60, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=12,
)
# Lines a person, an editor or a crash may leave in a JSONL file.
jsonl_lines = st.one_of(
    json_values.map(lambda v: json.dumps(v).encode()),
    st.binary(max_size=60),
    st.sampled_from([b"", b"   ", b"{", b'{"messages": [', b"[" * 5000, b"\xff\xfe", b'{"prompt": "caf\xc3', b"\x00" * 10]),
    st.builds(lambda d: json.dumps(d).encode(), st.fixed_dictionaries({
        "messages": st.lists(st.fixed_dictionaries({"role": st.sampled_from(["user", "assistant", "system", "bot", 3]),
                                                    "content": st.one_of(st.text(max_size=20), st.none())}), max_size=4)})),
    st.builds(lambda d: json.dumps(d).encode(), st.fixed_dictionaries({
        "prompt": st.one_of(st.text(max_size=10), st.lists(json_values, max_size=2)),
        "chosen": st.one_of(st.text(max_size=10), json_values), "rejected": st.one_of(st.text(max_size=10), json_values)})),
)
jsonl_files = st.lists(jsonl_lines, max_size=12).map(lambda lines: b"\n".join(lines))


def _write(tmp_path: Path, name: str, data: bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


@FAST
@given(data=jsonl_files)
def test_conversation_and_preference_readers(tmp_path_factory, data):
    from builder._inputs import load_conversations, load_preferences

    tmp = tmp_path_factory.mktemp("jsonl")
    path = _write(tmp, "conversations.jsonl", data)
    for read in (load_conversations, lambda p: load_preferences(p), lambda p: load_preferences(p, "feedback", strict=False)):
        try:
            read(path)
        except TailorError:
            pass


@FAST
@given(data=jsonl_files)
def test_vote_reader_never_fails(tmp_path_factory, data):
    path = _write(tmp_path_factory.mktemp("votes"), "votes.jsonl", data)
    rows = read_jsonl_tolerant(path)
    assert all(isinstance(r, dict) for r in rows)


@FAST
@given(data=jsonl_files)
def test_query_and_build_data_readers(tmp_path_factory, data):
    from builder._common import read_jsonl
    from knowledge import read_queries

    path = _write(tmp_path_factory.mktemp("queries"), "suite.jsonl", data)
    for read in (lambda p: list(read_queries(p)), read_jsonl):
        try:
            read(path)
        except TailorError:
            pass


yaml_values = st.recursive(
    st.none() | st.booleans() | st.integers(-10**6, 10**6) | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=15),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=12), inner, max_size=3),
    max_leaves=10,
)
sections = st.dictionaries(
    st.sampled_from(["name", "knowledge", "chat", "generation", "builder", "evals", "privacy", "knowlege"]),
    st.one_of(yaml_values, st.dictionaries(
        st.sampled_from(["chunk_size", "chunk_overlap", "top_k", "max_new_tokens", "temperature", "lora_r", "sft", "redact", "typo"]),
        yaml_values, max_size=4)),
    max_size=5,
)


@FAST
@given(doc=st.one_of(sections.map(lambda d: yaml.safe_dump(d).encode()), st.binary(max_size=200),
                     st.sampled_from([b"a: [" * 2000, b"\xef\xbb\xbfname: x\n", b"knowledge: {chunk_size: 64, chunk_overlap: 64}", b"- 1\n- 2"])))
def test_config_loader(tmp_path_factory, doc):
    from builder.config import load_config

    folder = tmp_path_factory.mktemp("cfg")
    (folder / "assistant.yaml").write_bytes(doc)
    try:
        cfg = load_config(folder)
    except TailorError:
        return
    assert cfg.knowledge.chunk_overlap < cfg.knowledge.chunk_size


@FAST
@given(text=st.one_of(st.text(max_size=300), st.builds(lambda u, n: u * n, st.sampled_from(["1,", "1.", "one ", "yes no ", "-", "1e", "thousand "]), st.integers(1, 3000))))
def test_number_and_yes_no_parsers(text):
    from evals._metrics import numbers_match, parse_numbers, parse_yes_no

    for number in parse_numbers(text):
        assert isinstance(number.value, float)
    assert parse_yes_no(text) in (None, "yes", "no")
    assert numbers_match(text, "42") in (None, True, False)


adversarial = st.builds(
    lambda unit, n, tail: unit * n + tail,
    st.sampled_from(["a", "a.", "1 ", "1-", "x@", "@a", "+1 ", "(555) ", "a@b.", "0" * 7 + " ", "é"]),
    st.integers(1, 8000),
    st.text(max_size=5),
)


@settings(deadline=1000, max_examples=80, suppress_health_check=[HealthCheck.too_slow])
@given(text=st.one_of(st.text(max_size=2000), adversarial))
def test_redactor(text):
    out = redact(text)
    assert isinstance(out, str)
    assert redact(out) == out  # masking is idempotent: no mask creates a new match
