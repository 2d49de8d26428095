"""Administrators' tools for the governance meeting: /stats and /pending.

(/referrer is in referrer.py and /allocate in cases.py; all four are audited.)
"""

from __future__ import annotations

import re
from datetime import date, timedelta

from delivery.text import Html, render
from handlers import admin_texts, registration_texts, shared
from handlers.base import Turn, for_roles
from handlers.shared import card_warning, decision_buttons, render_card
from services import registration, reports, viewing
from services.report_render import ROLE_LABELS, TUMOUR_LABELS, duration
from storage.models import Role

STATS_DAYS = 30
PENDING_SHOWN = 10
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


def _dates(turn: Turn) -> tuple[date, date] | None:
    """The period asked for: none (the last 30 days), one date (to today), or two."""
    today = shared.today(turn)
    if len(turn.args) > 2 or not all(_DATE.fullmatch(a) for a in turn.args):
        return None
    try:
        given = [date.fromisoformat(a) for a in turn.args]
    except ValueError:
        return None
    if not given:
        return today - timedelta(days=STATS_DAYS - 1), today
    since, until = given[0], given[1] if len(given) == 2 else today
    return (since, until) if since <= until else None


def _list(pairs: list[tuple[str, int]]) -> str:
    shown = [f"{label} {n}" for label, n in pairs if n]
    return ", ".join(shown) if shown else admin_texts.NOBODY


def stats_text(report: reports.Report) -> Html:
    """The short form of the report for Telegram."""
    urgent = next((b.cases for b in report.by_urgency if b.key == "urgent"), 0)
    overdue = [(c.name, c.overdue_queries) for c in report.clinicians]
    return render(
        admin_texts.STATS,
        since=report.since.strftime("%d %b %Y") if report.since else "the start",
        until=report.until.strftime("%d %b %Y"),
        cases=report.cases,
        urgent=urgent,
        centres=_list([(report.centres.get(b.key, b.key), b.cases) for b in report.by_centre]),
        tumours=_list([(TUMOUR_LABELS.get(b.key, b.key), b.cases) for b in report.by_tumour]),
        queries=report.queries,
        resolved=report.queries_resolved,
        unanswered=report.queries_unanswered,
        response_median=duration(report.first_response.median),
        response_p90=duration(report.first_response.p90),
        within=report.first_response.within_letter,
        beyond=report.first_response.beyond_letter,
        resolution_median=duration(report.resolution.median),
        resolution_p90=duration(report.resolution.p90),
        to_deputy=report.escalated_to_deputy,
        to_admins=report.escalated_to_admins,
        sent=report.reminders.sent,
        confirmed=report.reminders.confirmed,
        cannot=report.reminders.cannot_attend,
        missed=report.reminders.missed,
        open=report.open_queries,
        overdue=report.overdue_queries,
        overdue_by=f" ({_list(overdue)})" if report.overdue_queries else "",
        unallocated=report.unallocated_open_cases,
        load=_list([(c.name, c.open_named + c.open_deputy) for c in report.clinicians]),
        unreachable=_list([(ROLE_LABELS[r].lower(), n) for r, n in report.unreachable.items()]),
        no_secretary=report.missing_secretary,
        no_fax=report.missing_fax,
        pending=report.pending_registrations,
        pending_hint=admin_texts.PENDING_HINT if report.pending_registrations else "",
    )


@for_roles(Role.ADMIN, refusal=registration_texts.FOR_ADMINS)
async def stats_command(turn: Turn) -> None:
    """/stats [from] [to] (admins): the governance figures in short."""
    assert turn.person is not None
    span = _dates(turn)
    if span is None:
        turn.say(admin_texts.STATS_USAGE)
        return
    report = await reports.build_report(
        turn.uow, turn.resources.clock, turn.resources.timezone, turn.resources.ack_sla, *span
    )
    await viewing.report_viewed(turn.uow, turn.person, *span, turn.now)
    turn.say(stats_text(report))


@for_roles(Role.ADMIN, refusal=registration_texts.FOR_ADMINS)
async def pending_command(turn: Turn) -> None:
    """/pending (admins): registrations awaiting approval, each with Approve / Reject."""
    assert turn.person is not None
    count, referrers = await reports.pending_registrations(turn.uow, PENDING_SHOWN)
    await viewing.registrations_listed(turn.uow, turn.person, count, turn.now)
    if not count:
        turn.say(admin_texts.NONE_PENDING)
        return
    more = render(admin_texts.PENDING_MORE, shown=len(referrers)) if count > len(referrers) else ""
    turn.say(render(admin_texts.PENDING_HEADER, count=count, more=more))
    tz = turn.resources.timezone
    for referrer in referrers:
        card = await registration.load_card(turn.uow, referrer)
        if card is None:
            continue
        turn.say(
            render(
                registration_texts.ADMIN_CARD,
                ref=referrer.id,
                card=render_card(card),
                warning=card_warning(card),
                when=referrer.created_at.astimezone(tz).strftime("%d %b %Y %H:%M"),
            ),
            decision_buttons(referrer.id),
        )
