"""The sandbox's web page and its JSON API, served on loopback only.

GET  /                  the page (one chat pane per role, all inline: no CDN, no network)
GET  /api/state?v=H     every pane's chat; held up to 25 s until it differs from version H
POST /api/send          {"pane", "text", "reply_to"?}: the pane's user types (or replies)
POST /api/press         {"pane", "message_id", "data"}: the pane's user presses a button
POST /api/upload        {"pane", "name", "content" (base64), "caption"?, "as_photo"?,
                        "reply_to"?}: the pane's user sends a file (a photo or a document)
POST /api/clock         {"minutes"}: move the sandbox clock forward; or {"to"}: to the next
                        MDT moment (`world.MDT_MOMENTS`: mdt_cutoff, mdt_meeting,
                        morning_after)
GET  /api/file/ID       a file the fake holds: a document (download) or a photo (inline)
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import ipaddress
import json
import socket
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from importlib import resources
from typing import Any
from urllib.parse import quote

import tornado.httpserver
import tornado.netutil
import tornado.web

from sandbox.botapi import FakeBotAPI, SentMessage
from sandbox.world import MAX_UPLOAD, MDT_MOMENTS, Pane, Sandbox, SandboxError

JSON = dict[str, Any]
LONG_POLL_SECONDS = 25.0
MAX_ADVANCE = timedelta(days=14)
# Served with their own type; any other file downloads as application/octet-stream.
_SAFE_TYPES = frozenset({"application/pdf", "text/calendar", "image/jpeg", "image/png"})


def is_loopback(host: str) -> bool:
    """True for 127.0.0.0/8, ::1 and names that resolve only to those."""
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        pass
    try:
        infos = socket.getaddrinfo(host, None)
    except OSError:
        return False
    return bool(infos) and all(ipaddress.ip_address(i[4][0]).is_loopback for i in infos)


# ------------------------------------------------------------------------------- the state
def _message_json(fake: FakeBotAPI, sandbox: Sandbox, msg: SentMessage) -> JSON:
    document = photo = None
    if msg.document is not None:
        document = {
            "file_id": msg.document.file_id,
            "name": msg.document.file_name or "document",
            "size": msg.document.file_size or len(msg.document.content or b""),
        }
    if msg.photo is not None:
        photo = {
            "file_id": msg.photo.file_id,
            "width": msg.photo.width,
            "height": msg.photo.height,
            "size": msg.photo.file_size or len(msg.photo.content or b""),
        }
    reply = None
    if msg.reply_to_message_id is not None:
        replied = fake.any_message(msg.chat_id, msg.reply_to_message_id) or {}
        reply = {"id": msg.reply_to_message_id, "text": _snippet(replied)}
    return {
        "id": msg.message_id,
        "out": False,
        "text": msg.plain or "",
        "entities": msg.entities,
        "buttons": [
            [{k: b[k] for k in ("text", "callback_data", "url") if k in b} for b in row]
            for row in msg.button_rows()
        ],
        "document": document,
        "photo": photo,
        "reply_to": reply,
        "when": _when(sandbox, msg.date),
        "edited": msg.edit_date is not None,
        "protected": msg.protect_content,
    }


def _user_message_json(sandbox: Sandbox, msg: JSON) -> JSON:
    replied = msg.get("reply_to_message")
    document = photo = None
    if "document" in msg:
        d = msg["document"]
        document = {
            "file_id": d["file_id"],
            "name": d.get("file_name") or "document",
            "size": d.get("file_size", 0),
        }
    if msg.get("photo"):
        largest = msg["photo"][-1]
        photo = {k: largest.get(k) for k in ("file_id", "width", "height")}
        photo["size"] = largest.get("file_size", 0)
    return {
        "id": msg["message_id"],
        "out": True,
        "text": msg.get("text") or msg.get("caption") or "",
        "entities": [],
        "buttons": [],
        "document": document,
        "photo": photo,
        "reply_to": {"id": replied["message_id"], "text": _snippet(replied)} if replied else None,
        "when": _when(sandbox, msg["date"]),
        "edited": "edit_date" in msg,
        "protected": False,
    }


def _snippet(message: JSON) -> str:
    text = str(message.get("text") or message.get("caption") or "")
    if not text and "document" in message:
        text = f"📄 {message['document'].get('file_name', 'document')}"
    elif not text and "photo" in message:
        text = "🖼 photo"
    return text if len(text) <= 90 else text[:87] + "…"


def _when(sandbox: Sandbox, epoch: int) -> str:
    local = datetime.fromtimestamp(epoch, UTC).astimezone(sandbox.timezone)
    return f"{local:%a %d %b %H:%M}"


def _pane_json(sandbox: Sandbox, pane: Pane) -> JSON:
    fake = sandbox.fake
    assert fake is not None
    chat_id = pane.user_id
    mine = [
        _user_message_json(sandbox, m)
        for (chat, _), m in fake.user_messages.items()
        if chat == chat_id
    ]
    bots = [_message_json(fake, sandbox, m) for m in fake.messages_to(chat_id)]
    messages = sorted(mine + bots, key=lambda m: int(m["id"]))
    commands = fake.commands_for({"type": "chat", "chat_id": chat_id}) or fake.commands_for()
    answers = [
        q["answer"]["text"]
        for q in fake.callback_queries.values()
        if q["user_id"] == chat_id and q["answer"] is not None and q["answer"].get("text")
    ]
    return {
        "key": pane.key,
        "role": pane.role,
        "name": pane.name,
        "user_id": pane.user_id,
        "hint": pane.hint,
        "uploads": pane.uploads,
        "commands": [[c["command"], c["description"]] for c in commands],
        "messages": messages,
        "toast": {"n": len(answers), "text": answers[-1]} if answers else None,
    }


def state(sandbox: Sandbox) -> JSON:
    """Everything the page shows, and a version that changes when any of it does."""
    now = sandbox.clock.now().astimezone(sandbox.timezone)
    body: JSON = {
        "clock": f"{now:%A %d %B %Y, %H:%M} ({sandbox.timezone.key})",
        "bot": f"@{sandbox.fake.bot_username}" if sandbox.fake else "",
        "panes": [_pane_json(sandbox, p) for p in sandbox.panes.values()],
    }
    digest = hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()[:16]
    return {"version": digest, **body}


# ---------------------------------------------------------------------------- handlers
class _Base(tornado.web.RequestHandler):
    def initialize(self, sandbox: Sandbox) -> None:
        self.sandbox = sandbox

    def prepare(self) -> None:
        # A web page elsewhere must not drive the sandbox through the visitor's browser:
        # only requests addressed to a loopback host are served (no DNS rebinding) ...
        host = self.request.host_name
        if not (host == "localhost" or _is_loopback_literal(host)):
            raise tornado.web.HTTPError(403)
        # ... and actions need a JSON body, which a cross-site form cannot send.
        if self.request.method == "POST" and not self.request.headers.get(
            "Content-Type", ""
        ).startswith("application/json"):
            raise tornado.web.HTTPError(415)

    def set_default_headers(self) -> None:
        self.set_header("Cache-Control", "no-store")
        self.set_header("X-Content-Type-Options", "nosniff")
        self.set_header("Referrer-Policy", "no-referrer")

    def body(self) -> JSON:
        try:
            data = json.loads(self.request.body or b"{}")
        except ValueError:
            raise tornado.web.HTTPError(400) from None
        if not isinstance(data, dict):
            raise tornado.web.HTTPError(400)
        return data

    def answer(self, payload: JSON, status: int = 200) -> None:
        self.set_status(status)
        self.set_header("Content-Type", "application/json; charset=utf-8")
        self.finish(json.dumps(payload, ensure_ascii=False))

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        self.answer({"error": self._reason}, status_code)

    def act(self, user_action: Callable[[], int]) -> None:
        """Answer the update id of what a pane's user did, or why it was refused (400)."""
        try:
            update_id = user_action()
        except (SandboxError, ValueError) as exc:
            self.answer({"error": str(exc)}, 400)
            return
        self.answer({"update_id": update_id})


