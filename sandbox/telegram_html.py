"""Telegram's formatting rules: HTML, MarkdownV2 and legacy Markdown to plain text + entities.

Modelled on tdlib's parsers, with one deliberate difference: HTML is checked against the
*documented* rule ("all <, > and & symbols that are not a part of a tag or an HTML entity must
be replaced"), while the real server tolerates a stray ``&`` or ``>``. Text that passes here
therefore also passes on Telegram. Offsets and lengths are in UTF-16 code units like Telegram.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

PARSE_MODES = ("HTML", "MarkdownV2", "Markdown")


class EntityParseError(ValueError):
    """Raised where Telegram answers "Bad Request: can't parse entities: ..."."""


@dataclass
class ParsedText:
    plain: str
    entities: list[dict[str, Any]] = field(default_factory=list)


def utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


class _Builder:
    """Accumulates plain text and tracks the UTF-16 offset used by entities."""

    def __init__(self) -> None:
        self.parts: list[str] = []
        self.offset = 0
        self.entities: list[dict[str, Any]] = []

    def add(self, s: str) -> None:
        self.parts.append(s)
        self.offset += utf16_len(s)

    def entity(self, start: int, etype: str, end: int | None = None, **extra: Any) -> None:
        end = self.offset if end is None else end
        if end > start:  # Telegram drops empty entities
            self.entities.append(
                {"type": etype, "offset": start, "length": end - start}
                | {k: v for k, v in extra.items() if v is not None}
            )

    def result(self) -> ParsedText:
        return _trim(ParsedText("".join(self.parts), self.entities))


def _trim(parsed: ParsedText) -> ParsedText:
    """Telegram strips leading/trailing whitespace from message text and clips entities."""
    text = parsed.plain
    stripped = text.strip()
    if stripped == text:
        parsed.entities.sort(key=lambda e: (e["offset"], -e["length"]))
        return parsed
    lead = utf16_len(text[: len(text) - len(text.lstrip())])
    end = utf16_len(stripped)
    entities = []
    for e in parsed.entities:
        s, t = max(e["offset"] - lead, 0), min(e["offset"] + e["length"] - lead, end)
        if t > s:
            entities.append(e | {"offset": s, "length": t - s})
    entities.sort(key=lambda e: (e["offset"], -e["length"]))
    return ParsedText(stripped, entities)


# ---------------------------------------------------------------------------------------- HTML
_HTML_TAGS = {
    "b": "bold",
    "strong": "bold",
    "i": "italic",
    "em": "italic",
    "u": "underline",
    "ins": "underline",
    "s": "strikethrough",
    "strike": "strikethrough",
    "del": "strikethrough",
    "span": "spoiler",
    "tg-spoiler": "spoiler",
    "a": "text_link",
    "code": "code",
    "pre": "pre",
    "blockquote": "blockquote",
    "tg-emoji": "custom_emoji",
}
_ENTITY_RE = re.compile(r"&(?:(lt|gt|amp|quot)|#([0-9]{1,7})|#[xX]([0-9a-fA-F]{1,6}));")
_NAMED = {"lt": "<", "gt": ">", "amp": "&", "quot": '"'}
_TAG_NAME_RE = re.compile(r"[a-zA-Z][a-zA-Z0-9-]*")
_ATTR_RE = re.compile(r"\s+([a-zA-Z][a-zA-Z0-9_-]*)(?:\s*=\s*(\"[^\"]*\"|'[^']*'|[^\s\"'>]+))?")


def _byte_offset(text: str, i: int) -> int:
    return len(text[:i].encode("utf-8"))


def _unescape_attr(value: str, text: str, pos: int) -> str:
    if value[:1] in "\"'":
        value = value[1:-1]
    out, i = [], 0
    while i < len(value):
        if value[i] == "&":
            ch, i = _decode_entity(value, i, text, pos)
            out.append(ch)
        else:
            out.append(value[i])
            i += 1
    return "".join(out)


def _decode_entity(s: str, i: int, text: str, pos: int) -> tuple[str, int]:
    m = _ENTITY_RE.match(s, i)
    if not m:
        raise EntityParseError(
            f"Character '&' at byte offset {_byte_offset(text, pos)} must be escaped as &amp;"
        )
    if m.group(1):
        return _NAMED[m.group(1)], m.end()
    code = int(m.group(2)) if m.group(2) else int(m.group(3), 16)
    if not 0 < code <= 0x10FFFF or 0xD800 <= code <= 0xDFFF:
        raise EntityParseError(
            f"Invalid character reference at byte offset {_byte_offset(text, pos)}"
        )
    return chr(code), m.end()


def parse_html(text: str) -> ParsedText:
    """Parse Telegram HTML; raise EntityParseError with a Telegram-like message."""
    b = _Builder()
    # (tag, start offset, argument, byte offset of the tag)
    stack: list[tuple[str, int, str | None, int]] = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c == "&":
            ch, i = _decode_entity(text, i, text, i)
            b.add(ch)
        elif c == ">":
            raise EntityParseError(
                f"Character '>' at byte offset {_byte_offset(text, i)} must be escaped as &gt;"
            )
        elif c != "<":
            j = i + 1
            while j < n and text[j] not in "&<>":
                j += 1
            b.add(text[i:j])
            i = j
        elif text.startswith("</", i):
            i = _html_end_tag(text, i, b, stack)
        else:
            i = _html_start_tag(text, i, b, stack)
    if stack:
        raise EntityParseError(f'Can\'t find end tag corresponding to start tag "{stack[-1][0]}"')
    return b.result()


def _html_end_tag(
    text: str, i: int, b: _Builder, stack: list[tuple[str, int, str | None, int]]
) -> int:
    """Close the tag open on top of `stack` with the end tag at `i`; the index after it."""
    at = _byte_offset(text, i)
    m = _TAG_NAME_RE.match(text, i + 2)
    end = text.find(">", i)
    if not m or end < 0 or text[m.end() : end].strip():
        raise EntityParseError(f"Unclosed end tag at byte offset {at}")
    tag = m.group(0).lower()
    if not stack:
        raise EntityParseError(f'Unexpected end tag "{tag}" at byte offset {at}')
    open_tag, start, arg, _ = stack.pop()
    if open_tag != tag:
        raise EntityParseError(
            f'Unmatched end tag at byte offset {at}, expected "</{open_tag}>", found "</{tag}>"'
        )
    _close_html(b, stack, tag, start, arg)
    return end + 1


def _html_start_tag(
    text: str, i: int, b: _Builder, stack: list[tuple[str, int, str | None, int]]
) -> int:
    """Push the start tag at `i` on `stack`; the index after it."""
    at = _byte_offset(text, i)
    m = _TAG_NAME_RE.match(text, i + 1)
    if not m:
        raise EntityParseError(f"Character '<' at byte offset {at} must be escaped as &lt;")
    tag = m.group(0).lower()
    if tag not in _HTML_TAGS:
        raise EntityParseError(f'Unsupported start tag "{tag}" at byte offset {at}')
    j, arg = _html_attributes(text, tag, m.end())
    while j < len(text) and text[j].isspace():
        j += 1
    if j >= len(text) or text[j] != ">":
        raise EntityParseError(f'Unclosed start tag "{tag}" at byte offset {at}')
    if tag == "span" and arg != "tg-spoiler":
        raise EntityParseError(f'Tag "span" must have class "tg-spoiler" at byte offset {at}')
    if tag == "tg-emoji" and not (arg or "").isdigit():
        raise EntityParseError(f'Tag "tg-emoji" must have a valid "emoji-id" at byte offset {at}')
    stack.append((tag, b.offset, arg, at))
    return j + 1


def _html_attributes(text: str, tag: str, j: int) -> tuple[int, str | None]:
    """Read a start tag's attributes from `j`: where they end and the one that matters
    for the tag (href, class, emoji-id, expandable), if given."""
    arg = None
    while am := _ATTR_RE.match(text, j):
        name, value = am.group(1).lower(), am.group(2)
        val = _unescape_attr(value, text, j) if value is not None else None
        if tag == "a" and name == "href":
            arg = val or ""
        elif (tag in ("span", "code") and name == "class" and val is not None) or (
            tag == "tg-emoji" and name == "emoji-id"
        ):
            arg = val
        elif tag == "blockquote" and name == "expandable":
            arg = "expandable"
        j = am.end()
    return j, arg


def _close_html(
    b: _Builder,
    stack: list[tuple[str, int, str | None, int]],
    tag: str,
    start: int,
    arg: str | None,
) -> None:
    etype = _HTML_TAGS[tag]
    if etype == "text_link":
        b.entity(start, "text_link", url=arg)
    elif etype == "code":
        language = arg[9:] if arg and arg.startswith("language-") else None
        if stack and stack[-1][0] == "pre" and language:
            # <pre><code class="language-x"> becomes one pre entity with a language
            ptag, pstart, _, pat = stack[-1]
            stack[-1] = (ptag, pstart, language, pat)
        else:
            b.entity(start, "code")
    elif etype == "pre":
        b.entity(start, "pre", language=arg)
    elif etype == "blockquote":
        b.entity(start, "expandable_blockquote" if arg else "blockquote")
    elif etype == "custom_emoji":
        b.entity(start, "custom_emoji", custom_emoji_id=arg)
    else:
        b.entity(start, etype)


def html_to_plain(text: str) -> str:
    """What the user sees for an HTML message (raises EntityParseError if invalid)."""
    return parse_html(text).plain


# ---------------------------------------------------------------------------------- MarkdownV2
_MDV2_RESERVED = set("_*[]()~`>#+-=|{}.!")
_MDV2_OPEN = {
    "*": "bold",
    "_": "italic",
    "__": "underline",
    "~": "strikethrough",
    "||": "spoiler",
    "[": "text_link",
    "`": "code",
    "```": "pre",
}


def parse_markdown_v2(text: str) -> ParsedText:
    b = _Builder()
    stack: list[tuple[str, int, int, str | None]] = []  # (token, start, byte offset, language)
    i, n = 0, len(text)
    quote_start: int | None = None
    while i < n:
        c = text[i]
        at_line_start = i == 0 or text[i - 1] == "\n"
        if at_line_start and quote_start is not None and c != ">":
            b.entity(quote_start, "blockquote", b.offset - 1)  # the quote ends before "\n"
            quote_start = None
        top = stack[-1][0] if stack else None
        if c == "\\" and i + 1 < n and 0 < ord(text[i + 1]) < 127:
            b.add(text[i + 1])
            i += 2
        elif (top in ("`", "```") and c != "`") or c not in _MDV2_RESERVED:
            b.add(c)
            i += 1
        elif c == ">" and at_line_start and not stack:
            if quote_start is None:
                quote_start = b.offset
            i += 1
        else:
            i = _mdv2_token(text, i, b, stack)
    if quote_start is not None:
        b.entity(quote_start, "blockquote")
    if stack:
        raise EntityParseError(
            f"Can't find end of {_MDV2_OPEN[stack[-1][0]].replace('_', ' ')} entity at byte "
            f"offset {stack[-1][2]}"
        )
    return b.result()


def _mdv2_token(
    text: str, i: int, b: _Builder, stack: list[tuple[str, int, int, str | None]]
) -> int:
    """Close or open the entity whose reserved character is at `i`; the index after it."""
    c = text[i]
    at = _byte_offset(text, i)
    top = stack[-1][0] if stack else None
    token = "__" if text.startswith("__", i) else "||" if text.startswith("||", i) else c
    if c == "`" and text.startswith("```", i):
        token = "```"
    closing = "]" if top == "[" else top
    if (top is not None and token == closing) or (top == "[" and c == "]"):
        tok, start, _, language = stack.pop()
        i += len(closing or c)
        if tok != "[":
            b.entity(start, _MDV2_OPEN[tok], language=language)
            return i
        m = re.match(r"\(((?:\\.|[^)\\])*)\)", text[i:])
        if not m:
            raise EntityParseError(f"Can't find end of a URL at byte offset {at}")
        b.entity(start, "text_link", url=re.sub(r"\\(.)", r"\1", m.group(1)))
        return i + m.end()
    if token not in _MDV2_OPEN:
        raise EntityParseError(
            f"Character '{c}' is reserved and must be escaped with the preceding '\\'"
        )
    if any(t == token for t, _, _, _ in stack):
        raise EntityParseError(f'Can\'t nest entity "{token}" at byte offset {at}')
    i += len(token)
    language = None
    if token == "```":
        m = re.match(r"([\w+#.-]*)\n", text[i:])
        if m:
            language = m.group(1) or None
            i += m.end()
    stack.append((token, b.offset, at, language))
    return i


# ------------------------------------------------------------------------------ legacy Markdown
def parse_markdown(text: str) -> ParsedText:
    b = _Builder()
    i, n = 0, len(text)
    kinds = {"*": "bold", "_": "italic", "`": "code"}
    while i < n:
        c = text[i]
        if c == "\\" and i + 1 < n and text[i + 1] in "_*`[":
            b.add(text[i + 1])
            i += 2
            continue
        if c not in "_*`[":
            b.add(c)
            i += 1
            continue
        at = _byte_offset(text, i)
        if c == "[":
            m = re.match(r"\[([^\]]*)\]\(([^)]*)\)", text[i:])
            if not m:
                raise EntityParseError(f"Can't find end of the entity starting at byte offset {at}")
            start = b.offset
            b.add(m.group(1))
            b.entity(start, "text_link", url=m.group(2))
            i += m.end()
            continue
        delim = "```" if text.startswith("```", i) else c
        end = text.find(delim, i + len(delim))
        if end < 0:
            raise EntityParseError(f"Can't find end of the entity starting at byte offset {at}")
        start = b.offset
        b.add(text[i + len(delim) : end])
        b.entity(start, "pre" if delim == "```" else kinds[c])
        i = end + len(delim)
    return b.result()


def parse_text(text: str, parse_mode: str | None) -> ParsedText:
    """Plain text and entities for ``text`` sent with ``parse_mode`` (None: as is).

    Like the Bot API, the parse mode is matched case-insensitively.
    """
    mode = (parse_mode or "").lower()
    if mode == "":
        return _trim(ParsedText(text))
    if mode == "html":
        return parse_html(text)
    if mode == "markdownv2":
        return parse_markdown_v2(text)
    if mode == "markdown":
        return parse_markdown(text)
    raise ValueError(f"unsupported parse_mode {parse_mode!r}")
