"""Small, real, one-page PDF invoices, made byte for byte the same on every run."""

from __future__ import annotations

from collections.abc import Sequence

__all__ = ["invoice_pdf"]


def _text(value: str) -> str:
    """A PDF literal string: backslashes and parentheses escaped, Latin-1 only (the standard fonts' range)."""
    escaped = value.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")
    return "(" + escaped.encode("latin-1", "replace").decode("latin-1") + ")"


def invoice_pdf(title: str, lines: Sequence[str], *, padding: int = 0) -> bytes:
    """Return a valid PDF 1.4 document: one Letter page showing ``title`` and ``lines`` in Helvetica.

    ``padding`` adds that many bytes of PDF comments to the page content (still a valid document), for tests
    that need a large download.
    """
    commands = ["BT", "/F1 20 Tf", "72 720 Td", f"{_text(title)} Tj", "/F1 11 Tf", "0 -30 Td"]
    for line in lines:
        commands += [f"{_text(line)} Tj", "0 -16 Td"]
    commands.append("ET")
    content = "\n".join(commands).encode("latin-1")
    if padding > 0:
        row = b"% " + b"." * 76 + b"\n"
        content += b"\n" + (row * (padding // len(row) + 1))[:padding]
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] "
        b"/Resources << /Font << /F1 4 0 R >> >> /Contents 5 0 R >>",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>",
        b"<< /Length %d >>\nstream\n" % len(content) + content + b"\nendstream",
        b"<< /Title " + _text(title).encode("latin-1") + b" /Producer (viam-billing emulator) >>",
    ]
    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    for offset in offsets:
        out += b"%010d 00000 n \n" % offset
    out += b"trailer\n<< /Size %d /Root 1 0 R /Info 6 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    return bytes(out)
