"""Wording of registration, approval and contact details (HTML templates)."""

from __future__ import annotations

ASK_FULL_NAME = (
    "<b>Registration 1/8</b> — What is your full name, as the service should address you?\n"
    "(/cancel stops at any time; nothing is saved until you confirm.)"
)
ASK_JOB_TITLE = "<b>Registration 2/8</b> — What is your job title or grade?"
ASK_CENTRE = "<b>Registration 3/8</b> — Which centre do you refer from?"
ASK_CENTRE_OTHER = "Please type the name of your centre (up to 120 characters)."
ASK_PHONE = "<b>Registration 4/8</b> — Your direct phone number?"
ASK_MOBILE = "<b>Registration 5/8</b> — Your mobile number?"
ASK_SECRETARY = (
    "<b>Registration 6/8</b> — Your secretary's phone number? Type <code>none</code> if you "
    "have no secretary."
)
ASK_EMAIL = "<b>Registration 7/8</b> — Your email address?"
ASK_FAX = "<b>Registration 8/8</b> — Your fax number? Type <code>none</code> if you have none."

CARD = (
    "<b>{full_name}</b>\n"
    "Job title: {job_title}\n"
    "Centre: {centre}\n"
    "Phone: {phone}\n"
    "Mobile: {mobile}\n"
    "Secretary: {secretary}\n"
    "Email: {email}\n"
    "Fax: {fax}"
)
SUMMARY = "<b>Please check your details</b>\n\n{card}{warning}"
MISSING_WARNING = (
    "\n\n⚠️ The sarcoma service asks every referrer for a secretary's phone number and a fax "
    "number, so that it can reach your team quickly. You can add them later with /contact."
)
CHOOSE_FIELD = "Which detail do you want to change?"
FIELD_LABELS = {
    "full_name": "Full name",
    "job_title": "Job title",
    "centre": "Centre",
    "phone": "Phone",
    "mobile": "Mobile",
    "secretary": "Secretary",
    "email": "Email",
    "fax": "Fax",
}
OTHER_CENTRE = "Other"
BACK = "Back to summary"

SUBMITTED = (
    "Thank you. Your registration has been sent to the service's administrators, who check "
    "every referrer. You will hear here as soon as it is approved."
)
ALREADY_REGISTERED = {
    "pending": "Your registration is awaiting approval by the service. You will hear here.",
    "active": "You are already registered. /contact shows your details and lets you change them.",
    "rejected": "Your registration was not approved. Please contact the sarcoma service.",
    "suspended": "Your access is suspended. Please contact the sarcoma service.",
    "other": "This Telegram account is already registered with the service as {role}.",
}
AWAITING_APPROVAL = (
    "Your registration is awaiting approval by the service; this command opens once it is approved."
)
NOT_A_REFERRER = "This command is for registered referrers. To register, send /register."
FOR_ADMINS = "This command is for administrators of the service."

ADMIN_CARD = (
    "🆕 <b>Referrer registration to check</b> (referrer {ref})\n\n{card}{warning}\n\n"
    "Registered {when}."
)
APPROVE, REJECT = "Approve", "Reject"
YOU_APPROVED = "✅ You approved referrer {ref}, {name}."
YOU_REJECTED = "❌ You rejected referrer {ref}, {name}. They have been told the reason."
ALREADY_DECIDED = "Already {outcome} by {who}."
ASK_REJECTION_REASON = (
    "Why is referrer {ref}, {name}, not approved? Type the reason; they will receive it "
    "exactly as you write it. (/cancel to go back without rejecting.)"
)
REASON_REQUIRED = "Please type a reason (up to 500 characters)."
REFERRER_APPROVED = (
    "✅ Your registration has been approved. You can now refer patients to the sarcoma "
    "service. /help lists your commands; /contact shows your details."
)
REFERRER_REJECTED = "Your registration was not approved by the sarcoma service.\nReason: {reason}"

CONTACT_CARD = "<b>Your contact details</b>\n\n{card}{warning}\n\nChoose a detail to change it."
CONTACT_CHANGED = "Saved. Your {field} is updated; the service sees it from now on."
REFERRER_VIEW = "<b>Referrer {ref}</b> — {status}\n\n{card}"
STATUS_NAMES = {
    "pending": "awaiting approval",
    "active": "approved",
    "rejected": "rejected",
    "suspended": "suspended",
}
SUSPEND, REINSTATE = "Suspend", "Reinstate"
SUSPENDED = "Referrer {ref} is suspended."
REINSTATED = "Referrer {ref} is reinstated."
NOTHING_CHANGED = "Nothing changed: referrer {ref} is {status}."
YOU_ARE_SUSPENDED = "Your access to the sarcoma referral bot has been suspended by the service."
YOU_ARE_REINSTATED = "Your access to the sarcoma referral bot has been restored."
REFERRER_USAGE = "Usage: /referrer <number>, for example /referrer 12."
NO_SUCH_REFERRER = "There is no referrer {ref}."
