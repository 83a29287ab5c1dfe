"""Human evaluation (evals._votes): vote storage and undo, redaction, the preference pairs a vote
teaches, and the leaderboard fit. These keep what people type into the app, so they are
tested directly, without a server."""
import json
import multiprocessing
import random
import threading

import pytest

from evals import example_questions, leaderboard, pair_tally, read_votes, record_vote, redact, undo_vote, vote_preview
from evals._votes import fit_bradley_terry, preference_pairs, vote_outcomes
from knowledge.errors import InputError
from knowledge.files import append_jsonl, read_jsonl_tolerant
from knowledge.folder import AssistantFolder


def feedback_paths(folder):
    where = AssistantFolder(folder)
    return where.votes, where.feedback_pairs


read_jsonl = read_jsonl_tolerant


@pytest.mark.parametrize(
    "text, gone, kept",
    [
        ("mail me at jane.doe+x@example.co.uk please", ["jane.doe", "example.co.uk"], ["mail me at", "please"]),
        ("call (555) 123-4567 or +1 555.123.4567", ["555", "4567"], ["call", "or"]),
        ("card 4111 1111 1111 1111, ssn 123-45-6789", ["4111", "6789"], ["card", "ssn"]),
        ("account 00123456789", ["00123456789"], ["account"]),
    ],
)
def test_redact_masks_contact_details_and_long_numbers(text, gone, kept):
    out = redact(text)
    for g in gone:
        assert g not in out
    for k in kept:
        assert k in out


def test_redact_keeps_ordinary_numbers():
    text = "Open 9 to 5, room 12, fee 250 dollars, since 2019, on 2024-05-01 at 10:30."
    assert redact(text) == text


def test_preference_pairs_winner_correction_and_tie():
    base = {"id": "v1", "time": "t", "prompt": "q", "variants": ["base", "tuned", "base+rag"], "answers": ["a", "b", "c"], "build_id": "b1"}
    win = preference_pairs({**base, "winner": "tuned", "corrected": None})
    assert [(p["chosen"], p["rejected"]) for p in win] == [("b", "a"), ("b", "c")]
    assert all(p["prompt"] == "q" and p["build_id"] == "b1" and p["winner"] == "tuned" for p in win)
    corrected = preference_pairs({**base, "winner": "both_bad", "corrected": "right"})
    assert [(p["chosen"], p["rejected"]) for p in corrected] == [("right", "a"), ("right", "b"), ("right", "c")]
    assert preference_pairs({**base, "winner": "tie", "corrected": None}) == []
    assert preference_pairs({**base, "winner": "both_bad", "corrected": ""}) == []
    assert preference_pairs({**base, "answers": ["", "b", "c"], "winner": "base", "corrected": None}) == []  # empty chosen
    same = preference_pairs({**base, "answers": ["x", "x", "y"], "winner": "base", "corrected": None})
    assert [(p["chosen"], p["rejected"]) for p in same] == [("x", "y")]  # identical texts teach nothing


def test_record_vote_writes_votes_and_pairs_redacted(tmp_path):
    vote, pairs = record_vote(tmp_path, "my email is a@b.com", ["base", "tuned"], ["call 555-123-4567", "ok"], "tuned",
                              build_id="abc", redact_text=True)
    votes_path, prefs_path = feedback_paths(tmp_path)
    assert read_jsonl(votes_path) == [vote]
    rows = read_jsonl(prefs_path)
    assert len(rows) == len(pairs) == 1
    row = rows[0]
    assert set(row) >= {"prompt", "chosen", "rejected", "variants", "winner", "build_id", "time"}
    assert row["prompt"] == "my email is [email]" and row["rejected"] == "call [phone]" and row["chosen"] == "ok"
    record_vote(tmp_path, "q", ["base", "tuned"], ["x", "y"], "tie")
    assert len(read_jsonl(votes_path)) == 2 and len(read_jsonl(prefs_path)) == 1  # a tie is a vote, not a pair
    record_vote(tmp_path, "q 555-123-4567", ["base", "tuned"], ["x", "y"], "base", redact_text=False)
    assert read_jsonl(prefs_path)[-1]["prompt"] == "q 555-123-4567"


@pytest.mark.parametrize(
    "question, variants, answers, winner, message",
    [
        ("", ["a", "b"], ["x", "y"], "a", "ask a question first"),
        ("q", ["a"], ["x"], "a", "2 to 4 variants"),
        ("q", ["a", "b"], ["x", None], "a", "every answer is complete"),
        ("q", ["a", "b"], ["x", "y"], "c", "winner must be one of"),
    ],
)
def test_record_vote_rejects_bad_votes_and_writes_nothing(tmp_path, question, variants, answers, winner, message):
    with pytest.raises(InputError, match=message):
        record_vote(tmp_path, question, variants, answers, winner)
    assert not (tmp_path / "feedback").exists()


