"""Confidentiality through the real Application and the HTTP fake: link clinicians see
what they need to know, and every message that carries a patient identifier or clinical
detail goes out with `protect_content`."""

from __future__ import annotations

import re
from datetime import UTC, datetime

from handlers.jobs import dispatch_reminders, run_escalations
from tests.fakes import FakeUser, SentMessage
from tests.journeys.conftest import Harness
from tests.journeys.test_appointments import (
    OTHER_PATIENT,
    PATIENT,
    START,
    _book_one_stop,
    _case_with_patient,
)
from tests.journeys.test_cases import (
    BONE_ONLY,
    JONES,
    KHAN,
    LEE,
    NHS,
    OTHER_REFERRER,
    PATEL,
    _directory,
    _refer,
    _referrer,
)
from tests.journeys.test_registration import ADMIN_A, REFERRER, _summary, press, say

REASON = "My car broke down on the ring road"
TO_PATIENT = "We will rebook you for next week"
QUESTION = "Should we biopsy locally or refer straight to you?"
ANSWER = "Please do not biopsy; refer now."


async def _remind_and_answer(h: Harness) -> None:
    """Both reminders of the booked one-stop clinic: one "will attend", one "can't"."""
    resources = h.runtime.resources  # type: ignore[union-attr]
    patient = h.fake.user(PATIENT)
    h.clock.set(datetime(2026, 11, 29, 9, 0, 30, tzinfo=UTC))
    await dispatch_reminders(resources)
    await h.runtime.drained()  # type: ignore[union-attr]
    await press(h, patient, "I will attend")
    h.clock.set(datetime(2026, 11, 30, 8, 1, tzinfo=UTC))
    await dispatch_reminders(resources)
    await h.runtime.drained()  # type: ignore[union-attr]
    await press(h, patient, "I can't attend")
    await say(h, patient, REASON)


async def test_link_clinicians_see_the_referrers_queries_not_the_patients_own_messages(
    bot: Harness,
) -> None:
    await _case_with_patient(bot)  # C-1, soft tissue: Dr Khan is its link clinician
    await _book_one_stop(bot)
    await _remind_and_answer(bot)
    jones, khan, user = bot.fake.user(JONES), bot.fake.user(KHAN), bot.fake.user(REFERRER)
    assert REASON in jones.last().plain
    # The clinician answers the patient's query and resolves it.
    await press(bot, jones, "Reply")
    await say(bot, jones, TO_PATIENT)
    await press(bot, jones, "Resolve")
    # The referrer's own query: the link clinician is copied on it, as the SPEC says.
    await say(bot, user, "/ask C-1")
    await say(bot, user, QUESTION)
    await bot.handled(jones.reply_to(jones.last().message_id, ANSWER))
    await press(bot, jones, "Resolve")
    await bot.runtime.drained()  # type: ignore[union-attr]

    received = " ".join(khan.texts())
    assert QUESTION in received and ANSWER in received  # the query, the answer, the advice
    assert khan.messages()[-1].document is not None  # the advice PDF of Q-2
    for private in (REASON, TO_PATIENT, "Patient cannot attend", "Patient will attend"):
        assert private not in received
    view = await say(bot, khan, "/case C-1")
    assert QUESTION in view and ANSWER in view and "Q-2" in view
    for private in (REASON, TO_PATIENT, "Patient cannot attend", "Patient will attend", "Q-1"):
        assert private not in view
    assert "shown only to the case's clinicians" in view
    assert "943" not in view and "1970" not in view
    # The case's clinicians and its referrer still read the whole thread.
    for reader in (jones, user):
        whole = await say(bot, reader, "/case C-1")
        for words in (REASON, TO_PATIENT, "Patient will attend", QUESTION, ANSWER):
            assert words in whole
        assert "shown only to" not in whole
    assert not bot.fake.user(LEE).messages()  # bone only: not the case's link clinician


# --- Every message that identifies a patient is protected ---------------------------

