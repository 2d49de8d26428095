"""Wording of /refer: its questions, the summary, and the notices of a new case (HTML
templates). The tumour types and urgencies are the referral's answers, shown everywhere."""

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
