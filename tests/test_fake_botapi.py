"""Tests of the fake Bot API itself, driven by a real python-telegram-bot ``Bot``."""

from __future__ import annotations

import asyncio
import datetime as dt
import html
import io
import time
from collections.abc import AsyncIterator

import httpx
import pytest
from PIL import Image
from telegram import (
    Bot,
    BotCommand,
    BotCommandScopeChat,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    ReplyParameters,
    Update,
)
from telegram.error import (
    BadRequest,
    EndPointNotFound,
    Forbidden,
    NetworkError,
    RetryAfter,
    TimedOut,
)
from telegram.ext import Application, CallbackQueryHandler, CommandHandler, ContextTypes
from telegram.request import HTTPXRequest

from tests.fakes import FakeBotAPI, check_call, html_to_plain, spec
from tests.fakes.telegram_html import EntityParseError, parse_html, parse_markdown_v2

USER = 1001


@pytest.fixture
async def fake() -> AsyncIterator[FakeBotAPI]:
    async with FakeBotAPI(clock=lambda: 1_750_000_000.0) as api:
        yield api


@pytest.fixture
async def bot(fake: FakeBotAPI) -> AsyncIterator[Bot]:
    async with Bot(fake.token, base_url=fake.base_url, base_file_url=fake.base_file_url) as b:
        yield b


def seconds(value: float | dt.timedelta) -> float:
    """RetryAfter.retry_after is an int in PTB 22 unless PTB_TIMEDELTA is set."""
    return value.total_seconds() if isinstance(value, dt.timedelta) else float(value)


def keyboard(*labels: str) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        [[InlineKeyboardButton(t, callback_data=f"cb:{t}")] for t in labels]
    )


async def test_get_me(bot: Bot, fake: FakeBotAPI) -> None:
    me = await bot.get_me()
    assert (me.id, me.username, me.is_bot) == (123456, "sarcoma_test_bot", True)
    assert fake.calls[-1].method == "getMe" and fake.spec_errors == []


async def test_send_message_recorded(bot: Bot, fake: FakeBotAPI) -> None:
    alice = fake.user(USER, "Alice")
    sent = await bot.send_message(
        USER,
        "Hello <b>Alice</b>",
        parse_mode="HTML",
        protect_content=True,
        reply_markup=keyboard("Yes", "No"),
    )
    assert sent.text == "Hello Alice" and sent.has_protected_content
    assert sent.entities[0].type == "bold" and sent.chat.id == USER
    msg = alice.last()
    assert (msg.message_id, msg.date, msg.plain) == (sent.message_id, 1_750_000_000, "Hello Alice")
    assert msg.text == "Hello <b>Alice</b>" and msg.protect_content and msg.parse_mode == "HTML"
    assert alice.buttons() == ["Yes", "No"] and alice.texts() == ["Hello Alice"]
    call = fake.calls_to("sendMessage")[0]
    assert call.params["chat_id"] == USER and call.params["protect_content"] is True
    assert fake.spec_errors == []


@pytest.mark.parametrize(
    "text", ["Fish & chips", "1 < 2", "a > b", "<b>open", "<div>x</div>", "<b>x</i>", "&nbsp;"]
)
async def test_invalid_html_refused(bot: Bot, fake: FakeBotAPI, text: str) -> None:
    with pytest.raises(BadRequest, match=r"(?i)can't parse entities"):
        await bot.send_message(USER, text, parse_mode="HTML")
    assert len(fake.spec_errors) == 1 and "can't parse entities" in fake.spec_errors[0]
    assert fake.sent == {} and fake.calls[-1].status == 400


async def test_escaped_html_round_trips(bot: Bot, fake: FakeBotAPI) -> None:
    original = 'Fish & chips <3 "quoted" it\'s 🦴🩺 — مرحبا بالعالم שלום'
    sent = await bot.send_message(USER, f"<i>{html.escape(original)}</i>", parse_mode="HTML")
    assert sent.text == original and fake.messages_to(USER)[0].plain == original
    assert sent.entities[0].length == len(original.encode("utf-16-le")) // 2
    assert fake.spec_errors == []


