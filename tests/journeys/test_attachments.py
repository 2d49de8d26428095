"""Files on a case, through the real Application and the HTTP fake of the Bot API: the
files step of /refer, /attach, a file as a Telegram reply, a clinician's annotated image,
/case listing and sending again, and every bad input the issue lists."""

from __future__ import annotations

import asyncio
import io
import logging
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from PIL import Image
from pypdf import PdfReader

from services import attachments as attachment_rules
from services.attachment_check import MB
from storage.crypto import Keyring
from storage.models import Attachment
from storage.uow import Database
from tests.fakes import FakeUser, SentMessage
from tests.journeys.conftest import Harness
from tests.journeys.test_cases import (
    JONES,
    KHAN,
    NHS,
    OTHER_REFERRER,
    PATEL,
    _directory,
    _referrer,
)
from tests.journeys.test_registration import REFERRER, press, say
from tests.test_attachment_check import add_script, gps_exif, image_bytes, pdf_bytes, zip_bytes

REFERRER_NAME = "Dr Seán O'Brien & <Partner>"


def jpeg(colour: str = "red", size: tuple[int, int] = (64, 48), **kw: Any) -> bytes:
    image = Image.new("RGB", size, colour)
    out = io.BytesIO()
    image.save(out, "JPEG", **kw)
    return out.getvalue()


def png_with_gps() -> bytes:
    return image_bytes("PNG", exif=gps_exif("GPS-MARKER-PNG"))


async def _open_case(h: Harness, user: FakeUser) -> SentMessage:
    """A referral up to its files step; returns the prompt (No files / Done)."""
    await say(h, user, "/refer")
    await say(h, user, NHS)
    await say(h, user, "04/05/1970")
    await press(h, user, "Soft tissue")
    await say(h, user, "Left thigh")
    await say(h, user, "Deep thigh mass, MRI done. Biopsy locally?")
    await press(h, user, "Urgent")
    await press(h, user, "Confirm")
    return user.last()


async def _world(h: Harness) -> tuple[FakeUser, FakeUser, FakeUser, FakeUser]:
    """Directory, an approved referrer, and a case C-1 whose named clinician is Jones."""
    await _directory(h)
    await _referrer(h)
    user, jones, patel, khan = (h.fake.user(t) for t in (REFERRER, JONES, PATEL, KHAN))
    return user, jones, patel, khan


async def _case_opened(h: Harness, user: FakeUser) -> None:
    prompt = await _open_case(h, user)
    assert "Send any imaging reports" in (prompt.plain or "")
    await press(h, user, "No files")
    await _named_is_jones(h)


async def _named_is_jones(h: Harness) -> None:
    async with h.db.uow() as uow:
        case = await uow.cases.get(1)
        assert case is not None
        jones = await uow.people.by_telegram_id(JONES)
        patel = await uow.people.by_telegram_id(PATEL)
        assert jones and patel
        case.named_clinician_id, case.deputy_id = jones.id, patel.id
        await uow.commit()


async def _rows(h: Harness) -> list[Attachment]:
    async with h.db.uow() as uow:
        return list(await uow.attachments.of_case(1))


async def _content(h: Harness, attachment: Attachment) -> bytes:
    async with h.db.uow() as uow:
        content = await uow.attachments.content(attachment)
        assert content is not None
        return content


def _files_to(user: FakeUser) -> list[SentMessage]:
    return [m for m in user.messages() if m.kind in ("document", "photo")]


async def _sent(h: Harness, update_id: int) -> None:
    await h.handled(update_id)


async def _case_message(user: FakeUser) -> int:
    """A message about C-1 in this user's chat, to reply to."""
    return next(m.message_id for m in reversed(user.messages()) if "C-1" in (m.plain or ""))


# --- the whole journey ---------------------------------------------------------------


