"""The synthesize stage: training data from documents alone."""
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest

from builder._synthesize import (
    SynthExample,
    SynthResult,
    distractor_pairs,
    extract_definitions,
    extract_facts,
    extract_faq,
    extract_sections,
    extract_tables,
    openai_teacher,
    parse_teacher_reply,
    resolve_ambiguous,
    self_retrievable,
    split_sentences,
    supported,
    synthesize,
    teacher_examples,
)
from knowledge import Chunk, load_document
from knowledge.errors import BuildError

FAQ_MD = """# Patient portal

## Frequently asked questions

Q: Can I see my lab results online?
A: Yes. Results appear in the portal within 2 business days of the lab finishing them.

Q: Who resets my password?
A: The front desk resets it at extension 214.

## How do I book a telehealth visit?

Book it in the portal under Visits, or call 555-201-3344 between 8:00 a.m. and 4:00 p.m.
"""

TABLE_MD = """# Fees

| Service | Fee |
|---|---|
| Missed appointment | $40 |
| Copy of records | $15 |
| Travel consultation | $85 |

| Plan | Monthly | Yearly |
|---|---|---|
| Basic | $5 | $50 |
| Plus | $9 | $90 |
"""

GLOSSARY_TXT = """Copay

The fixed amount you pay for a visit, set by your insurance plan.

Deductible

What you pay each year before your insurance starts to pay its share.

Referral

A written request from your doctor for you to see a specialist.
"""

PLAIN_TXT = (
    "Our clinic was founded by Dr. Amara Okafor in 1994. The practice moved to Birch Street in 2011. "
    "Flu shots cost $25 for adults without insurance. The walk-in desk opens at 7:30 a.m. on weekdays.\n"
)


def doc(tmp_path: Path, name: str, text: str):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return load_document(path, name)


def fake_encode(texts):
    """Bag-of-words vectors: equal questions are identical, different ones far apart."""
    vecs = np.zeros((len(texts), 256), dtype=np.float32)
    for i, t in enumerate(texts):
        for w in t.lower().split():
            vecs[i, hash(w) % 256] += 1
    return vecs / np.maximum(np.linalg.norm(vecs, axis=1, keepdims=True), 1e-9)


def test_faq_blocks_and_question_headings(tmp_path):
    examples = extract_faq(doc(tmp_path, "portal.md", FAQ_MD))
    questions = {e.question: e.answer for e in examples}
    assert questions["Can I see my lab results online?"].startswith("Yes. Results appear in the portal within 2 business days")
    assert questions["Who resets my password?"] == "The front desk resets it at extension 214."
    assert "call 555-201-3344" in questions["How do I book a telehealth visit?"]
    assert all(e.kind == "faq" and e.source == "portal.md" for e in examples)


def test_tables_of_any_width(tmp_path):
    examples = extract_tables(doc(tmp_path, "fees.md", TABLE_MD))
    by_q = {e.question: e.answer for e in examples}
    assert by_q["What is the fee for missed appointment?"] == "The fee for missed appointment is $40."
    assert by_q["What is the fee for copy of records?"] == "The fee for copy of records is $15."
    assert by_q["What is the yearly for plus, according to Fees?"] == "According to Fees, the yearly for plus is $90."  # the three-column table too


BRANCH_HTML = """<html><body><h1>Branches</h1>
<h2>Quarry Lane (Main Office)</h2>
<table>
<tr><th>Address</th><td>410 Quarry Lane, Brackenfield</td></tr>
<tr><th>Phone</th><td>(402) 555-0110</td></tr>
<tr><th>Lobby hours</th><td>Monday to Friday 9:00 a.m. to 5:00 p.m.</td></tr>
</table></body></html>"""


def test_header_less_key_value_table_asks_about_the_section(tmp_path):
    """A table of attributes (| Phone | (402) 555-0110 |) has no header row: every row is a fact
    about the section's subject, and none is mistaken for a column name."""
    examples = extract_tables(doc(tmp_path, "branches.html", BRANCH_HTML))
    assert [e.question for e in examples] == [
        "What is the address for Quarry Lane (Main Office)?",
        "What is the phone for Quarry Lane (Main Office)?",
        "What are the lobby hours for Quarry Lane (Main Office)?",
    ]
    assert examples[1].answer == "The phone for Quarry Lane (Main Office) is (402) 555-0110."
    assert examples[1].wrong == ["The phone for Quarry Lane (Main Office) is 410 Quarry Lane, Brackenfield."]


