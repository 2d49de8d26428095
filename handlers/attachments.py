"""Files on a case: /attach, a file sent as a Telegram reply to a message about a case,
the files step after /refer, and a file as a clinician's reply. Shared by all of them:
`take_file` (check, download, store, route, confirm).

A file is downloaded inside the update's transaction, before anything is written: a
crash or restart after the download leaves the stored update unhandled, so it is handled
again from the start (the same file is then stored once, by hash), and nothing is ever
half-stored.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta

from telegram import Bot, Message, Update
from telegram.error import BadRequest, NetworkError, TelegramError
from telegram.ext import ContextTypes, filters

from delivery.sender import Keyboard, enqueue_tally
from delivery.text import Html, render
from handlers import attachments_texts as AT
from handlers import cases_texts, texts
from handlers.base import (
    END,
    STAY,
    Conversation,
    Turn,
    active_in,
    choice_button,
    message_to,
    run_turn,
)
from handlers.shared import offer_cases, picked_case, role_name, today
from services import attachments, cases, queries
from services.attachment_check import (
    ACCEPTED_NAMES,
    MB,
    Checked,
    Reason,
    Refused,
    check,
    refuse,
    refuse_too_large,
    too_large,
)
from storage.models import Case, Query, Role

log = logging.getLogger(__name__)

# Anything a user can send that is a file of some kind (the unaccepted kinds are answered).
FILES = (
    filters.Document.ALL
    | filters.PHOTO
    | filters.VOICE
    | filters.AUDIO
    | filters.VIDEO
    | filters.VIDEO_NOTE
    | filters.ANIMATION
    | filters.Sticker.ALL
)
# An album arrives as one update per file: its notices wait this long for the rest.
ALBUM_WAIT = timedelta(seconds=2)
DOWNLOAD_ATTEMPTS = 4
CAPTION_CHARS = 700  # of the sender's caption, in the file's caption (limit 1024 in all)

PICK_CASE, FILES_STEP = "pick_case", "files"


@dataclass(frozen=True)
class Incoming:
    """A file in a message, as Telegram describes it (nothing downloaded yet)."""

    file_id: str
    size: int | None
    caption: str | None


def incoming_file(message: Message | None) -> Incoming | Refused | None:
    """The message's file; a refusal for kinds never accepted; None if it has no file."""
    if message is None:
        return None
    caption = message.caption
    if message.document is not None:
        doc = message.document
        return Incoming(doc.file_id, doc.file_size, caption)
    if message.photo:
        largest = message.photo[-1]  # Telegram lists the sizes smallest first
        return Incoming(largest.file_id, largest.file_size, caption)
    if message.voice is not None or message.audio is not None:
        return refuse(Reason.AUDIO)
    if message.video is not None or message.video_note is not None:
        return refuse(Reason.VIDEO)
    if message.animation is not None or message.sticker is not None:
        return refuse(Reason.OTHER_IMAGE)
    return None


async def download(bot: Bot, file_id: str) -> bytes | str:
    """The file's bytes, or what to tell the sender. Server errors and timeouts are
    retried with backoff; a refusal (too big, unknown id) is not."""
    delay = 0.2
    for attempt in range(1, DOWNLOAD_ATTEMPTS + 1):
        try:
            file = await bot.get_file(file_id)
            return bytes(await file.download_as_bytearray())
        except BadRequest:  # (a subclass of NetworkError: first)
            return AT.TELEGRAM_REFUSED
        except NetworkError as exc:
            log.warning("file download failed (%s), attempt %s", type(exc).__name__, attempt)
            if attempt < DOWNLOAD_ATTEMPTS:
                await asyncio.sleep(delay)
                delay *= 2
        except TelegramError as exc:  # e.g. 404 on the download URL
            log.warning("file download refused: %s", type(exc).__name__)
            return AT.TELEGRAM_REFUSED
    return AT.DOWNLOAD_FAILED


def _kind_words(kinds: Sequence[str]) -> str:
    pdfs = sum(1 for k in kinds if k == "pdf")
    photos = len(kinds) - pdfs
    parts = []
    if pdfs:
        parts.append("1 PDF" if pdfs == 1 else f"{pdfs} PDFs")
    if photos:
        parts.append("1 photo" if photos == 1 else f"{photos} photos")
    return ", ".join(parts)


