"""Wording of the administrators' /stats and /pending (HTML templates)."""

from __future__ import annotations

STATS_USAGE = (
    "Usage: /stats, or /stats YYYY-MM-DD [YYYY-MM-DD] for a period (first and last day, "
    "inclusive). Without dates: the last 30 days."
)
STATS = (
    "📊 <b>Statistics {since} to {until}</b>\n\n"
    "<b>Cases</b>: {cases} ({urgent} urgent) — {centres}\n"
    "<b>Tumour type</b>: {tumours}\n"
    "<b>Queries</b>: {queries} asked, {resolved} resolved, {unanswered} not yet answered\n"
    "<b>First response</b>: median {response_median}, 90th percentile {response_p90}; "
    "{within} of {queries} within the two-week letter, {beyond} beyond it\n"
    "<b>Resolution</b>: median {resolution_median}, 90th percentile {resolution_p90}\n"
    "<b>Escalated</b>: {to_deputy} to the deputy, {to_admins} to the administrators\n"
    "<b>Reminders</b>: {sent} sent, {confirmed} confirmed, {cannot} can't attend, "
    "{missed} missed\n\n"
    "<b>Now</b>: {open} open queries, {overdue} overdue{overdue_by}; "
    "{unallocated} open cases without a named clinician\n"
    "<b>Load</b> (open cases, named + deputy): {load}\n"
    "<b>Unreachable</b>: {unreachable}\n"
    "<b>Referrers missing</b> secretary's phone: {no_secretary}, fax: {no_fax}\n"
    "<b>Registrations awaiting approval</b>: {pending}{pending_hint}\n\n"
    "The full pack with charts: <code>referral-bot report --format html</code>"
)
PENDING_HINT = " (/pending)"
NOBODY = "nobody"
NONE_PENDING = "No registrations are awaiting approval."
PENDING_HEADER = "🗂 <b>{count} registration(s) awaiting approval</b>, oldest first{more}:"
PENDING_MORE = " (the first {shown} shown; decide these to see the rest)"