def _append_many(path, tag, n):
    for i in range(n):
        append_jsonl(path, [{"tag": tag, "i": i, "pad": "x" * 5000}])


def test_concurrent_appends_from_threads_and_processes_never_interleave(tmp_path):
    path = tmp_path / "feedback" / "votes.jsonl"
    threads = [threading.Thread(target=_append_many, args=(path, f"t{k}", 40)) for k in range(4)]
    ctx = multiprocessing.get_context("fork")
    procs = [ctx.Process(target=_append_many, args=(path, f"p{k}", 40)) for k in range(2)]
    for w in procs + threads:  # fork first: a child forked while a thread holds the lock would inherit it held
        w.start()
    for w in threads + procs:
        w.join()
    lines = path.read_text().splitlines()
    assert len(lines) == 6 * 40
    rows = [json.loads(line) for line in lines]  # every line is whole JSON
    for tag in ["t0", "t1", "t2", "t3", "p0", "p1"]:
        assert [r["i"] for r in rows if r["tag"] == tag] == list(range(40))


def test_read_votes_skips_a_torn_last_line(tmp_path):
    path = AssistantFolder(tmp_path).votes
    path.parent.mkdir()
    path.write_text('{"a": 1}\n{"a": 2}\n{"a": ', encoding="utf-8")
    assert read_votes(tmp_path) == [{"a": 1}, {"a": 2}]


def _simulated_votes(strength: dict, n: int, seed: int) -> list[dict]:
    """Votes drawn from a known Bradley-Terry model, so the fit can be checked against the truth."""
    rng = random.Random(seed)
    names = list(strength)
    votes = []
    for _ in range(n):
        a, b = rng.sample(names, 2)
        p_a = strength[a] / (strength[a] + strength[b])
        r = rng.random()
        winner = "tie" if abs(r - p_a) < 0.05 else (a if r < p_a else b)
        votes.append({"variants": [a, b], "answers": ["x", "y"], "winner": winner, "build_id": "b1"})
    return votes


def test_bradley_terry_recovers_known_strengths():
    strength = {"base": 1.0, "base+rag": 2.0, "tuned": 4.0, "tuned+rag": 8.0}
    votes = _simulated_votes(strength, 3000, seed=1)
    names = sorted(strength)
    ratings = dict(zip(names, fit_bradley_terry(vote_outcomes(votes), names)))
    # Each doubling of strength is 400*log10(2) ~ 120 Elo points.
    gaps = [ratings["base+rag"] - ratings["base"], ratings["tuned"] - ratings["base+rag"], ratings["tuned+rag"] - ratings["tuned"]]
    for gap in gaps:
        assert 90 < gap < 150, gaps


def test_leaderboard_ranks_with_intervals_that_shrink_with_more_votes():
    strength = {"base": 1.0, "tuned+rag": 4.0, "base+rag": 2.0}
    few = leaderboard(_simulated_votes(strength, 40, seed=2), samples=200)
    many = leaderboard(_simulated_votes(strength, 800, seed=2), samples=200)
    assert [r["name"] for r in many] == ["tuned+rag", "base+rag", "base"]
    assert [r["rank"] for r in many] == [1, 2, 3]
    for r in few + many:
        assert r["ci_low"] <= r["rating"] <= r["ci_high"]
    width = lambda rows: sum(r["ci_high"] - r["ci_low"] for r in rows)
    assert width(many) < width(few) / 2
    assert sum(r["games"] for r in many) == 2 * 800


def test_leaderboard_by_build_separates_builds_and_counts_multiway_votes():
    votes = [
        {"variants": ["base", "tuned", "tuned+rag"], "answers": ["a", "b", "c"], "winner": "tuned+rag", "build_id": "old"},
        {"variants": ["base", "tuned+rag"], "answers": ["a", "c"], "winner": "tuned+rag", "build_id": "new"},
        {"variants": ["base", "tuned+rag"], "answers": ["a", "c"], "winner": "both_bad", "build_id": "new"},
    ]
    assert vote_outcomes(votes[:1]) == [("tuned+rag", "base", 1.0), ("tuned+rag", "tuned", 1.0)]
    names = {r["name"] for r in leaderboard(votes, by="build", samples=50)}
    assert names == {"base @ old", "tuned @ old", "tuned+rag @ old", "base @ new", "tuned+rag @ new"}
    assert leaderboard([], samples=10) == []


def test_a_variant_that_always_wins_gets_a_finite_top_rating():
    votes = [{"variants": ["base", "tuned"], "answers": ["a", "b"], "winner": "tuned"}] * 5
    rows = leaderboard(votes, samples=50)
    assert rows[0]["name"] == "tuned" and rows[0]["rating"] > rows[1]["rating"]
    assert all(abs(r["rating"]) < 5000 for r in rows)


