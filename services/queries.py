"""Queries on a case: asking, routing, acknowledging, replies both ways, passing to the
deputy, resolving, and escalation when nobody acknowledges."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from services.cases import link_clinicians_for
from storage.models import Case, Person, PersonStatus, Query, Role, ThreadMessage
from storage.uow import UnitOfWork

OPEN = ("open", "acknowledged")


def is_away(person: Person | None, today: date) -> bool:
    """Away up to and including `away_until`."""
    return person is None or (person.away_until is not None and person.away_until >= today)


def clinician_side(person: Person | None, case: Case) -> bool:
    """Named clinician or deputy of this case."""
    return person is not None and person.id in (case.named_clinician_id, case.deputy_id)


@dataclass(frozen=True)
class Routed:
    query: Query
    case: Case
    holder: Person | None
    link_clinicians: Sequence[Person]
    to_deputy_because_away: bool


async def ask(
    uow: UnitOfWork, referrer: Person, case: Case, text: str, now: datetime, today: date
) -> Routed:
    """A referrer's question becomes Q-n with the named clinician (the deputy if away)."""
    named = await uow.people.get(case.named_clinician_id) if case.named_clinician_id else None
    deputy = await uow.people.get(case.deputy_id) if case.deputy_id else None
    holder, because_away = named, False
    if is_away(named, today) and deputy is not None and not is_away(deputy, today):
        holder, because_away = deputy, named is not None
    query = Query(
        case_id=case.id,
        asked_by_id=referrer.id,
        holder_id=holder.id if holder else None,
        status="open",
        created_at=now,
    )
    uow.queries.add(query)
    await uow.flush()
    await _add_to_thread(
        uow,
        referrer,
        query,
        case,
        text,
        now,
        "query.asked",
        case=case.ref,
        holder=holder.ref if holder else None,
    )
    links = await link_clinicians_for(uow, case.centre_id, case.tumour_type)
    return Routed(query, case, holder, links, because_away)


async def _add_to_thread(
    uow: UnitOfWork,
    author: Person,
    query: Query,
    case: Case,
    text: str,
    now: datetime,
    action: str,
    /,
    **details: object,
) -> None:
    """A message on the query's thread, audited as `action` with `details`."""
    uow.queries.add_message(case.id, author.id, text, now, query_id=query.id)
    await uow.audit.record(now, author.ref, action, query.ref, **details)


async def query_with_case(uow: UnitOfWork, query_id: int) -> tuple[Query, Case] | None:
    query = await uow.queries.get(query_id)
    if query is None:
        return None
    case = await uow.cases.get(query.case_id)
    return (query, case) if case is not None else None


async def acknowledge(uow: UnitOfWork, clinician: Person, query: Query, now: datetime) -> bool:
    """Mark seen; False if it already was (or is resolved)."""
    if query.status != "open":
        return False
    query.status, query.acknowledged_at = "acknowledged", now
    await uow.audit.record(now, clinician.ref, "query.acknowledged", query.ref)
    return True


@dataclass(frozen=True)
class Relayed:
    """A message added to a query's thread, and who must receive it."""

    to: Sequence[Person]
    copies: Sequence[Person]
    from_clinician: bool
    reopened: bool


async def relay(
    uow: UnitOfWork, author: Person, query: Query, case: Case, text: str, now: datetime
) -> Relayed | str:
    """Add a reply to the thread; returns recipients, or why it cannot be relayed."""
    from_clinician = clinician_side(author, case)
    if not from_clinician and author.id != case.referrer_id:
        return "not_participant"
    reopened = False
    if query.status == "resolved":
        if from_clinician:
            return "closed"
        query.status, query.resolved_at, reopened = "open", None, True
        await uow.audit.record(now, author.ref, "query.reopened", query.ref)
    await _add_to_thread(
        uow,
        author,
        query,
        case,
        text,
        now,
        "message.routed",
        direction="answer" if from_clinician else "follow_up",
    )
    if from_clinician:
        if query.first_response_at is None:
            query.first_response_at = now
        if query.status == "open":
            query.status, query.acknowledged_at = "acknowledged", query.acknowledged_at or now
        referrer = await uow.people.get(case.referrer_id)
        links = await link_clinicians_for(uow, case.centre_id, case.tumour_type)
        return Relayed([referrer] if referrer else [], links, True, reopened)
    holder = await uow.people.get(query.holder_id) if query.holder_id else None
    named = await uow.people.get(case.named_clinician_id) if case.named_clinician_id else None
    target = holder or named
    return Relayed([target] if target else [], [], False, reopened)


async def pass_to_deputy(
    uow: UnitOfWork, clinician: Person, query: Query, case: Case, now: datetime
) -> Person | None:
    """Hand the query to the other clinician of the case."""
    other_id = case.deputy_id if query.holder_id != case.deputy_id else case.named_clinician_id
    other = await uow.people.get(other_id) if other_id else None
    if other is None or other.id == query.holder_id or other.status != PersonStatus.ACTIVE:
        return None
    query.holder_id = other.id
    await uow.audit.record(now, clinician.ref, "query.passed", query.ref, to=other.ref)
    return other


async def resolve(uow: UnitOfWork, clinician: Person, query: Query, now: datetime) -> bool:
    """Close the query; False if it already was."""
    if query.status == "resolved":
        return False
    query.status, query.resolved_at = "resolved", now
    await uow.audit.record(now, clinician.ref, "query.resolved", query.ref)
    return True


async def messages_of(uow: UnitOfWork, query: Query) -> Sequence[ThreadMessage]:
    """The question and everything said on it since, oldest first."""
    return await uow.queries.messages_of(query.id)


async def open_queries_for(uow: UnitOfWork, clinician: Person) -> Sequence[Query]:
    """A clinician's queue: open queries they hold, urgent cases' first (they have half
    the acknowledgement time), then oldest first."""
    return await uow.queries.held_by(clinician.id, OPEN)


def sla_for(case: Case, sla: timedelta) -> timedelta:
    """Urgent cases get half the acknowledgement time."""
    return sla / 2 if case.urgency == "urgent" else sla


@dataclass(frozen=True)
class Escalation:
    query: Query
    case: Case
    level: int  # 1: to the deputy, 2: to the admins
    to: Sequence[Person]
    sla: timedelta


async def escalate_due(uow: UnitOfWork, now: datetime, sla: timedelta) -> list[Escalation]:
    """Raise every unacknowledged query past its time, one step at a time, once each.

    Rows are claimed with FOR UPDATE SKIP LOCKED on PostgreSQL, so several processes
    never escalate the same query twice; the level is stored, so a restart never
    repeats a step.
    """
    done: list[Escalation] = []
    for query, case in await uow.queries.unacknowledged_to_escalate():
        limit = sla_for(case, sla)
        age = now - query.created_at
        if query.escalation_level == 0 and age >= limit:
            deputy = await uow.people.get(case.deputy_id) if case.deputy_id else None
            to = [deputy] if deputy and deputy.id != query.holder_id else []
            query.escalation_level, query.escalated_at = 1, now
            await uow.audit.record(now, "system", "query.escalated", query.ref, to="deputy")
            done.append(Escalation(query, case, 1, to, limit))
        elif query.escalation_level == 1 and age >= 2 * limit:
            admins = [a for a in await uow.people.by_role(Role.ADMIN) if a.telegram_user_id]
            query.escalation_level, query.escalated_at = 2, now
            await uow.audit.record(now, "system", "query.escalated", query.ref, to="admins")
            done.append(Escalation(query, case, 2, admins, 2 * limit))
    return done
