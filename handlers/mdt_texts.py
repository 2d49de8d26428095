"""What the bot says about the MDT meeting (HTML templates)."""

from __future__ import annotations

ADD_USAGE = "To list a case for the MDT: /mdt_add C-12 (or /mdt_add C-12 YYYY-MM-DD)"
REMOVE_USAGE = "To take a case off the MDT: /mdt_remove C-12 and the reason"
AGENDA_USAGE = "For the next MDT's agenda: /mdt (or /mdt YYYY-MM-DD for another meeting)"
OUTCOME_USAGE = "To record the MDT's outcome: /mdt_outcome C-12"
ASK_QUESTION = (
    "Listing {ref} for the MDT. In one line: what is the question for the meeting?"
    " (/cancel to stop)"
)
QUESTION_HINT = "Please type the question for the meeting in one line."

LISTED = "✅ {ref} is listed for the MDT on {when}. Question: {question}"
LISTED_AFTER_CUTOFF = (
    "The list for the MDT on {missed} closed on {cutoff}, so {ref} is listed for the"
    " following meeting, on {when}. An administrator can still add it to {missed}."
)
LISTED_FOR_OTHERS = "🗓 {ref} will be discussed at the sarcoma MDT on {when}."
ADDED_AFTER_AGENDA = (
    "📋 Added to the MDT of {when} after its agenda went out: {ref} ({urgency}) — {question}."
    " Presenting: {presenting}."
)
ALREADY = "{ref} is already listed for the MDT on {when}."
NO_MEETING = "There is no MDT meeting in the directory ahead to list a case for."
NOT_A_MEETING = "There is no MDT meeting on {day} (or it was cancelled)."
TOO_LATE = "The list for that meeting has closed and there is no later meeting to list it for."
CLOSED = "{ref} is closed, so it cannot go to the MDT."
NOT_LISTED = "{ref} is not listed for an MDT meeting."

REMOVED = "{ref} is taken off the MDT of {when}. Reason: {reason}"
REMOVED_FOR_OTHERS = "🗓 {ref} is no longer on the MDT of {when}. Reason: {reason}"

AGENDA_HEADER = "<b>MDT {when}</b> — {count}"
AGENDA_LINE = (
    "{n}. <b>{ref}</b> {urgency} · {tumour}, {site}\n"
    "   Q: {question}\n   Presenting: {presenting} · files: {files} · {days} since referral"
)
AGENDA_EMPTY = "No cases are listed for the MDT on {when}."
AGENDA_NONE_AHEAD = "There is no MDT meeting ahead."
AGENDA_PDF = "Agenda PDF"
AGENDA_PDF_CAPTION = "MDT agenda {when}"
AGENDA_AT_CUTOFF = "📋 The list for the MDT on {when} has closed. The agenda:"
NOT_FOR_YOU = "Only the service's administrators get the agenda PDF."

ASK_OUTCOME = "The MDT's outcome for {ref} ({when})?"
ASK_OUTCOME_TEXT = "What did the MDT decide for {ref}, in words the referrer will read?"
OUTCOME_TEXT_HINT = "Please type the outcome in words."
CONFIRM_OUTCOME = (
    "Send this outcome for {ref} to the referrer and link clinicians?\n\n<b>{outcome}</b>\n{text}"
)
OUTCOME_SENT = "✅ The outcome for {ref} is recorded and sent to {who}."
OUTCOME_ALREADY = "The outcome for {ref} was already recorded (by someone else, just now)."
OUTCOME_NOT_YET = (
    "{ref} is listed for the MDT on {when}: the outcome can be recorded from that day."
)
OUTCOME_FOR_REFERRER = (
    "🏥 <b>MDT outcome for {ref}</b> (sarcoma MDT, {when})\n\n<b>{outcome}</b>\n{text}\n\n"
    "Recorded by {who}. The same as a PDF follows."
)
OUTCOME_PDF_CAPTION = "MDT outcome {ref} ({when})"

ROLLED_REMINDER = (
    "⏰ No outcome was recorded for {ref} at the MDT on {old}, so it is listed again for"
    " {when}. If it was discussed, record the outcome: /mdt_outcome {ref}"
)
CANCELLED_MOVED = "🗓 The MDT of {old} is cancelled: {ref} is now listed for {when}."
ROLLED_FOR_OTHERS = "🗓 {ref} was not reached at the MDT on {old}; it is listed for {when}."
