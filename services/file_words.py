"""How a file on a case is described to people: type, pages or pixels, size.

Only what the attachment row holds (never a file name: names often carry the
patient's). Shared by the advice summary, the /case view and the governance report.
Sizes count in units of 1024 bytes, written kB, MB and GB as most people read them.
"""

from __future__ import annotations

KIND_WORDS = {"pdf": "PDF", "jpeg": "JPEG photo", "png": "PNG image"}
_KB = 1024


def human_size(size: int) -> str:
    """`512 bytes`, `240 kB` (whole kB), `1.2 MB`, `3.4 GB` (one decimal), base 1024."""
    if size < _KB:
        return "1 byte" if size == 1 else f"{size:,} bytes"
    kb = round(size / _KB)
    if kb < _KB:
        return f"{kb} kB"
    mb = size / _KB**2
    if round(mb, 1) < _KB:
        return f"{mb:.1f} MB"
    return f"{size / _KB**3:,.1f} GB"


def describe_file(
    kind: str,
    size: int,
    pages: int | None = None,
    width: int | None = None,
    height: int | None = None,
) -> str:
    """`PDF, 3 pages, 1.2 MB` or `JPEG photo, 1600×1200, 240 kB`; unknown parts left out."""
    parts = [KIND_WORDS.get(kind, kind.upper())]
    if pages is not None:
        parts.append("1 page" if pages == 1 else f"{pages:,} pages")
    if width is not None and height is not None:
        parts.append(f"{width}×{height}")
    parts.append(human_size(size))
    return ", ".join(parts)