async def test_text_limits_after_parsing(bot: Bot, fake: FakeBotAPI) -> None:
    await bot.send_message(USER, "<b>" + "x" * 4096 + "</b>", parse_mode="HTML")
    with pytest.raises(BadRequest, match="too long"):
        await bot.send_message(USER, "🦴" * 2049)  # 4098 UTF-16 code units
    with pytest.raises(BadRequest, match="empty"):
        await bot.send_message(USER, "<b> </b>", parse_mode="HTML")
    assert len(fake.spec_errors) == 2


async def test_callback_data_over_64_bytes_refused(bot: Bot, fake: FakeBotAPI) -> None:
    ok = InlineKeyboardMarkup([[InlineKeyboardButton("ok", callback_data="é" * 32)]])
    await bot.send_message(USER, "fits", reply_markup=ok)
    long = InlineKeyboardMarkup([[InlineKeyboardButton("x", callback_data="a" * 65)]])
    with pytest.raises(BadRequest):
        await bot.send_message(USER, "too long", reply_markup=long)
    assert len(fake.spec_errors) == 1 and "BUTTON_DATA_INVALID" in fake.spec_errors[0]
    assert [m.plain for m in fake.messages_to(USER)] == ["fits"]


@pytest.mark.filterwarnings("ignore::telegram.warnings.PTBUserWarning")
async def test_missing_required_and_unknown_parameters(bot: Bot, fake: FakeBotAPI) -> None:
    with pytest.raises(BadRequest, match=r"(?i)required"):
        await bot.do_api_request("sendMessage", {"chat_id": USER})
    with pytest.raises(BadRequest, match=r"(?i)unknown"):
        await bot.send_message(USER, "x", api_kwargs={"colour": "red"})
    assert fake.spec_errors == [
        "sendMessage: text: required parameter is missing",
        "sendMessage: colour: unknown parameter",
    ]


@pytest.mark.filterwarnings("ignore::telegram.warnings.PTBUserWarning")
async def test_unknown_method_is_404(bot: Bot, fake: FakeBotAPI) -> None:
    with pytest.raises(EndPointNotFound):  # PTB turns the 404 into EndPointNotFound
        await bot.do_api_request("sendTelepathy", {"chat_id": USER})
    assert fake.spec_errors == ["sendTelepathy: unknown Bot API method"]


def test_check_call_types() -> None:
    assert (
        check_call("sendMessage", {"chat_id": "12", "text": "hi", "disable_notification": "true"})
        == []
    )
    problems = check_call(
        "sendMessage",
        {
            "chat_id": "12",
            "text": "hi",
            "disable_notification": "yes",
            "reply_markup": '{"inline_keyboard": [[{"text": "x"}]]}',
        },
    )
    assert len(problems) == 2 and "Boolean" in problems[0] and "BUTTON_TYPE_INVALID" in problems[1]
    assert check_call("setMyCommands", {"commands": "[]", "scope": '{"type": "nope"}'})
    assert "expected Integer" in check_call("getUpdates", {"timeout": "0.5"})[0]


def test_html_and_markdown_parsers() -> None:
    assert html_to_plain("<a href='https://e.x/?a=1&amp;b=2'>link</a> &#x27;&#39;") == "link ''"
    parsed = parse_html('<pre><code class="language-python">x = 1</code></pre>')
    assert parsed.entities == [{"type": "pre", "offset": 0, "length": 5, "language": "python"}]
    assert parse_html("<blockquote expandable>q</blockquote>").entities[0]["type"] == (
        "expandable_blockquote"
    )
    assert parse_html('<span class="tg-spoiler">s</span>').entities[0]["type"] == "spoiler"
    with pytest.raises(EntityParseError, match="span"):
        parse_html("<span>s</span>")
    assert parse_markdown_v2(r"*bold* 1\.5 \- ok").plain == "bold 1.5 - ok"
    with pytest.raises(EntityParseError, match="reserved"):
        parse_markdown_v2("1.5")


async def test_get_updates_and_offset(bot: Bot, fake: FakeBotAPI) -> None:
    alice = fake.user(USER, "Alice", username="alice")
    first = alice.send_text("/start referral")
    second = alice.send_text("hello")
    updates = await bot.get_updates()
    assert [u.update_id for u in updates] == [first, second]
    assert updates[0].message.text == "/start referral"
    assert updates[0].message.entities[0].type == "bot_command"
    assert updates[0].message.entities[0].length == len("/start")
    assert updates[1].message.from_user.username == "alice"
    assert [u.update_id for u in await bot.get_updates(offset=second)] == [second]
    assert await bot.get_updates(offset=second + 1) == ()
    await fake.wait_confirmed(second, timeout=0.1)
    assert [u.update_id for u in await bot.get_updates(limit=1)] == []


