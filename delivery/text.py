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
    single over-long line is cut between words (or, failing that, between characters
    outside any tag or entity).
    """
    if plain_length(text) <= limit:
        return [text]
    parts: list[str] = []
    current = ""
    for piece in _pieces(text, limit):
        candidate = current + piece
        if current and plain_length(candidate) > limit:
            parts.append(current.rstrip("\n") or current)
            current = piece
        else:
            current = candidate
    if current.strip():
        parts.append(current.rstrip("\n") or current)
    return parts


def _pieces(text: str, limit: int) -> list[str]:
    pieces: list[str] = []
    for line in text.splitlines(keepends=True):
        if plain_length(line) <= limit:
            pieces.append(line)
            continue
        pieces.extend(_cut_line(line, limit))
    return pieces


def _cut_line(line: str, limit: int) -> list[str]:
    words = line.split(" ")
    out: list[str] = []
    current = ""
    for i, word in enumerate(words):
        token = word + (" " if i < len(words) - 1 else "")
        if plain_length(token) > limit:
            if current:
                out.append(current)
                current = ""
            out.extend(_cut_chars(token, limit))
        elif current and plain_length(current + token) > limit:
            out.append(current)
            current = token
        else:
            current += token
    if current:
        out.append(current)
    return out


def _cut_chars(token: str, limit: int) -> list[str]:
    # Escaped user text has no tags; only keep entities such as &amp; whole.
    out: list[str] = []
    current = ""
    i = 0
    while i < len(token):
        if token[i] == "&" and (end := token.find(";", i)) != -1 and end - i <= 10:
            unit = token[i : end + 1]
        else:
            unit = token[i]
        if current and plain_length(current + unit) > limit:
            out.append(current)
            current = ""
        current += unit
        i += len(unit)
    if current:
        out.append(current)
    return out
