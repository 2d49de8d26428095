"""Test doubles: an HTTP fake of the Telegram Bot API and its spec checker."""

from .botapi import (
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
from .spec import check_call, load_spec
from .telegram_html import EntityParseError, html_to_plain, parse_html, parse_text

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
