"""Webhook endpoint: checks Telegram's secret header, stores the update, then answers 200."""

from __future__ import annotations

import hmac
import json
import logging
from urllib.parse import urlsplit

from tornado.web import Application, RequestHandler, stream_request_body

from bot.health import PortServer
from delivery.inbound import Intake

log = logging.getLogger(__name__)

MAX_BODY = 1_000_000  # Telegram updates are far smaller; refuse anything bigger unread


@stream_request_body
class _UpdateEndpoint(RequestHandler):
    def initialize(self, intake: Intake, secret: str) -> None:
        self.intake = intake
        self.secret = secret
        self.chunks: list[bytes] = []
        self.size = 0
        self.authentic = False

    def prepare(self) -> None:
        # A body announced too big is refused before a byte of it is read.
        declared = self.request.headers.get("Content-Length", "0")
        if not declared.isdigit() or int(declared) > MAX_BODY:
            log.warning("webhook request refused: body too large")
            self.send_error(413)
            return
        given = self.request.headers.get("X-Telegram-Bot-Api-Secret-Token", "")
        self.authentic = hmac.compare_digest(given.encode(), self.secret.encode())

    def data_received(self, chunk: bytes) -> None:
        self.size += len(chunk)
        # Without the secret the (bounded) body is read and dropped, then refused: refusing
        # with it unread resets the connection, and the 403 can be lost with it.
        if self.authentic and self.size <= MAX_BODY:
            self.chunks.append(chunk)

    def write_error(self, status_code: int, **kwargs: object) -> None:
        if status_code == 413:
            self.set_header("Connection", "close")  # the body is left unread
        self.finish({"ok": False, "status": status_code})

    async def post(self) -> None:
        if not self.authentic:
            log.warning("webhook request with a wrong or missing secret token refused")
            self.send_error(403)
            return
        if self.size > MAX_BODY:  # chunked bodies announce no length
            self.send_error(413)
            return
        try:
            payload = json.loads(b"".join(self.chunks))
            int(payload["update_id"])
        except (ValueError, KeyError, TypeError):
            self.set_status(400)
            return
        # Stored and committed before the 200: Telegram resends if we die first.
        await self.intake.receive(payload)
        self.set_status(200)


class _Health(RequestHandler):
    def get(self) -> None:
        self.write({"status": "ok"})


class WebhookServer(PortServer):
    """A small HTTP server for Telegram's webhook calls and a liveness check."""

    def __init__(self, intake: Intake, *, secret: str, url: str, listen: str, port: int) -> None:
        path = urlsplit(url).path or "/"
        app = Application(
            [
                (path, _UpdateEndpoint, {"intake": intake, "secret": secret}),
                ("/healthz", _Health),
            ]
        )
        super().__init__(
            app,
            listen,
            port,
            listen_setting="LISTEN",
            port_setting="PORT",
            # The handler refuses big bodies with a 413; this is only the hard stop behind it.
            max_body_size=4 * MAX_BODY,
        )