async def test_refer_with_two_files_reply_with_an_image_and_case_lists_all_three(
    bot: Harness,
) -> None:
    user, jones, patel, khan = await _world(bot)
    prompt = await _open_case(bot, user)
    assert user.buttons(prompt) == ["No files"]
    await _named_is_jones(bot)
    report = pdf_bytes(pages=2)
    await _sent(bot, user.send_document("mri_report.pdf", report, caption="MRI report <3 & co"))
    told = user.last().plain or ""
    assert "C-1: 1 file attached (1 PDF)" in told and "Dr Alice Jones" in told
    await _sent(bot, user.send_document("lesion.png", png_with_gps(), caption="The lesion"))
    assert "C-1: 1 file attached (1 photo)" in (user.last().plain or "")
    assert user.buttons() == ["Done"]
    await press(bot, user, "Done")
    assert "/attach C-1" in (user.last().plain or "")

    # The named clinician has both, protected, captioned with the case and the sender.
    received = _files_to(jones)
    assert [m.kind for m in received] == ["document", "photo"]
    assert all(m.protect_content for m in received)
    assert received[0].document is not None and received[0].document.content == report
    assert "C-1" in (received[0].plain or "") and f"from {REFERRER_NAME} (referrer)" in (
        received[0].plain or ""
    )
    assert "MRI report <3 & co" in (received[0].plain or "")
    photo = received[1].file
    assert photo is not None and photo.content is not None
    with Image.open(io.BytesIO(photo.content)) as image:
        assert image.format == "PNG" and not image.getexif().get_ifd(0x8825)
    assert b"GPS-MARKER-PNG" not in photo.content
    # The deputy (named clinician not away) and the link clinician get no files; the link
    # clinician gets a line per file.
    assert _files_to(patel) == [] and _files_to(khan) == []
    lines = [t for t in khan.texts() if "added" in t]
    assert len(lines) == 2 and "1 file (1 PDF)" in lines[0]

    # A question, and the clinician answers it with an annotated image as a Telegram reply.
    await say(bot, user, "/ask C-1")
    await say(bot, user, "Is the MRI enough to biopsy locally?")
    query_message = next(
        m for m in reversed(jones.messages()) if "Q-1" in (m.plain or "") and m.kind == "text"
    )
    annotated = jpeg("blue", (120, 90))
    await _sent(
        bot,
        jones.send_photo(
            caption="Arrow: the lesion",
            content=annotated,
            reply_to=query_message.message_id,
            width=120,
            height=90,
        ),
    )
    assert "C-1: 1 file attached (1 photo)" in (jones.last().plain or "")
    from_jones = _files_to(user)
    assert len(from_jones) == 1 and from_jones[0].kind == "photo"
    assert from_jones[0].protect_content
    caption = from_jones[0].plain or ""
    assert "C-1 · Q-1" in caption and "Dr Alice Jones (named clinician)" in caption
    # A link clinician's line for the answer to the referrer's query too.
    assert len([t for t in khan.texts() if "added" in t]) == 3

    # /case lists all three, with a button per file that sends it again.
    view = await say(bot, user, "/case C-1")
    assert "Files" in view
    assert "1. PDF, 2 pages" in view and f"{REFERRER_NAME}" in view
    assert "2. PNG image, 40×30" in view and "3. JPEG photo, 120×90" in view
    assert user.buttons() == ["Send file 1", "Send file 2", "Send file 3"]
    uploads = len(bot.fake.calls_to("sendDocument"))
    await press(bot, user, "Send file 1")
    await bot.runtime.drained()  # type: ignore[union-attr]
    again = _files_to(user)[-1]
    assert again.kind == "document" and again.protect_content
    assert again.document is not None and again.document.content == report
    last_call = bot.fake.calls_to("sendDocument")[-1]
    assert len(bot.fake.calls_to("sendDocument")) == uploads + 1
    assert isinstance(last_call.params.get("document"), str)  # by file_id, not uploaded

    # The link clinician sees the list, not the buttons; a forged button press is refused.
    khan_view = await say(bot, khan, "/case C-1")
    assert "1. PDF, 2 pages" in khan_view and khan.buttons() == []
    rows = await _rows(bot)
    await bot.handled(khan.press_data(f"att:{rows[0].id}", khan.last().message_id))
    assert "cannot be sent to you" in (khan.callback_answers()[-1] or "")
    assert _files_to(khan) == []

    # Resolved: the advice summary (text and PDF) lists the file sent on the query.
    await press(bot, jones, "Resolve")
    await bot.runtime.drained()  # type: ignore[union-attr]
    advice = next(t for t in reversed(user.texts()) if "Advice summary —" in t)
    assert "Files:" in advice and "JPEG photo, 120×90" in advice and "Dr Alice Jones" in advice
    summary_pdf = _files_to(user)[-1]
    assert summary_pdf.document is not None and summary_pdf.document.content is not None
    pdf_text = "".join(
        p.extract_text() for p in PdfReader(io.BytesIO(summary_pdf.document.content)).pages
    )
    assert "JPEG photo, 120×90" in pdf_text


