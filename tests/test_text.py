"""Escaping and splitting: what users typed arrives intact, within Telegram's limits."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from delivery.text import Html, plain_length, render, split_html
from tests.fakes.telegram_html import html_to_plain

awkward = st.lists(
    st.sampled_from([*"ab &<>\"'\n", "🦴", "é", "ש", "&amp;", "\u200f", "word "]),
    max_size=300,
).map("".join)


def test_render_escapes_values_but_keeps_the_template() -> None:
    html = render("<b>{name}</b> wrote: {text}", name="O'Brien & <Sons>", text="5 > 3")
    assert html == "<b>O'Brien &amp; &lt;Sons&gt;</b> wrote: 5 &gt; 3"
    assert html_to_plain(html) == "O'Brien & <Sons> wrote: 5 > 3"
    assert render("{x}", x=Html("<i>kept</i>")) == "<i>kept</i>"


@settings(max_examples=200, deadline=None)
@given(text=awkward, limit=st.integers(min_value=12, max_value=120))
def test_split_parts_fit_parse_and_keep_every_character(text: str, limit: int) -> None:
    html = render("<b>Q-1</b>\n{t}", t=text)
    parts = split_html(html, limit)
    assert all(plain_length(p) <= limit for p in parts)
    plain = "".join(html_to_plain(p) for p in parts)
    original = html_to_plain(html)
    # Telegram trims whitespace at the ends of a message; nothing else may change.
    assert "".join(plain.split()) == "".join(original.split())