def _is_loopback_literal(host: str) -> bool:
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


class _Page(_Base):
    def get(self) -> None:
        page = resources.files("sandbox").joinpath("page.html").read_text("utf-8")
        self.set_header("Content-Type", "text/html; charset=utf-8")
        self.set_header(
            "Content-Security-Policy",
            "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; "
            "connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'",
        )
        self.finish(page)


class _State(_Base):
    async def get(self) -> None:
        seen = self.get_query_argument("v", "")
        fake = self.sandbox.fake
        assert fake is not None
        loop = asyncio.get_running_loop()
        deadline = loop.time() + LONG_POLL_SECONDS
        current = state(self.sandbox)
        while current["version"] == seen and loop.time() < deadline:
            if self.request.connection is None or self.request.connection.stream.closed():  # type: ignore[attr-defined]
                return
            await fake.next_change(min(1.0, deadline - loop.time()))
            current = state(self.sandbox)
        self.answer(current)


class _Send(_Base):
    async def post(self) -> None:
        data = self.body()
        reply_to = data.get("reply_to")
        self.act(
            lambda: self.sandbox.send(
                str(data.get("pane", "")),
                str(data.get("text", "")),
                int(reply_to) if reply_to else None,
            )
        )


class _Upload(_Base):
    async def post(self) -> None:
        data = self.body()
        encoded = str(data.get("content", ""))
        if len(encoded) > (MAX_UPLOAD // 3 + 1) * 4:
            self.answer({"error": f"the sandbox takes files up to {MAX_UPLOAD // 2**20} MB"}, 400)
            return
        try:
            content = base64.b64decode(encoded, validate=True)
        except (binascii.Error, ValueError):
            self.answer({"error": "the file did not arrive whole (bad base64)"}, 400)
            return
        reply_to = data.get("reply_to")
        caption = data.get("caption")
        self.act(
            lambda: self.sandbox.upload(
                str(data.get("pane", "")),
                str(data.get("name", "")),
                content,
                str(caption) if caption else None,
                bool(data.get("as_photo")),
                int(reply_to) if reply_to else None,
            )
        )


class _Press(_Base):
    async def post(self) -> None:
        data = self.body()
        self.act(
            lambda: self.sandbox.press(
                str(data.get("pane", "")), int(data.get("message_id", 0)), str(data.get("data"))
            )
        )


class _Clock(_Base):
    async def post(self) -> None:
        data = self.body()
        if "to" in data:
            await self._to(str(data["to"]))
            return
        try:
            minutes = int(data.get("minutes", 0))
        except (TypeError, ValueError):
            minutes = 0
        delta = timedelta(minutes=minutes)
        if not timedelta(0) < delta <= MAX_ADVANCE:
            self.answer({"error": "move the clock forward by 1 minute to 14 days"}, 400)
            return
        now = await self.sandbox.advance(delta)
        self.answer({"now": now.isoformat()})

    async def _to(self, which: str) -> None:
        """To the next MDT cut-off, meeting or morning after (at most `MAX_ADVANCE` on)."""
        if which not in MDT_MOMENTS:
            self.answer({"error": f"move the clock to one of: {', '.join(MDT_MOMENTS)}"}, 400)
            return
        try:
            now = await self.sandbox.advance_to(which, MAX_ADVANCE)
        except SandboxError as exc:
            self.answer({"error": str(exc)}, 400)
            return
        self.answer({"now": now.isoformat()})


class _File(_Base):
    def get(self, file_id: str) -> None:
        """A photo inline (for the page's <img>), anything else as a download."""
        fake = self.sandbox.fake
        assert fake is not None
        held, info = fake.files.get(file_id), fake.file_info.get(file_id)
        if held is None or info is None:
            raise tornado.web.HTTPError(404)
        content = held[1]
        if info.kind == "photo":
            png = content.startswith(b"\x89PNG")
            self.set_header("Content-Type", "image/png" if png else "image/jpeg")
            self.set_header("Content-Disposition", "inline")
        else:
            mime = info.mime_type if info.mime_type in _SAFE_TYPES else None
            self.set_header("Content-Type", mime or "application/octet-stream")
            self.set_header("Content-Disposition", _attachment(info.file_name or "document"))
        self.set_header("Content-Security-Policy", "default-src 'none'; sandbox")
        self.finish(content)


def _attachment(name: str) -> str:
    """A Content-Disposition for any file name (RFC 6266: ASCII fallback, UTF-8 name)."""
    fallback = "".join(
        c if c.isascii() and c.isprintable() and c not in '"\\' else "_" for c in name
    )
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(name, safe='')}"


