"""Damaged and protected PDFs, written in the test (no binary fixtures in the repository)."""
from pathlib import Path


def _pdf(objects: list[bytes]) -> bytes:
    """A PDF with these objects (1-based) and a correct xref table."""
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for i, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += f"{i} 0 obj\n".encode() + body + b"\nendobj\n"
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    out += b"".join(f"{o:010d} 00000 n \n".encode() for o in offsets)
    out += f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode()
    return bytes(out)


def unsupported_filter_pdf(path: Path) -> Path:
    """One page whose content stream uses a filter pypdf does not implement (pypdf raises NotImplementedError)."""
    stream = b"BT /F1 12 Tf 72 720 Td (Hello) Tj ET"
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
        b"/Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length %d /Filter /FancyDecode >>\nstream\n" % len(stream) + stream + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    path.write_bytes(_pdf(objects))
    return path


def text_pdf(path: Path, text: str = "Harbor Clinic opens at nine on Saturday.") -> Path:
    from reportlab.pdfgen import canvas

    c = canvas.Canvas(str(path))
    c.drawString(72, 720, text)
    c.save()
    return path


def encrypted_pdf(path: Path) -> Path:
    """A PDF with a user password (RC4, which pypdf handles without the cryptography package)."""
    from pypdf import PdfWriter

    plain = text_pdf(path.with_suffix(".plain.tmp"))
    writer = PdfWriter(clone_from=str(plain))
    writer.encrypt("s3cret", algorithm="RC4-128")
    writer.write(str(path))
    plain.unlink()
    return path
