"""Wording of /ask, the holder's buttons, replies and escalations (HTML templates)."""

from __future__ import annotations

ASK_WHICH_CASE = "Which case is your question about?"
ASK_QUESTION = "Type your question about <b>{ref}</b> (up to 3000 characters)."
QUERY_ROUTED = "Your question is <b>{qref}</b> on {ref}. It is with <b>{holder}</b>{why}."
HOLDER_AWAY = " (the named clinician is away, so it went to the deputy)"
QUERY_FOR_HOLDER = (
    "❓ <b>{qref}</b> on case <b>{ref}</b> ({urgency}) from {referrer}:\n\n{text}\n\n"
    "Reply to this message to answer, or use the buttons."
)
QUERY_COPY = "📋 Copy: <b>{qref}</b> on case <b>{ref}</b> from {referrer}:\n\n{text}"
ACKNOWLEDGE, REPLY, PASS, RESOLVE = "Acknowledge", "Reply", "Pass to deputy", "Resolve"
ACKNOWLEDGED_REFERRER = "👀 {holder} has seen your question {qref} on {ref}."
ACKNOWLEDGED_HOLDER = "You acknowledged {qref}."
ANSWER_FOR_REFERRER = (
    "💬 <b>Answer to {qref}</b> on case <b>{ref}</b> from {author}:\n\n{text}\n\n"
    "Reply to this message to answer back."
)
ANSWER_COPY = "📋 Copy: answer to {qref} on {ref} from {author}:\n\n{text}"
FOLLOWUP_FOR_HOLDER = (
    "💬 <b>{qref}</b> on case <b>{ref}</b>: {author} answered back:\n\n{text}\n\n"
    "Reply to this message to answer."
)
REPLY_SENT = "Sent to {who} ({qref})."
ASK_REPLY = "Type your answer to {qref} on {ref}."
ONLY_TEXT = (
    "Only text can be relayed: please type your message. Photos, files and voice notes "
    "are not passed on."
)
QUERY_CLOSED = "{qref} is resolved. To ask something new about {ref}, use /ask {ref}."
QUERY_REOPENED = "{qref} was resolved; your message reopened it."
PASSED_REFERRER = "{qref} on {ref} is now with the deputy, {holder}."
PASSED_HOLDER = "You passed {qref} to {holder}."
PASSED_TO_YOU = "{qref} on {ref} was passed to you by {by}."
NO_DEPUTY = "There is no deputy to pass {qref} to."
NOT_HOLDER = "Only the clinicians of this case can do that."
RESOLVED_HOLDER = "You resolved {qref}. The referrer and link clinicians get the advice summary."
ADVICE_CAPTION = "Advice summary {qref} on case {ref} (PDF)"

ESCALATED_DEPUTY = (
    "⏰ <b>{qref}</b> on case <b>{ref}</b> ({urgency}) has not been acknowledged by the "
    "named clinician within {sla}. As deputy, please pick it up:\n\n{text}"
)
ESCALATED_ADMINS = (
    "⏰ <b>{qref}</b> on case <b>{ref}</b> ({urgency}) is still unacknowledged after {sla}. "
    "Named clinician: {named}; deputy: {deputy}. Please follow it up."
)