# What this journey types or books about the patient: a message carrying any of it, a
# reference of a case or query that exists, or anything sent to the patient, identifies
# the patient and must be protected.
SENSITIVE = [
    NHS,
    NHS.replace(" ", ""),
    "04/05/1970",
    "Left thigh",
    "Enlarging painless mass",
    QUESTION,
    ANSWER,
    REASON,
    TO_PATIENT,
    "Follow-up at NOC, ",
    "One-stop clinic, ",
    "MRI & <biopsy>",
    "still growing",
    "30 November 2026",
    "10 December 2026",
]
# A refusal names only what the user typed, and must look the same whether the case
# exists or not: it is never "about" a case.
REFUSALS = [re.compile(r"There is no case C-\d+ that you can see\.")]
REFERENCE = re.compile(r"\b([CQ])-(\d+)\b")


def _identifies(message: SentMessage, existing: dict[str, int]) -> str | None:
    """Why this message identifies the patient, or None."""
    text = message.plain or ""
    if message.chat_id in (PATIENT, OTHER_PATIENT):
        return "sent to a patient"
    for words in SENSITIVE:
        if words in text:
            return words
    if any(r.fullmatch(text) for r in REFUSALS):
        return None
    for kind, number in REFERENCE.findall(text):
        if int(number) <= existing[kind]:
            return f"{kind}-{number}"
    return None


async def _everything_once(h: Harness) -> None:
    """A journey through every feature that sends something, to every kind of user."""
    h.clock.set(START)
    await _directory(h)
    resources = h.runtime.resources  # type: ignore[union-attr]
    user, admin = h.fake.user(REFERRER), h.fake.user(ADMIN_A)
    jones, patel, khan = h.fake.user(JONES), h.fake.user(PATEL), h.fake.user(KHAN)
    # Registration and approval (nothing about patients).
    await _summary(h, user)
    await press(h, user, "Confirm")
    await press(h, admin, "Approve")
    await say(h, admin, "/pending")
    # A referral and its notices; the same patient again.
    await _refer(h, user)
    await say(h, user, "/refer")
    await say(h, user, NHS)
    await press(h, user, "Open a new case anyway")
    await say(h, user, "/cancel")
    await _referrer(h, OTHER_REFERRER, "Dr Other Referrer")
    other = h.fake.user(OTHER_REFERRER)
    await say(h, other, "/refer")
    await say(h, other, NHS)  # "this patient already has an open case"
    await say(h, other, "/cancel")
    for reader in (user, jones, khan, admin):
        await say(h, reader, "/cases")
        await say(h, reader, "/case C-1")
    # A query: acknowledge, answer, follow-up, pass, answer, resolve with the advice.
    await say(h, user, "/ask")
    await press(h, user, "C-1 — Soft tissue")
    await say(h, user, QUESTION)
    await press(h, jones, "Acknowledge")
    await bot_reply(h, jones, ANSWER)
    await bot_reply(h, user, "Thanks; MRI shows it still growing")
    await say(h, jones, "/queue")
    await press(h, jones, "Pass to deputy")
    await press(h, patel, "Reply")
    await say(h, patel, "Seen: one-stop on Monday")
    await press(h, patel, "Resolve")
    await press(h, patel, "Reply")  # a resolved query
    await bot_reply(h, user, "And the chest CT?")  # reopens it
    await say(h, user, "/ask C-1")
    await say(h, user, "Is the lesion still growing?")  # nobody acknowledges this one
    # The patient, appointments, reminders and the patient's answers.
    token = re.search(r"start=([A-Za-z0-9_-]+)", await say(h, jones, "/invite_patient C-1"))
    assert token
    patient = h.fake.user(PATIENT)
    await say(h, patient, f"/start {token.group(1)}")
    await press(h, patient, "I agree")
    await say(h, patient, "/appointments")
    await _book_one_stop(h, edit=True)
    await say(h, jones, "/appointment C-1")
    await press(h, jones, "Follow-up at NOC")
    await say(h, jones, "2026-12-10 14:30")
    await press(h, jones, "Nuffield Orthopaedic Centre, Oxford")
    await press(h, jones, "Confirm")
    await say(h, patient, "/appointments")
    await say(h, admin, "/appointments C-1")
    await press(h, admin, "Move")  # the last listed: the follow-up
    await say(h, admin, "2026-12-11 10:00")
    await say(h, jones, "/followup C-1 3 check the MRI & <biopsy> result")
    # Three days on: the follow-up reminder; the unacknowledged query escalates twice.
    h.clock.set(datetime(2026, 11, 28, 9, 0, tzinfo=UTC))
    await dispatch_reminders(resources)
    await run_escalations(resources, h.settings.ACK_SLA)  # to the deputy
    await run_escalations(resources, h.settings.ACK_SLA)  # to the admins
    await _remind_and_answer(h)
    await press(h, jones, "Reply")
    await say(h, jones, TO_PATIENT)
    await say(h, jones, "/appointments C-1")
    one_stop = [m for m in jones.messages() if m.buttons and "One-stop clinic, " in m.plain]
    await h.handled(jones.press("Cancel", one_stop[-1].message_id))
    # The follow-up's reminders fall due while the bot is "down": marked missed.
    h.clock.set(datetime(2026, 12, 20, 9, 0, tzinfo=UTC))
    await dispatch_reminders(resources)
    await h.runtime.drained()  # type: ignore[union-attr]
    # Reallocation, closing, /stop, re-enrolment and erasure.
    await say(h, admin, "/allocate C-1 dr-jones dr-bone")
    await say(h, h.fake.user(BONE_ONLY), "/case C-1")
    await say(h, jones, "/close C-1")
    await press(h, jones, "Close case")  # open queries: refused
    await say(h, user, "/close C-1")  # not staff
    await say(h, khan, "/appointment C-1")  # sees the case, may not book
    await say(h, admin, "/close C-1")
    await press(h, admin, "Keep open")
    await say(h, patient, "/stop")
    token = re.search(r"start=([A-Za-z0-9_-]+)", await say(h, jones, "/invite_patient C-1"))
    assert token
    await say(h, patient, f"/start {token.group(1)}")
    await press(h, patient, "I agree")
    declining = h.fake.user(OTHER_PATIENT)
    token = re.search(r"start=([A-Za-z0-9_-]+)", await say(h, jones, "/invite_patient C-1"))
    assert token
    await say(h, declining, f"/start {token.group(1)}")
    await press(h, declining, "No thanks")
    await say(h, admin, "/erase_patient C-1")
    await press(h, admin, "Keep")
    await say(h, admin, "/erase_patient C-1")
    await press(h, admin, "Erase")
    await say(h, admin, "/stats")
    await h.runtime.drained()  # type: ignore[union-attr]


