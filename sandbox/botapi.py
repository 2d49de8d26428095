"""An HTTP-level fake of the Telegram Bot API for end-to-end tests with python-telegram-bot.

The real ``telegram.Bot``/``Application`` talks to it over HTTP on 127.0.0.1::

    async with FakeBotAPI() as fake:
        bot = Bot(fake.token, base_url=fake.base_url, base_file_url=fake.base_file_url)
        alice = fake.user(1001, "Alice")
        alice.send_text("/start")
        await alice.wait_messages(1)
        assert fake.spec_errors == []

Every call is checked against the Bot API spec (``spec.py``); a bad call is answered with
HTTP 400 like Telegram and listed in ``spec_errors``. Failures (429, 403, 5xx, hangs) can be
injected; updates are built by ``FakeUser``/``FakeGroup`` helpers and served by getUpdates.

Files work as on Telegram: users' photos and documents get file_ids, getFile refuses files
over 20 MB, downloads come from ``base_file_url`` (``fail_downloads``, ``hold_downloads``,
``forget_file``), and sendDocument/sendPhoto take an upload or a file_id
(``expire_file_ids`` makes old ids fail).
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import itertools
import json
import math
import mimetypes
import random
import re
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

import tornado.httpserver
import tornado.iostream
import tornado.netutil
import tornado.web
from PIL import Image, UnidentifiedImageError

from . import spec
from .telegram_html import parse_text, utf16_len

JSON = dict[str, Any]

NOT_MODIFIED = (
    "Bad Request: message is not modified: specified new message content and reply markup are "
    "exactly the same as a current content and reply markup of the message"
)
QUERY_INVALID = "Bad Request: query is too old and response timeout expired or query ID is invalid"
# Telegram never delivers these unless allowed_updates asks for them.
_OPT_IN_UPDATES = frozenset({"chat_member", "message_reaction", "message_reaction_count"})
_STATUS_TEXT = {
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    409: "Conflict",
    429: "Too Many Requests",
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Timeout",
}
MB = 1024 * 1024
GET_FILE_LIMIT = 20 * MB  # getFile refuses bigger files (a bot cannot download them)
PHOTO_UPLOAD_LIMIT = 10 * MB
UPLOAD_LIMIT = 50 * MB  # any other multipart upload
WRONG_FILE_ID = "Bad Request: wrong file identifier/HTTP URL specified"
FILE_TOO_BIG = "Bad Request: file is too big"
_KINDS = {"documents": "document", "photos": "photo", "stickers": "sticker", "voice": "voice"}
_COMMAND_RE = re.compile(r"/[A-Za-z0-9_]{1,32}(?:@[A-Za-z0-9_]{3,32})?(?=\s|$)")


def _delivers(method: str) -> bool:
    """Methods that put a new message in a chat (subject to flood limits and error_rate)."""
    return method.startswith(("send", "copy", "forward")) and method != "sendChatAction"


def _targets_chat(method: str) -> bool:
    return method.startswith(("send", "copy", "forward", "edit"))


def _suffix(file_name: str | None) -> str:
    """ ".pdf" of "MRI report.pdf": file paths keep the extension, as Telegram's do."""
    m = re.search(r"\.[A-Za-z0-9]{1,8}$", file_name or "")
    return m.group(0).lower() if m else ""


def _guess_mime(file_name: str | None) -> str:
    return mimetypes.guess_type(file_name or "")[0] or "application/octet-stream"


def _is_url(value: Any) -> bool:
    return isinstance(value, str) and value.startswith(("http://", "https://"))


def _photo_dimensions(content: bytes) -> tuple[int, int]:
    """Width and height of an uploaded photo, or Telegram's refusal of it."""
    try:
        with Image.open(io.BytesIO(content)) as image:
            width, height = image.size
    except (UnidentifiedImageError, Image.DecompressionBombError, OSError, ValueError):
        raise ApiError(400, "Bad Request: IMAGE_PROCESS_FAILED") from None
    # sendPhoto: "width and height must not exceed 10000 in total; ratio at most 20".
    if width + height > 10000 or max(width, height) > 20 * min(width, height):
        raise ApiError(400, "Bad Request: PHOTO_INVALID_DIMENSIONS")
    return width, height


def _photo_size(file_id: str, width: int, height: int, size: int | None) -> JSON:
    d: JSON = {
        "file_id": file_id,
        "file_unique_id": f"u{file_id}",
        "width": width,
        "height": height,
    }
    if size is not None:
        d["file_size"] = size
    return d


class ApiError(Exception):
    """Raised by method handlers to answer like Telegram does."""

    def __init__(self, status: int, description: str, parameters: JSON | None = None) -> None:
        super().__init__(description)
        self.status, self.description, self.parameters = status, description, parameters

    def payload(self) -> JSON:
        body: JSON = {"ok": False, "error_code": self.status, "description": self.description}
        if self.parameters:
            body["parameters"] = self.parameters
        return body


# ---------------------------------------------------------------------------------- records
@dataclass
class UploadedFile:
    filename: str
    content: bytes
    content_type: str


@dataclass
class Call:
    """One HTTP request to the API, as decoded, and how it was answered."""

    method: str
    params: JSON
    files: dict[str, UploadedFile]
    status: int
    response: JSON
    started: float
    finished: float

    @property
    def ok(self) -> bool:
        return self.status == 200

    @property
    def description(self) -> str | None:
        return self.response.get("description")


@dataclass
class Version:
    """A message's content at one point in time (the original or after an edit)."""

    text: str | None
    plain: str | None
    entities: list[JSON]
    reply_markup: JSON | None
    date: int


@dataclass
class Document:
    """A file on a bot message (a document, or the largest size of a photo)."""

    file_id: str
    file_name: str | None
    content: bytes | None  # None when sent by URL or by a file_id the fake does not hold
    mime_type: str | None
    file_size: int | None = None
    width: int | None = None  # photos only
    height: int | None = None


@dataclass
class FileInfo:
    """What the fake knows of a file_id besides its path and bytes (``FakeBotAPI.files``)."""

    kind: str  # "document", "photo", "sticker", "voice"
    file_name: str | None
    mime_type: str | None
    file_size: int
    width: int | None = None
    height: int | None = None


@dataclass(eq=False)
class SentMessage:
    """A message the bot sent. ``text``/``plain`` hold the caption for documents and media."""

    chat_id: int
    message_id: int
    date: int
    kind: str  # "text", "document", or e.g. "photo" for other send* methods
    text: str | None = None  # as sent (HTML/Markdown source)
    plain: str | None = None  # what the user sees
    parse_mode: str | None = None
    entities: list[JSON] = field(default_factory=list)
    reply_markup: JSON | None = None
    protect_content: bool = False
    disable_notification: bool = False
    reply_to_message_id: int | None = None
    document: Document | None = None  # kind "document"
    photo: Document | None = None  # kind "photo": the largest size, with its bytes
    photo_sizes: list[JSON] = field(default_factory=list)  # the PhotoSize objects
    params: JSON = field(default_factory=dict)
    deleted: bool = False
    edit_date: int | None = None
    history: list[Version] = field(default_factory=list)

    @property
    def caption(self) -> str | None:
        return None if self.kind == "text" else self.text

    @property
    def edits(self) -> list[Version]:
        return self.history[1:]

    @property
    def file(self) -> Document | None:
        """The document or photo of the message, whichever it has."""
        return self.document or self.photo

    def button_rows(self) -> list[list[JSON]]:
        rows: list[list[JSON]] = (self.reply_markup or {}).get("inline_keyboard") or []
        return rows

    @property
    def buttons(self) -> list[str]:
        """Visible labels of the inline keyboard, row by row."""
        return [b["text"] for row in self.button_rows() for b in row]

    def _snapshot(self, date: int) -> None:
        self.history.append(
            Version(self.text, self.plain, list(self.entities), self.reply_markup, date)
        )