async def test_a_file_id_telegram_no_longer_takes_is_uploaded_again(bot: Harness) -> None:
    user, jones, _, _ = await _world(bot)
    await _case_opened(bot, user)
    replied = await _case_message(user)
    await _sent(bot, user.send_document("report.pdf", pdf_bytes(), reply_to=replied))
    assert "1 file attached" in (user.last().plain or "")
    bot.fake.expire_file_ids()
    await say(bot, jones, "/case C-1")
    await press(bot, jones, "Send file 1")
    await bot.runtime.drained()  # type: ignore[union-attr]
    calls = bot.fake.calls_to("sendDocument")
    refused, uploaded = calls[-2], calls[-1]
    assert not refused.ok and isinstance(refused.params.get("document"), str)
    assert "wrong file identifier" in (refused.description or "")
    assert uploaded.ok and "document" in uploaded.files
    assert len(_files_to(jones)) == 2
    rows = await _rows(bot)
    assert rows[0].telegram_file_id is not None


# --- bad input, each through the real Application --------------------------------------


async def _ready(bot: Harness) -> tuple[FakeUser, FakeUser, FakeUser, int]:
    """C-1 open with Jones named; returns referrer, Jones, Khan and a C-1 message id."""
    user, jones, _, khan = await _world(bot)
    await _case_opened(bot, user)
    return user, jones, khan, await _case_message(user)


async def _nothing_stored(bot: Harness, jones: FakeUser) -> None:
    assert await _rows(bot) == []
    await bot.runtime.drained()  # type: ignore[union-attr]
    assert _files_to(jones) == []


async def test_a_25_mb_pdf_is_refused_before_it_is_downloaded(bot: Harness) -> None:
    user, jones, _, replied = await _ready(bot)
    big = 25 * MB
    await _sent(bot, user.send_document("big.pdf", b"%PDF-1.7 x", size=big, reply_to=replied))
    told = user.last().plain or ""
    assert "not attached" in told and "25 MB" in told and "limit is 20 MB" in told
    assert bot.fake.calls_to("getFile") == []
    await _nothing_stored(bot, jones)


@pytest.mark.parametrize(
    ("name", "content", "words"),
    [
        ("scan.pdf", zip_bytes({"scan.pdf": b"%PDF-1.7"}), "archive"),
        ("letter.pdf", pdf_bytes(build=lambda w: w.encrypt("pw")), "password-protected"),
        ("form.pdf", pdf_bytes(build=add_script), "JavaScript"),
        ("setup.pdf", b"MZ\x90\x00\x03" + bytes(200), "program"),
    ],
    ids=["zip-named-pdf", "encrypted-pdf", "pdf-with-javascript", "executable"],
)
async def test_files_that_are_not_what_they_claim_are_refused(
    bot: Harness, name: str, content: bytes, words: str
) -> None:
    user, jones, _, replied = await _ready(bot)
    await _sent(bot, user.send_document(name, content, "application/pdf", reply_to=replied))
    told = user.last().plain or ""
    assert "not attached" in told and words in told
    assert "PDF" in told and ("send" in told or "I can take" in told)  # what instead
    await _nothing_stored(bot, jones)