async def bot_reply(h: Harness, who: FakeUser, text: str) -> None:
    """A Telegram reply to the last message the bot sent this user."""
    await h.handled(who.reply_to(who.last().message_id, text))


async def test_every_message_that_identifies_a_patient_is_protected(bot: Harness) -> None:
    await _everything_once(bot)
    existing = {"C": 1, "Q": 3}
    identifying: list[tuple[SentMessage, str]] = []
    for chat in list(bot.fake.sent):
        for message in bot.fake.messages_to(chat):
            why = _identifies(message, existing)
            if why is not None:
                identifying.append((message, why))
    unprotected = [
        f"chat {m.chat_id} ({why}): {(m.plain or '')[:90]!r}"
        for m, why in identifying
        if not m.protect_content
    ]
    assert not unprotected, "sent without protect_content:\n" + "\n".join(unprotected)
    # The journey reached every kind the issue named, and many more.
    seen = " ".join(m.plain or "" for m, _ in identifying)
    for kind in (
        "Your appointments",  # the patient's own list
        "Booked: ",
        "Moved: ",
        "Cancelled: ",
        "Appointment reminder",
        "Follow-up reminder",
        "not been acknowledged",
        "still unacknowledged",
        "Patient cannot attend",
        "marked missed",
        "already has an open case",
        "unresolved queries",
    ):
        assert kind in seen, kind
    assert len(identifying) >= 80, len(identifying)
    assert sum(1 for m, _ in identifying if m.document is not None) >= 6  # .ics and PDFs