def test_labelled_lines_are_not_read_as_definitions(tmp_path):
    text = ("# Holiday schedule\n\n**Day after Thanksgiving**: only the Quarry Lane and Eastgate branches open.\n\n"
            "## Glossary\n\n**APR**: The yearly cost of borrowing, including interest and fees.\n")
    questions = {e.question: e.answer for e in extract_definitions(doc(tmp_path, "holidays.md", text))}
    assert questions == {"What does APR mean?": "The yearly cost of borrowing, including interest and fees."}


def test_run_on_text_gives_no_answer_longer_than_a_reply(tmp_path):
    listing = "# Services\n\n" + ", ".join(f"service {i} costs $5" for i in range(80)) + "\n"
    d = doc(tmp_path, "services.md", listing)
    examples = extract_facts(d, per_section=10) + extract_definitions(d) + extract_faq(d) + extract_sections(d)
    assert all(len(e.answer.split()) <= 90 for e in examples)


CONDITION_MD = """# Shingles

## Overview

Shingles is a painful rash caused by the same virus as chickenpox. It usually appears on one side of the body.

## Symptoms

The first sign is often burning or tingling pain, followed a few days later by a rash of blisters.

## Research

Scientists are studying new vaccines and treatments.

## Prevention

Two doses of the recombinant shingles vaccine, given 2 to 6 months apart, are recommended for adults 50 and older.
"""

SUBHEADINGS_TXT = """Outlook

Doctors can often treat the condition successfully with medicines or surgery if it is found early, and most people recover within a few weeks of starting treatment.

Physical exam

Your doctor will listen to your breathing with a stethoscope and ask about your work history and any exposure at home.

Tests

Blood tests, a chest x-ray and sometimes a scan help confirm the diagnosis and show how much damage there is to the lungs.
"""


def test_section_headings_become_the_questions_readers_ask(tmp_path):
    examples = extract_sections(doc(tmp_path, "shingles.md", CONDITION_MD))
    assert {e.question: e.answer.split(".")[0] for e in examples} == {
        "What is Shingles?": "Shingles is a painful rash caused by the same virus as chickenpox",
        "What are the symptoms of Shingles?": "The first sign is often burning or tingling pain, followed a few days later by a rash of blisters",
        "How can Shingles be prevented?": "Two doses of the recombinant shingles vaccine, given 2 to 6 months apart, are recommended for adults 50 and older",
        "What research is being done on Shingles?": "Scientists are studying new vaccines and treatments",
    }
    assert {e.fact for e in examples} == {"overview", "symptoms", "prevention", "research"} and all(e.kind == "section" for e in examples)
    # a title that names nothing gives no subject to ask about
    assert extract_sections(doc(tmp_path, "pmid_10548670.md", "# PubMed abstract 10548670\n\n## Symptoms\n\nFever and cough were the most common findings in the group.\n")) == []


def test_plain_text_sub_headings_are_not_a_glossary(tmp_path):
    assert extract_definitions(doc(tmp_path, "asbestos.txt", SUBHEADINGS_TXT)) == []


def test_glossary_definitions(tmp_path):
    examples = extract_definitions(doc(tmp_path, "glossary.txt", GLOSSARY_TXT))
    assert {e.question for e in examples} == {"What does Copay mean?", "What does Deductible mean?", "What does Referral mean?"}
    assert next(e for e in examples if "Copay" in e.question).answer.startswith("The fixed amount you pay")


def test_fact_questions_are_grounded_in_sentences(tmp_path):
    d = doc(tmp_path, "about.txt", PLAIN_TXT)
    examples = [e for e in extract_facts(d, per_section=10) if e.answer_type != "yes_no"]
    assert {e.question: e.answer for e in examples} == {
        "How much do flu shots cost?": "Flu shots cost $25 for adults without insurance.",
        "When does the walk-in desk open?": "The walk-in desk opens at 7:30 a.m. on weekdays.",  # 'a.m.' does not end a sentence
    }  # 'Our clinic was founded by ...': no named subject to ask about
    for e in examples:
        assert e.answer.rstrip(".") in " ".join(d.text.split())  # the answer is the document's own sentence


def test_split_sentences_keeps_abbreviations():
    assert split_sentences("Open 8 a.m. to 5 p.m. daily. Ask Dr. Lee. Done!") == ["Open 8 a.m. to 5 p.m. daily.", "Ask Dr. Lee.", "Done!"]


def test_plain_paragraphs_and_non_english_do_not_crash(tmp_path):
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "plain.txt").write_text(PLAIN_TXT)
    (docs / "fr.md").write_text("# Horaires\n\nLe cabinet ouvre à 8 h 30. Les consultations coûtent 25 €. 診療時間は午前9時からです。\n")
    (docs / "empty-ish.txt").write_text("ok\n")
    result = synthesize(docs, ["plain.txt", "fr.md", "empty-ish.txt"], [], fake_encode, [])
    assert result.counts["fact"] >= 2 and {e.source for e in result.examples} == {"plain.txt"}


