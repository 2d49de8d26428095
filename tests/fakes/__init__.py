"""Test doubles: an HTTP fake of the Telegram Bot API and its spec checker.

The fake lives in the runtime package ``sandbox`` (the local sandbox serves it to the real
bot); ``tests.fakes`` keeps its names, and ``tests.fakes.botapi`` / ``.spec`` /
``.telegram_html`` are the very same modules, so existing imports keep working.
"""

import sys

from sandbox import botapi, spec, telegram_html
from sandbox.botapi import (
    ApiError,
    Call,
    Document,
    FakeBotAPI,
    FakeGroup,
    FakeUser,
    SentMessage,
    UploadedFile,
    Version,
)
from sandbox.spec import check_call, load_spec
from sandbox.telegram_html import EntityParseError, html_to_plain, parse_html, parse_text

for _module in (botapi, spec, telegram_html):
    sys.modules[f"{__name__}.{_module.__name__.rsplit('.', 1)[1]}"] = _module

__all__ = [
    "ApiError",
    "Call",
    "Document",
    "EntityParseError",
    "FakeBotAPI",
    "FakeGroup",
    "FakeUser",
    "SentMessage",
    "UploadedFile",
    "Version",
    "check_call",
    "html_to_plain",
    "load_spec",
    "parse_html",
    "parse_text",
]
