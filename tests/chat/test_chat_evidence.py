"""The one evidence policy (chat.evidence): which part of each retrieved chunk a prompt holds."""
import pytest
from transformers import AutoTokenizer

from chat.evidence import GAP, passage_label, select_evidence
from chat.prompt import format_context
from knowledge import Chunk

LONG = (
    "## Overview\n\nThe clinic was founded in 1990 by two nurses. It has grown to three buildings. "
    "The gardens are open to visitors. The cafeteria serves lunch.\n\n## Fees\n\n"
    "A standard consultation costs 60 euros. Children under 12 pay 30 euros. "
    "Payment by card or cash at the front desk. Receipts are sent by email."
)


@pytest.fixture(scope="module")
def tok(tiny_model_dir):
    return AutoTokenizer.from_pretrained(tiny_model_dir)


def chunk(name, text, title=""):
    return Chunk(id=f"id-{name}", text=text, source=name, title=title)


def size(tok, text):
    return len(tok.encode(text, add_special_tokens=False))


def test_a_long_chunk_is_cut_to_the_sentences_that_hold_the_question(tok):
    passages = select_evidence(tok, "How much does a consultation cost for children?", [chunk("about.md", LONG)], 60)
    (p,) = passages
    assert not p.whole and "60 euros" in p.text and "30 euros" in p.text
    assert "gardens" not in p.text and "founded" not in p.text
    # the chunk's short first line (its heading) stays in front of the passage cut from below it
    assert p.text.startswith("## Overview" + GAP)


def test_a_short_chunk_stays_whole_and_leaves_its_share_to_the_others(tok):
    short = chunk("hours.md", "Open 8:00 to 18:00.")
    chunks = [short, chunk("about.md", LONG)]
    budget = 120
    passages = select_evidence(tok, "What does a consultation cost?", chunks, budget)
    assert [p.index for p in passages] == [0, 1] and passages[0].whole and passages[0].text == short.text
    # the long chunk got more than half the budget: what the short one did not need
    assert size(tok, passages[1].text) > budget // 2 - 20
    assert size(tok, format_context(passages).split("<documents>\n", 1)[1]) <= budget + 4


def test_the_budget_holds_for_any_number_of_chunks(tok):
    chunks = [chunk(f"d{i}.md", LONG) for i in range(6)]
    for budget in (64, 200, 500):
        passages = select_evidence(tok, "fees for children", chunks, budget)
        body = format_context(passages).split("<documents>\n", 1)[1].rsplit("\n</documents>", 1)[0]
        assert size(tok, body) <= budget + 2 * len(chunks)  # + the blank lines between passages


def test_a_kept_chunk_survives_a_budget_too_small_for_the_others(tok):
    chunks = [chunk(f"d{i}.md", LONG) for i in range(6)]
    passages = select_evidence(tok, "fees", chunks, 40, keep=5)
    assert [p.index for p in passages] == [5]


def test_passages_are_labelled_with_the_document_title(tok):
    assert passage_label(chunk("fees.md", "x", title="Fees and insurance")) == "Fees and insurance (fees.md)"
    assert passage_label(chunk("fees.md", "x", title="Fees")) == "fees.md"  # the file already says it
    (p,) = select_evidence(tok, "q", [chunk("fees.md", "Sixty euros.", title="Fees and insurance")], 100)
    assert format_context([p]).startswith("<documents>\n[1] (Fees and insurance (fees.md))\nSixty euros.")
