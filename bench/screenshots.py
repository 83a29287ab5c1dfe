"""Screenshots of every tab of the Tailor app, taken by headless Chromium (for the README).

    .venv/bin/python bench/screenshots.py examples/clinic                  # -> docs/screenshots/*.png
    .venv/bin/python bench/screenshots.py examples/clinic --eval-limit 3   # also run a small eval first
    .venv/bin/python bench/screenshots.py FOLDER --out /tmp/shots --question "..." --question "..." --query "..."

It serves FOLDER (`app.py serve`, its own process) on a free loopback port, asks a question in Chat, compares two
variants in Side by side (without voting unless --vote, so the folder's feedback stays
untouched), searches in Build, and saves chat.png, side_by_side.png, eval.png and build.png, then
each tab again 390 px wide (a phone) as *-390.png.
The same page helpers drive the browser test (tests/app/test_app_browser.py).
Needs Debian's chromium (`make browser-deps`) and the playwright package (dev extra).
"""
from __future__ import annotations

import argparse
import os
import socket
import sys
from pathlib import Path

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]
VIEWPORT = {"width": 1280, "height": 900}
NARROW = {"width": 390, "height": 844}  # a phone
# Elements whose right edge passes the viewport's (cut off, or a page that scrolls sideways).
OVERFLOW_JS = """() => { const vw = document.documentElement.clientWidth; const out = [];
  for (const el of document.querySelectorAll('body *')) { if (el.offsetParent === null) continue;
    const r = el.getBoundingClientRect(); if (r.width > 0 && r.right > vw + 1) out.push((el.id || el.tagName) + ' right=' + Math.round(r.right)); }
  return {viewport: vw, scroll: document.documentElement.scrollWidth, wider: out.slice(0, 20)}; }"""


def overflow(page) -> dict:
    return page.evaluate(OVERFLOW_JS)


def open_browser(playwright):
    """Headless Debian Chromium (Playwright's own browser download is unavailable offline)."""
    return playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)


def open_app(browser, url: str, timeout_s: float = 60):
    page = browser.new_page(viewport=VIEWPORT)
    page.set_default_timeout(timeout_s * 1000)
    page.goto(url)
    page.wait_for_selector("#chat-question textarea")
    return page


MARKDOWN_IDS = ("#chat-footer", "#arena-status", "#arena-head-0", "#arena-head-1", "#upload-status", "#arena-tally",
                "#build-status", "#search-status", "#eval-status", "#eval-verdict", "#eval-estimate")


def _content(selector: str) -> str:
    """A status Markdown's rendered text only: while an event runs, Gradio overlays a progress
    tracker ('processing | 1.2s') on its outputs, which must not count as the new text."""
    return f"{selector} .prose" if selector in MARKDOWN_IDS else selector


def text_of(page, selector: str) -> str:
    el = page.query_selector(_content(selector))
    return el.inner_text() if el else ""


def _wait_text(page, selector: str, js_condition: str, timeout_s: float):
    """Wait until the element's innerText satisfies js_condition (a JS expression over `t`)."""
    page.wait_for_function(
        f"() => {{ const el = document.querySelector({_content(selector)!r}); const t = el ? el.innerText : ''; return {js_condition}; }}",
        timeout=timeout_s * 1000,
    )


def tab(page, name: str) -> None:
    page.get_by_role("tab", name=name).click()


def choose_variant(page, variant: str) -> None:
    """Pick the Chat tab's variant from its dropdown."""
    tab(page, "Chat")
    page.click("#chat-variant input")
    page.get_by_role("option", name=variant, exact=True).click()
    page.wait_for_function(f"() => document.querySelector('#chat-variant input').value === {variant!r}")


def ask(page, question: str, timeout_s: float = 120) -> tuple[str, str]:
    """Ask in the Chat tab and wait for the final answer; (chat text, sources panel text)."""
    tab(page, "Chat")
    page.fill("#chat-question textarea", question)
    before = text_of(page, "#chat-footer")
    bubbles = page.locator('#chatbot [data-testid="bot"]').count()
    page.click("#chat-send")
    # The footer gets the timings only with the final answer (a pending request shows other text
    # there). Two instant answers can have the same timings, so a new answer is also a new bubble.
    _wait_text(page, "#chat-footer", f"(t.includes('total ') && document.querySelectorAll('#chatbot [data-testid=\"bot\"]').length > {bubbles}) "
               f"|| (t !== {before!r} && t.includes('Warning'))", timeout_s)
    return text_of(page, "#chatbot"), text_of(page, "#sources")


def last_answer(page):
    """The last answer bubble of the chat (a locator)."""
    return page.locator('#chatbot [data-testid="bot"]').last


def open_source(page, row: int = 0) -> str:
    """Open a source in the sources panel; returns its whole passage."""
    source = page.locator("#sources details.tailor-source").nth(row)
    source.locator("summary").first.click()
    return source.locator(".tailor-passage").inner_text()


def compare(page, question: str, timeout_s: float = 180) -> str:
    """Ask in Side by side with the selected variants; waits until every column is done."""
    tab(page, "Side by side")
    page.fill("#arena-question textarea", question)
    before = text_of(page, "#arena-status")
    page.click("#arena-go")
    _wait_text(page, "#arena-status", f"t !== {before!r} && (t.includes('Vote below') || t.includes('failed') || t.includes('Warning'))", timeout_s)
    return text_of(page, "#arena-status")