async def test_handed_update_id_is_the_last_update_given_out(bot: Bot, fake: FakeBotAPI) -> None:
    alice = fake.user(USER)
    assert fake.handed_update_id == 0
    first, second = alice.send_text("one"), alice.send_text("two")
    waiting = asyncio.create_task(fake.wait_handed(second, timeout=2))
    await asyncio.sleep(0.05)
    assert not waiting.done()
    assert [u.update_id for u in await bot.get_updates()] == [first, second]
    await waiting
    assert fake.handed_update_id == second
    assert fake.confirmed_offset <= first  # given out, not acknowledged
    assert await bot.get_updates(offset=second + 1) == ()
    assert fake.handed_update_id == second and fake.confirmed_offset == second + 1


async def test_long_poll_returns_when_update_pushed() -> None:
    async with (
        FakeBotAPI(max_poll_seconds=10) as fake,
        Bot(fake.token, base_url=fake.base_url) as bot,
    ):
        started = time.monotonic()
        poll = asyncio.create_task(bot.get_updates(timeout=8))
        await asyncio.sleep(0.2)
        fake.user(USER).send_text("ping")
        updates = await poll
        assert 0.15 < time.monotonic() - started < 2
        assert updates[0].message.text == "ping"


async def test_press_builds_callback_query(bot: Bot, fake: FakeBotAPI) -> None:
    alice = fake.user(USER, "Alice")
    sent = await bot.send_message(USER, "Choose", reply_markup=keyboard("Bone", "Soft tissue"))
    with pytest.raises(AssertionError, match="cb:Bone"):
        alice.press("Cartilage")
    update_id = alice.press("Soft tissue")
    update = Update.de_json(fake.updates[-1], bot)
    assert update.update_id == update_id
    query = update.callback_query
    assert query.data == "cb:Soft tissue" and query.from_user.id == USER
    assert query.message.message_id == sent.message_id and query.message.text == "Choose"
    assert alice.press("cb:Bone")  # by callback_data too
    await bot.answer_callback_query(query.id, text="Noted")
    with pytest.raises(BadRequest, match="query"):
        await bot.answer_callback_query(query.id)  # twice
    assert alice.callback_answers() == ["Noted"]
    with pytest.raises(BadRequest):
        await bot.answer_callback_query(query.id, text="x" * 201)
    assert len(fake.spec_errors) == 1


async def test_edits_and_delete(bot: Bot, fake: FakeBotAPI) -> None:
    alice = fake.user(USER)
    sent = await bot.send_message(USER, "v1", reply_markup=keyboard("A"))
    await bot.edit_message_text(
        "<b>v2</b>", USER, sent.message_id, parse_mode="HTML", reply_markup=keyboard("B")
    )
    with pytest.raises(BadRequest, match="not modified"):
        await bot.edit_message_text(
            "<b>v2</b>", USER, sent.message_id, parse_mode="HTML", reply_markup=keyboard("B")
        )
    await bot.edit_message_reply_markup(USER, sent.message_id)
    msg = alice.last()
    assert [v.plain for v in msg.history] == ["v1", "v2", "v2"] and msg.buttons == []
    await bot.delete_message(USER, sent.message_id)
    assert alice.messages() == [] and msg.deleted
    with pytest.raises(BadRequest, match="not found"):
        await bot.delete_message(USER, sent.message_id)
    assert fake.spec_errors == []


async def test_reply_to_and_reply_parameters(bot: Bot, fake: FakeBotAPI) -> None:
    alice = fake.user(USER, "Alice")
    question = await bot.send_message(USER, "Your NHS number?", reply_markup=keyboard("Skip"))
    alice.reply_to(question.message_id, "943 476 5919")
    update = Update.de_json(fake.updates[-1], bot)
    assert update.message.reply_to_message.text == "Your NHS number?"
    assert update.message.reply_to_message.from_user.is_bot
    assert update.message.reply_to_message.reply_markup.inline_keyboard[0][0].text == "Skip"
    answer = await bot.send_message(
        USER, "Thanks", reply_parameters=ReplyParameters(update.message.message_id)
    )
    assert answer.reply_to_message.text == "943 476 5919"
    assert alice.last().reply_to_message_id == update.message.message_id
    with pytest.raises(BadRequest, match="replied not found"):
        await bot.send_message(USER, "x", reply_parameters=ReplyParameters(999))