def test_no_examples_gives_a_reason(tmp_path):
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "poem.txt").write_text("roses are red\nviolets are blue\n")
    result = synthesize(docs, ["poem.txt"], [], fake_encode, [])
    assert result.examples == [] and "no training examples found" in result.summary()


def test_eval_questions_are_dropped_and_counted(tmp_path):
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "portal.md").write_text(FAQ_MD)
    result = synthesize(docs, ["portal.md"], [], fake_encode, ["Who resets my password?"])
    assert "Who resets my password?" not in {e.question for e in result.examples}
    assert result.dropped["near an eval question"] == 1


def test_eval_paraphrase_is_dropped_with_the_real_embedder(tmp_path):
    from knowledge import load_embedder

    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "portal.md").write_text(FAQ_MD)
    emb = load_embedder("all-minilm-l6-v2")
    result = synthesize(docs, ["portal.md"], [], emb.encode, ["Can I view my lab results online?"])
    assert "Can I see my lab results online?" not in {e.question for e in result.examples}
    assert result.dropped["near an eval question"] >= 1


def test_examples_record_their_chunk(tmp_path):
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "fees.md").write_text(TABLE_MD)
    chunks = [Chunk("c1", TABLE_MD[:60], "fees.md", start=0, end=60), Chunk("c2", TABLE_MD[60:], "fees.md", start=60, end=len(TABLE_MD))]
    result = synthesize(docs, ["fees.md"], chunks, fake_encode, [])
    assert result.examples and all(e.chunk_id in {"c1", "c2"} for e in result.examples)
    assert all(row["chunk_id"] for row in (e.conversation() for e in result.examples))


def test_distractor_pairs_reject_a_same_kind_fact(tmp_path):
    examples = extract_tables(doc(tmp_path, "fees.md", TABLE_MD))
    pairs = distractor_pairs(examples, seed=0, limit=10)
    assert len(pairs) == len(examples) >= 3
    assert {p["synthesized"] for p in pairs} == {"wrong figure"}
    for p in pairs:
        assert p["chosen"] != p["rejected"] and "$" in p["rejected"]
        # the rejected answer is about the same row with another row's figure: clearly wrong for this question
        assert p["rejected"].rsplit(" ", 1)[0] == p["chosen"].rsplit(" ", 1)[0]


def test_supported_filter():
    passage = "The no-show fee is $40 and is charged after the second missed visit."
    assert supported("The no-show fee is $40.", passage)
    assert not supported("The no-show fee is $55.", passage)  # a number not in the passage
    assert not supported("Parking is free on weekends for all visitors.", passage)


def test_parse_teacher_reply():
    assert parse_teacher_reply('Sure! {"question": "Q?", "answer": "A."}') == ("Q?", "A.")
    assert parse_teacher_reply("no json here") is None
    assert parse_teacher_reply('{"question": "", "answer": "A"}') is None


class _Teacher(BaseHTTPRequestHandler):
    replies: dict = {}  # keyword in the prompt -> reply

    def do_POST(self):  # noqa: N802
        prompt = json.loads(self.rfile.read(int(self.headers["Content-Length"])))["messages"][0]["content"]
        content = next((r for k, r in self.replies.items() if k in prompt), "garbage")
        body = json.dumps({"choices": [{"message": {"role": "assistant", "content": content}}]}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def teacher_server():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Teacher)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()


def test_teacher_over_a_real_http_server(teacher_server):
    chunks = [
        Chunk("a", "The travel clinic gives yellow fever shots for $120 on Tuesdays.", "travel.md", title="Travel"),
        Chunk("b", "Parking in the Birch Street garage is free for two hours.", "parking.md", title="Parking"),
        Chunk("d", "Visitors may leave bikes at the rack by the east door.", "bikes.md", title="Bike rack"),
        Chunk("c", "Refills take three business days.", "refills.md", title="Refills"),
    ]
    _Teacher.replies = {
        "yellow fever": '{"question": "When does the travel clinic give yellow fever shots?", "answer": "On Tuesdays, for $120."}',
        "bikes": '{"question": "Where do I leave it?", "answer": "Visitors may leave bikes at the rack by the east door."}',  # names no subject: dropped
        "Refills": "I cannot answer in JSON, sorry.",
        "Parking": '{"question": "Is parking free?", "answer": "Parking costs $9 per hour."}',  # unsupported: dropped
    }
    ask = openai_teacher(f"http://127.0.0.1:{teacher_server.server_address[1]}/v1", "teacher", timeout=5)
    result = SynthResult([], [])
    out = teacher_examples(chunks, ask, n=4, seed=0, result=result)
    assert [(e.question, e.chunk_id, e.kind) for e in out] == [("When does the travel clinic give yellow fever shots?", "a", "teacher")]
    assert result.dropped["teacher: question does not name its subject"] == 1
    assert result.dropped["teacher: malformed reply"] == 1
    assert result.dropped["teacher: answer not supported by its chunk"] == 1