def _click_for_status(page, selector: str, timeout_s: float) -> str:
    before = text_of(page, "#arena-status")
    page.click(selector)
    _wait_text(page, "#arena-status", f"t !== {before!r}", timeout_s)
    return text_of(page, "#arena-status")


def vote(page, button: str = "A", confirm: bool = True, timeout_s: float = 30) -> str:
    """Click a vote button (A, B, C, D, tie, both_bad); the app says what the vote will save.
    With `confirm`, save it. Returns the last status line."""
    status = _click_for_status(page, f"#vote-{button}", timeout_s)
    if confirm and page.is_visible("#vote-confirm"):
        status = _click_for_status(page, "#vote-confirm", timeout_s)
    return status


def undo_vote(page, timeout_s: float = 30) -> str:
    return _click_for_status(page, "#vote-undo", timeout_s)


def upload(page, files: list, timeout_s: float = 60) -> str:
    """Upload files (paths or {"name", "mimeType", "buffer"} dicts) in Build; returns the status."""
    tab(page, "Build")
    page.set_input_files("#upload input[type=file]", files=files)
    page.wait_for_function("() => !document.querySelector('#upload .uploading')", timeout=timeout_s * 1000)
    before = text_of(page, "#upload-status")
    page.click("#upload-add")
    _wait_text(page, "#upload-status", f"t !== {before!r} && t.trim() !== ''", timeout_s)
    return text_of(page, "#upload-status")


def index(page, timeout_s: float = 300) -> str:
    tab(page, "Build")
    before = text_of(page, "#build-status")
    page.click("#build-index")
    _wait_text(page, "#build-status", f"t !== {before!r} && (t.includes('complete') || t.includes('failed') || t.includes('Warning'))", timeout_s)
    return text_of(page, "#build-status")


def search(page, query: str, timeout_s: float = 60) -> str:
    tab(page, "Build")
    page.fill("#search-query textarea", query)
    before = text_of(page, "#search-status")
    page.click("#search-go")
    _wait_text(page, "#search-status", f"t !== {before!r} && t.trim() !== ''", timeout_s)
    return text_of(page, "#search-results")


def run_eval(page, limit: int, timeout_s: float = 1800) -> str:
    tab(page, "Eval")
    page.fill("#eval-limit input", str(limit))
    before = text_of(page, "#eval-status")
    page.click("#eval-run")
    _wait_text(page, "#eval-status", f"t !== {before!r} && (t.includes(' x ') || t.includes('Warning'))", timeout_s)
    return text_of(page, "#eval-status")


def shoot(page, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(path), full_page=True)
    return path


def tour(url: str, out: Path, questions: list[str], query: str, do_vote: bool = False, eval_limit: int = 0) -> list[Path]:
    """Visit every tab, doing one real thing in each, and screenshot it."""
    from playwright.sync_api import sync_playwright

    shots = []
    with sync_playwright() as p:
        browser = open_browser(p)
        page = open_app(browser, url)
        for q in questions:
            ask(page, q, 900)
        if page.locator("#sources details.tailor-source").count():
            open_source(page)
        shots.append(shoot(page, out / "chat.png"))
        compare(page, questions[-1], 900)
        if do_vote:
            vote(page, "A", confirm=False)  # the confirmation says what the vote would save; nothing is saved
        shots.append(shoot(page, out / "side_by_side.png"))
        if eval_limit:
            run_eval(page, eval_limit)
        else:
            tab(page, "Eval")
        shots.append(shoot(page, out / "eval.png"))
        search(page, query)
        shots.append(shoot(page, out / "build.png"))
        page.set_viewport_size(NARROW)  # a phone: every tab again, nothing wider than the screen
        for name, shot in (("Chat", "chat"), ("Side by side", "side_by_side"), ("Eval", "eval"), ("Build", "build")):
            tab(page, name)
            page.wait_for_timeout(500)
            shots.append(shoot(page, out / f"{shot}-390.png"))
        browser.close()
    return shots


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("folder", type=Path)
    ap.add_argument("--out", type=Path, default=Path("docs/screenshots"))
    ap.add_argument("--question", action="append", default=None,
                    help="asked in Chat, in order (repeatable); default: the first example question of the folder's eval suites")
    ap.add_argument("--query", default=None, help="search box query (default: the question)")
    ap.add_argument("--vote", action="store_true", help="also cast a vote (writes to FOLDER/feedback/)")
    ap.add_argument("--eval-limit", type=int, default=0, help="run an eval of this many questions before the Eval screenshot")
    args = ap.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from evals import example_questions
    from serve import start_server  # bench/ is on sys.path when a script runs

    questions = args.question or (example_questions(args.folder, 1) or ["What are your opening hours?"])[:1]
    port = free_port()
    server = start_server(args.folder.resolve(), port)  # `app.py serve`, as a user starts it
    try:
        for path in tour(f"http://127.0.0.1:{port}/", args.out, questions, args.query or questions[-1], args.vote, args.eval_limit):
            print(path)
    finally:
        server.terminate()
        server.wait(timeout=30)


if __name__ == "__main__":
    main()