# ------------------------------------------------------------------------ failure injection
@dataclass
class _FailRule:
    method: str
    status: int
    description: str
    retry_after: int | None
    times: int
    chat_id: int | str | None


@dataclass
class _Flood:
    global_per_sec: int | None
    per_chat_per_sec: int | None
    burst: int
    retry_after: int | None
    sent: deque[float] = field(default_factory=deque)
    per_chat: dict[Any, deque[float]] = field(default_factory=dict)


@dataclass
class _ErrorRate:
    rate: float
    statuses: tuple[int, ...]
    timeout_share: float
    hang_seconds: float
    delivers_on_timeout: bool
    rng: random.Random


class HeldDownloads:
    """File downloads held by ``FakeBotAPI.hold_downloads`` until ``release()``."""

    def __init__(self, fake: FakeBotAPI, timeout: float) -> None:
        self._fake = fake
        self._timeout = timeout
        self.started = asyncio.Event()  # a download has arrived and is being held
        self.held = 0  # downloads that arrived while held
        self._released = asyncio.Event()

    async def _hold(self) -> None:
        self.held += 1
        self.started.set()
        self._fake._notify()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._released.wait(), self._timeout)

    def release(self) -> None:
        """Let the held downloads (and any later one) go on as usual."""
        self._released.set()
        if self._fake._download_hold is self:
            self._fake._download_hold = None