async def test_a_jpeg_with_bytes_appended_is_stored_without_them(bot: Harness) -> None:
    user, jones, _, replied = await _ready(bot)
    tail = b"APPENDED-SECRET-PAYLOAD" * 10
    await _sent(bot, user.send_photo(content=jpeg() + tail, reply_to=replied, width=64, height=48))
    assert "1 file attached (1 photo)" in (user.last().plain or "")
    (row,) = await _rows(bot)
    stored = await _content(bot, row)
    assert tail not in stored and stored.startswith(b"\xff\xd8") and stored.endswith(b"\xff\xd9")
    await bot.runtime.drained()  # type: ignore[union-attr]
    (received,) = _files_to(jones)
    assert received.file is not None and received.file.content == stored


async def test_a_voice_note_not_about_a_case_says_where_files_go(bot: Harness) -> None:
    user, jones, _, _ = await _ready(bot)
    await _sent(bot, user.send_voice())
    assert "PDF, JPEG or PNG" in (user.last().plain or "") and "/attach" in (
        user.last().plain or ""
    )
    await _nothing_stored(bot, jones)


async def test_a_voice_note_in_attach_is_refused(bot: Harness) -> None:
    user, jones, _, _ = await _ready(bot)
    await say(bot, user, "/attach C-1")
    await _sent(bot, user.send_voice())
    told = user.last().plain or ""
    assert "Voice notes and audio are not accepted" in told and "PDF, JPEG or PNG" in told
    await _nothing_stored(bot, jones)


async def test_a_file_from_a_stranger_is_not_taken(bot: Harness) -> None:
    _, jones, _, _ = await _ready(bot)
    stranger = bot.fake.user(9_100_999)
    await _sent(bot, stranger.send_document("report.pdf", pdf_bytes()))
    told = stranger.last().plain or ""
    assert "C-1" not in told and "attached" not in told
    await say(bot, stranger, "/attach C-1")
    assert "attached" not in (stranger.last().plain or "")
    assert bot.fake.calls_to("getFile") == []
    await _nothing_stored(bot, jones)


async def test_a_file_replying_to_a_case_one_is_no_longer_on_is_refused(bot: Harness) -> None:
    _, jones, _, _ = await _ready(bot)
    old_message = await _case_message(jones)
    async with bot.db.uow() as uow:  # reallocated: Jones is off the case
        case = await uow.cases.get(1)
        bone = await uow.people.by_directory_id("dr-bone")
        patel = await uow.people.by_telegram_id(PATEL)
        assert case and bone and patel
        case.named_clinician_id, case.deputy_id = bone.id, patel.id
        await uow.commit()
    await _sent(bot, jones.send_document("note.pdf", pdf_bytes(), reply_to=old_message))
    assert "There is no case C-1 that you can see" in (jones.last().plain or "")
    assert bot.fake.calls_to("getFile") == []
    assert await _rows(bot) == []


async def test_a_file_to_a_closed_case_is_refused(bot: Harness) -> None:
    user, jones, _, replied = await _ready(bot)
    async with bot.db.uow() as uow:
        case = await uow.cases.get(1)
        assert case is not None
        case.status = "closed"
        await uow.commit()
    await _sent(bot, user.send_document("late.pdf", pdf_bytes(), reply_to=replied))
    assert "C-1 is closed, so files can no longer be added" in (user.last().plain or "")
    await say(bot, user, "/attach C-1")
    assert "C-1 is closed" in (user.last().plain or "")
    await _nothing_stored(bot, jones)


