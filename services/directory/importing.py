"""Applying a checked directory: upsert by id, report what changed, audit field names."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from services.directory.entries import (
    CentreEntry,
    ClinicEntry,
    DirectoryProblem,
    DirectoryRejected,
    ParsedDirectory,
    PersonEntry,
)
from storage.models import Centre, Clinic, Person, PersonStatus
from storage.uow import UnitOfWork

# The order in which changed fields are reported, whatever order they were found in.
_PERSON_FIELDS = ("name", "specialties", "deputy", "centre", "phone", "email")
_CLINIC_FIELDS = ("kind", "name", "weekday", "time", "location", "cutoff")


@dataclass
class ImportReport:
    """What an import did, as (kind, id) pairs; `changed` also names the fields."""

    added: list[tuple[str, str]] = field(default_factory=list)
    changed: list[tuple[str, str, tuple[str, ...]]] = field(default_factory=list)
    unchanged: list[tuple[str, str]] = field(default_factory=list)
    not_in_file: list[tuple[str, str]] = field(default_factory=list)


class _Outcomes:
    """The report, and the audit events (kind, id, changed fields or None when added)
    in the order they were met."""

    def __init__(self) -> None:
        self.report = ImportReport()
        self.events: list[tuple[str, str, tuple[str, ...] | None]] = []

    def record(
        self, kind: str, ident: str, fields: list[str] | None, order: tuple[str, ...]
    ) -> None:
        if fields is None:
            self.report.added.append((kind, ident))
            self.events.append((kind, ident, None))
        elif fields:
            ordered = tuple(name for name in order if name in fields)
            self.report.changed.append((kind, ident, ordered))
            self.events.append((kind, ident, ordered))
        else:
            self.report.unchanged.append((kind, ident))


async def import_directory(
    uow: UnitOfWork, parsed: ParsedDirectory, now: datetime, actor: str = "cli"
) -> ImportReport:
    """Upsert the directory by id in `uow` (the caller commits); report what happened.

    Raises `DirectoryRejected` before changing anything when the file clashes with the
    database (an id stored with another role).
    """
    stored_people = {
        person.directory_id: person
        for person in await uow.people.directory_people()
        if person.directory_id is not None
    }
    _refuse_role_changes(parsed, stored_people)
    outcomes = _Outcomes()
    stored_centres = await _upsert_centres(uow, parsed.centres, now, outcomes)
    await _upsert_people(uow, parsed.people, stored_people, now, outcomes)
    stored_clinics = await _upsert_clinics(uow, parsed.clinics, outcomes)

    # Present in the database, absent from the file: kept, since people may be bound
    # to Telegram accounts and named on cases; the report lets the admin notice them.
    stored = [
        *(("centre", centre_id) for centre_id in stored_centres),
        *((person.role, directory_id) for directory_id, person in stored_people.items()),
        *(("clinic", clinic_id) for clinic_id in stored_clinics),
    ]
    listed = parsed.by_key().keys()
    outcomes.report.not_in_file.extend(key for key in stored if key not in listed)

    # Field names only: the audit log never holds personal values.
    for kind, ident, fields in outcomes.events:
        subject = f"{kind}:{ident}"
        if fields is None:
            await uow.audit.record(now, actor, "directory.added", subject)
        else:
            await uow.audit.record(now, actor, "directory.changed", subject, fields=list(fields))
    await uow.flush()
    return outcomes.report


def _refuse_role_changes(parsed: ParsedDirectory, stored_people: dict[str, Person]) -> None:
    clashes = [
        DirectoryProblem(
            entry.line,
            f"{entry.place}.id" if entry.place else "id",
            f"'{entry.id}' is stored as {stored.role.replace('_', ' ')}, not as "
            f"{entry.kind.replace('_', ' ')}; an import does not change roles",
        )
        for entry in parsed.people
        if (stored := stored_people.get(entry.id)) is not None and stored.role != entry.role
    ]
    if clashes:
        raise DirectoryRejected(clashes)


def _update(row: Any, wanted: dict[str, Any], changes: list[str] | None) -> None:
    """Set the fields that differ, naming each in `changes` (None: a new row)."""
    for name, value in wanted.items():
        if getattr(row, name) != value:
            setattr(row, name, value)
            if changes is not None:
                changes.append(name)


async def _upsert_centres(
    uow: UnitOfWork, entries: tuple[CentreEntry, ...], now: datetime, outcomes: _Outcomes
) -> dict[str, Centre]:
    stored = {centre.id: centre for centre in await uow.centres.all()}
    for entry in entries:
        centre = stored.get(entry.id)
        if centre is None:
            uow.centres.add(Centre(id=entry.id, name=entry.name, created_at=now))
            outcomes.record("centre", entry.id, None, ("name",))
            continue
        changed: list[str] = []
        _update(centre, {"name": entry.name}, changed)
        outcomes.record("centre", entry.id, changed, ("name",))
    await uow.flush()
    return stored


async def _upsert_people(
    uow: UnitOfWork,
    entries: tuple[PersonEntry, ...],
    stored: dict[str, Person],
    now: datetime,
    outcomes: _Outcomes,
) -> None:
    people = dict(stored)
    changes: dict[str, list[str] | None] = {}
    for entry in entries:
        person = people.get(entry.id)
        if person is None:
            person = Person(
                directory_id=entry.id,
                role=entry.role.value,
                status=PersonStatus.ACTIVE,
                reachable=True,
                created_at=now,
            )
            uow.people.add(person)
            people[entry.id] = person
        changes[entry.id] = None if entry.id not in stored else []
        # Each value is compared with the decrypted stored one and written only when it
        # differs: re-encrypting (fresh nonce) would make every row look changed.
        wanted = {
            "name": entry.name,
            "phone": entry.phone,
            "email": entry.email,
            "specialties": ",".join(entry.specialties),
            "centre_id": entry.centre,
        }
        _update(person, wanted, changes[entry.id])
    # Deputies point at people.id, which new people get only once inserted.
    await uow.flush()
    for entry in entries:
        person, changed = people[entry.id], changes[entry.id]
        deputy_id = people[entry.deputy].id if entry.deputy else None
        _update(person, {"deputy_id": deputy_id}, changed)
        if changed:
            person.updated_at = now
        named = None if changed is None else [name.removesuffix("_id") for name in changed]
        outcomes.record(entry.kind, entry.id, named, _PERSON_FIELDS)


async def _upsert_clinics(
    uow: UnitOfWork, entries: tuple[ClinicEntry, ...], outcomes: _Outcomes
) -> dict[str, Clinic]:
    stored = {clinic.id: clinic for clinic in await uow.clinics.all()}
    for entry in entries:
        clinic = stored.get(entry.id)
        wanted: dict[str, Any] = {
            "kind": entry.kind,
            "name": entry.name,
            "weekday": entry.weekday,
            "time": entry.time,
            "location": entry.location,
            "cutoff_weekday": entry.cutoff_weekday,
            "cutoff_time": entry.cutoff_time,
        }
        if clinic is None:
            uow.clinics.add(Clinic(id=entry.id, **wanted))
            outcomes.record("clinic", entry.id, None, _CLINIC_FIELDS)
            continue
        changed: list[str] = []
        _update(clinic, wanted, changed)
        # The cut-off is one field in the file, two columns in the database.
        named = ["cutoff" if name.startswith("cutoff_") else name for name in changed]
        outcomes.record("clinic", entry.id, named, _CLINIC_FIELDS)
    return stored


def render_report(report: ImportReport) -> list[str]:
    """Lines for the CLI: each addition and change, then the totals."""
    lines = [f"added {kind.replace('_', ' ')} {ident}" for kind, ident in report.added]
    lines += [
        f"changed {kind.replace('_', ' ')} {ident} ({', '.join(fields)})"
        for kind, ident, fields in report.changed
    ]
    lines.append(f"unchanged: {len(report.unchanged)}")
    lines += [
        f"not in file, left as stored: {kind.replace('_', ' ')} {ident}"
        for kind, ident in report.not_in_file
    ]
    lines.append(
        f"added: {len(report.added)}, changed: {len(report.changed)}, "
        f"unchanged: {len(report.unchanged)}, not in file: {len(report.not_in_file)}"
    )
    return lines