# ---------------------------------------------------------------------------------- server
class FakeBotAPI:
    """The fake Bot API server; see the module docstring."""

    def __init__(
        self,
        token: str = "123456:TEST-TOKEN",
        bot_username: str = "sarcoma_test_bot",
        bot_first_name: str = "Sarcoma Test Bot",
        *,
        clock: Callable[[], float] = time.time,
        max_poll_seconds: float = 1.0,
        strict_chats: bool = False,
    ) -> None:
        """``max_poll_seconds`` caps how long getUpdates is held (Telegram may return early);
        ``strict_chats`` answers "chat not found" for chats no update has introduced."""
        self.token = token
        self.bot_id = int(token.split(":", 1)[0])
        self.bot_username = bot_username
        self.bot_first_name = bot_first_name
        self.clock = clock
        self.max_poll_seconds = max_poll_seconds
        self.strict_chats = strict_chats
        self.port = 0
        self._server: tornado.httpserver.HTTPServer | None = None
        self._changed = asyncio.Event()
        self._sent_to: dict[int, asyncio.Event] = {}
        self._stopping = False

        self.calls: list[Call] = []
        self.spec_errors: list[str] = []
        self.chats: dict[int, JSON] = {}
        self.sent: dict[int, list[SentMessage]] = {}
        self.user_messages: dict[tuple[int, int], JSON] = {}
        self.updates: list[JSON] = []
        self.confirmed_offset = 0  # every update_id below this was acknowledged
        self.handed_update_id = 0  # the highest update_id a getUpdates answer has held
        self.callback_queries: dict[str, JSON] = {}
        self.commands: dict[tuple[str, str], list[JSON]] = {}
        self.webhook: JSON | None = None
        self.chat_actions: list[tuple[int, str]] = []
        self.left_chats: set[int] = set()
        # Flood windows run on this clock; tests scale it together with the bot's timer.
        self.monotonic: Callable[[], float] = time.monotonic
        self.blocked: set[int] = set()
        self.files: dict[str, tuple[str, bytes]] = {}  # file_id -> (file_path, content)
        self.file_info: dict[str, FileInfo] = {}
        self.expired_file_ids: set[str] = set()  # refused by send* (downloads still work)
        self.downloads: list[tuple[str, int]] = []  # (file_path, HTTP status) of each GET
        self._download_failures: deque[int] = deque()
        self._download_hold: HeldDownloads | None = None
        self._pending: list[JSON] = []
        self._allowed_updates: list[str] | None = None
        self._next_update_id = 1
        self._message_ids: dict[int, itertools.count[int]] = {}
        self._ids = itertools.count(1)
        self._poll_generation = 0
        self._users: dict[int, FakeUser] = {}
        self._fail_rules: list[_FailRule] = []
        self._flood: _Flood | None = None
        self._errors: _ErrorRate | None = None

    # ------------------------------------------------------------------------- lifecycle
    async def start(self) -> FakeBotAPI:
        app = tornado.web.Application(
            [
                (r"/bot([^/]*)/([^/]+)/?", _ApiHandler, {"fake": self}),
                (r"/file/bot([^/]*)/(.+)", _FileHandler, {"fake": self}),
            ],
            log_function=lambda handler: None,
        )
        sockets = tornado.netutil.bind_sockets(0, "127.0.0.1")
        self._server = tornado.httpserver.HTTPServer(app)
        self._server.add_sockets(sockets)
        self.port = sockets[0].getsockname()[1]
        return self

    async def stop(self) -> None:
        self._stopping = True
        self._notify()  # releases held getUpdates and hangs
        if self._download_hold is not None:
            self._download_hold.release()
        if self._server is not None:
            self._server.stop()
            await asyncio.sleep(0)
            await self._server.close_all_connections()
            self._server = None

    async def __aenter__(self) -> FakeBotAPI:
        return await self.start()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def base_url(self) -> str:
        return f"{self.url}/bot"

    @property
    def base_file_url(self) -> str:
        return f"{self.url}/file/bot"

    @property
    def bot_user(self) -> JSON:
        return {
            "id": self.bot_id,
            "is_bot": True,
            "first_name": self.bot_first_name,
            "username": self.bot_username,
        }

    def now(self) -> int:
        return int(self.clock())

    def _notify(self) -> None:
        event, self._changed = self._changed, asyncio.Event()
        event.set()

    # ------------------------------------------------------------------ failure injection
    def fail_next(
        self,
        method: str,
        status: int,
        description: str | None = None,
        retry_after: int | None = None,
        times: int = 1,
        chat_id: int | str | None = None,
    ) -> None:
        """Answer the next ``times`` calls of ``method`` ("*" for any) with an error."""
        if description is None:
            description = _STATUS_TEXT.get(status, "Error")
            if status == 429:
                description += f": retry after {retry_after or 1}"
            elif status == 403:
                description += ": bot was blocked by the user"
            elif status == 400:
                description += ": injected failure"
        if status == 429 and retry_after is None:
            retry_after = 1  # PTB needs parameters.retry_after to raise RetryAfter
        self._fail_rules.append(_FailRule(method, status, description, retry_after, times, chat_id))

    def block(self, chat_id: int) -> None:
        """The user blocked the bot: sends and edits to the chat get 403."""
        self.blocked.add(chat_id)

    def unblock(self, chat_id: int) -> None:
        self.blocked.discard(chat_id)

    def flood_limits(
        self,
        global_per_sec: int | None = None,
        per_chat_per_sec: int | None = None,
        burst: int = 0,
        retry_after: int | None = None,
    ) -> None:
        """Answer 429 when more than ``per_sec + burst`` messages fall in a sliding second.

        ``retry_after`` fixes the advertised wait; by default it is the time until the window
        frees up, rounded up to whole seconds as Telegram does.
        """
        self._flood = _Flood(global_per_sec, per_chat_per_sec, burst, retry_after)

    def error_rate(
        self,
        rate: float,
        statuses: Iterable[int] = (502,),
        timeout_share: float = 0.0,
        seed: int = 0,
        hang_seconds: float = 2.0,
        delivers_on_timeout: bool = False,
    ) -> None:
        """Fail a share ``rate`` of message-sending calls with a random status from
        ``statuses``; ``timeout_share`` of those failures instead hang ``hang_seconds`` (set it
        above the client's read timeout). ``delivers_on_timeout`` records the message anyway,
        like a request that reached Telegram but whose answer was lost."""
        self._errors = _ErrorRate(
            rate,
            tuple(statuses),
            timeout_share,
            hang_seconds,
            delivers_on_timeout,
            random.Random(seed),
        )

    def fail_downloads(self, n: int, status: int = 502) -> None:
        """Answer the next ``n`` file downloads (GET ``/file/bot<token>/<path>``) with
        ``status``, whatever the file."""
        self._download_failures.extend([status] * n)

    def hold_downloads(self, timeout: float = 30.0) -> HeldDownloads:
        """Hold every file download (GET ``/file/bot<token>/<path>``) until the returned
        hold is released (or ``timeout`` seconds pass): the bot waits on a download that
        has begun. ``started`` is set when the first one arrives."""
        self._download_hold = HeldDownloads(self, timeout)
        return self._download_hold

    def forget_file(self, file_id: str) -> None:
        """The file is gone: getFile answers "invalid file_id", its download 404."""
        self.files.pop(file_id, None)
        self.file_info.pop(file_id, None)

    def expire_file_ids(self) -> None:
        """Every file_id issued so far is refused by sendDocument/sendPhoto, as Telegram
        sometimes does; getFile and downloads of those files keep working."""
        self.expired_file_ids |= set(self.files)

    def clear_failures(self) -> None:
        self._fail_rules.clear()
        self._flood = None
        self._errors = None
        self.blocked.clear()
        self._download_failures.clear()

    def _injected(self, method: str, p: JSON) -> ApiError | float | None:
        """An error to answer instead, seconds to hang, or None."""
        chat_id = p.get("chat_id")
        if _targets_chat(method) and chat_id in self.blocked:
            return ApiError(403, "Forbidden: bot was blocked by the user")
        for rule in self._fail_rules:
            if (
                rule.method in ("*", method)
                and rule.times > 0
                and (rule.chat_id is None or str(rule.chat_id) == str(chat_id))
            ):
                rule.times -= 1
                if rule.times == 0:
                    self._fail_rules.remove(rule)
                params = {"retry_after": rule.retry_after} if rule.retry_after else None
                return ApiError(rule.status, rule.description, params)
        if self._flood and (_delivers(method) or method.startswith("edit")):
            error = self._flood_check(self._flood, chat_id)
            if error:
                return error
        if self._errors and _delivers(method) and self._errors.rng.random() < self._errors.rate:
            if self._errors.rng.random() < self._errors.timeout_share:
                return self._errors.hang_seconds
            status = self._errors.rng.choice(self._errors.statuses)
            return ApiError(status, _STATUS_TEXT.get(status, "Server Error"))
        return None

    def _flood_check(self, flood: _Flood, chat_id: Any) -> ApiError | None:
        now = self.monotonic()
        windows = [(flood.sent, flood.global_per_sec)]
        if flood.per_chat_per_sec is not None:
            windows.append((flood.per_chat.setdefault(chat_id, deque()), flood.per_chat_per_sec))
        for window, limit in windows:
            while window and window[0] <= now - 1.0:
                window.popleft()
            if limit is not None and len(window) >= limit + flood.burst:
                wait = flood.retry_after or max(1, math.ceil(window[0] + 1.0 - now))
                return ApiError(
                    429, f"Too Many Requests: retry after {wait}", {"retry_after": wait}
                )
        for window, _ in windows:
            window.append(now)
        return None

    # ----------------------------------------------------------------------- dispatching
    async def _dispatch(
        self,
        handler: _ApiHandler,
        token: str,
        name: str,
        raw: JSON,
        files: dict[str, UploadedFile],
    ) -> tuple[int, JSON]:
        started = time.monotonic()
        method = spec.canonical_method(name) or name
        params: JSON = dict(raw)
        try:
            if token != self.token:
                self.spec_errors.append(f"{name}: wrong bot token {token!r}")
                raise ApiError(401, "Unauthorized")
            if spec.canonical_method(name) is None:
                self.spec_errors.append(f"{name}: unknown Bot API method")
                raise ApiError(404, "Not Found")
            params = spec.decode_params(method, raw)
            problems = spec.check_params(method, raw, files)
            if problems:
                self.spec_errors.extend(p.render(method) for p in problems)
                raise ApiError(400, spec.telegram_description(problems[0]))
            injected = self._injected(method, params)
            if isinstance(injected, ApiError):
                raise injected
            if injected is not None:
                await self._wait(injected, lambda: handler.closed or self._stopping)
                if not (self._errors and self._errors.delivers_on_timeout):
                    raise ApiError(504, "Gateway Timeout")
            handle = getattr(self, f"_m_{method}", None)
            result = await (
                handle(params, files, handler) if handle else self._generic(method, params, files)
            )
            status, body = 200, {"ok": True, "result": result}
        except ApiError as exc:
            status, body = exc.status, exc.payload()
        self.calls.append(Call(method, params, files, status, body, started, time.monotonic()))
        self._notify()
        return status, body

    async def _wait(self, seconds: float, done: Callable[[], bool]) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + seconds
        while not done():
            remaining = deadline - loop.time()
            if remaining <= 0:
                return
            event = self._changed
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(event.wait(), remaining)

    # ------------------------------------------------------------------------- chats
    def _chat(self, chat_id: int | str) -> JSON:
        if isinstance(chat_id, str):
            for chat in self.chats.values():
                if chat.get("username") and f"@{chat['username']}".lower() == chat_id.lower():
                    return chat
            raise ApiError(400, "Bad Request: chat not found")
        if chat_id not in self.chats:
            if self.strict_chats:
                raise ApiError(400, "Bad Request: chat not found")
            if chat_id > 0:
                self.chats[chat_id] = {
                    "id": chat_id,
                    "type": "private",
                    "first_name": f"User {chat_id}",
                }
            else:
                kind = "supergroup" if str(chat_id).startswith("-100") else "group"
                self.chats[chat_id] = {"id": chat_id, "type": kind, "title": f"Chat {chat_id}"}
        return self.chats[chat_id]

    def _target(self, chat_id: int | str) -> JSON:
        chat = self._chat(chat_id)
        if chat["id"] in self.left_chats:
            raise ApiError(403, f"Forbidden: bot is not a member of the {chat['type']} chat")
        return chat

    def _next_message_id(self, chat_id: int) -> int:
        return next(self._message_ids.setdefault(chat_id, itertools.count(1)))

    def _find(self, chat_id: Any, message_id: Any, what: str) -> SentMessage:
        chat = self._chat(chat_id)
        for msg in self.sent.get(chat["id"], []):
            if msg.message_id == message_id and not msg.deleted:
                return msg
        raise ApiError(400, f"Bad Request: message to {what} not found")

    def message_json(self, msg: SentMessage, with_reply: bool = True) -> JSON:
        """The Message object Telegram returns (and puts in updates) for a bot message."""
        d: JSON = {
            "message_id": msg.message_id,
            "from": self.bot_user,
            "chat": self.chats[msg.chat_id],
            "date": msg.date,
        }
        if msg.kind == "text":
            d["text"] = msg.plain
            if msg.entities:
                d["entities"] = msg.entities
        else:
            if msg.document is not None:
                d["document"] = {
                    "file_id": msg.document.file_id,
                    "file_unique_id": f"u{msg.document.file_id}",
                }
                if msg.document.file_name:
                    d["document"]["file_name"] = msg.document.file_name
                if msg.document.mime_type:
                    d["document"]["mime_type"] = msg.document.mime_type
                if msg.document.file_size is not None:
                    d["document"]["file_size"] = msg.document.file_size
                elif msg.document.content is not None:
                    d["document"]["file_size"] = len(msg.document.content)
            if msg.photo_sizes:
                d["photo"] = msg.photo_sizes
            if msg.plain:
                d["caption"] = msg.plain
                if msg.entities:
                    d["caption_entities"] = msg.entities
        if msg.reply_markup and "inline_keyboard" in msg.reply_markup:
            d["reply_markup"] = msg.reply_markup
        if msg.protect_content:
            d["has_protected_content"] = True
        if msg.edit_date:
            d["edit_date"] = msg.edit_date
        if with_reply and msg.reply_to_message_id is not None:
            replied = self.any_message(msg.chat_id, msg.reply_to_message_id)
            if replied is not None:
                d["reply_to_message"] = replied
        return d

    def any_message(self, chat_id: int, message_id: int) -> JSON | None:
        """A user's or the bot's message in the chat as Telegram would embed it."""
        if (chat_id, message_id) in self.user_messages:
            return self.user_messages[(chat_id, message_id)]
        for msg in self.sent.get(chat_id, []):
            if msg.message_id == message_id and not msg.deleted:
                return self.message_json(msg, with_reply=False)
        return None

    def _reply_to(self, chat_id: int, p: JSON) -> int | None:
        rp = p.get("reply_parameters") or {}
        message_id = rp.get("message_id", p.get("reply_to_message_id"))
        if message_id is None:
            return None
        if self.any_message(chat_id, message_id) is None:
            if rp.get("allow_sending_without_reply") or p.get("allow_sending_without_reply"):
                return None
            raise ApiError(400, "Bad Request: message to be replied not found")
        return int(message_id)

    def _new_sent(self, kind: str, p: JSON, text: str | None) -> SentMessage:
        chat = self._target(p["chat_id"])
        explicit = p.get("entities") if kind == "text" else p.get("caption_entities")
        parsed = parse_text(text or "", None if explicit else p.get("parse_mode"))
        msg = SentMessage(
            chat_id=chat["id"],
            message_id=0,
            date=self.now(),
            kind=kind,
            text=text,
            plain=parsed.plain if text is not None else None,
            parse_mode=p.get("parse_mode"),
            entities=explicit or parsed.entities,
            reply_markup=p.get("reply_markup"),
            protect_content=bool(p.get("protect_content")),
            disable_notification=bool(p.get("disable_notification")),
            reply_to_message_id=self._reply_to(chat["id"], p),
            params=p,
        )
        msg.message_id = self._next_message_id(chat["id"])
        msg._snapshot(msg.date)
        self.sent.setdefault(chat["id"], []).append(msg)
        waiting = self._sent_to.pop(chat["id"], None)
        if waiting is not None:
            waiting.set()
        return msg

    def _register_file(
        self,
        content: bytes,
        file_name: str | None,
        folder: str,
        *,
        size: int | None = None,
        mime_type: str | None = None,
        width: int | None = None,
        height: int | None = None,
    ) -> str:
        """Hold ``content`` under a new file_id; ``size`` overrides the size getFile and
        messages report (a 25 MB file without 25 MB of bytes)."""
        n = next(self._ids)
        file_id = f"FILE{n:06d}{self.bot_id}"
        suffix = _suffix(file_name) or (".jpg" if folder == "photos" else "")
        self.files[file_id] = (f"{folder}/file_{n}{suffix}", content)
        self.file_info[file_id] = FileInfo(
            _KINDS.get(folder, folder),
            file_name,
            mime_type,
            len(content) if size is None else size,
            width,
            height,
        )
        return file_id

    def _held(self, file_id: str, kind: str) -> FileInfo:
        """A file_id a bot may send again as ``kind``, or Telegram's refusal."""
        info = self.file_info.get(file_id)
        if info is None or file_id in self.expired_file_ids:
            raise ApiError(400, WRONG_FILE_ID)
        if info.kind != kind:
            raise ApiError(400, "Bad Request: type of file mismatch")
        return info

    def _upload(self, p: JSON, f: dict[str, UploadedFile], name: str) -> UploadedFile | None:
        upload = f.get(name)
        value = p.get(name)
        if upload is None and isinstance(value, str) and value.startswith("attach://"):
            upload = f.get(value[9:])
        return upload

    # ------------------------------------------------------------------ method handlers
    # Each gets decoded params, uploaded files and the HTTP handler; returns the "result".
    async def _m_getMe(self, p: JSON, f: dict[str, UploadedFile], h: _ApiHandler) -> Any:
        return self.bot_user | {
            "can_join_groups": True,
            "can_read_all_group_messages": False,
            "supports_inline_queries": False,
            "can_connect_to_business": False,
            "has_main_web_app": False,
        }

    async def _m_getUpdates(self, p: JSON, f: dict[str, UploadedFile], h: _ApiHandler) -> Any:
        if self.webhook:
            raise ApiError(
                409,
                "Conflict: can't use getUpdates method while webhook is "
                "active; use deleteWebhook to delete the webhook first",
            )
        self._poll_generation += 1
        generation = self._poll_generation
        if "allowed_updates" in p:
            self._allowed_updates = p["allowed_updates"] or None
        offset = p.get("offset")
        if offset is not None:
            if offset < 0:
                self._pending = self._pending[offset:]
            else:
                self._pending = [u for u in self._pending if u["update_id"] >= offset]
                if offset > self.confirmed_offset:
                    self.confirmed_offset = offset
            self._notify()
        limit = min(max(p.get("limit", 100), 1), 100)
        timeout = min(max(p.get("timeout", 0), 0), self.max_poll_seconds)
        await self._wait(
            timeout,
            lambda: (
                bool(self._deliverable())
                or h.closed
                or self._stopping
                or self._poll_generation != generation
            ),
        )
        if self._poll_generation != generation:
            raise ApiError(
                409,
                "Conflict: terminated by other getUpdates request; make sure "
                "that only one bot instance is running",
            )
        answer = self._deliverable()[:limit]
        if answer:
            self.handed_update_id = max(self.handed_update_id, max(u["update_id"] for u in answer))
        return answer

    def _deliverable(self) -> list[JSON]:
        allowed = self._allowed_updates
        keep = []
        for update in self._pending:
            kind = next(k for k in update if k != "update_id")
            if (kind in allowed) if allowed else kind not in _OPT_IN_UPDATES:
                keep.append(update)
        self._pending = keep  # Telegram discards updates of types the bot did not ask for
        return keep

    async def _m_sendMessage(self, p: JSON, f: dict[str, UploadedFile], h: _ApiHandler) -> Any:
        return self.message_json(self._new_sent("text", p, p["text"]))

    async def _m_sendDocument(self, p: JSON, f: dict[str, UploadedFile], h: _ApiHandler) -> Any:
        upload = self._upload(p, f, "document")
        if upload is not None:
            if len(upload.content) > UPLOAD_LIMIT:
                raise ApiError(413, "Request Entity Too Large")
            mime = upload.content_type or _guess_mime(upload.filename)
            file_id = self._register_file(
                upload.content, upload.filename, "documents", mime_type=mime
            )
            document = Document(file_id, upload.filename, upload.content, mime, len(upload.content))
        elif _is_url(p["document"]):
            document = Document(str(p["document"]), None, None, None)
        else:
            file_id = str(p["document"])
            info = self._held(file_id, "document")
            document = Document(
                file_id, info.file_name, self.files[file_id][1], info.mime_type, info.file_size
            )
        msg = self._new_sent("document", p, p.get("caption"))
        msg.document = document
        return self.message_json(msg)

    async def _m_sendPhoto(self, p: JSON, f: dict[str, UploadedFile], h: _ApiHandler) -> Any:
        upload = self._upload(p, f, "photo")
        if upload is not None:
            if len(upload.content) > PHOTO_UPLOAD_LIMIT:
                raise ApiError(400, "Bad Request: PHOTO_SAVE_FILE_INVALID")
            width, height = _photo_dimensions(upload.content)
            file_id = self._register_file(
                upload.content, "photo.jpg", "photos", width=width, height=height
            )
            photo = Document(
                file_id, None, upload.content, "image/jpeg", len(upload.content), width, height
            )
        elif _is_url(p["photo"]):
            photo = Document(str(p["photo"]), None, None, None, None, 800, 600)
        else:
            file_id = str(p["photo"])
            info = self._held(file_id, "photo")
            photo = Document(
                file_id,
                None,
                self.files[file_id][1],
                "image/jpeg",
                info.file_size,
                info.width or 800,
                info.height or 800,
            )
        msg = self._new_sent("photo", p, p.get("caption"))
        msg.photo = photo
        msg.photo_sizes = self._photo_sizes(photo)
        return self.message_json(msg)

    def _photo_sizes(self, photo: Document) -> list[JSON]:
        """PhotoSize objects as Telegram lists them: a small thumbnail, then the largest."""
        width, height = photo.width or 800, photo.height or 800
        scale = min(1.0, 90 / max(width, height))
        small = (max(1, round(width * scale)), max(1, round(height * scale)))
        thumb_bytes = b"\xff\xd8\xff thumbnail of " + photo.file_id.encode()
        thumb_id = self._register_file(
            thumb_bytes, "thumb.jpg", "photos", width=small[0], height=small[1]
        )
        return [
            _photo_size(thumb_id, small[0], small[1], len(thumb_bytes)),
            _photo_size(photo.file_id, width, height, photo.file_size),
        ]

    async def _m_editMessageText(self, p: JSON, f: dict[str, UploadedFile], h: _ApiHandler) -> Any:
        if "inline_message_id" in p:
            return True
        msg = self._find(p.get("chat_id"), p.get("message_id"), "edit")
        if msg.kind != "text":
            raise ApiError(400, "Bad Request: there is no text in the message to edit")
        parsed = parse_text(p.get("text", ""), None if p.get("entities") else p.get("parse_mode"))
        entities = p.get("entities") or parsed.entities
        # Omitting reply_markup removes the inline keyboard, exactly as on Telegram.
        markup = p.get("reply_markup")
        if (parsed.plain, entities, markup) == (msg.plain, msg.entities, msg.reply_markup):
            raise ApiError(400, NOT_MODIFIED)
        msg.text, msg.plain, msg.entities, msg.reply_markup = (
            p.get("text"),
            parsed.plain,
            entities,
            markup,
        )
        msg.parse_mode = p.get("parse_mode")
        msg.edit_date = self.now()
        msg._snapshot(msg.edit_date)
        return self.message_json(msg)

    async def _m_editMessageReplyMarkup(
        self, p: JSON, f: dict[str, UploadedFile], h: _ApiHandler
    ) -> Any:
        if "inline_message_id" in p:
            return True
        msg = self._find(p.get("chat_id"), p.get("message_id"), "edit")
        markup = p.get("reply_markup")
        if markup == msg.reply_markup or (not markup and not msg.reply_markup):
            raise ApiError(400, NOT_MODIFIED)
        msg.reply_markup = markup
        msg.edit_date = self.now()
        msg._snapshot(msg.edit_date)
        return self.message_json(msg)

    async def _m_deleteMessage(self, p: JSON, f: dict[str, UploadedFile], h: _ApiHandler) -> Any:
        self._find(p["chat_id"], p["message_id"], "delete").deleted = True
        return True

    async def _m_answerCallbackQuery(
        self, p: JSON, f: dict[str, UploadedFile], h: _ApiHandler
    ) -> Any:
        query = self.callback_queries.get(p["callback_query_id"])
        if query is None or query["answer"] is not None:
            raise ApiError(400, QUERY_INVALID)
        query["answer"] = {k: p.get(k) for k in ("text", "show_alert", "url", "cache_time")}
        return True

    async def _m_leaveChat(self, p: JSON, f: dict[str, UploadedFile], h: _ApiHandler) -> Any:
        self.left_chats.add(self._chat(p["chat_id"])["id"])
        return True

    def _commands_key(self, p: JSON) -> tuple[str, str]:
        scope = p.get("scope") or {"type": "default"}
        return json.dumps(scope, sort_keys=True), p.get("language_code") or ""

    async def _m_setMyCommands(self, p: JSON, f: dict[str, UploadedFile], h: _ApiHandler) -> Any:
        self.commands[self._commands_key(p)] = p["commands"]
        return True

    async def _m_deleteMyCommands(self, p: JSON, f: dict[str, UploadedFile], h: _ApiHandler) -> Any:
        self.commands.pop(self._commands_key(p), None)
        return True

    async def _m_getMyCommands(self, p: JSON, f: dict[str, UploadedFile], h: _ApiHandler) -> Any:
        return self.commands.get(self._commands_key(p), [])

    async def _m_setWebhook(self, p: JSON, f: dict[str, UploadedFile], h: _ApiHandler) -> Any:
        if p.get("drop_pending_updates"):
            self._pending.clear()
        self.webhook = {k: v for k, v in p.items() if k != "certificate"}
        return True

    async def _m_deleteWebhook(self, p: JSON, f: dict[str, UploadedFile], h: _ApiHandler) -> Any:
        if p.get("drop_pending_updates"):
            self._pending.clear()
        self.webhook = None
        return True

    async def _m_getWebhookInfo(self, p: JSON, f: dict[str, UploadedFile], h: _ApiHandler) -> Any:
        info: JSON = {
            "url": "",
            "has_custom_certificate": False,
            "pending_update_count": len(self._pending),
        }
        if self.webhook:
            info["url"] = self.webhook["url"]
            if self.webhook.get("allowed_updates"):
                info["allowed_updates"] = self.webhook["allowed_updates"]
        return info

    async def _m_sendChatAction(self, p: JSON, f: dict[str, UploadedFile], h: _ApiHandler) -> Any:
        self.chat_actions.append((self._target(p["chat_id"])["id"], p["action"]))
        return True

    async def _m_getFile(self, p: JSON, f: dict[str, UploadedFile], h: _ApiHandler) -> Any:
        if p["file_id"] not in self.files:
            raise ApiError(400, "Bad Request: invalid file_id")
        path, content = self.files[p["file_id"]]
        info = self.file_info.get(p["file_id"])
        size = info.file_size if info else len(content)
        if size > GET_FILE_LIMIT:
            raise ApiError(400, FILE_TOO_BIG)
        return {
            "file_id": p["file_id"],
            "file_unique_id": f"u{p['file_id']}",
            "file_size": size,
            "file_path": path,
        }

    async def _m_getChat(self, p: JSON, f: dict[str, UploadedFile], h: _ApiHandler) -> Any:
        return self._chat(p["chat_id"]) | {
            "accent_color_id": 0,
            "max_reaction_count": 11,
            "accepted_gift_types": {
                "unlimited_gifts": False,
                "limited_gifts": False,
                "unique_gifts": False,
                "premium_subscription": False,
            },
        }

    async def _m_getChatMember(self, p: JSON, f: dict[str, UploadedFile], h: _ApiHandler) -> Any:
        user_id = p["user_id"]
        user = (
            self.bot_user
            if user_id == self.bot_id
            else (
                self._users[user_id].as_dict()
                if user_id in self._users
                else {"id": user_id, "is_bot": False, "first_name": f"User {user_id}"}
            )
        )
        return {"status": "member", "user": user}

    async def _generic(self, method: str, p: JSON, f: dict[str, UploadedFile]) -> Any:
        """Other spec methods: a plausible result PTB can parse."""
        returns = spec.method_returns(method)
        if "Message" in returns and "chat_id" in p:
            if method.startswith("send"):
                text = p.get("caption") if isinstance(p.get("caption"), str) else None
                return self.message_json(self._new_sent(method[4:].lower(), p, text))
            if "message_id" in p:
                return self.message_json(self._find(p["chat_id"], p["message_id"], "edit"))
        if returns and returns[0].startswith("Array of"):
            return []
        return {"Integer": 0, "String": ""}.get(returns[0] if returns else "", True)

    # ---------------------------------------------------------------------- updates
    def push_update(self, update: JSON) -> int:
        """Queue an update (without update_id) for getUpdates; returns its update_id."""
        update_id = self._next_update_id
        self._next_update_id += 1
        full = {"update_id": update_id, **update}
        self.updates.append(full)
        self._pending.append(full)
        self._notify()
        return update_id

    def user(
        self,
        user_id: int,
        first_name: str = "Test",
        last_name: str | None = None,
        username: str | None = None,
        language_code: str | None = "en",
    ) -> FakeUser:
        """A private-chat user (chat id == user id)."""
        user = FakeUser(self, user_id, first_name, last_name, username, language_code)
        self._users[user_id] = user
        self.chats[user_id] = (
            {"id": user_id, "type": "private", "first_name": first_name}
            | ({"last_name": last_name} if last_name else {})
            | ({"username": username} if username else {})
        )
        return user

    def group(
        self,
        chat_id: int = -1001234567890,
        title: str = "Test group",
        username: str | None = None,
    ) -> FakeGroup:
        kind = "supergroup" if str(chat_id).startswith("-100") else "group"
        self.chats[chat_id] = {"id": chat_id, "type": kind, "title": title} | (
            {"username": username} if username else {}
        )
        return FakeGroup(self, chat_id)

    def channel_post(self, chat_id: int, text: str, title: str = "Test channel") -> int:
        chat = self.chats.setdefault(chat_id, {"id": chat_id, "type": "channel", "title": title})
        msg = self._user_message(chat, None, text=text, sender_chat=chat)
        return self.push_update({"channel_post": msg})

    def added_to_group(
        self,
        chat_id: int,
        by_user: FakeUser,
        title: str = "Test group",
        status: str = "member",
    ) -> int:
        """The bot was added to a group (my_chat_member update)."""
        chat = self.chats.get(chat_id) or self.group(chat_id, title).chat
        self.left_chats.discard(chat_id)
        return self._my_chat_member(chat, by_user, "left", status)

    def _my_chat_member(self, chat: JSON, by: FakeUser, old: str, new: str) -> int:
        def member(status: str) -> JSON:
            extra = {"until_date": 0} if status == "kicked" else {}
            return {"status": status, "user": self.bot_user} | extra

        return self.push_update(
            {
                "my_chat_member": {
                    "chat": chat,
                    "from": by.as_dict(),
                    "date": self.now(),
                    "old_chat_member": member(old),
                    "new_chat_member": member(new),
                }
            }
        )

    def _user_message(self, chat: JSON, sender: JSON | None, **content: Any) -> JSON:
        msg: JSON = {"message_id": self._next_message_id(chat["id"])}
        if sender is not None:
            msg["from"] = sender
        msg |= {"chat": chat, "date": self.now()}
        msg |= {k: v for k, v in content.items() if v is not None}
        text = content.get("text")
        if isinstance(text, str) and (m := _COMMAND_RE.match(text)):
            # PTB's CommandHandler only fires on a bot_command entity at offset 0.
            msg["entities"] = [
                {"type": "bot_command", "offset": 0, "length": utf16_len(m.group(0))}
            ]
        self.user_messages[(chat["id"], msg["message_id"])] = msg
        return msg

    def _press(
        self,
        chat_id: int,
        sender: JSON,
        label_or_data: str,
        message_id: int | None,
    ) -> int:
        candidates = [m for m in self.sent.get(chat_id, []) if not m.deleted]
        if message_id is not None:
            candidates = [m for m in candidates if m.message_id == message_id]
        else:
            candidates = [m for m in candidates if m.button_rows()][-1:]
        if not candidates:
            raise AssertionError(
                f"no bot message {'#' + str(message_id) if message_id else 'with buttons'} in "
                f"chat {chat_id}; messages: {[m.plain for m in self.sent.get(chat_id, [])]}"
            )
        msg = candidates[0]
        buttons = [b for row in msg.button_rows() for b in row]
        for button in buttons:
            if label_or_data in (button["text"], button.get("callback_data")):
                if "callback_data" not in button:
                    raise AssertionError(
                        f"button {button['text']!r} has no callback_data: {button}"
                    )
                return self._callback(msg, sender, button["callback_data"])
        raise AssertionError(
            f"no button {label_or_data!r} on message #{msg.message_id} ({msg.plain!r}); "
            f"buttons: {[(b['text'], b.get('callback_data')) for b in buttons]}"
        )

    def _callback(self, msg: SentMessage, sender: JSON, data: str) -> int:
        query_id = str(4_000_000_000_000 + next(self._ids))
        self.callback_queries[query_id] = {
            "user_id": sender["id"],
            "chat_id": msg.chat_id,
            "message_id": msg.message_id,
            "data": data,
            "answer": None,
        }
        return self.push_update(
            {
                "callback_query": {
                    "id": query_id,
                    "from": sender,
                    "message": self.message_json(msg),
                    "chat_instance": str(abs(msg.chat_id * 7919 + self.bot_id) % 10**18),
                    "data": data,
                }
            }
        )

    # ---------------------------------------------------------------------- reading
    def messages_to(self, chat_id: int) -> list[SentMessage]:
        return [m for m in self.sent.get(chat_id, []) if not m.deleted]

    def calls_to(self, method: str) -> list[Call]:
        return [c for c in self.calls if c.method == method]

    def commands_for(self, scope: JSON | None = None, language_code: str = "") -> list[JSON]:
        return self.commands.get(
            self._commands_key({"scope": scope, "language_code": language_code}), []
        )

    @property
    def pending_updates(self) -> list[JSON]:
        return list(self._pending)

    def dump(self, last_calls: int = 25) -> str:
        """A readable summary of the fake's state for assertion messages."""
        lines = [f"calls (last {last_calls} of {len(self.calls)}):"]
        for c in self.calls[-last_calls:]:
            params = json.dumps(c.params, ensure_ascii=False, default=str)
            lines.append(f"  {c.method} -> {c.status} {c.description or ''} {params[:160]}")
        lines.append(f"spec_errors: {self.spec_errors}")
        lines.append(
            f"pending updates: {[u['update_id'] for u in self._pending]}, "
            f"confirmed offset: {self.confirmed_offset}"
        )
        for chat_id, msgs in self.sent.items():
            lines.append(f"chat {chat_id}: {[m.plain for m in msgs if not m.deleted]}")
        return "\n".join(lines)

    # ---------------------------------------------------------------------- waiting
    async def wait_for(
        self,
        predicate: Callable[[], Any],
        timeout: float = 5.0,
        what: str | None = None,
    ) -> Any:
        """Wait until ``predicate()`` is truthy and return its value.

        Re-checked on every state change of the fake, and every 50 ms so predicates on
        outside state (a database) work too.
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            event = self._changed
            value = predicate()
            if value:
                return value
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise AssertionError(
                    f"timed out after {timeout}s waiting for "
                    f"{what or getattr(predicate, '__name__', predicate)}\n"
                    f"{self.dump()}"
                )
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(event.wait(), min(remaining, 0.05))

    async def next_change(self, timeout: float) -> None:
        """Wait until the fake's state changes (any call or new update), at most ``timeout``."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._changed.wait(), timeout)

    async def next_message_to(self, chat_id: int, timeout: float) -> None:
        """Wait until the bot sends something to ``chat_id``, at most ``timeout``.

        Wakes only that chat's waiter: with hundreds of simulated users (benchmarks)
        waking all of them on every change costs more than some bots under test.
        """
        event = self._sent_to.setdefault(chat_id, asyncio.Event())
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(event.wait(), timeout)

    async def wait_confirmed(self, update_id: int, timeout: float = 5.0) -> None:
        """Wait until the bot acknowledged ``update_id`` (a getUpdates with a higher offset)."""
        await self.wait_for(
            lambda: self.confirmed_offset > update_id,
            timeout,
            f"getUpdates to confirm update {update_id}",
        )

    async def wait_handed(self, update_id: int, timeout: float = 5.0) -> None:
        """Wait until a getUpdates answer has held ``update_id`` (given to the bot, which
        may not have acknowledged it yet)."""
        await self.wait_for(
            lambda: self.handed_update_id >= update_id,
            timeout,
            f"getUpdates to hand over update {update_id}",
        )

    async def wait_calls(self, method: str, n: int = 1, timeout: float = 5.0) -> list[Call]:
        """Wait until ``method`` was called at least ``n`` times."""
        await self.wait_for(
            lambda: len(self.calls_to(method)) >= n, timeout, f"{n} call(s) to {method}"
        )
        return self.calls_to(method)


