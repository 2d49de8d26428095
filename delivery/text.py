"""Building message text: templates with escaped values, and splitting long texts."""

from __future__ import annotations

import html
from string import Formatter
from typing import Any

MAX_TEXT = 4096


class Html(str):
    """Text already safe for Telegram's HTML parse mode (a rendered template)."""

    __slots__ = ()


def escape(value: Any) -> str:
    """Escape one user-supplied value for HTML parse mode."""
    if isinstance(value, Html):
        return str(value)
    return html.escape("" if value is None else str(value), quote=False)


class _EscapingFormatter(Formatter):
    def format_field(self, value: Any, format_spec: str) -> str:
        return escape(super().format_field(value, format_spec) if format_spec else value)


_formatter = _EscapingFormatter()


def render(template: str, /, **values: Any) -> Html:
    """Fill a template; every value is escaped unless it is already `Html`."""
    return Html(_formatter.format(template, **values))


def plain_length(text: str) -> int:
    """Length Telegram counts for an HTML text: UTF-16 units after tags and entities."""
    visible = []
    inside = False
    for ch in text:
        if ch == "<":
            inside = True
        elif ch == ">" and inside:
            inside = False
        elif not inside:
            visible.append(ch)
    plain = html.unescape("".join(visible))
    return len(plain.encode("utf-16-le")) // 2


def split_html(text: str, limit: int = MAX_TEXT) -> list[str]:
    """Split on paragraph, then line, then word boundaries into parts within `limit`.

    Templates keep tags within a line, so line boundaries never cut a tag in two; a
    single over-long line is cut between words (or, failing that, between characters,
    keeping entities such as `&amp;` whole). Lengths are summed piece by piece: pieces
    never cut a tag or an entity, so the sum is the length of the joined text.
    """
    if plain_length(text) <= limit:
        return [text]
    parts: list[str] = []
    current: list[str] = []
    size = 0
    for piece, length in _pieces(text, limit):
        if current and size + length > limit:
            parts.append(_close(current))
            current, size = [], 0
        current.append(piece)
        size += length
    if current and "".join(current).strip():
        parts.append(_close(current))
    return parts


def _close(pieces: list[str]) -> str:
    joined = "".join(pieces)
    return joined.rstrip("\n") or joined


def _pieces(text: str, limit: int) -> list[tuple[str, int]]:
    pieces: list[tuple[str, int]] = []
    for line in text.splitlines(keepends=True):
        length = plain_length(line)
        if length <= limit:
            pieces.append((line, length))
            continue
        words = line.split(" ")
        for i, word in enumerate(words):
            token = word + (" " if i < len(words) - 1 else "")
            token_length = plain_length(token)
            if token_length <= limit:
                pieces.append((token, token_length))
            else:
                pieces.extend(_units(token))
    return pieces


def _units(token: str) -> list[tuple[str, int]]:
    # Escaped user text has no tags; only keep entities such as &amp; whole.
    units: list[tuple[str, int]] = []
    i = 0
    while i < len(token):
        end = token.find(";", i) if token[i] == "&" else -1
        unit = token[i : end + 1] if 0 < end - i <= 10 else token[i]
        units.append((unit, plain_length(unit)))
        i += len(unit)
    return units
