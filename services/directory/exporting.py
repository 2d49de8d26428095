"""Writing the stored directory back as a file that `parse_directory` reads unchanged."""

from __future__ import annotations

import csv
import io
from typing import Any

import yaml

from services.directory.entries import (
    CSV_COLUMNS,
    PERSON_ROLES,
    SECTION_OF,
    SECTIONS,
    WEEKDAYS,
    CentreEntry,
    ClinicEntry,
    Entry,
    Format,
    ParsedDirectory,
    PersonEntry,
    cutoff_text,
    entry_kind,
)
from services.directory.models import MODELS, TIME
from storage.models import Role
from storage.uow import UnitOfWork


async def load_directory(uow: UnitOfWork) -> ParsedDirectory:
    """The stored directory, in the shape `parse_directory` returns."""
    centres = sorted(await uow.centres.all(), key=lambda centre: centre.id)
    stored = [
        person for person in await uow.people.directory_people() if person.role in PERSON_ROLES
    ]
    directory_ids = {person.id: person.directory_id for person in stored}
    people = [
        PersonEntry(
            role=Role(person.role),
            id=person.directory_id or "",
            name=person.name or "",
            specialties=tuple(sorted(person.specialty_set)),
            deputy=directory_ids.get(person.deputy_id) if person.deputy_id else None,
            centre=person.centre_id,
            phone=person.phone,
            email=person.email,
        )
        for person in stored
    ]
    # Sections in file order; within one, in the order people were first imported.
    people.sort(key=lambda entry: list(PERSON_ROLES).index(entry.kind))
    clinics = sorted(
        await uow.clinics.all(), key=lambda clinic: (clinic.weekday, clinic.time, clinic.id)
    )
    return ParsedDirectory(
        tuple(CentreEntry(centre.id, centre.name) for centre in centres),
        tuple(people),
        tuple(
            ClinicEntry(
                c.id, c.kind, c.name, c.weekday, c.time, c.location, c.cutoff_weekday, c.cutoff_time
            )
            for c in clinics
        ),
    )


async def export_directory(uow: UnitOfWork, fmt: Format) -> str:
    """The stored directory as a file that `parse_directory` reads back unchanged."""
    return dump_directory(await load_directory(uow), fmt)


def dump_directory(directory: ParsedDirectory, fmt: Format) -> str:
    """Write a directory in the given format."""
    if fmt == "yaml":
        return _dump_yaml(directory)
    if fmt == "csv":
        return _dump_csv(directory)
    raise ValueError(f"unknown directory format {fmt!r}")


def _entry_fields(entry: Entry) -> dict[str, Any]:
    """An entry's fields as the file writes them, unset ones left out."""
    if isinstance(entry, CentreEntry):
        return {"id": entry.id, "name": entry.name}
    if isinstance(entry, ClinicEntry):
        clinic: dict[str, Any] = {
            "id": entry.id,
            "kind": entry.kind,
            "name": entry.name,
            "weekday": WEEKDAYS[entry.weekday],
            "time": entry.time,
            "location": entry.location,
        }
        if entry.cutoff_weekday is not None and entry.cutoff_time is not None:
            clinic["cutoff"] = cutoff_text(entry.cutoff_weekday, entry.cutoff_time)
        return clinic
    values: dict[str, Any] = {
        "id": entry.id,
        "name": entry.name,
        "centre": entry.centre,
        "specialties": list(entry.specialties) or None,
        "deputy": entry.deputy,
        "phone": entry.phone,
        "email": entry.email,
    }
    allowed = MODELS[entry.kind].model_fields
    return {name: value for name, value in values.items() if value is not None and name in allowed}


class _Dumper(yaml.SafeDumper):
    """Block mappings, short lists inline, list items indented under their key."""

    def increase_indent(self, flow: bool = False, indentless: bool = False) -> None:
        super().increase_indent(flow, False)


def _represent_list(dumper: yaml.SafeDumper, data: list[Any]) -> yaml.Node:
    inline = all(isinstance(item, str) for item in data)
    return dumper.represent_sequence("tag:yaml.org,2002:seq", data, flow_style=inline)


def _represent_str(dumper: yaml.SafeDumper, data: str) -> yaml.Node:
    # Quoted so no YAML 1.1 reader takes a time for a base-60 number or a phone for an int.
    quoted = bool(TIME.fullmatch(data)) or data.startswith("+")
    return dumper.represent_scalar("tag:yaml.org,2002:str", data, style='"' if quoted else None)


_Dumper.add_representer(list, _represent_list)
_Dumper.add_representer(str, _represent_str)


def _dump_yaml(directory: ParsedDirectory) -> str:
    sections: dict[str, list[Entry]] = {section: [] for section in SECTIONS}
    entries: tuple[Entry, ...] = (*directory.centres, *directory.people, *directory.clinics)
    for entry in entries:
        sections[SECTION_OF[entry_kind(entry)]].append(entry)
    parts = ["# Sarcoma service directory, written by `referral-bot directory export`.\n"]
    for section, listed in sections.items():
        document = {section: [_entry_fields(entry) for entry in listed]}
        parts.append(
            yaml.dump(
                document,
                Dumper=_Dumper,
                sort_keys=False,
                allow_unicode=True,
                default_flow_style=False,
                width=100,
            )
        )
    return "\n".join(parts)


def _dump_csv(directory: ParsedDirectory) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    entries: tuple[Entry, ...] = (*directory.centres, *directory.people, *directory.clinics)
    for entry in entries:
        values = _entry_fields(entry)
        # A clinic's own kind has no column; it rides on the row kind (see the docstring).
        if isinstance(entry, ClinicEntry):
            values["kind"] = f"clinic:{entry.kind}"
        else:
            values["kind"] = entry_kind(entry)
        if "specialties" in values:
            values["specialties"] = ";".join(values["specialties"])
        writer.writerow([values.get(column, "") for column in CSV_COLUMNS])
    return buffer.getvalue()
