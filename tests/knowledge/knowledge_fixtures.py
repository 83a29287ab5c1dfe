"""Helpers for the knowledge tests: documents of every format and a fake embedder.

A uniquely named module (not conftest) so `from knowledge_fixtures import ...` cannot pick up
another package's conftest when the whole suite runs.
"""
from __future__ import annotations

import hashlib
import re
from pathlib import Path

import numpy as np

GUIDE_MD = """\
# Riverside Clinic Guide

Welcome to Riverside Clinic. This guide answers common questions from patients.

## Opening hours

We are open Monday to Friday from 8am to 6pm. On Saturday we are open from 9am to 1pm.
We are closed on Sundays and public holidays.

## Billing

### Insurance

We accept most insurance plans. Bring your insurance card to every visit.

### Payment

Payment is due at the time of service. We take cards and cash.
"""

NOTES_TXT = """\
Parking notes

The clinic car park has forty spaces. Disabled parking is next to the main entrance.
Overflow parking is available across the street after 5pm.
"""

PAGE_HTML = """\
<html><head><title>Vaccination service</title><style>p {color: red}</style></head>
<body>
<h1>Vaccination service</h1>
<p>We offer flu shots every autumn. No appointment is needed for flu shots.</p>
<h2>Travel vaccines</h2>
<p>Travel vaccines need an appointment at least six weeks before departure.</p>
<table><tr><th>Vaccine</th><th>Price</th></tr><tr><td>Yellow fever</td><td>$90</td></tr></table>
<script>var tracking = "do not index me";</script>
</body></html>
"""


def make_pdf(path: Path, pages: list[str]) -> Path:
    """A real PDF with a text layer, one string per page (reportlab)."""
    from reportlab.lib.pagesizes import letter
    from reportlab.pdfgen import canvas

    c = canvas.Canvas(str(path), pagesize=letter)
    for text in pages:
        y = 720
        for line in text.splitlines():
            c.drawString(72, y, line)
            y -= 16
        c.showPage()
    c.save()
    return path


def make_scanned_pdf(path: Path, n_pages: int = 2) -> Path:
    """A PDF of shapes only, like a scan: no text layer."""
    from reportlab.lib.pagesizes import letter
    from reportlab.pdfgen import canvas

    c = canvas.Canvas(str(path), pagesize=letter)
    for i in range(n_pages):
        c.rect(72, 300 + 10 * i, 400, 300, fill=1)
        c.showPage()
    c.save()
    return path


def make_docx(path: Path) -> Path:
    import docx

    d = docx.Document()
    d.add_heading("Cancellation policy", level=1)
    d.add_paragraph("Please cancel appointments at least 24 hours in advance.")
    d.add_heading("Late arrivals", level=2)
    d.add_paragraph("Patients more than 15 minutes late may be asked to rebook.")
    table = d.add_table(rows=2, cols=2)
    table.cell(0, 0).text = "Missed visits"
    table.cell(0, 1).text = "Fee"
    table.cell(1, 0).text = "Second missed visit"
    table.cell(1, 1).text = "$25"
    d.save(str(path))
    return path


PDF_PAGES = [
    "Annual report 2024\nThe clinic served 12,000 patients this year.\nWaiting times fell by ten percent.",
    "Page two: our new dermatology wing opens in March.\nDermatology appointments can be booked online.",
]


_WORD = re.compile(r"\w+")


class FakeEmbedder:
    """Deterministic bag-of-words vectors (hashed words, unit length): similar texts get similar
    vectors, so search results are meaningful. A token is a whitespace-separated word."""

    def __init__(self, dim: int = 64, max_tokens: int = 4096, name: str = "fake-bow"):
        self.name = name
        self.path = f"fake://{name}"
        self.dim = dim
        self.max_tokens = max_tokens
        self.content_tokens = max_tokens
        self.calls = 0
        self.texts: list[str] = []

    @property
    def dimension(self) -> int:
        return self.dim

    def count_tokens(self, text: str) -> int:
        return len(text.split())

    def truncate(self, text: str, max_tokens: int | None = None) -> str:
        limit = max_tokens or self.content_tokens
        matches = list(re.finditer(r"\S+", text))
        return text if len(matches) <= limit else text[: matches[limit - 1].end()]

    def encode(self, texts, batch_size: int = 64, progress: bool = False) -> np.ndarray:
        self.calls += 1
        self.texts.extend(texts)
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for i, text in enumerate(texts):
            for word in _WORD.findall(text.lower()):
                h = int.from_bytes(hashlib.blake2b(word.encode(), digest_size=4).digest(), "little")
                out[i, h % self.dim] += 1.0
            out[i, 0] += 1e-3  # no all-zero rows
        out /= np.linalg.norm(out, axis=1, keepdims=True)
        return out