def test_pair_tally_counts_wins_and_ties():
    votes = [
        {"variants": ["base", "tuned"], "winner": "tuned"},
        {"variants": ["tuned", "base"], "winner": "tuned"},
        {"variants": ["base", "tuned"], "winner": "base"},
        {"variants": ["base", "tuned"], "winner": "both_bad"},
    ]
    assert pair_tally(votes) == {("base", "tuned"): {"base": 1, "tuned": 2, "tie": 1}}


def test_a_vote_says_what_it_saves_and_can_be_undone(tmp_path):
    """The preview names the pairs before anything is written; undo removes the vote and its
    pairs (and only those), so the next build never trains on a click made by mistake."""
    preview = vote_preview("Flu shot price?", ["base", "tuned+rag"], ["Flujelly costs $5.", "A flu shot is $38 [1]."], "tuned+rag")
    assert "1 training pair" in preview and "prefer “A flu shot is $38 [1].” (tuned+rag) over “Flujelly costs $5.” (base)" in preview
    assert "no training pair" in vote_preview("q", ["base", "tuned"], ["a", "b"], "tie")
    assert not feedback_paths(tmp_path)[0].exists()  # a preview writes nothing

    keep, _ = record_vote(tmp_path, "Open Sunday?", ["base", "tuned"], ["Yes.", "No [1]."], "tuned")
    oops, pairs = record_vote(tmp_path, "Flu shot price?", ["base", "tuned+rag"], ["Flujelly $5.", "$38 [1]."], "base")
    assert len(pairs) == 1
    assert undo_vote(tmp_path, oops["id"]) == (1, 1)
    votes_path, prefs_path = feedback_paths(tmp_path)
    assert [v["id"] for v in read_jsonl(votes_path)] == [keep["id"]]
    assert [p["vote_id"] for p in read_jsonl(prefs_path)] == [keep["id"]]
    with pytest.raises(InputError, match="no longer in feedback"):
        undo_vote(tmp_path, oops["id"])


def test_the_leaderboard_gives_an_interval_only_after_enough_games():
    votes = [{"variants": ["base", "tuned"], "winner": "tuned", "build_id": "b"}]
    row = {r["name"]: r for r in leaderboard(votes, samples=20, min_games=20)}
    assert row["tuned"]["games"] == 1 and row["tuned"]["ci_low"] is None and row["tuned"]["ci_high"] is None
    many = [{"variants": ["base", "tuned"], "winner": w, "build_id": "b"} for w in ["tuned", "base", "tuned", "tie"] * 6]
    assert all(r["ci_low"] is not None for r in leaderboard(many, samples=20, min_games=20))


def test_undo_leaves_votes_recorded_meanwhile_and_other_lines_alone(tmp_path):
    """An undo rewrites the files: every other vote and pair survives it, byte for byte readable."""
    votes = [record_vote(tmp_path, f"q{i}", ["base", "tuned"], ["a", f"b{i}"], "tuned")[0] for i in range(5)]
    assert undo_vote(tmp_path, votes[2]["id"]) == (1, 1)
    later, _ = record_vote(tmp_path, "after the undo", ["base", "tuned"], ["a", "b"], "base")
    votes_path, prefs_path = feedback_paths(tmp_path)
    assert [v["id"] for v in read_votes(tmp_path)] == [v["id"] for i, v in enumerate(votes) if i != 2] + [later["id"]]
    assert [p["vote_id"] for p in read_jsonl(prefs_path)] == [v["id"] for i, v in enumerate(votes) if i != 2] + [later["id"]]
    assert all(json.loads(line) for line in votes_path.read_text(encoding="utf-8").splitlines())
    with pytest.raises(InputError, match="no vote to undo"):
        undo_vote(tmp_path, None)


def test_a_long_corrected_answer_is_refused_before_the_preview():
    from evals import check_corrected
    from evals._votes import MAX_ANSWER_CHARS

    assert check_corrected("  better  ") == "better" and check_corrected(None) == ""
    with pytest.raises(InputError, match=f"the limit is {MAX_ANSWER_CHARS:,}"):
        check_corrected("x" * (MAX_ANSWER_CHARS + 1))


def test_example_questions_skip_declines_and_cover_each_suite(tmp_path):
    evals_dir = AssistantFolder(tmp_path).evals
    evals_dir.mkdir()
    (evals_dir / "billing.jsonl").write_text(
        '{"question": "Do you offer payment plans?", "answer_type": "free"}\nnot json\n', encoding="utf-8"
    )
    (evals_dir / "front_desk.jsonl").write_text(
        '{"question": "When are you open on Saturday?", "answer_type": "free"}\n'
        '{"question": "Who won the football world cup?", "answer_type": "decline"}\n'
        '{"question": "Do you take credit cards?", "answer_type": "yes_no"}\n', encoding="utf-8"
    )
    qs = example_questions(tmp_path, n=3)
    assert qs == ["Do you offer payment plans?", "When are you open on Saturday?", "Do you take credit cards?"]
    assert "Who won the football world cup?" not in example_questions(tmp_path, n=10)
    assert example_questions(tmp_path / "no-such-folder") == []