# ------------------------------------------------------------------------- user-side views
class _ChatView:
    """Read helpers over the bot's messages in one chat."""

    def __init__(self, fake: FakeBotAPI, chat_id: int) -> None:
        self.fake = fake
        self.chat_id = chat_id

    @property
    def chat(self) -> JSON:
        return self.fake.chats[self.chat_id]

    def messages(self) -> list[SentMessage]:
        """The bot's messages to this chat, oldest first, without deleted ones."""
        return self.fake.messages_to(self.chat_id)

    def last(self) -> SentMessage:
        msgs = self.messages()
        if not msgs:
            raise AssertionError(f"the bot sent nothing to chat {self.chat_id}\n{self.fake.dump()}")
        return msgs[-1]

    def texts(self) -> list[str]:
        """What the user sees of each message (text or caption, formatting removed)."""
        return [m.plain or "" for m in self.messages()]

    def buttons(self, message: SentMessage | None = None) -> list[str]:
        """Inline button labels of ``message`` (default: the newest message)."""
        if message is None:
            msgs = self.messages()
            return msgs[-1].buttons if msgs else []
        return message.buttons

    async def wait_messages(self, n: int, timeout: float = 5.0) -> list[SentMessage]:
        await self.fake.wait_for(
            lambda: len(self.messages()) >= n, timeout, f"{n} bot message(s) in chat {self.chat_id}"
        )
        return self.messages()


