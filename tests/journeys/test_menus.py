"""Command menus through the real Application and the HTTP fake: every change of a
person's role or standing gives their chat the menu they have now, and /help agrees."""

from __future__ import annotations

import re

from services.invites import create_staff_invite
from tests.journeys.conftest import Harness
from tests.journeys.test_appointments import PATIENT, _case_with_patient
from tests.journeys.test_cases import ADMIN_A, JONES, _directory
from tests.journeys.test_registration import (
    ADMIN_B,
    REFERRER,
    _referrer,
    _setup,
    _summary,
    press,
    say,
)

STRANGER = ["start", "register", "help", "privacy", "cancel"]
INACTIVE = ["start", "help", "privacy", "cancel"]
PATIENT_MENU = ["start", "appointments", "stop", "help", "privacy", "cancel"]
OTHER_APPLICANT, NEW_PHONE = 9_000_101, 5_550_002


def menu(h: Harness, tg: int) -> list[str]:
    """The commands Telegram shows in this chat (the chat's own menu)."""
    return [c["command"] for c in h.fake.commands_for({"type": "chat", "chat_id": tg})]


async def help_commands(h: Harness, tg: int) -> list[str]:
    """The commands /help lists, in order."""
    return re.findall(r"^/(\w+) —", await say(h, h.fake.user(tg), "/help"), re.M)


async def test_a_patients_menu_follows_consent_stop_and_erasure(bot: Harness) -> None:
    await _case_with_patient(bot)  # consent given
    assert menu(bot, PATIENT) == PATIENT_MENU
    assert await help_commands(bot, PATIENT) == PATIENT_MENU
    patient, jones = bot.fake.user(PATIENT), bot.fake.user(JONES)

    await say(bot, patient, "/stop")
    assert menu(bot, PATIENT) == STRANGER == await help_commands(bot, PATIENT)

    token = re.search(r"start=([A-Za-z0-9_-]+)", await say(bot, jones, "/invite_patient C-1"))
    assert token
    await say(bot, patient, f"/start {token.group(1)}")
    await press(bot, patient, "I agree")
    assert menu(bot, PATIENT) == PATIENT_MENU

    admin = bot.fake.user(ADMIN_A)
    await say(bot, admin, "/erase_patient C-1")
    await press(bot, admin, "Erase")
    assert menu(bot, PATIENT) == STRANGER == await help_commands(bot, PATIENT)


async def test_a_referrers_menu_follows_registration_approval_and_suspension(
    bot: Harness,
) -> None:
    await _setup(bot)
    user, admin = bot.fake.user(REFERRER), bot.fake.user(ADMIN_B)
    await _summary(bot, user)
    await press(bot, user, "Confirm")
    # Pending: /register is done with, and nothing of a referrer's yet.
    assert menu(bot, REFERRER) == INACTIVE == await help_commands(bot, REFERRER)

    await press(bot, admin, "Approve")
    referrer_menu = menu(bot, REFERRER)
    assert {"refer", "ask", "cases", "case", "contact"} <= set(referrer_menu)
    assert "register" not in referrer_menu
    assert referrer_menu == await help_commands(bot, REFERRER)

    person = await _referrer(bot)
    await say(bot, admin, f"/referrer {person.id}")
    await press(bot, admin, "Suspend")
    assert menu(bot, REFERRER) == INACTIVE == await help_commands(bot, REFERRER)
    await say(bot, admin, f"/referrer {person.id}")
    await press(bot, admin, "Reinstate")
    assert menu(bot, REFERRER) == referrer_menu

    other = bot.fake.user(OTHER_APPLICANT)
    await _summary(bot, other)
    await press(bot, other, "Confirm")
    reject = [m for m in admin.messages() if "Reject" in m.buttons][-1]
    await bot.handled(admin.press("Reject", reject.message_id))
    await say(bot, admin, "Not a clinician of a referring centre")
    assert "not approved" in other.last().plain
    assert menu(bot, OTHER_APPLICANT) == INACTIVE


async def test_a_staff_menu_is_set_on_invitation_and_the_old_account_reset(
    bot: Harness,
) -> None:
    await _directory(bot)  # Dr Jones is bound to JONES already
    async with bot.db.uow() as uow:
        token = await create_staff_invite(uow, "clinician", "dr-jones", bot.clock.now())
        await uow.commit()
    await say(bot, bot.fake.user(NEW_PHONE), f"/start {token}")
    clinician_menu = menu(bot, NEW_PHONE)
    assert {"queue", "cases", "case", "appointment", "close"} <= set(clinician_menu)
    assert clinician_menu == await help_commands(bot, NEW_PHONE)
    # The account Dr Jones used before is nobody's now.
    assert menu(bot, JONES) == STRANGER == await help_commands(bot, JONES)