def _files(n: int) -> str:
    return "1 file" if n == 1 else f"{n} files"


def confirmation(ref: str, tally: Sequence[str]) -> Html:
    """The sender's notice for one file or a whole album, from its tally: `ok:<kind>`,
    `dup`, `no:<why>` per file, and `to:<names>` (who got them)."""
    stored = [item[3:] for item in tally if item.startswith("ok:")]
    duplicates = sum(1 for item in tally if item == "dup")
    whys = list(dict.fromkeys(item[3:] for item in tally if item.startswith("no:")))
    refused = sum(1 for item in tally if item.startswith("no:"))
    to = next((item[3:] for item in reversed(tally) if item.startswith("to:")), None)
    lines = []
    if stored:
        lines.append(
            render(AT.ATTACHED, ref=ref, what=_files(len(stored)), kinds=_kind_words(stored))
        )
        lines.append(render(AT.FILES_TO, who=to) if to else render(AT.NOBODY_YET))
    if duplicates:
        lines.append(render(AT.ALREADY, ref=ref, what=_files(duplicates)))
    if refused:
        lines.append(render(AT.NOT_ATTACHED, ref=ref, what=_files(refused), why=" ".join(whys)))
    return Html("\n".join(lines))


def file_caption(ref: str, query_ref: str | None, who: str, caption: str | None) -> Html:
    """A file's caption: the case (and query), who sent it, and the start of their own
    caption (Telegram allows 1024 characters in all)."""
    return render(
        AT.FILE_CAPTION,
        ref=ref,
        qref=f" · {query_ref}" if query_ref else "",
        who=who,
        caption=f"\n{caption[:CAPTION_CHARS]}" if caption else "",
    )


def link_notice(ref: str, who: str, tally: Sequence[str]) -> Html:
    """A link clinician's line: files were added (not the files themselves)."""
    stored = [item[3:] for item in tally if item.startswith("ok:")]
    what = f"{_files(len(stored))} ({_kind_words(stored)})"
    return render(AT.FILES_ADDED_FOR_LINK, ref=ref, who=who, what=what)


async def take_file(
    turn: Turn, case: Case, query: Query | None, buttons: Keyboard | None = None
) -> bool:
    """Check, download, store and route the file in this update's message, and tell
    the sender (an album: once for all its files), with `buttons` under the notice.
    True when it was stored."""
    message = turn.update.effective_message
    found = incoming_file(message)
    if found is None:
        turn.say(AT.WHERE_TO)
        return False
    album = _album(turn)
    item = await _store(turn, case, query, found)
    stored = any(one.startswith("ok:") for one in item)
    if album is None:
        turn.say(confirmation(case.ref, item), buttons, case_id=case.id)
        return stored
    assert turn.person is not None
    notice = message_to(turn.person, Html(""), buttons, case_id=case.id)
    if notice is not None:
        await enqueue_tally(
            turn.uow,
            notice,
            f"album:{album}",
            item,
            lambda tally: confirmation(case.ref, tally),
            turn.now,
            ALBUM_WAIT,
        )
    return stored


def _album(turn: Turn) -> str | None:
    """The album (media group) the update's file belongs to, if any."""
    message = turn.update.effective_message
    return message.media_group_id if message is not None else None


async def _store(
    turn: Turn, case: Case, query: Query | None, found: Incoming | Refused
) -> list[str]:
    """Store the file if it may be stored; the tally items saying what happened."""
    resources, person = turn.resources, turn.person
    if isinstance(found, Refused):
        return [f"no:{found.text}"]
    refusal = attachments.may_attach(person, case, query)
    if refusal is not None or person is None:
        if refusal == attachments.Refusal.CLOSED:
            return [f"no:{AT.CLOSED.format(ref=case.ref)}"]
        return [f"no:{cases_texts.NOT_YOURS.format(ref=case.ref)}"]
    limit = resources.attachment_max_bytes
    if too_large(found.size, limit):
        # Refused before downloading: Telegram's own size for it is enough.
        return [f"no:{refuse_too_large(found.size or 0, limit).text}"]
    if not await attachments.room_on(turn.uow, case, resources.attachments_per_case):
        return [f"no:{AT.FULL.format(ref=case.ref, limit=resources.attachments_per_case)}"]
    data = await download(turn.update.get_bot(), found.file_id)
    if isinstance(data, str):
        return [f"no:{data}"]
    # Decoding and re-encoding a large image takes a noticeable time: off the loop.
    checked = await asyncio.to_thread(check, data, limit)
    del data
    if isinstance(checked, Refused):
        return [f"no:{checked.text}"]
    return await _keep(turn, case, query, checked, found.caption)