async def test_an_album_of_ten_photos_is_one_action(bot: Harness) -> None:
    user, jones, khan, _ = await _ready(bot)
    await say(bot, user, "/attach C-1")
    before_user, before_khan = len(user.messages()), len(khan.messages())
    colours = [
        "red",
        "green",
        "blue",
        "white",
        "black",
        "yellow",
        "cyan",
        "magenta",
        "grey",
        "navy",
    ]
    ids = user.send_album([{"content": jpeg(c), "width": 64, "height": 48} for c in colours])
    for update_id in ids:
        await bot.handled(update_id)
    assert len(await _rows(bot)) == 10
    assert len(user.messages()) == before_user  # the notice waits for the rest of the album
    bot.clock.advance(timedelta(seconds=3))
    bot.runtime.dispatcher.wake()  # type: ignore[union-attr]
    await bot.runtime.drained()  # type: ignore[union-attr]
    notices = user.messages()[before_user:]
    assert len(notices) == 1, [m.plain for m in notices]
    assert "C-1: 10 files attached (10 photos)" in (notices[0].plain or "")
    assert len(_files_to(jones)) == 10
    lines = [m.plain or "" for m in khan.messages()[before_khan:]]
    assert len(lines) == 1 and "10 files (10 photos)" in lines[0]


async def test_the_31st_file_is_refused(bot: Harness) -> None:
    user, _, _, replied = await _ready(bot)
    async with bot.db.uow() as uow:
        case = await uow.cases.get(1)
        assert case is not None
        for n in range(30):
            await uow.attachments.add(
                case_id=1,
                uploaded_by_id=case.referrer_id,
                kind="pdf",
                content=b"%%PDF-1.7 %d" % n,
                now=bot.clock.now(),
            )
        await uow.commit()
    await _sent(bot, user.send_document("one-more.pdf", pdf_bytes(), reply_to=replied))
    told = user.last().plain or ""
    assert "C-1 already has 30 files, the most a case can hold" in told
    assert bot.fake.calls_to("getFile") == []
    assert len(await _rows(bot)) == 30


async def test_the_same_file_twice_is_stored_once(bot: Harness) -> None:
    user, jones, _, replied = await _ready(bot)
    report = pdf_bytes(pages=3)
    await _sent(bot, user.send_document("a.pdf", report, reply_to=replied))
    await _sent(bot, user.send_document("copy of a.pdf", report, reply_to=replied))
    assert "already on the case, so not stored again" in (user.last().plain or "")
    assert len(await _rows(bot)) == 1
    await bot.runtime.drained()  # type: ignore[union-attr]
    assert len(_files_to(jones)) == 1


async def test_a_download_failing_with_5xx_is_retried(bot: Harness) -> None:
    user, _, _, replied = await _ready(bot)
    bot.fake.fail_downloads(2, 502)
    await _sent(bot, user.send_document("a.pdf", pdf_bytes(), reply_to=replied))
    assert "1 file attached" in (user.last().plain or "")
    assert [status for _, status in bot.fake.downloads] == [502, 502, 200]
    assert len(await _rows(bot)) == 1


async def test_a_download_that_keeps_failing_stores_nothing(bot: Harness) -> None:
    user, jones, _, replied = await _ready(bot)
    bot.fake.fail_downloads(10, 503)
    await _sent(bot, user.send_document("a.pdf", pdf_bytes(), reply_to=replied))
    assert "could not fetch that file from Telegram" in (user.last().plain or "")
    assert len(bot.fake.downloads) == 4  # DOWNLOAD_ATTEMPTS
    await _nothing_stored(bot, jones)
    bot.fake.clear_failures()


async def test_a_file_telegram_refuses_to_hand_over_stores_nothing(bot: Harness) -> None:
    user, jones, _, replied = await _ready(bot)
    update = user.send_document("a.pdf", pdf_bytes(), reply_to=replied)
    bot.fake.forget_file(list(bot.fake.files)[-1])  # the file just sent
    await _sent(bot, update)
    assert "Telegram would not hand that file over" in (user.last().plain or "")
    await _nothing_stored(bot, jones)