async def test_fail_next_429_raises_retry_after(bot: Bot, fake: FakeBotAPI) -> None:
    fake.fail_next("sendMessage", 429, retry_after=7)
    with pytest.raises(RetryAfter) as info:
        await bot.send_message(USER, "x")
    assert seconds(info.value.retry_after) == 7
    await bot.send_message(USER, "y")
    assert [m.plain for m in fake.messages_to(USER)] == ["y"]


async def test_block_gives_forbidden(bot: Bot, fake: FakeBotAPI) -> None:
    alice = fake.user(USER)
    alice.block_bot()
    with pytest.raises(Forbidden, match="blocked"):
        await bot.send_message(USER, "x")
    assert alice.messages() == [] and fake.spec_errors == []


async def test_flood_limits(bot: Bot, fake: FakeBotAPI) -> None:
    fake.flood_limits(per_chat_per_sec=2)
    results = await asyncio.gather(
        *(bot.send_message(USER, str(i)) for i in range(5)),
        bot.send_message(USER + 1, "other chat"),
        return_exceptions=True,
    )
    errors = [r for r in results if isinstance(r, RetryAfter)]
    assert len(errors) == 3 and seconds(errors[0].retry_after) == 1
    assert len(fake.messages_to(USER)) == 2 and len(fake.messages_to(USER + 1)) == 1


async def test_error_rate_and_timeouts(fake: FakeBotAPI) -> None:
    fake.error_rate(1.0, statuses=(502,))
    request = HTTPXRequest(read_timeout=0.3)
    async with Bot(fake.token, base_url=fake.base_url, request=request) as bot:
        with pytest.raises(NetworkError, match="Bad Gateway"):
            await bot.send_message(USER, "x")
        fake.error_rate(1.0, timeout_share=1.0, hang_seconds=1.0)
        with pytest.raises(TimedOut):
            await bot.send_message(USER, "x")
        fake.clear_failures()
        await bot.send_message(USER, "ok")
    assert [m.plain for m in fake.messages_to(USER)] == ["ok"]


async def test_send_document_multipart(bot: Bot, fake: FakeBotAPI) -> None:
    alice = fake.user(USER)
    content = bytes(range(256)) * 10
    sent = await bot.send_document(
        USER, content, filename="referral.pdf", caption="<b>Referral</b> #12", parse_mode="HTML"
    )
    assert sent.document.file_name == "referral.pdf" and sent.caption == "Referral #12"
    msg = alice.last()
    assert msg.document is not None and msg.document.content == content
    assert msg.kind == "document" and msg.caption == "<b>Referral</b> #12"
    assert "document" in fake.calls_to("sendDocument")[0].files
    file = await bot.get_file(sent.document.file_id)
    assert bytes(await file.download_as_bytearray()) == content
    assert fake.spec_errors == []


async def test_commands_with_chat_scope(bot: Bot, fake: FakeBotAPI) -> None:
    commands = [BotCommand("start", "Start a referral"), BotCommand("help", "Help")]
    await bot.set_my_commands(commands, scope=BotCommandScopeChat(USER))
    assert [c["command"] for c in fake.commands_for({"type": "chat", "chat_id": USER})] == [
        "start",
        "help",
    ]
    assert await bot.get_my_commands(scope=BotCommandScopeChat(USER)) == tuple(commands)
    assert await bot.get_my_commands() == ()
    await bot.delete_my_commands(scope=BotCommandScopeChat(USER))
    with pytest.raises(BadRequest):
        await bot.set_my_commands([BotCommand("Start", "bad name")])
    assert fake.spec_errors == [
        "setMyCommands: commands[0].command: BOT_COMMAND_INVALID: 'Start' (1-32 chars of a-z, "
        "0-9 and _)"
    ]


