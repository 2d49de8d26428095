"""Wording of referrals, allocation, queries and threads (HTML templates)."""

from __future__ import annotations

TUMOUR_TYPES = {"bone": "Bone", "soft_tissue": "Soft tissue", "not_sure": "Not sure"}
URGENCIES = {"urgent": "Urgent", "routine": "Routine"}

ASK_NHS = (
    "<b>New referral 1/6</b> — The patient's NHS number (10 digits)?\n"
    "(/cancel stops at any time; nothing is saved until you confirm.)"
)
ASK_DOB = "<b>New referral 2/6</b> — The patient's date of birth (DD/MM/YYYY)?"
ASK_TUMOUR = "<b>New referral 3/6</b> — Suspected tumour type?"
ASK_SITE = "<b>New referral 4/6</b> — Anatomical site (up to 200 characters)?"
ASK_SUMMARY = (
    "<b>New referral 5/6</b> — Clinical summary and your question (up to 3000 characters)?"
)
ASK_URGENCY = "<b>New referral 6/6</b> — Urgency?"
DUPLICATE_OWN = (
    "This patient already has an open case, <b>{ref}</b>, that you referred. You can add "
    "your question to it instead of opening a new case."
)
ADD_TO_EXISTING, NEW_CASE_ANYWAY = "Add a question to {ref}", "Open a new case anyway"
DUPLICATE_OTHER = (
    "Note: this patient already has an open case with the service. Your referral will be "
    "flagged to the clinicians as a possible duplicate."
)
REFERRAL_SUMMARY = (
    "<b>Please check the referral</b>\n\n"
    "NHS number: {nhs}\nDate of birth: {dob}\nTumour type: {tumour}\nSite: {site}\n"
    "Urgency: {urgency}\n\nClinical summary:\n{summary}"
)
CHOOSE_FIELD = "Which detail do you want to change?"
FIELD_LABELS = {
    "nhs": "NHS number",
    "dob": "Date of birth",
    "tumour": "Tumour type",
    "site": "Site",
    "summary": "Clinical summary",
    "urgency": "Urgency",
}
BACK = "Back to summary"

CASE_OPENED = (
    "✅ <b>Case {ref}</b> is open.\n\n"
    "Named clinician: <b>{named}</b>{named_contact}\n"
    "Deputy: <b>{deputy}</b>{deputy_contact}\n\n"
    "Next one-stop diagnostic clinic: {clinic}\n\n"
    "Ask questions about this patient with /ask {ref}; /case {ref} shows the whole thread."
)
CASE_OPENED_UNALLOCATED = (
    "✅ <b>Case {ref}</b> is open. No senior clinician could be allocated automatically "
    "just now; the service coordinator will allocate one and you will be told here.\n\n"
    "Next one-stop diagnostic clinic: {clinic}"
)
NO_CLINIC = "not yet scheduled — the service will contact you"
CONTACT_SUFFIX = " ({phone}{sep}{email})"

CASE_FOR_CLINICIAN = (
    "🆕 <b>{role_line} for case {ref}</b> — {urgency}, {tumour}{duplicate}\n\n"
    "NHS number: {nhs}\nDate of birth: {dob}\nSite: {site}\n\nClinical summary:\n{summary}\n\n"
    "<b>Referrer</b>\n{card}\n\n<b>Link clinicians at the centre</b>\n{links}"
)
ROLE_NAMED, ROLE_DEPUTY = "You are the named clinician", "You are the deputy"
DUPLICATE_NOTE = "\n⚠️ Possible duplicate of open case {ref} (same NHS number)."
NO_LINKS = "none listed"
CASE_FOR_LINK = (
    "ℹ️ <b>New referral from your centre: {ref}</b>\n"
    "Tumour type: {tumour}\nUrgency: {urgency}\nReferrer: {referrer}\n"
    "Named clinician: {named}"
)
CASE_NEEDS_ALLOCATION = (
    "⚠️ <b>Case {ref} needs allocation by hand</b> ({tumour}, {urgency}): no clinician "
    "fits or everyone is away.\nUse /allocate {ref} &lt;named&gt; &lt;deputy&gt; with "
    "directory ids."
)
ALLOCATED_TO_YOU = (
    "<b>Case {ref}</b> has been allocated to you as {role} by the service coordinator."
)
ALLOCATION_CHANGED = (
    "Case {ref}: your named clinician is now <b>{named}</b>{named_contact}, deputy "
    "<b>{deputy}</b>{deputy_contact}."
)
NO_LONGER_ON_CASE = (
    "Case {ref} has been reallocated by the service coordinator: you are no longer its "
    "named clinician or deputy."
)
ALLOCATE_USAGE = "Usage: /allocate C-12 dr-jones dr-patel (named clinician, then deputy)."
ALLOCATE_BAD = "{problem}"
ALLOCATED = "Case {ref}: named clinician {named}, deputy {deputy}. Everyone concerned is told."

NOT_YOURS = "There is no case {ref} that you can see."
NO_CASES_FOR_YOU = "There are no cases you can see."
NO_OPEN_CASES = "You have no open cases. /refer opens one."
CASES_HEADER = "<b>Your cases</b>"
CASE_LINE = "{ref} — {tumour}, {urgency}, {status}, opened {opened}"
CASE_VIEW = (
    "<b>Case {ref}</b> — {status}\n{tumour}, {urgency}; opened {opened}\n"
    "NHS number: {nhs}\nDate of birth: {dob}\nSite: {site}\n"
    "Referrer: {referrer}\nNamed clinician: {named}\nDeputy: {deputy}\n\n"
    "Clinical summary:\n{summary}\n\n<b>Thread</b>\n{thread}{need_to_know}"
)
THREAD_EMPTY = "no messages yet"
PATIENT_THREAD_NOT_SHOWN = (
    "\n\n(The patient's own messages, and queries they raised, are shown only to the "
    "case's clinicians, its referrer and the service's administrators.)"
)
REMOVED_BY_RETENTION = "(removed: retention period ended)"
THREAD_LINE = "[{at}] {query} {author}: {text}"

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
QUEUE_HEADER = "<b>Your open queries</b>, urgent first, then oldest first"
QUEUE_EMPTY = "You have no open queries."
QUEUE_LINE = "{qref} on {ref} — {state}, asked {asked}"
AWAY_USAGE = "Usage: /away YYYY-MM-DD (the last day you are away)."
AWAY_SET = "You are marked away until {until}. New queries go to your deputies."
AWAY_BAD_DATE = "That date is not valid or is in the past. Usage: /away YYYY-MM-DD."
BACK = "Welcome back: new queries come to you again."
FOR_CLINICIANS = "This command is for clinicians of the service."