async def test_a_restart_between_download_and_storing_loses_nothing_and_stores_once(
    bot: Harness, monkeypatch: pytest.MonkeyPatch, keyring: Keyring, database_url: dict
) -> None:
    user, jones, _, replied = await _ready(bot)
    downloaded = asyncio.Event()
    real_attach = attachment_rules.attach

    async def stuck(*args: Any, **kwargs: Any) -> Any:
        downloaded.set()
        await asyncio.Event().wait()  # the process dies here, after the download

    monkeypatch.setattr(attachment_rules, "attach", stuck)
    update = user.send_document("a.pdf", pdf_bytes(), caption="restart", reply_to=replied)
    await asyncio.wait_for(downloaded.wait(), 10)
    await bot.stop()
    outside = Database(database_url["url"], keyring, **database_url["engine_kwargs"])
    async with outside.uow() as uow:
        assert await uow.attachments.count_of_case(1) == 0  # nothing half-stored
        waiting = [u.update_id for u in await uow.inbound.pending()]
        assert update in waiting  # the update waits to be handled again
    await outside.dispose()
    monkeypatch.setattr(attachment_rules, "attach", real_attach)
    await bot.start()
    await bot.handled(update)
    assert len(await _rows(bot)) == 1
    assert "1 file attached" in (user.last().plain or "")
    await bot.runtime.drained()  # type: ignore[union-attr]
    assert len(_files_to(jones)) == 1


# --- canary: a file's contents never in clear at rest or in the logs --------------------

PDF_CANARY = "CANARYpdf5d1c0a77"
IMAGE_CANARY = "CANARYpng91be3f02"
CAPTION_CANARY = "CANARYcaption0c4e"


def _canary_pdf() -> bytes:
    def title(writer: Any) -> None:
        writer.add_metadata({"/Title": PDF_CANARY, "/Subject": PDF_CANARY})

    data = pdf_bytes(pages=1, build=title)
    assert PDF_CANARY.encode() in data  # in clear in the file as sent
    return data


def _canary_png() -> bytes:
    from PIL import PngImagePlugin

    info = PngImagePlugin.PngInfo()
    info.add_text("Comment", IMAGE_CANARY)
    data = image_bytes("PNG", pnginfo=info, exif=gps_exif(IMAGE_CANARY))
    assert IMAGE_CANARY.encode() in data
    return data


def _pg_dump(database_url: dict) -> bytes:
    import shutil
    import subprocess
    from urllib.parse import urlsplit

    pg_dump = shutil.which("pg_dump")
    if pg_dump is None:
        pytest.fail("pg_dump is needed to check a PostgreSQL dump")
    url = urlsplit(database_url["url"].replace("+asyncpg", ""))
    out = subprocess.run(
        [
            pg_dump,
            "-h",
            url.hostname or "127.0.0.1",
            "-p",
            str(url.port or 5432),
            "-U",
            url.username or "postgres",
            "-n",
            database_url["schema"],
            (url.path or "/test").lstrip("/"),
        ],
        capture_output=True,
        check=True,
        timeout=120,
    )
    return out.stdout


async def test_file_contents_never_appear_in_clear_in_the_database_or_the_logs(
    bot: Harness, caplog: pytest.LogCaptureFixture, database_url: dict
) -> None:
    from bot.logs import setup_logging

    pdf, png = _canary_pdf(), _canary_png()  # made before the capture: Pillow logs its saves
    setup_logging("DEBUG")
    caplog.set_level(logging.DEBUG)
    try:
        user, jones, _, replied = await _ready(bot)
        await _sent(
            bot, user.send_document("report.pdf", pdf, caption=CAPTION_CANARY, reply_to=replied)
        )
        await _sent(bot, user.send_document("photo.png", png, reply_to=replied))
        assert len(await _rows(bot)) == 2
        await say(bot, jones, "/case C-1")
        await press(bot, jones, "Send file 1")
        await bot.runtime.drained()  # type: ignore[union-attr]
        # What is stored keeps the PDF whole (so the check below could fail) ...
        rows = await _rows(bot)
        assert PDF_CANARY.encode() in await _content(bot, rows[0])
        assert IMAGE_CANARY.encode() not in await _content(bot, rows[1])  # cleaned away
        assert rows[0].caption == CAPTION_CANARY
        await bot.stop()
        # ... and at rest it is only ciphertext.
        if database_url.get("schema"):
            raw = _pg_dump(database_url)
            assert b"CREATE TABLE" in raw and b"attachments" in raw
        else:
            folder = Path(database_url["url"].split("///", 1)[1]).parent
            raw = b"".join(p.read_bytes() for p in folder.iterdir() if p.name.startswith("test.db"))
            assert len(raw) > len(pdf)
        logged = "\n".join(r.getMessage() for r in caplog.records)
        assert "bot stopped" in logged  # the capture works
        for secret in (PDF_CANARY, IMAGE_CANARY, CAPTION_CANARY):
            for form in (secret.encode(), secret.encode("utf-16-le")):
                assert form not in raw, secret
            assert secret not in logged, secret
        for name in ("report.pdf", "photo.png"):
            assert name not in logged
    finally:
        setup_logging("INFO")