async def test_user_update_kinds_parse(bot: Bot, fake: FakeBotAPI) -> None:
    alice = fake.user(USER, "Alice")
    group = fake.group()
    own = alice.send_text("typo")
    alice.send_photo()
    alice.send_sticker()
    alice.send_voice()
    alice.send_document("scan.pdf", b"%PDF-1.4")
    alice.send_contact("+447700900123")
    alice.send_location(51.5, -0.12)
    alice.forward_text("from a colleague", 2002)
    alice.edit_text(fake.updates[own - 1]["message"]["message_id"], "fixed")
    group.send_text(alice, "/help@sarcoma_test_bot")
    fake.channel_post(-1009999999999, "news")
    fake.added_to_group(-1001111111111, alice)
    updates = await bot.get_updates()
    kinds = [
        u.effective_message.effective_attachment.__class__.__name__
        if u.effective_message and u.effective_message.effective_attachment
        else (u.edited_message and "edited")
        or (u.my_chat_member and "member")
        or (u.channel_post and "channel")
        or "text"
        for u in updates
    ]
    assert kinds == [
        "text",
        "tuple",
        "Sticker",
        "Voice",
        "Document",
        "Contact",
        "Location",
        "text",
        "edited",
        "text",
        "channel",
        "member",
    ]
    assert updates[7].message.forward_origin.sender_user.id == 2002
    assert updates[9].message.chat.type == "supergroup"
    assert updates[9].message.entities[0].length == len("/help@sarcoma_test_bot")


async def test_application_end_to_end(fake: FakeBotAPI) -> None:
    async def start(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        assert update.effective_chat is not None
        await context.bot.send_message(
            update.effective_chat.id, "Welcome", reply_markup=keyboard("Refer")
        )

    async def pressed(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        assert update.callback_query is not None
        await update.callback_query.answer("OK")
        await update.callback_query.edit_message_text(f"You chose {update.callback_query.data}")

    app = (
        Application.builder()
        .token(fake.token)
        .base_url(fake.base_url)
        .base_file_url(fake.base_file_url)
        .build()
    )
    app.add_handler(CommandHandler("start", start))
    app.add_handler(CallbackQueryHandler(pressed))
    alice = fake.user(USER, "Alice")
    async with app:
        await app.start()
        assert app.updater is not None
        await app.updater.start_polling(timeout=5, allowed_updates=Update.ALL_TYPES)
        alice.send_text("/start")
        await alice.wait_messages(1)
        pressed_id = alice.press("Refer")
        await fake.wait_for(lambda: alice.last().plain == "You chose cb:Refer")
        await fake.wait_confirmed(pressed_id)
        await app.updater.stop()
        await app.stop()
    assert alice.callback_answers() == ["OK"] and alice.buttons() == []
    assert fake.spec_errors == []


# ------------------------------------------------------------------------------- files
def image(width: int = 640, height: int = 480, kind: str = "JPEG") -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), (200, 30, 30)).save(out, kind)
    return out.getvalue()


async def test_get_file_refuses_over_20_mb_and_forgotten_files(bot: Bot, fake: FakeBotAPI) -> None:
    alice = fake.user(USER, "Alice")
    alice.send_document("huge scan.pdf", b"%PDF-1.4 huge", size=20 * 1024 * 1024 + 1)
    alice.send_document("MRI report.pdf", b"%PDF-1.4 report")
    big, small = (u.message.document for u in await bot.get_updates())
    assert big.file_size == 20 * 1024 * 1024 + 1 and big.mime_type == "application/pdf"
    with pytest.raises(BadRequest, match=r"(?i)file is too big"):
        await bot.get_file(big.file_id)
    file = await bot.get_file(small.file_id)
    assert file.file_size == len(b"%PDF-1.4 report") and file.file_path.endswith(".pdf")
    assert bytes(await file.download_as_bytearray()) == b"%PDF-1.4 report"
    fake.forget_file(small.file_id)
    with pytest.raises(BadRequest, match=r"(?i)invalid file_id"):
        await bot.get_file(small.file_id)
    async with httpx.AsyncClient() as client:
        gone = await client.get(file.file_path)  # PTB makes file_path the download URL
    assert gone.status_code == 404
    assert [status for _, status in fake.downloads] == [200, 404]
    assert fake.spec_errors == []


