"""What the bot says in general, in one place so a clinician can review the wording.

Templates are HTML; placeholders are filled with `delivery.text.render`, which escapes
every value.
"""

from __future__ import annotations

from core.role_names import ROLE_NAMES as ROLE_NAMES

PLEASE_TYPE = "Please type your answer as text."
PLEASE_USE_BUTTONS = "Please choose one of the buttons below."
BUTTON_EXPIRED = "That button belongs to a question that is no longer open."
CONVERSATION_TIMED_OUT = (
    "This conversation was closed after 30 minutes without an answer. Nothing was saved. "
    "You can start again at any time."
)
CONVERSATION_RESET = "That conversation could not be continued. Please start it again."
CANCELLED = "Cancelled. Nothing was saved."
NO_LONGER_ALLOWED = (
    "You can no longer do this (your access or your part in the case has changed), so "
    "nothing was saved. /help lists what you can do now."
)
NOTHING_TO_CANCEL = "There is nothing to cancel."
SLOW_DOWN = (
    "You are sending messages faster than the bot can take them, so the last few were "
    "not read. Please wait a minute, then send again what you need."
)
SOMETHING_WENT_WRONG = (
    "Sorry, something went wrong on our side and your last message was not processed. "
    "Please try again; if it keeps happening, call the sarcoma service."
)
PRIVATE_ONLY = (
    "This bot works only in private chats, so that no patient details are ever shared in a "
    "group. Please message me directly. Leaving this chat now."
)
UNKNOWN_INPUT = "I did not understand that. /help lists what you can do."
UNKNOWN_COMMAND = "I do not know that command. /help lists what you can do."
EDIT_NOT_READ = (
    "I only read new messages, so that edit changed nothing. Please send the corrected "
    "text as a new message."
)

WELCOME_NEW = (
    "<b>Sarcoma referral advice</b>\n\n"
    "This bot gives referring clinicians fast, traceable advice from the regional bone and "
    "soft-tissue sarcoma service. Each patient gets a named senior clinician and a deputy, "
    "and every question you ask is routed to them.\n\n"
    "It is for <b>referring clinicians</b> and for staff and patients of the service who have "
    "been given an invitation link.\n\n"
    "To register as a referrer, send /register. An administrator of the service checks "
    "every registration before you can refer.\n"
    "/privacy explains what is stored; /help lists commands."
)
WELCOME_BACK = "Welcome back, {name}. You are registered as {role}.\n\n/help lists your commands."
INVITE_BOUND = (
    "Welcome, {name}. This Telegram account is now registered as <b>{role}</b> of the "
    "sarcoma service.\n\n/help lists your commands."
)
INVITE_REFUSED = {
    "unknown": "That invitation link is not valid. Please ask the service for a new one.",
    "used": "That invitation link has already been used. Please ask the service for a new one.",
    "expired": "That invitation link has expired. Please ask the service for a new one.",
    "rate_limited": (
        "Too many invalid invitation links from this account. Please wait an hour and try "
        "again, or contact the service."
    ),
    "already_bound": (
        "This Telegram account is already registered with the service under another role. "
        "Please contact the service coordinator."
    ),
}


# What erasing a patient removes and what it keeps: the same words are in
# docs/SECURITY.md (tests/test_docs.py compares them) and the README.
ERASURE = (
    "Erasing a patient removes at once everything that links the bot to their Telegram "
    "account: the account number in their record and on every stored message to or from "
    "them, the bot's copies of those messages, and their conversation in progress; with "
    "it go their name, their pending reminders and any message not yet sent. Their case "
    "(NHS number, date of birth, site, clinical summary), its queries and thread, "
    "including the patient's own answers, and its appointments are the health record: "
    "they are kept for the retention period (8 years after the case is closed), then "
    "purged like every case. Files on the case (reports, photos, letters) are part of "
    "the health record too: their bytes go with the purge; type, size, hash and dates "
    "stay. The audit trail records the erasure and names the patient only by reference."
)

PRIVACY = (
    "<b>What this bot stores, and why</b>\n\n"
    "• Your Telegram user number (never your @username), to know who you are.\n"
    "• Referrers: the contact details you give when registering (phone, mobile, secretary, "
    "email, fax), so the service can reach you and your team quickly.\n"
    "• Cases: the patient details, questions and answers needed for the patient's care, "
    "and who saw or changed what (an audit trail).\n\n"
    "<b>How it is kept.</b> Everything personal is encrypted in the service's database. "
    "Telegram chats are not end-to-end encrypted, so the bot never sends patient details to "
    "groups and protects messages with patient details from forwarding and saving.\n\n"
    "<b>For how long.</b> Clinical records follow the NHS records retention schedule: 8 "
    "years after a case is closed for adults, after which messages are deleted and only "
    "references and the audit trail remain.\n\n"
    "<b>Removal.</b> To have your registration or details removed, ask the service "
    "coordinator on {phone}. Patients can send /stop at any time to receive nothing more, "
    "and can ask the coordinator to be erased from the bot. " + ERASURE
)

HELP_HEADER = "<b>What you can do</b>"
FOR_CLINICIANS = "This command is for clinicians of the service."
