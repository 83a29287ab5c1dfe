"""End to end in a real browser: headless Chromium drives the app served over the real chat and
knowledge packages. Ask and see the streamed answer with a source; vote side by side and find
the pair in feedback/preferences.jsonl; upload a document, index it and find it by search;
bad input (a traversal name, an unsupported type, an empty question, a vote before any
answer) gets a clear message. Screenshots of each tab go to TAILOR_SCREENSHOTS (default: the
test's tmp folder; bench/screenshots.py makes the README's from examples/clinic)."""
import importlib.util
import os
import shutil
from pathlib import Path

import pytest

from app import feedback_paths, read_jsonl

pytestmark = pytest.mark.browser

_spec = importlib.util.spec_from_file_location("tailor_screenshots", Path(__file__).parents[2] / "bench" / "screenshots.py")
ui = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(ui)


@pytest.fixture
def page(real_server):
    if not shutil.which(ui.CHROMIUM):
        pytest.skip("needs Debian's chromium: run `make browser-deps`")
    from playwright.sync_api import sync_playwright

    url = real_server[0]
    with sync_playwright() as p:
        browser = ui.open_browser(p)
        try:
            yield ui.open_app(browser, url)
        finally:
            browser.close()


def test_chat_side_by_side_and_build_in_a_browser(page, real_server, tmp_path):
    _, folder, live = real_server
    shots = Path(os.environ.get("TAILOR_SCREENSHOTS") or tmp_path)

    # Chat: bad input first, then a real question.
    page.click("#chat-send")
    ui._wait_text(page, "#chat-footer", "t.includes('Type a question first')", 30)
    ui.choose_variant(page, "base+rag")  # the real SmolLM2 (the fabricated "tuned" one is random)
    chat_text, sources = ui.ask(page, "When are you open on Saturday?")
    asked = page.locator('#chatbot [data-testid="user"]').all_inner_texts()
    answered = page.locator('#chatbot [data-testid="bot"]').all_inner_texts()
    assert asked == ["When are you open on Saturday?"]
    assert len(answered) == 1 and answered[0].strip()  # the assistant's streamed answer
    assert "hours.md" in sources
    # The sources table lists what the answer cites (a marker the model wrote or Tailor matched),
    # or everything it was given when it cites nothing: hours.md is among them either way.
    files = page.locator('#sources-table [data-testid^="cell-"][data-testid$="-1"]').all_inner_texts()
    assert "Saturday from 9am to 1pm" in ui.open_source(page, row=next(r for r, f in enumerate(files) if "hours.md" in f))
    ui.shoot(page, shots / "chat.png")

    # Side by side: a vote before any answer is explained, then a real comparison and vote.
    ui.tab(page, "Side by side")
    assert "Ask a question first" in ui.vote(page, "A")
    votes_path, prefs_path = feedback_paths(folder)
    before = len(read_jsonl(prefs_path))
    status = ui.compare(page, "Do you take credit cards?")
    assert "Vote below" in status, status
    assert "Model A" in ui.text_of(page, "#arena-head-0")  # anonymous until the vote
    status = ui.vote(page, "B")
    assert "Vote recorded" in status and "preference pair" in status, status
    head_b = ui.text_of(page, "#arena-head-1")
    assert any(v in head_b for v in live.variants)  # names revealed after the vote
    pairs = read_jsonl(prefs_path)
    assert len(pairs) == before + 1
    assert pairs[-1]["prompt"] == "Do you take credit cards?" and pairs[-1]["chosen_variant"] in head_b
    assert "Do you take credit cards?" in [v["prompt"] for v in read_jsonl(votes_path)]
    assert "already has your vote" in ui.vote(page, "A")
    assert len(read_jsonl(prefs_path)) == before + 1
    ui.shoot(page, shots / "side_by_side.png")

    ui.tab(page, "Eval")
    ui.shoot(page, shots / "eval.png")

    # Build: refused uploads, then a real one that becomes searchable after Index.
    status = ui.upload(page, [{"name": "../../etc/passwd", "mimeType": "text/plain", "buffer": b"root:x:0:0"}])
    assert "Not added" in status and "unsupported file type" in status, status
    status = ui.upload(page, [{"name": "virus.exe", "mimeType": "application/octet-stream", "buffer": b"MZ"}])
    assert "unsupported file type .exe" in status, status
    assert not (folder / "docs" / "passwd").exists() and not (folder / "docs" / "virus.exe").exists()
    note = b"# Parking\n\nThe clinic has free parking for patients behind the building, next to the pharmacy.\n"
    status = ui.upload(page, [{"name": "parking.md", "mimeType": "text/markdown", "buffer": note}])
    assert "Added to docs/: parking.md" in status, status
    assert (folder / "docs" / "parking.md").read_bytes() == note
    assert "not indexed" in ui.text_of(page, "#docs-table")
    status = ui.index(page)
    assert "index complete" in status, status
    assert "not indexed" not in ui.text_of(page, "#docs-table")
    results = ui.search(page, "where can patients park")
    assert "parking.md" in results.split("\n\n")[0] or "parking.md" in results
    assert "parking.md" in live.kb().sources()  # the app switched to the new index without a restart
    ui.shoot(page, shots / "build.png")