async def test_download_failures_and_token_check(bot: Bot, fake: FakeBotAPI) -> None:
    alice = fake.user(USER)
    alice.send_document("scan.pdf", b"%PDF-1.4 scan")
    (update,) = await bot.get_updates()
    url = (await bot.get_file(update.message.document.file_id)).file_path
    path = fake.files[update.message.document.file_id][0]
    assert url == f"{fake.base_file_url}{fake.token}/{path}" and path.endswith(".pdf")
    fake.fail_downloads(2, 503)
    async with httpx.AsyncClient() as client:
        statuses = [(await client.get(url)).status_code for _ in range(3)]
        assert statuses == [503, 503, 200]
        assert (await client.get(url)).content == b"%PDF-1.4 scan"
        wrong = f"{fake.base_file_url}123456:WRONG/{path}"
        assert (await client.get(wrong)).status_code == 404
        fake.fail_downloads(1)
        assert (await client.get(url)).status_code == 502
    assert fake.downloads[-1] == (path, 502)


async def test_hold_downloads_until_released(bot: Bot, fake: FakeBotAPI) -> None:
    alice = fake.user(USER)
    alice.send_document("scan.pdf", b"%PDF-1.4 scan")
    (update,) = await bot.get_updates()
    assert update.message is not None and update.message.document is not None
    file = await bot.get_file(update.message.document.file_id)
    url = file.file_path  # PTB makes file_path the download URL
    assert url is not None
    held = fake.hold_downloads()
    download = asyncio.create_task(file.download_as_bytearray())
    await asyncio.wait_for(held.started.wait(), 2)
    await asyncio.sleep(0.1)
    assert not download.done() and fake.downloads == [] and held.held == 1
    held.release()
    assert bytes(await download) == b"%PDF-1.4 scan"
    async with httpx.AsyncClient() as client:
        assert (await client.get(url)).content == b"%PDF-1.4 scan"  # not held
        fake.hold_downloads(timeout=0.1)  # lets go by itself after the timeout
        assert (await client.get(url)).status_code == 200
    assert held.held == 1 and [status for _, status in fake.downloads] == [200, 200, 200]


async def test_send_photo_upload_and_again_by_file_id(bot: Bot, fake: FakeBotAPI) -> None:
    alice = fake.user(USER)
    jpeg = image(640, 480)
    sent = await bot.send_photo(USER, jpeg, caption="<b>MRI</b>", parse_mode="HTML")
    largest = sent.photo[-1]
    assert (largest.width, largest.height, largest.file_size) == (640, 480, len(jpeg))
    assert sent.photo[0].width == 90 and sent.photo[0].file_id != largest.file_id
    assert (
        sent.caption == "MRI"
        and spec.check_object(fake.calls[-1].response["result"], "Message") == []
    )
    msg = alice.last()
    assert msg.kind == "photo" and msg.document is None and msg.caption == "<b>MRI</b>"
    assert msg.photo is not None and msg.photo.content == jpeg and msg.file is msg.photo
    file = await bot.get_file(largest.file_id)
    assert bytes(await file.download_as_bytearray()) == jpeg
    again = await bot.send_photo(USER, largest.file_id, protect_content=True)
    assert again.photo[-1].file_id == largest.file_id and again.has_protected_content
    assert alice.last().photo.content == jpeg and alice.last().protect_content  # type: ignore[union-attr]
    png = await bot.send_photo(USER, image(300, 200, "PNG"))
    assert (png.photo[-1].width, png.photo[-1].height) == (300, 200)
    with pytest.raises(BadRequest, match=r"(?i)type of file mismatch"):
        await bot.send_document(USER, largest.file_id)
    assert fake.spec_errors == []


@pytest.mark.parametrize(
    ("content", "error"),
    [
        (b"%PDF-1.4 not a photo", "IMAGE_PROCESS_FAILED"),
        (b"\xff\xd8photo", "IMAGE_PROCESS_FAILED"),  # a JPEG's first bytes only
        (image(100, 2100), "PHOTO_INVALID_DIMENSIONS"),  # ratio over 20
        (b"\xff\xd8" + b"\0" * (10 * 1024 * 1024), "PHOTO_SAVE_FILE_INVALID"),  # over 10 MB
    ],
)
async def test_send_photo_refuses_what_telegram_refuses(
    bot: Bot, fake: FakeBotAPI, content: bytes, error: str
) -> None:
    with pytest.raises(BadRequest, match=f"(?i){error}"):
        await bot.send_photo(USER, content)
    assert fake.sent == {} and fake.spec_errors == []