# --- the other ways in ---------------------------------------------------------------


async def test_attach_without_a_case_offers_the_open_cases(bot: Harness) -> None:
    user, jones, _, _ = await _ready(bot)
    await say(bot, user, "/attach")
    (button,) = user.buttons()
    assert button.startswith("C-1 — ")
    prompt = await press(bot, user, button)
    assert "Send any imaging reports, photos or letters for C-1" in prompt
    await say(bot, user, "here it comes")
    assert "Please send a file" in user.texts()[-2]  # then the question again
    await _sent(bot, user.send_document("letter.pdf", pdf_bytes()))
    assert "C-1: 1 file attached (1 PDF)" in (user.last().plain or "")
    await press(bot, user, "Done")
    await bot.runtime.drained()  # type: ignore[union-attr]
    assert len(_files_to(jones)) == 1


async def test_a_clinician_answers_with_a_file_after_reply(bot: Harness) -> None:
    user, jones, khan, _ = await _ready(bot)
    await say(bot, user, "/ask C-1")
    await say(bot, user, "Could you look at the report?")
    await press(bot, jones, "Reply")
    letter = pdf_bytes(pages=4)
    await _sent(bot, jones.send_document("advice.pdf", letter, caption="Our advice letter"))
    assert "C-1: 1 file attached (1 PDF)" in (jones.last().plain or "")
    await bot.runtime.drained()  # type: ignore[union-attr]
    (received,) = _files_to(user)
    assert received.document is not None and received.document.content == letter
    assert "Q-1" in (received.plain or "") and "Our advice letter" in (received.plain or "")
    (row,) = await _rows(bot)
    assert row.query_id == 1 and row.pages == 4
    # The Reply conversation is over: the next text is not taken as an answer.
    await say(bot, jones, "hello")
    assert _files_to(user) == [received] and "hello" not in user.texts()[-1]
    assert any("1 file (1 PDF)" in t for t in khan.texts())


async def test_bad_input_to_attach(bot: Harness) -> None:
    user, jones, _, _ = await _ready(bot)
    other = bot.fake.user(OTHER_REFERRER)
    await _referrer(bot, OTHER_REFERRER, "Dr Other Referrer")
    # Unknown and someone else's references: the same words as for /case.
    assert "There is no case C-999 that you can see" in await say(bot, user, "/attach C-999")
    assert "There is no case C-1 that you can see" in await say(bot, other, "/attach C-1")
    assert "You have no open cases" in await say(bot, other, "/attach")
    # In the files step: 5000 characters of text are not a file; a restart keeps the step.
    await say(bot, user, "/attach C-1")
    await say(bot, user, "z" * 5000)
    assert "Please send a file" in user.texts()[-2]
    await bot.restart()
    await _sent(bot, user.send_document("after-restart.pdf", pdf_bytes()))
    assert "C-1: 1 file attached (1 PDF)" in (user.last().plain or "")
    await bot.runtime.drained()  # type: ignore[union-attr]
    assert len(_files_to(jones)) == 1