async def _keep(
    turn: Turn, case: Case, query: Query | None, checked: Checked, caption: str | None
) -> list[str]:
    """Store a checked file and queue it to those who get it; the tally items."""
    assert turn.person is not None
    result = await attachments.attach(
        turn.uow, turn.person, case, query, checked, caption, turn.now, today(turn)
    )
    if isinstance(result, attachments.AlreadyThere):
        return ["dup"]
    attachment = result.attachment
    who = role_name(turn.person, case)
    for person in result.files_to:
        outgoing = message_to(
            person,
            file_caption(case.ref, query.ref if query else None, who, caption),
            case_id=case.id,
            query_id=query.id if query else None,
        )
        if outgoing is not None:
            outgoing.attachment = attachment.id
            turn.replies.append(outgoing)
    album = _album(turn)
    for person in result.told:
        notice = message_to(person, Html(""), case_id=case.id)
        if notice is None:
            continue
        kind = f"ok:{attachment.kind}"
        if album is None:
            notice.text = link_notice(case.ref, who, [kind])
            turn.replies.append(notice)
        else:
            await enqueue_tally(
                turn.uow,
                notice,
                f"album:{album}",
                [kind],
                lambda tally: link_notice(case.ref, who, tally),
                turn.now,
                ALBUM_WAIT,
            )
    names = ", ".join(p.name or "" for p in result.files_to if p.telegram_user_id)
    return [f"ok:{attachment.kind}", *([f"to:{names}"] if names else [])]


# --- A file as a Telegram reply to a message about a case ----------------------------