async def test_send_document_by_file_id_and_expired_ids(bot: Bot, fake: FakeBotAPI) -> None:
    alice = fake.user(USER)
    alice.send_document("histology.pdf", b"%PDF-1.4 histology", caption="C-1")
    (update,) = await bot.get_updates()
    received = update.message.document
    sent = await bot.send_document(USER, received.file_id, caption="Forwarded")
    assert sent.document.file_id == received.file_id
    assert sent.document.file_name == "histology.pdf" and sent.document.file_size == 18
    doc = alice.last().document
    assert doc is not None and doc.content == b"%PDF-1.4 histology"
    assert doc.mime_type == "application/pdf" and alice.last().caption == "Forwarded"
    with pytest.raises(BadRequest, match=r"(?i)wrong file identifier/HTTP URL specified"):
        await bot.send_document(USER, "NOSUCHFILE")
    uploaded = await bot.send_document(USER, b"%PDF-1.4 letter", filename="letter.pdf")
    fake.expire_file_ids()
    for old in (received.file_id, uploaded.document.file_id):
        with pytest.raises(BadRequest, match=r"(?i)wrong file identifier"):
            await bot.send_document(USER, old)
    assert (await bot.get_file(received.file_id)).file_size == 18  # downloads still work
    fresh = await bot.send_document(USER, b"%PDF-1.4 again", filename="letter.pdf")
    await bot.send_document(USER, fresh.document.file_id)
    assert [m.document.file_name for m in alice.messages() if m.document] == [
        "histology.pdf",
        "letter.pdf",
        "letter.pdf",
        "letter.pdf",
    ]
    assert fake.spec_errors == []


async def test_user_files_replies_and_albums(bot: Bot, fake: FakeBotAPI) -> None:
    alice = fake.user(USER, "Alice")
    question = await bot.send_message(USER, "Please send the MRI report")
    alice.send_document("mri.pdf", b"%PDF-1.4 mri", reply_to=question.message_id)
    alice.send_photo(caption="scan", content=b"jpeg", width=1280, height=960, size=3_000_000)
    album = alice.send_album(
        [
            {"name": "a.pdf", "content": b"%PDF-1.4 a", "caption": "two letters"},
            {"name": "b.png", "content": b"\x89PNG b"},
        ]
    )
    photos = alice.send_album([{"content": b"p1"}, {"content": b"p2", "reply_to": 1}])
    assert album == [3, 4] and photos == [5, 6]
    for raw in fake.updates:
        assert spec.check_object(raw, "Update") == [], raw
    updates = [u.message for u in await bot.get_updates()]
    assert updates[0].reply_to_message.text == "Please send the MRI report"
    assert updates[0].document.mime_type == "application/pdf"
    photo = updates[1].photo
    assert (photo[-1].width, photo[-1].file_size, photo[0].width) == (1280, 3_000_000, 90)
    largest = await bot.get_file(photo[-1].file_id)
    assert bytes(await largest.download_as_bytearray()) == b"jpeg"
    groups = {m.media_group_id for m in updates[2:4]} | {m.media_group_id for m in updates[4:]}
    assert len(groups) == 2 and None not in groups
    assert updates[3].document.mime_type == "image/png" and updates[2].caption == "two letters"
    assert updates[5].reply_to_message.message_id == 1
    with pytest.raises(AssertionError, match="all documents or all photos"):
        alice.send_album([{"name": "a.pdf", "content": b"x"}, {"content": b"y"}])
    with pytest.raises(AssertionError, match="2-10 items"):
        alice.send_album([{"content": b"y"}] * 11)
    with pytest.raises(AssertionError, match="no message #99"):
        alice.send_photo(reply_to=99)


@pytest.mark.filterwarnings("ignore::telegram.warnings.PTBUserWarning")
async def test_send_photo_is_checked_against_the_spec(bot: Bot, fake: FakeBotAPI) -> None:
    assert check_call("sendPhoto", {"chat_id": "1", "photo": "FILE1", "caption": "x"}) == []
    with pytest.raises(BadRequest, match=r"(?i)caption is too long"):
        await bot.send_photo(USER, image(), caption="x" * 1025)
    with pytest.raises(BadRequest, match=r"(?i)required"):
        await bot.do_api_request("sendPhoto", {"chat_id": USER})
    assert fake.spec_errors[0].startswith("sendPhoto: caption")
    assert fake.spec_errors[1] == "sendPhoto: photo: required parameter is missing"
    assert spec.check_object({"message_id": 1}, "Message") != []