class FakeUser(_ChatView):
    """A Telegram user in a private chat with the bot; actions queue updates."""

    def __init__(
        self,
        fake: FakeBotAPI,
        user_id: int,
        first_name: str,
        last_name: str | None,
        username: str | None,
        language_code: str | None,
    ) -> None:
        super().__init__(fake, user_id)
        self.id = user_id
        self.first_name, self.last_name = first_name, last_name
        self.username, self.language_code = username, language_code

    def as_dict(self) -> JSON:
        d: JSON = {"id": self.id, "is_bot": False, "first_name": self.first_name}
        for key in ("last_name", "username", "language_code"):
            if getattr(self, key):
                d[key] = getattr(self, key)
        return d

    def _send(self, **content: Any) -> int:
        msg = self.fake._user_message(self.chat, self.as_dict(), **content)
        return self.fake.push_update({"message": msg})

    def send_text(self, text: str) -> int:
        return self._send(text=text)

    def _replied(self, message_id: int | None) -> JSON | None:
        """The message a reply quotes (None for no reply); a missing one is the test's bug."""
        if message_id is None:
            return None
        replied = self.fake.any_message(self.chat_id, message_id)
        if replied is None:
            raise AssertionError(f"no message #{message_id} in chat {self.chat_id}")
        return replied

    def reply_to(self, message_id: int, text: str) -> int:
        return self._send(text=text, reply_to_message=self._replied(message_id))

    def press(self, label_or_data: str, message_id: int | None = None) -> int:
        """Press an inline button by label or callback_data on ``message_id`` or, by default,
        on the newest bot message with buttons."""
        return self.fake._press(self.chat_id, self.as_dict(), label_or_data, message_id)

    def press_data(self, data: str, message_id: int) -> int:
        """A callback query with arbitrary (stale, forged) data on a bot message."""
        msg = next(
            (m for m in self.fake.sent.get(self.chat_id, []) if m.message_id == message_id), None
        )
        if msg is None:
            raise AssertionError(f"no bot message #{message_id} in chat {self.chat_id}")
        return self.fake._callback(msg, self.as_dict(), data)

    def _file(
        self,
        content: bytes,
        name: str | None,
        folder: str,
        size: int | None = None,
        mime_type: str | None = None,
        width: int | None = None,
        height: int | None = None,
    ) -> JSON:
        file_id = self.fake._register_file(
            content, name, folder, size=size, mime_type=mime_type, width=width, height=height
        )
        file_size = len(content) if size is None else size
        return {"file_id": file_id, "file_unique_id": f"u{file_id}", "file_size": file_size}

    def _photo_sizes(self, content: bytes, width: int, height: int, size: int | None) -> list[JSON]:
        """A 90 px thumbnail (other bytes, other file_id) and the photo itself, last."""
        scale = min(1.0, 90 / max(width, height))
        small = (max(1, round(width * scale)), max(1, round(height * scale)))
        thumb = self._file(b"\xff\xd8\xff thumbnail", None, "photos", None, None, *small)
        full = self._file(content, None, "photos", size, None, width, height)
        return [
            thumb | {"width": small[0], "height": small[1]},
            full | {"width": width, "height": height},
        ]

    def send_photo(
        self,
        caption: str | None = None,
        content: bytes = b"\xff\xd8photo",
        media_group_id: str | None = None,
        reply_to: int | None = None,
        width: int = 800,
        height: int = 800,
        size: int | None = None,
    ) -> int:
        """A photo (Telegram's sizes: a thumbnail and the photo, ``photo[-1]``); ``size``
        overrides its reported file_size, ``reply_to`` makes it a reply to that message."""
        return self._send(
            photo=self._photo_sizes(content, width, height, size),
            caption=caption,
            media_group_id=media_group_id,
            reply_to_message=self._replied(reply_to),
        )

    def send_sticker(self, emoji: str = "👍") -> int:
        sticker = self._file(b"RIFFsticker", "sticker.webp", "stickers")
        return self._send(
            sticker=sticker
            | {
                "type": "regular",
                "width": 512,
                "height": 512,
                "is_animated": False,
                "is_video": False,
                "emoji": emoji,
            }
        )

    def send_voice(self, duration: int = 3, content: bytes = b"OggSvoice") -> int:
        voice = self._file(content, "voice.ogg", "voice")
        return self._send(voice=voice | {"duration": duration, "mime_type": "audio/ogg"})

    def send_document(
        self,
        name: str,
        content: bytes,
        mime_type: str | None = None,
        caption: str | None = None,
        media_group_id: str | None = None,
        size: int | None = None,
        reply_to: int | None = None,
    ) -> int:
        """A file sent as a document; ``mime_type`` defaults to what the name suggests (as
        Telegram clients do), ``size`` overrides the reported file_size (getFile refuses
        over 20 MB), ``reply_to`` makes it a reply to that message."""
        mime = mime_type or _guess_mime(name)
        doc = self._file(content, name, "documents", size, mime)
        return self._send(
            document=doc | {"file_name": name, "mime_type": mime},
            caption=caption,
            media_group_id=media_group_id,
            reply_to_message=self._replied(reply_to),
        )

    def send_album(self, items: Sequence[Mapping[str, Any]]) -> list[int]:
        """2-10 photos or 2-10 documents as one album: consecutive updates sharing a
        media_group_id. Each item holds ``send_document``'s arguments (it has a "name") or
        ``send_photo``'s; Telegram albums never mix documents with photos."""
        if not 2 <= len(items) <= 10:
            raise AssertionError(f"an album has 2-10 items, not {len(items)}")
        if len({"name" in item for item in items}) > 1:
            raise AssertionError("a Telegram album is all documents or all photos")
        group = str(13_000_000_000_000_000 + next(self.fake._ids))
        ids = []
        for item in items:
            args = dict(item) | {"media_group_id": group}
            ids.append(self.send_document(**args) if "name" in item else self.send_photo(**args))
        return ids

    def send_contact(
        self, phone: str, first_name: str | None = None, user_id: int | None = None
    ) -> int:
        """Share a contact (by default the user's own, as the "share my number" button)."""
        contact = {
            "phone_number": phone,
            "first_name": first_name or self.first_name,
            "user_id": self.id if user_id is None else user_id,
        }
        return self._send(contact=contact)

    def send_location(self, latitude: float, longitude: float) -> int:
        return self._send(location={"latitude": latitude, "longitude": longitude})

    def edit_text(self, message_id: int, new_text: str) -> int:
        """Edit one of the user's own messages (edited_message update)."""
        key = (self.chat_id, message_id)
        original = self.fake.user_messages.get(key)
        if original is None or original.get("from", {}).get("id") != self.id:
            raise AssertionError(f"message #{message_id} is not a message of user {self.id}")
        edited = {k: v for k, v in original.items() if k != "entities"} | {
            "text": new_text,
            "edit_date": self.fake.now(),
        }
        if m := _COMMAND_RE.match(new_text):
            edited["entities"] = [
                {"type": "bot_command", "offset": 0, "length": utf16_len(m.group(0))}
            ]
        self.fake.user_messages[key] = edited
        return self.fake.push_update({"edited_message": edited})

    def forward_text(self, text: str, from_user_id: int, from_first_name: str = "Someone") -> int:
        origin = {
            "type": "user",
            "date": self.fake.now() - 60,
            "sender_user": {"id": from_user_id, "is_bot": False, "first_name": from_first_name},
        }
        return self._send(text=text, forward_origin=origin)

    def block_bot(self) -> int:
        """Block the bot: later sends get 403, and the bot gets a my_chat_member update."""
        self.fake.block(self.chat_id)
        return self.fake._my_chat_member(self.chat, self, "member", "kicked")

    def callback_answers(self) -> list[str | None]:
        """answerCallbackQuery texts for this user's presses, in press order."""
        return [
            q["answer"]["text"]
            for q in self.fake.callback_queries.values()
            if q["user_id"] == self.id and q["answer"] is not None
        ]


