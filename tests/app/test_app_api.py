"""The app's API over gradio_client, against a real server on loopback: /ask streams a real
answer from chat.Assistant with its sources, /vote stores a preference pair; bad input gets
a clear error. One test runs 8 clients at once over a slow fake, to show the queue serves
them concurrently from one shared assistant."""
import concurrent.futures
import re
import threading

import pytest
from gradio_client import Client

from knowledge.files import read_jsonl_tolerant as read_jsonl
from knowledge.folder import AssistantFolder


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
    prefs_path = AssistantFolder(folder).feedback_pairs
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
    from app import questions_html, table_html
    from evals import eval_estimate, newest_report_dir, report_view, run_eval

    _, folder, live = real_server
    report = run_eval(folder, live.cfg.evals, live.cfg.serving(), variants=["base", "base+rag"], limit=2, progress=False, assistant=live.assistant,
                      split="all")
    assert newest_report_dir(folder) == report.dir
    verdict, status, table, headers, rows, q_headers, html = report_view(newest_report_dir(folder))
    assert verdict.startswith("**") and ("base+rag" in verdict and "base" in verdict)
    assert "2 questions (all split) x 3 variants" in status  # extract, the floor, runs too
    assert headers == ["metric (95% interval)", "extract", "base", "base+rag"]
    assert any(r[0] == "declining recall (decline_recall)" for r in table)
    assert len(rows) == 2 and all(cell.startswith("[") for r in rows for cell in r[2:])  # "[score] answer" per variant
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


def test_the_model_gets_the_conversation_without_the_disclaimer(fake_server):
    """The chat shows the disclaimer; the history sent with the next question leaves it out (it is
    not something the assistant said), exactly as the terminal chat does."""
    from gradio_client import Client

    url, folder, fake = fake_server
    fake.disclaimer = "This assistant does not give medical advice."
    client = Client(url, verbose=False)
    first = client.predict("When are you open?", [], "base+rag", api_name="/chat_submit")
    chatbot = first[0]
    assert len(chatbot) == 2 and "base+rag answers: When are you open?" in str(chatbot[1])
    client.predict("And on Sunday?", chatbot, "base+rag", api_name="/chat_submit")
    question, history, variant = fake.calls[-1]
    assert question == "And on Sunday?" and variant == "base+rag"
    assert history == [{"role": "user", "content": "When are you open?"},
                       {"role": "assistant", "content": "base+rag answers: When are you open?"}]


def test_upload_endpoint_adds_documents_the_index_reads(fake_server, tmp_path):
    """/upload (what bench/soak.py posts to) saves a .markdown file, a type the loader reads, and
    refuses one it cannot read, naming it."""
    from gradio_client import Client, handle_file

    url, folder, _ = fake_server
    doc, exe = tmp_path / "parking.markdown", tmp_path / "virus.exe"
    doc.write_text("# Parking\n\nFree parking behind the building.\n", encoding="utf-8")
    exe.write_bytes(b"MZ")
    status, table, _ = Client(url, verbose=False).predict([handle_file(str(doc)), handle_file(str(exe))], api_name="/upload")
    assert "Added to docs/: parking.markdown" in status and "unsupported file type .exe" in status
    assert (folder / "docs" / "parking.markdown").read_bytes() == doc.read_bytes()
    assert not (folder / "docs" / "virus.exe").exists()
    assert ["parking.markdown", "not indexed"] in table["data"]