def test_teacher_down_fails_clearly_after_retries_keeping_what_was_made():
    chunks = [Chunk("a", "Refills take three business days.", "refills.md")]
    ask = openai_teacher("http://127.0.0.1:9/v1", None, timeout=1, retries=2)  # nothing listens on port 9
    saved = []
    with pytest.raises(BuildError, match="failed 2 times"):
        teacher_examples(chunks, ask, n=1, seed=0, result=SynthResult([], []), on_example=saved.append)


def test_documents_only_build_trains_on_synthesized_data(tmp_path, tiny_model_dir):
    """`tailor build` on a folder with docs/ and nothing else: the data stage synthesizes
    conversations and pairs, says where they came from, and SFT and DPO train on them."""
    from builder import build
    from builder.config import load_config
    from builder_fixtures import make_folder

    folder = make_folder(tmp_path / "docs-only", tiny_model_dir, conversations=False, preferences=False)
    (folder / "docs" / "portal.md").write_text(FAQ_MD, encoding="utf-8")
    (folder / "docs" / "fees-table.md").write_text(TABLE_MD, encoding="utf-8")
    (folder / "evals").mkdir()
    (folder / "evals" / "suite.jsonl").write_text(json.dumps({"question": "Who resets my password?", "answer": "ext 214", "answer_type": "free"}) + "\n")
    summary = build(folder, load_config(folder), quiet=True)
    stages = {s.name: s for s in summary.stages}
    assert stages["sft"].status == "ran" and stages["dpo"].status == "ran"
    assert stages["dpo"].result["pairs"]["synthesized"] > 0 and stages["dpo"].result["pairs"].get("user", 0) == 0  # DPO trained on them
    info = stages["data"].result["synthesized"]
    assert info["by_source"]["faq"] >= 2 and info["by_source"]["table"] >= 3 and info["pairs"] > 0
    assert info["self_retrieval"]["searched"] >= sum(info["by_source"].values()) and info["made"]["table"] >= info["by_source"]["table"]
    assert info["dropped"]["near an eval question"] == 1  # the eval question stays held out
    assert "synthesized from documents" in stages["data"].note
    synthesized = [json.loads(line) for line in (folder / "build" / "data" / "synth_conversations.jsonl").read_text().splitlines()]
    assert all(row["chunk_id"] for row in synthesized)
    assert "Who resets my password?" not in {row["messages"][0]["content"] for row in synthesized}
    manifest = json.loads((folder / "build" / "manifest.json").read_text())
    assert manifest["model_dir"] and manifest["decline"]["method"] and not manifest["decline"]["method"].startswith("fallback")


def _ex(question, answer, source, title="", offset=0):
    return SynthExample(question, answer, source, "section", offset, "symptoms", title=title)


def test_a_question_asked_with_different_answers_is_disambiguated_or_dropped():
    result = SynthResult([], [])
    examples = [
        _ex("What are the symptoms?", "Fever and a rash that lasts a week.", "a.md", "Measles"),
        _ex("What are the symptoms?", "A cough that lasts three weeks or more.", "b.md", "Tuberculosis"),
        _ex("What is the fee?", "The fee is $40 for each missed visit.", "c.md", "Fees"),
        _ex("What is the fee?", "The fee is $15 for a copy of your records.", "d.md", "Fees"),
        _ex("How do I pay?", "Pay online or at the front desk.", "e.md", "Billing"),
        _ex("How do I pay?", "Pay online or at the front desk.", "f.md", "Billing"),
    ]
    kept = {e.question: e.answer for e in resolve_ambiguous(examples, result)}
    assert kept == {
        "What are the symptoms, according to Measles?": "Fever and a rash that lasts a week.",
        "What are the symptoms, according to Tuberculosis?": "A cough that lasts three weeks or more.",
        "How do I pay?": "Pay online or at the front desk.",
    }  # two documents with one title cannot tell 'the fee' apart: both dropped
    assert result.dropped["ambiguous"] == 2 and result.dropped["duplicate"] == 1
    assert result.dropped_by["section"]["ambiguous"] == 2


