"""Wording of /case, /cases and /allocate (HTML templates)."""

from __future__ import annotations

ALLOCATION_CHANGED = (
    "Case {ref}: your named clinician is now <b>{named}</b>{named_contact}, deputy "
    "<b>{deputy}</b>{deputy_contact}."
)
NO_LONGER_ON_CASE = (
    "Case {ref} has been reallocated by the service coordinator: you are no longer its "
    "named clinician or deputy."
)
ALLOCATE_USAGE = "Usage: /allocate C-12 dr-jones dr-patel (named clinician, then deputy)."
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
    "Clinical summary:\n{summary}\n\n<b>Thread</b>\n{thread}{need_to_know}{files}"
)
THREAD_EMPTY = "no messages yet"
PATIENT_THREAD_NOT_SHOWN = (
    "\n\n(The patient's own messages, and queries they raised, are shown only to the "
    "case's clinicians, its referrer and the service's administrators.)"
)
REMOVED_BY_RETENTION = "(removed: retention period ended)"
THREAD_LINE = "[{at}] {query} {author}: {text}"