class WebServer:
    """The page and its API on `host:port`; refuses any address but loopback."""

    def __init__(self, sandbox: Sandbox, host: str = "127.0.0.1", port: int = 8080) -> None:
        if not is_loopback(host):
            raise SandboxError(
                f"the sandbox listens on loopback only (127.0.0.1 or ::1), not {host!r}"
            )
        self.sandbox, self.host, self.port = sandbox, host, port
        self._server: tornado.httpserver.HTTPServer | None = None

    async def start(self) -> None:
        args = {"sandbox": self.sandbox}
        app = tornado.web.Application(
            [
                (r"/", _Page, args),
                (r"/api/state", _State, args),
                (r"/api/send", _Send, args),
                (r"/api/press", _Press, args),
                (r"/api/upload", _Upload, args),
                (r"/api/clock", _Clock, args),
                (r"/api/file/([A-Za-z0-9_-]+)", _File, args),
            ],
            log_function=lambda handler: None,  # request URLs stay out of the log
        )
        try:
            sockets = tornado.netutil.bind_sockets(self.port, self.host)
        except OSError as exc:
            raise SandboxError(
                f"cannot listen on {self.host}:{self.port} ({exc.strerror}); try another --port"
            ) from None
        for sock in sockets:
            address = sock.getsockname()[0]
            if not ipaddress.ip_address(address).is_loopback:  # belt and braces
                sock.close()
                raise SandboxError(f"refusing to listen on {address}")
        self._server = tornado.httpserver.HTTPServer(app)
        self._server.add_sockets(sockets)
        self.port = sockets[0].getsockname()[1]

    async def stop(self) -> None:
        if self._server is not None:
            self._server.stop()
            await self._server.close_all_connections()
            self._server = None

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}/"
