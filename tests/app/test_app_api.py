"""The app's API over gradio_client, against a real server on loopback: /ask streams a real
answer from chat.Assistant with its sources, /vote stores a preference pair; bad input gets
a clear error. One test runs 8 clients at once over a slow fake, to show the queue serves
them concurrently from one shared assistant."""
import concurrent.futures
import re
import threading
import time

import pytest
from gradio_client import Client

from app import feedback_paths, read_jsonl


def test_ask_streams_an_answer_with_sources(real_server):
    url, folder, live = real_server
    client = Client(url, verbose=False)
    job = client.submit("When are you open on Saturday?", "base+rag", api_name="/ask")
    updates = list(job)
    text, result = job.result()
    assert len(updates) >= 2  # partial texts, then the final answer with its sources
    assert updates[0][1] in ({}, None)  # the JSON comes with the final update only
    assert text.strip() and text.startswith(updates[0][0].rstrip()[:1])
    sources = result["sources"]
    assert sources and sources[0]["source"] in {"hours.md", "billing.md", "vaccines.txt"}
    assert {"n", "source", "title", "section", "page", "score", "snippet", "chunk_id", "supports", "attributed"} <= set(sources[0])
    assert "hours.md" in [s["source"] for s in sources]
    # Verified or flagged, in words: a 12-token SmolLM2 answer is checked against what it cites.
    assert result["verified"] in (True, False, None) and isinstance(result["unsupported_figures"], list)
    if result["verified"] is False:
        assert result["note"].startswith("Not found in the documents as stated: check with the front desk")
    assert result["declined"] is False and result["escalation"] is None


def test_ask_rejects_empty_question_and_unknown_variant(real_server):
    url, _, _ = real_server
    client = Client(url, verbose=False)
    with pytest.raises(Exception, match="question is empty"):
        client.predict("   ", "base", api_name="/ask")
    with pytest.raises(Exception, match="variant 'huge' is not in this build"):
        client.predict("When are you open?", "huge", api_name="/ask")


def test_vote_appends_a_pair_and_refuses_a_vote_without_answers(real_server):
    url, folder, live = real_server
    client = Client(url, verbose=False)
    votes_path, prefs_path = feedback_paths(folder)
    before = len(read_jsonl(prefs_path))
    result = client.predict("Do you take cards? mail me at x@y.org", "base", "No idea.", "tuned+rag", "Yes, all major cards [1].",
                            "B", "", api_name="/vote")
    assert result["winner"] == "tuned+rag" and result["pairs"] == 1
    pair = read_jsonl(prefs_path)[-1]
    assert len(read_jsonl(prefs_path)) == before + 1
    assert pair["chosen"] == "Yes, all major cards [1]." and pair["rejected"] == "No idea."
    assert pair["prompt"] == "Do you take cards? mail me at [email]"  # privacy.redact is on by default
    assert pair["build_id"] == live.build_id and pair["build_id"] not in (None, "retrieval-only")
    with pytest.raises(Exception, match="ask a question first"):
        client.predict("", "base", "", "tuned", "", "A", "", api_name="/vote")
    with pytest.raises(Exception, match="winner must be A, B, tie or both_bad"):
        client.predict("q", "base", "x", "tuned", "y", "C", "", api_name="/vote")
    assert len(read_jsonl(prefs_path)) == before + 1


def test_eight_concurrent_clients_are_served_at_once(fake_server):
    url, folder, fake = fake_server
    active, peak, lock = [0], [0], threading.Lock()
    original = fake.stream

    def counting_stream(*args, **kwargs):
        with lock:
            active[0] += 1
            peak[0] = max(peak[0], active[0])
        try:
            yield from original(*args, **kwargs)
        finally:
            with lock:
                active[0] -= 1

    fake.stream = counting_stream
    fake.delay = 0.05

    def one(i):
        return Client(url, verbose=False).predict(f"question {i}", "base+rag", api_name="/ask")

    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        results = list(pool.map(one, range(8)))
    assert [r[0].strip() for r in results] == [f"base+rag answers: question {i}" for i in range(8)]
    assert peak[0] >= 4  # the queue ran them side by side, not one after another


def test_eval_tab_shows_the_latest_report_with_its_verdict(real_server):
    """A report written by run_eval (as `tailor eval` writes it) is what the Eval tab shows on
    open: the verdict sentence, metrics by their human names, every answer, a downloadable file."""
    from app import eval_estimate, latest_report_dir, report_view
    from evals import run_eval

    _, folder, live = real_server
    report = run_eval(folder, live.cfg, variants=["base", "base+rag"], limit=2, progress=False, assistant=live.assistant,
                      split="all")
    assert latest_report_dir(folder) == report.dir
    verdict, status, table, headers, rows, q_headers, html = report_view(latest_report_dir(folder))
    assert verdict.startswith("**") and ("base+rag" in verdict and "base" in verdict)
    assert "2 questions (all split) x 3 variants" in status  # extract, the floor, runs too
    assert headers == ["metric (95% interval)", "extract", "base", "base+rag"]
    assert any(r[0] == "declining recall (decline_recall)" for r in table)
    assert len(rows) == 2 and all(cell.startswith("[") for r in rows for cell in r[2:])  # "[score] answer" per variant
    from app import questions_html, table_html

    assert "<th scope='col'>base+rag</th>" in table_html(table, headers, "Metrics") and questions_html(rows, q_headers).count("<details") == 2
    assert html == str(report.dir / "report.html")
    estimate = eval_estimate(folder, "all", ["base", "base+rag"], 20, live.cfg.evals.test_share)
    assert "x 2 variants: about" in estimate and "from the last eval on this machine" in estimate
    assert report_view(None)[0].startswith("No eval report yet")


def test_eight_concurrent_asks_on_the_real_model_each_get_their_own_complete_answer(real_server):
    """8 users at once on the real SmolLM2 (decoded in one batch): every answer arrives whole,
    with its sources, and is the answer the same question gets alone."""
    url, _, live = real_server
    questions = ["When are you open on Saturday?", "When do flu vaccines start?", "Are you open on Sundays?", "Do you take credit cards?",
                 "How are invoices sent?", "Can I pay in instalments?", "Does my child need a parent for a vaccine?", "When do you close on Friday?"]

    def one(q):
        return Client(url, verbose=False).predict(q, "base+rag", api_name="/ask")

    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        together = list(pool.map(one, questions))
    assert all(text.strip() for text, _ in together)
    for text, result in together:  # every [n] in an answer resolves to a listed source
        assert {int(n) for n in re.findall(r"\[(\d+)\]", text)} <= {s["n"] for s in result["sources"]}
    assert sum(bool(result["sources"]) for _, result in together) >= 4
    alone = [one(q) for q in questions]
    assert [t for t, _ in together] == [t for t, _ in alone]
