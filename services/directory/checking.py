"""A whole directory file checked: each entry by its model, then ids and references
across entries, into a `ParsedDirectory` or every problem with its line."""

from __future__ import annotations

from services.directory.entries import (
    PERSON_ROLES,
    CentreEntry,
    ClinicEntry,
    DirectoryProblem,
    Format,
    ParsedDirectory,
    PersonEntry,
    Problems,
    default_clinic_id,
)
from services.directory.models import CheckedEntry, check_entry
from services.directory.reading import csv_entries, yaml_entries


def parse_directory(text: str, fmt: Format) -> ParsedDirectory | list[DirectoryProblem]:
    """Check a whole directory file; the directory, or every problem sorted by line."""
    problems = Problems()
    if fmt == "yaml":
        entries = yaml_entries(text, problems)
    elif fmt == "csv":
        entries = csv_entries(text, problems)
    else:
        raise ValueError(f"unknown directory format {fmt!r}")
    checked: list[CheckedEntry] = []
    ids = _Ids()
    for raw in entries:
        entry, found = check_entry(raw)
        problems.items.extend(found)
        ids.note(entry, problems)
        checked.append(entry)
    # References need every id of the file, so they are checked once all are known.
    for entry in checked:
        _check_references(entry, ids, problems)
    if problems:
        # Stable sort: problems on one line stay in the order the fields were read.
        return sorted(problems.items, key=lambda problem: problem.line)
    return _directory(checked)


def _key(entry: CheckedEntry) -> str | None:
    """The entry's id if valid; for a clinic given none, its default from kind, day and time."""
    raw, valid = entry.raw, entry.valid
    if valid.get("id") is not None or raw.kind != "clinic":
        return valid.get("id")
    if "id" in raw.fields and not raw.fields["id"].blank:
        return None  # given, but not valid: reported already
    kind, weekday, time = valid.get("kind"), valid.get("weekday"), valid.get("time")
    if kind is None or weekday is None or time is None:
        return None
    return default_clinic_id(kind, weekday, time)


class _Ids:
    """First line (and kind) each id was seen on, per id space: centres, clinics, and
    people (clinicians, link clinicians and admins all become `Person.directory_id`)."""

    def __init__(self) -> None:
        self.spaces: dict[str, dict[str, tuple[int, str]]] = {"centre": {}, "clinic": {}}
        self.people: dict[str, tuple[int, str]] = {}

    def of(self, kind: str) -> dict[str, tuple[int, str]]:
        return self.spaces.get(kind, self.people)

    def note(self, entry: CheckedEntry, problems: Problems) -> None:
        raw, key = entry.raw, _key(entry)
        if key is None:
            return
        line = raw.fields["id"].line if "id" in raw.fields else raw.line
        seen = self.of(raw.kind)
        if key in seen:
            first = seen[key][0]
            problems.add(line, f"{raw.place}.id", f"duplicate id '{key}' (first at line {first})")
        else:
            seen[key] = (line, raw.kind)


def _check_references(entry: CheckedEntry, ids: _Ids, problems: Problems) -> None:
    # A malformed reference was reported already; "unknown" would only repeat it.
    raw, valid = entry.raw, entry.valid
    deputy = valid.get("deputy") if raw.kind == "clinician" else None
    if deputy:
        line, where = raw.fields["deputy"].line, f"{raw.place}.deputy"
        people = ids.people
        if deputy == valid.get("id"):
            problems.add(line, where, "a clinician cannot be their own deputy")
        elif deputy not in people:
            problems.add(line, where, f"unknown clinician '{deputy}'")
        elif people[deputy][1] != "clinician":
            other = people[deputy][1].replace("_", " ")
            article = "an" if other.startswith("a") else "a"
            problems.add(line, where, f"'{deputy}' is {article} {other}, not a clinician")
    centre = valid.get("centre") if raw.kind == "link_clinician" else None
    if centre and centre not in ids.of("centre"):
        problems.add(raw.fields["centre"].line, f"{raw.place}.centre", f"unknown centre '{centre}'")


def _directory(checked: list[CheckedEntry]) -> ParsedDirectory:
    centres: list[CentreEntry] = []
    people: list[PersonEntry] = []
    clinics: list[ClinicEntry] = []
    for entry in checked:
        raw, valid, key = entry.raw, entry.valid, _key(entry)
        assert entry.ok and key is not None  # a file with any problem never gets here
        if raw.kind == "centre":
            centres.append(CentreEntry(key, valid["name"], raw.line, raw.place))
        elif raw.kind == "clinic":
            cutoff_weekday, cutoff_time = valid.get("cutoff") or (None, None)
            clinics.append(
                ClinicEntry(
                    key,
                    valid["kind"],
                    valid["name"],
                    valid["weekday"],
                    valid["time"],
                    valid["location"],
                    cutoff_weekday,
                    cutoff_time,
                    raw.line,
                    raw.place,
                )
            )
        else:
            people.append(
                PersonEntry(
                    PERSON_ROLES[raw.kind],
                    key,
                    valid["name"],
                    valid.get("specialties", ()),
                    valid.get("deputy"),
                    valid.get("centre"),
                    valid.get("phone"),
                    valid.get("email"),
                    raw.line,
                    raw.place,
                )
            )
    return ParsedDirectory(tuple(centres), tuple(people), tuple(clinics))
