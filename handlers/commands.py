"""Every command of the bot in one table, and everything else the bot answers.

A row names the command, the function that answers it, and the line it has in the menu
(and in /help) of each kind of user who has it: a role, INACTIVE (pending, suspended,
rejected) or STRANGER (no account bound). The table's order is the menus' order.
`bot/app.py` registers `all_handlers()`; `menus()` gives each kind of user its menu.

Where a command lives: `handlers/<command>.py`, or the module of its group (below).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from telegram import Update
from telegram.ext import (
    BaseHandler,
    CallbackQueryHandler,
    CommandHandler,
    MessageHandler,
    TypeHandler,
    filters,
)

from handlers import (
    admin,
    appointments,
    attachments,
    availability,
    cases,
    closing,
    common,
    erasure,
    followup,
    mdt,
    patients,
    queries,
    queue,
    referral,
    referrer,
    registration,
)
from handlers.base import Conversation, Handler, conversation_router
from handlers.menus import INACTIVE, Menus
from storage.models import Role

STRANGER = None  # the menu key of a Telegram account bound to nobody
EVERYONE: tuple[str | None, ...] = (STRANGER, INACTIVE, *(role.value for role in Role))
REFERRER, CLINICIAN, LINK, ADMIN, PATIENT = (
    Role.REFERRER.value,
    Role.CLINICIAN.value,
    Role.LINK_CLINICIAN.value,
    Role.ADMIN.value,
    Role.PATIENT.value,
)


@dataclass(frozen=True)
class Command:
    """One command: its name, its handler, and its line in each menu that shows it."""

    name: str
    callback: Handler
    menu: Mapping[str | None, str]  # menu key -> the line shown there (and in /help)


def shown(keys: Iterable[str | None], line: str) -> dict[str | None, str]:
    """The same menu line for each of `keys`."""
    return dict.fromkeys(keys, line)


CASE_LINE = "A case and its thread: /case C-12"

COMMANDS: list[Command] = [
    Command("start", common.start, shown(EVERYONE, "What this bot is")),
    Command(
        "register",
        registration.register,
        shown([STRANGER], "Register as a referring clinician"),
    ),
    Command("refer", referral.refer, shown([REFERRER], "Refer a new patient")),
    Command("ask", queries.ask_command, shown([REFERRER], "Ask a question about a case")),
    Command(
        "attach",
        attachments.attach_command,
        shown([REFERRER, CLINICIAN], "Add files to a case: /attach C-12"),
    ),
    Command("queue", queue.queue_command, shown([CLINICIAN], "Your open queries, urgent first")),
    Command(
        "referrer",
        referrer.referrer_command,
        shown([ADMIN], "View a referrer: /referrer <number>"),
    ),
    Command(
        "cases",
        cases.cases_command,
        {
            REFERRER: "Your cases",
            CLINICIAN: "Your cases",
            LINK: "Cases from your centre",
            ADMIN: "Recent cases",
        },
    ),
    Command("case", cases.case_command, shown([REFERRER, CLINICIAN, LINK, ADMIN], CASE_LINE)),
    Command(
        "allocate",
        cases.allocate_command,
        shown([ADMIN], "Allocate a case: /allocate C-12 named deputy"),
    ),
    Command(
        "away",
        availability.away_command,
        shown([CLINICIAN], "Away until a date: /away YYYY-MM-DD"),
    ),
    Command("back", availability.back_command, shown([CLINICIAN], "Back from leave")),
    Command("contact", registration.contact, shown([REFERRER], "Your contact details")),
    Command(
        "appointment",
        appointments.appointment_command,
        shown([CLINICIAN, ADMIN], "Book an appointment: /appointment C-12"),
    ),
    Command(
        "appointments",
        appointments.appointments_command,
        {
            CLINICIAN: "A case's appointments: /appointments C-12",
            ADMIN: "A case's appointments: /appointments C-12",
            PATIENT: "Your appointments",
        },
    ),
    Command("stop", patients.stop_command, shown([PATIENT], "Stop all messages from this bot")),
    Command(
        "invite_patient",
        patients.invite_patient,
        shown([CLINICIAN, ADMIN], "Invite a patient: /invite_patient C-12"),
    ),
    Command(
        "followup",
        followup.followup_command,
        shown([CLINICIAN], "Remind me: /followup C-12 14 note"),
    ),
    Command(
        "mdt",
        mdt.mdt_command,
        {
            CLINICIAN: "The next MDT's agenda: /mdt [YYYY-MM-DD]",
            ADMIN: "The next MDT's agenda: /mdt [YYYY-MM-DD]",
            LINK: "Your centre's cases at the next MDT: /mdt [YYYY-MM-DD]",
        },
    ),
    Command(
        "mdt_add",
        mdt.mdt_add_command,
        shown([CLINICIAN, ADMIN], "List a case for the MDT: /mdt_add C-12"),
    ),
    Command(
        "mdt_remove",
        mdt.mdt_remove_command,
        shown([CLINICIAN, ADMIN], "Take a case off the MDT: /mdt_remove C-12 reason"),
    ),
    Command(
        "mdt_outcome",
        mdt.mdt_outcome_command,
        shown([CLINICIAN, ADMIN], "Record the MDT's outcome: /mdt_outcome C-12"),
    ),
    Command(
        "stats",
        admin.stats_command,
        shown([ADMIN], "Figures for the governance meeting: /stats [from] [to]"),
    ),
    Command("pending", admin.pending_command, shown([ADMIN], "Registrations awaiting approval")),
    Command(
        "close",
        closing.close_command,
        shown([CLINICIAN, ADMIN], "Close a case when its care ends: /close C-12"),
    ),
    Command(
        "erase_patient",
        erasure.erase_command,
        shown([ADMIN], "Remove a patient's Telegram link and details: /erase_patient C-12"),
    ),
    Command("help", common.help_command, shown(EVERYONE, "Your commands")),
    Command("privacy", common.privacy, shown(EVERYONE, "What is stored and why")),
    Command("cancel", common.cancel, shown(EVERYONE, "Leave the current question")),
]

# Buttons on the bot's messages (not conversation buttons): callback data pattern -> handler.
BUTTONS: list[tuple[str, Handler]] = [
    (r"^reg:[ar]:\d+$", registration.decision_pressed),
    (r"^ct:[a-z_]+$", registration.contact_field_pressed),
    (r"^rf:[sr]:\d+$", referrer.suspension_pressed),
    (r"^q:(ack|rep|pass|res):\d+$", queries.button_pressed),
    (r"^ap:[mc]:\d+$", appointments.appointment_pressed),
    (r"^rm:[yn]:\d+$", patients.reminder_pressed),
    (closing.CLOSE_BUTTON, closing.close_button),
    (erasure.ERASE_BUTTON, erasure.erase_button),
    (cases.RESEND_BUTTON, cases.resend_pressed),
    (mdt.ADD_BUTTON, mdt.discuss_pressed),
    (mdt.PDF_BUTTON, mdt.agenda_pdf_pressed),
]

# Every conversation, by the name its saved state carries.
CONVERSATIONS: list[Conversation] = [
    registration.registration,
    registration.rejection,
    referral.referral,
    attachments.attaching,
    mdt.listing,
    mdt.outcome,
    queries.asking,
    queries.answering,
    appointments.booking,
    patients.consent,
    patients.cannot_attend,
    appointments.moving,
]


def menus() -> Menus:
    """Each menu (a role, INACTIVE, or STRANGER) with its commands, in table order."""
    return {
        key: [(command.name, command.menu[key]) for command in COMMANDS if key in command.menu]
        for key in EVERYONE
    }


def all_handlers(
    extra: Iterable[tuple[int, BaseHandler[Any, Any, Any]]] = (),
) -> list[tuple[int, BaseHandler[Any, Any, Any]]]:
    """(group, handler) pairs for the Application, in order.

    Group -2 leaves group chats; group -1 feeds open conversations; in group 0 the first
    match wins: commands, buttons, Telegram replies to the bot's query messages, then
    `extra` (tests), and last the fallbacks that leave nobody unanswered.
    """
    private = filters.ChatType.PRIVATE
    return [
        (-2, TypeHandler(Update, common.leave_group)),
        (-1, TypeHandler(Update, conversation_router)),
        *[(0, CommandHandler(c.name, c.callback, filters=private)) for c in COMMANDS],
        *[(0, CallbackQueryHandler(handler, pattern=p)) for p, handler in BUTTONS],
        # A file (or other media) replying to a message about a case is added to it.
        (
            0,
            MessageHandler(
                private & filters.UpdateType.MESSAGE & filters.REPLY & attachments.FILES,
                attachments.file_reply,
            ),
        ),
        # New messages only: an edited reply is not relayed a second time (it would also
        # arrive without update.message); the fallback says edits are not read.
        (
            0,
            MessageHandler(
                private & filters.UpdateType.MESSAGE & filters.REPLY, queries.telegram_reply
            ),
        ),
        *extra,
        (
            0,
            MessageHandler(
                private & filters.UpdateType.MESSAGE & attachments.FILES,
                attachments.file_without_case,
            ),
        ),
        (0, MessageHandler(private, common.unknown)),
        (0, CallbackQueryHandler(common.unknown)),
    ]
