"""Bad training data is reported line by line, before anything trains, and loses nothing."""
import json

import pytest

from builder._inputs import load_conversations, load_preferences
from knowledge.errors import InputError


def write(path, lines):
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def conv(*turns, **extra):
    roles = ["user", "assistant"] * len(turns)
    return json.dumps({"messages": [{"role": r, "content": t} for r, t in zip(roles, turns)], **extra})


def test_valid_rows_keep_extra_fields_and_drop_row_system_messages(tmp_path):
    row = {"messages": [{"role": "system", "content": "old"}, {"role": "user", "content": "Hi?"}, {"role": "assistant", "content": "Hello."}], "source": "faq.md"}
    convs = load_conversations(write(tmp_path / "c.jsonl", [json.dumps(row), "", conv("Q2?", "A2.", "Q3?")]))
    assert [c.line for c in convs] == [1, 3]
    assert convs[0].extra == {"source": "faq.md"}
    assert [m["role"] for m in convs[0].messages] == ["user", "assistant"]
    assert convs[1].messages[-1]["role"] == "assistant"  # the unanswered trailing question is dropped


def test_every_bad_line_is_reported_with_file_and_line(tmp_path):
    lines = [
        conv("Fine?", "Fine."),
        '{"messages": [{"role": "user", "content": "broken"}',  # 2: malformed JSON
        json.dumps({"messages": [{"role": "bot", "content": "x"}]}),  # 3: unknown role
        conv("Question?", "   "),  # 4: empty assistant turn
        json.dumps({"text": "no messages"}),  # 5: missing field
    ]
    with pytest.raises(InputError) as exc:
        load_conversations(write(tmp_path / "conversations.jsonl", lines))
    msg = str(exc.value)
    assert "4 bad line(s)" in msg
    assert "conversations.jsonl:2: not valid JSON" in msg
    assert "conversations.jsonl:3: messages[0].role 'bot' is unknown" in msg
    assert "conversations.jsonl:4: messages[1] is an empty assistant turn" in msg
    assert "conversations.jsonl:5: missing 'messages'" in msg


def test_preferences_accept_strings_and_messages_and_reject_identical_pairs(tmp_path):
    lines = [
        json.dumps({"prompt": "Open Sunday?", "chosen": "No.", "rejected": "Yes.", "id": 7}),
        json.dumps({"prompt": [{"role": "user", "content": "Fees?"}], "chosen": [{"role": "assistant", "content": "60 euros."}], "rejected": "Free."}),
        json.dumps({"prompt": "Same?", "chosen": "Same answer.", "rejected": "Same answer. "}),
    ]
    with pytest.raises(InputError, match=r"preferences.jsonl:3: 'chosen' and 'rejected' are the same answer"):
        load_preferences(write(tmp_path / "preferences.jsonl", lines))
    pairs, problems = load_preferences(write(tmp_path / "preferences.jsonl", lines[:2]))
    assert not problems
    assert pairs[0].extra == {"id": 7} and pairs[1].chosen == "60 euros."
    assert pairs[1].prompt == [{"role": "user", "content": "Fees?"}]


def test_app_feedback_skips_damaged_lines_instead_of_failing(tmp_path):
    path = write(tmp_path / "preferences.jsonl", [json.dumps({"prompt": "Q?", "chosen": "A.", "rejected": "B."}), "{not json"])
    pairs, problems = load_preferences(path, source="feedback", strict=False)
    assert len(pairs) == 1 and pairs[0].source == "feedback"
    assert problems and ":2:" in problems[0]