async def file_reply(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """A file sent as a Telegram reply to a message about a case or query: added to it."""
    message = update.message
    assert message is not None and message.reply_to_message is not None
    replied_to = message.reply_to_message.message_id

    async def body(turn: Turn) -> None:
        if not _may_send_files(turn):  # patients, link clinicians, admins, strangers
            turn.say(texts.UNKNOWN_INPUT)
            return
        mapping = await turn.uow.sent_messages.find(turn.chat_id, replied_to)
        if mapping is None or mapping.case_id is None or turn.person is None:
            turn.say(AT.WHERE_TO)
            return
        case = await turn.uow.cases.get(mapping.case_id)
        if case is None or mapping.recipient_id != turn.person.id:
            turn.say(cases_texts.NOT_YOURS.format(ref=f"C-{mapping.case_id}"))
            return
        query = await turn.uow.queries.get(mapping.query_id) if mapping.query_id else None
        await take_file(turn, case, query)

    await run_turn(update, context, body)


def _may_send_files(turn: Turn) -> bool:
    person = turn.person
    return person is not None and person.role in (Role.REFERRER, Role.CLINICIAN)


async def file_without_case(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """A file that names no case: say how to add one (or, from anyone else, what the
    bot does not understand)."""

    async def body(turn: Turn) -> None:
        turn.say(AT.WHERE_TO if _may_send_files(turn) else texts.UNKNOWN_INPUT)

    await run_turn(update, context, body)


# --- /attach and the files step after /refer ----------------------------------------

attaching = Conversation(
    "attach", start_state=FILES_STEP, allowed=active_in(Role.REFERRER, Role.CLINICIAN)
)


async def _case_of(turn: Turn) -> Case | None:
    """The conversation's case while files may still be added to it; else None, having
    said why (closed since, or no longer one's case)."""
    case = await turn.uow.cases.get(int(turn.data.get("case_id", 0)))
    refusal = attachments.may_attach(turn.person, case) if case else None
    if case is not None and refusal is None:
        return case
    if case is not None and refusal == attachments.Refusal.CLOSED:
        turn.say(render(AT.CLOSED, ref=case.ref), case_id=case.id)
    else:
        turn.say(cases_texts.NOT_YOURS.format(ref=f"C-{turn.data.get('case_id')}"))
    return None


async def ask_pick_case(turn: Turn) -> None:
    """Offer the open cases one may add files to."""
    offer_cases(turn, await _open_cases(turn), AT.ASK_WHICH_CASE)


@attaching.step(PICK_CASE, ask_pick_case, accepts_text=False)
async def got_case(turn: Turn) -> str:
    """Keep the chosen case."""
    case_id = picked_case(turn)
    if case_id is None:
        return turn.again(texts.PLEASE_USE_BUTTONS)
    turn.data = {"case_id": case_id}
    return FILES_STEP


def _button(turn: Turn) -> str:
    return AT.DONE if turn.data.get("files") else AT.NO_FILES


async def ask_files(turn: Turn) -> None:
    """Ask for the files, with No files / Done (who may is checked on each answer)."""
    case_id = int(turn.data.get("case_id", 0))
    limit = turn.resources.attachment_max_bytes // MB
    text = render(
        AT.ASK_FILES, ref=f"C-{case_id}", accepted=ACCEPTED_NAMES, limit=limit, button=_button(turn)
    )
    turn.say(text, [[choice_button(_button(turn), "done")]], case_id=case_id)


@attaching.step(FILES_STEP, ask_files, offers_buttons=True, accepts_files=True)
async def got_file(turn: Turn) -> str:
    """A file is added; Done (or No files) ends; typed text is answered."""
    case = await _case_of(turn)
    if case is None:
        return END
    if turn.choice == "done":
        words = AT.FILES_DONE if turn.data.get("files") else AT.NO_FILES_SENT
        turn.say(render(words, ref=case.ref), case_id=case.id)
        return END
    if turn.update.callback_query is not None:
        return turn.again(texts.PLEASE_USE_BUTTONS)
    if incoming_file(turn.update.effective_message) is None:
        return turn.again(render(AT.SEND_A_FILE, accepted=ACCEPTED_NAMES, button=_button(turn)))
    # Done under each notice: the question's own button still says No files.
    await take_file(turn, case, None, [[choice_button(AT.DONE, "done")]])
    turn.data["files"] = int(turn.data.get("files", 0)) + 1
    return STAY


async def _open_cases(turn: Turn) -> list[Case]:
    assert turn.person is not None
    return [
        c
        for c in await cases.cases_of(turn.uow, turn.person)
        if attachments.may_attach(turn.person, c) is None
    ]


async def attach_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/attach [C-n]: add files to one of one's open cases."""

    async def body(turn: Turn) -> None:
        if not _may_send_files(turn) or turn.person is None:
            turn.say(texts.UNKNOWN_COMMAND)
            return
        if turn.args:
            case = await cases.visible_case(turn.uow, turn.person, turn.args[0])
            refusal = attachments.may_attach(turn.person, case) if case else None
            if case is None or refusal == attachments.Refusal.NOT_YOURS:
                turn.say(cases_texts.NOT_YOURS.format(ref=turn.args[0][:20]))
                return
            if refusal == attachments.Refusal.CLOSED:
                turn.say(render(AT.CLOSED, ref=case.ref), case_id=case.id)
                return
            await attaching.begin(turn, {"case_id": case.id})
            return
        if not await _open_cases(turn):
            turn.say(AT.NO_OPEN_CASES)
            return
        turn.data = {}
        await attaching.goto(turn, PICK_CASE)

    await run_turn(update, context, body)


# --- A file as a clinician's reply (Reply, then a file) ------------------------------


async def file_as_answer(turn: Turn, query_id: int) -> bool:
    """In the Reply step: the file is added to the query and sent to the referrer.
    False when it was not stored (the clinician may type the answer instead)."""
    found = await queries.query_with_case(turn.uow, query_id)
    if found is None:
        turn.say(texts.UNKNOWN_INPUT)
        return False
    query, case = found
    return await take_file(turn, case, query)