def test_self_retrieval_keeps_questions_that_find_their_passage():
    chunks = {c.id: c for c in [
        Chunk("fees", "The no-show fee is $40.", "fees.md", start=0, end=30),
        Chunk("hours", "We open at 8 a.m.", "hours.md", start=0, end=20),
    ]}  # fmt: skip
    found = {"What is the no-show fee?": ["fees", "hours"], "When do you open?": ["fees", "hours"], "Where is parking?": ["fees"]}
    examples = [
        SynthExample("What is the no-show fee?", "The no-show fee is $40.", "fees.md", "fact", 0),
        SynthExample("When do you open?", "We open at 8 a.m.", "hours.md", "fact", 0),
        SynthExample("Where is parking?", "Behind the building.", "parking.md", "fact", 0),
    ]
    result = SynthResult([], [])
    kept = self_retrievable(examples, lambda q, k: [chunks[i] for i in found[q][:k]], 2, result)
    assert [e.question for e in kept] == ["What is the no-show fee?", "When do you open?"]
    assert result.retrieval == {"searched": 3, "top1": 1, "topk": 2, "k": 2}
    assert result.dropped["not self-retrievable"] == 1 and "self-retrieval: 1/3" in result.summary()


def test_self_retrieval_with_the_real_knowledge_base(tmp_path):
    """The check as the data stage runs it: the question searched in the real index (real embedder,
    BM25 and fusion); a question naming no subject that two documents answer alike is not kept
    unless its own passage comes back."""
    from knowledge import KnowledgeConfig, build_index, load_index

    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "portal.md").write_text(FAQ_MD)
    (docs / "fees.md").write_text(TABLE_MD)
    (docs / "shingles.md").write_text(CONDITION_MD)
    cfg = KnowledgeConfig(chunk_size=64, chunk_overlap=8)
    build_index(docs, tmp_path / "index", cfg)
    kb = load_index(tmp_path / "index", cfg)
    result = synthesize(docs, sorted(kb.sources()), kb.chunks, kb.embedder.encode, [],
                        search=lambda q, k: [h.chunk for h in kb.search(q, k=k)], k=2)  # fmt: skip
    r = result.retrieval
    assert r["searched"] >= 8 and r["topk"] == len(result.examples) and r["top1"] <= r["topk"]
    by_q = {e.question: e for e in result.examples}
    assert "What are the symptoms of Shingles?" in by_q and by_q["What is the fee for missed appointment?"].chunk_id
    for e in result.examples:  # every kept question finds its own passage in the top 2
        assert any(h.chunk.id == e.chunk_id or (h.chunk.source == e.source and h.chunk.start <= e.offset < h.chunk.end) for h in kb.search(e.question, k=2))
    assert "self-retrieval:" in result.summary() and "table: made" in result.summary()


def test_pairs_reject_another_entitys_answer_when_the_document_has_no_sibling():
    a = _ex("What are the symptoms of Measles?", "Fever and a rash that lasts a week.", "a.md", "Measles")
    b = _ex("What are the symptoms of Tuberculosis?", "A cough that lasts three weeks or more.", "b.md", "Tuberculosis")
    pairs = distractor_pairs([a, b], seed=0, limit=5)
    assert {(p["prompt"], p["rejected"]) for p in pairs} == {
        ("What are the symptoms of Measles?", "A cough that lasts three weeks or more."),
        ("What are the symptoms of Tuberculosis?", "Fever and a rash that lasts a week."),
    }
    assert {p["synthesized"] for p in pairs} == {"other entity"}


def test_examples_holding_an_eval_answer_are_dropped_per_extractor(tmp_path):
    """The data stage's leakage check, applied in synthesis: counted against the extractor that
    made the example, and no preference pair keeps a leaking answer either."""
    from builder._leakage import LeakChecker
    from evals import read_eval_texts

    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "shingles.md").write_text(CONDITION_MD)
    evals = tmp_path / "evals"
    evals.mkdir()
    reference = "Two doses of the recombinant shingles vaccine, given 2 to 6 months apart, are recommended for adults 50 and older."
    (evals / "suite.jsonl").write_text(json.dumps({"id": "1", "question": "Who should get the shingles shot?", "answer": reference, "answer_type": "free"}) + "\n")
    leaks = LeakChecker(read_eval_texts(evals)).text_leaks
    result = synthesize(docs, ["shingles.md"], [], fake_encode, [], leaks=leaks)
    assert not any(reference[:40] in e.answer for e in result.examples) and result.examples
    assert result.dropped_by["section"]["holds an eval answer"] == 1
    assert not any(leaks(p["rejected"]) or leaks(p["chosen"]) for p in result.pairs)
