"""What the bot says about files on a case."""

from __future__ import annotations

from services.attachment_check import ACCEPTED_NAMES

ASK_FILES = (
    "Send any imaging reports, photos or letters for {ref} now ({accepted}, up to {limit} MB"
    " each; several at once is fine). Press <b>{button}</b> when you have sent them."
)
NO_FILES = "No files"
DONE = "Done"
FILES_DONE = (
    "Thank you. To add a file to {ref} later, use /attach {ref} or reply to a message"
    " about it with the file."
)
NO_FILES_SENT = "No files added. You can add them later with /attach {ref}."
SEND_A_FILE = "Please send a file ({accepted}), or press <b>{button}</b>."
ASK_WHICH_CASE = "Which case are the files for?"
NO_OPEN_CASES = "You have no open cases to add files to."
ATTACH_USAGE = "To add files to a case: /attach C-12"

# One line per outcome; an album's notice lists every file of it.
ATTACHED = "{ref}: {what} attached ({kinds})."
ALREADY = "{ref}: {what} already on the case, so not stored again."
NOT_ATTACHED = "{ref}: {what} not attached. {why}"
FILES_TO = "Sent to {who}."
NOBODY_YET = "It is on the case for its clinicians to see."

CLOSED = "{ref} is closed, so files can no longer be added to it."
FULL = (
    "{ref} already has {limit} files, the most a case can hold. Please send a summary"
    " letter instead, or ask the named clinician which files they still need."
)
DOWNLOAD_FAILED = (
    "I could not fetch that file from Telegram just now, so nothing was stored. Please send"
    " it again in a few minutes."
)
TELEGRAM_REFUSED = (
    "Telegram would not hand that file over (it may be too large or no longer available),"
    " so nothing was stored. Please send it again, or a smaller copy."
)
WHERE_TO = (
    "To add a file to a case, reply to a message about the case with the file, or use"
    " /attach C-12. Accepted: " + ACCEPTED_NAMES + "."
)

# Captions (a file caption has at most 1024 characters: the sender's own is cut).
FILE_CAPTION = "📎 {ref}{qref} · from {who}{caption}"
FILES_ADDED_FOR_LINK = (
    "📎 {ref}: {who} added {what}. Files go to the case's clinicians and referrer only;"
    " ask them if you need one."
)

# /case
FILES_HEADER = "<b>Files</b>"
FILE_LINE = "{n}. {what} — {who}, {at}{purged}"
FILE_PURGED = " (removed by retention)"
SEND_AGAIN = "Send file {n}"
NOT_FOR_YOU = "That file cannot be sent to you."
FILE_GONE = "That file was removed under the retention policy."
SENT_AGAIN = "Sending file {n} of {ref}."