class FakeGroup(_ChatView):
    """A group or supergroup the bot is in."""

    def send_text(self, from_user: FakeUser, text: str) -> int:
        msg = self.fake._user_message(self.chat, from_user.as_dict(), text=text)
        return self.fake.push_update({"message": msg})

    def press(self, from_user: FakeUser, label_or_data: str, message_id: int | None = None) -> int:
        return self.fake._press(self.chat_id, from_user.as_dict(), label_or_data, message_id)


# ---------------------------------------------------------------------------- HTTP layer
class _ApiHandler(tornado.web.RequestHandler):
    def initialize(self, fake: FakeBotAPI) -> None:
        self.fake = fake
        self.closed = False

    def on_connection_close(self) -> None:
        self.closed = True
        self.fake._notify()  # wake a held getUpdates or hang so it can give up

    def compute_etag(self) -> None:
        return None

    async def get(self, token: str, method: str) -> None:
        params: JSON = {k: v[-1].decode() for k, v in self.request.query_arguments.items()}
        if self.request.headers.get("Content-Type", "").startswith("application/json"):
            try:
                body = json.loads(self.request.body or b"{}")
            except ValueError:
                body = None
            if not isinstance(body, dict):
                self._write(
                    400,
                    {
                        "ok": False,
                        "error_code": 400,
                        "description": "Bad Request: can't parse JSON",
                    },
                )
                return
            params.update(body)
        else:
            params.update({k: v[-1].decode() for k, v in self.request.body_arguments.items()})
        files = {
            k: UploadedFile(v[0].filename, v[0].body, v[0].content_type)
            for k, v in self.request.files.items()
        }
        status, payload = await self.fake._dispatch(self, token, method, params, files)
        self._write(status, payload)

    post = get

    def _write(self, status: int, payload: JSON) -> None:
        if self.closed:
            return
        self.set_status(status)
        self.set_header("Content-Type", "application/json")
        with contextlib.suppress(tornado.iostream.StreamClosedError):
            self.finish(json.dumps(payload, ensure_ascii=False))


class _FileHandler(tornado.web.RequestHandler):
    def initialize(self, fake: FakeBotAPI) -> None:
        self.fake = fake

    async def get(self, token: str, path: str) -> None:
        fake = self.fake
        status, content = 404, None
        hold = fake._download_hold
        if token == fake.token and hold is not None:
            await hold._hold()
        if token == fake.token:
            if fake._download_failures:
                status = fake._download_failures.popleft()
            else:
                found = (c for p, c in fake.files.values() if p == path)
                content = next(found, None)
                status = 200 if content is not None else 404
        fake.downloads.append((path, status))
        fake._notify()
        with contextlib.suppress(tornado.iostream.StreamClosedError):  # gone while held
            self.set_status(status)
            if content is not None:
                self.set_header("Content-Type", "application/octet-stream")
                self.finish(content)
                return
            description = _STATUS_TEXT.get(status, "Error")
            self.finish({"ok": False, "error_code": status, "description": description})
