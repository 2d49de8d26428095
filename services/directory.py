"""The service directory: centres, clinicians, link clinicians, admins and clinics.

`referral-bot directory import FILE` reads a YAML or CSV file with `parse_directory`,
which checks the whole file and returns either a `ParsedDirectory` or every problem
found, each with the line it is on. Only a clean file reaches `import_directory`,
which upserts by id inside the caller's unit of work (all or nothing: the caller
commits) and reports what was added, changed, unchanged, or stored but absent from
the file. Nothing is ever deleted: directory people may be bound to Telegram accounts
and named on cases. `export_directory` writes the stored directory back in either
format, so export -> edit -> import is a safe way to maintain it.

YAML format
-----------
As in the SPEC ("Directory file (YAML)") and `docs/directory.example.yaml`: a mapping
with the sections `centres`, `clinicians`, `link_clinicians`, `admins` and `clinics`,
each a list of mappings. Fields per entry:

    centres          id, name
    clinicians       id, name, specialties, deputy, phone, email
    link_clinicians  id, name, centre, specialties, phone, email
    admins           id, name, phone, email
    clinics          id (optional), kind, name, weekday, time, location

Values are read as written (`time: 09:00` needs no quotes, `id: 007` stays `007`).

CSV format
----------
One UTF-8 file (a byte-order mark, as spreadsheets save it, is fine), one row per
entry, a header row first:

    kind,id,name,centre,specialties,deputy,phone,email,weekday,time,location

- `kind` is `centre`, `clinician`, `link_clinician`, `admin`, or `clinic:<clinic kind>`
  (e.g. `clinic:one_stop`): the header has no column of its own for a clinic's kind,
  so it rides on the row kind.
- The other columns mean what the YAML fields of the same name mean; a row uses only
  the columns listed above for its kind, and a filled-in cell in any other column is
  an error (it would otherwise be silently dropped).
- `specialties` are separated by `;` (e.g. `bone;soft_tissue`).
- An empty cell means "not given". Blank rows, and rows whose first cell starts with
  `#`, are skipped.
- Columns may come in any order and unused ones may be left out; `kind` is required
  and an unknown column is an error.
- Line numbers in problems are lines of the file (a row's first line, should a quoted
  cell span several).

Rules (both formats)
--------------------
- `id`: 1-64 letters, digits, `.`, `_`, `-` (for clinics also `:`), starting with a
  letter or digit.
  Clinicians, link clinicians and admins share one id space (they all become
  `Person.directory_id`); centres have their own. A clinic's id is optional and
  defaults to `<kind>-<weekday>-<time>` (e.g. `one_stop-monday-09:00`); export always
  writes it, so that moving a clinic to another day in an exported file updates it
  instead of adding a second one.
- `name` is required everywhere, at most 120 characters.
- `specialties`: a list of `bone` / `soft_tissue`; at least one for a clinician
  (allocation matches on it), optional for a link clinician.
- `deputy`: the id of another clinician in the same file.
- `centre` (link clinicians, required): the id of a centre in the same file.
- `phone`: a valid number (libphonenumber, default region GB), stored in E.164.
  `email`: valid syntax (no DNS lookup), stored normalised. Both optional.
- Clinics: `kind` one of `one_stop`, `follow_up_noc`, `oncology_follow_up`,
  `joint_follow_up`; `weekday` `monday`..`sunday` (any case); `time` `HH:MM`, 24-hour;
  `location` at most 200 characters. All required.
- A problem's line is the line of the offending value (or list item); for a missing
  field, the line where the entry starts.
- On import, an id stored with another role (say a clinician now listed under
  admins) is refused: roles are granted by invites and change only deliberately.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

import phonenumbers
import yaml
from email_validator import EmailNotValidError, validate_email

from storage.models import Centre, Clinic, Person, PersonStatus, Role
from storage.uow import UnitOfWork

Format = Literal["yaml", "csv"]

SPECIALTIES = ("bone", "soft_tissue")
CLINIC_KINDS = ("one_stop", "follow_up_noc", "oncology_follow_up", "joint_follow_up")
WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
MAX_NAME_LENGTH = 120
MAX_LOCATION_LENGTH = 200
CSV_COLUMNS = (
    "kind",
    "id",
    "name",
    "centre",
    "specialties",
    "deputy",
    "phone",
    "email",
    "weekday",
    "time",
    "location",
)

# YAML section -> entry kind; the kinds double as report kinds and CSV row kinds.
SECTIONS = {
    "centres": "centre",
    "clinicians": "clinician",
    "link_clinicians": "link_clinician",
    "admins": "admin",
    "clinics": "clinic",
}
_SECTION_OF = {kind: section for section, kind in SECTIONS.items()}
_PERSON_ROLES = {
    "clinician": Role.CLINICIAN,
    "link_clinician": Role.LINK_CLINICIAN,
    "admin": Role.ADMIN,
}
_FIELDS: dict[str, tuple[str, ...]] = {
    "centre": ("id", "name"),
    "clinician": ("id", "name", "specialties", "deputy", "phone", "email"),
    "link_clinician": ("id", "name", "centre", "specialties", "phone", "email"),
    "admin": ("id", "name", "phone", "email"),
    "clinic": ("id", "kind", "name", "weekday", "time", "location"),
}
_REQUIRED: dict[str, tuple[str, ...]] = {
    "centre": ("id", "name"),
    "clinician": ("id", "name", "specialties"),
    "link_clinician": ("id", "name", "centre"),
    "admin": ("id", "name"),
    "clinic": ("kind", "name", "weekday", "time", "location"),
}
_ALL_FIELDS = frozenset(name for names in _FIELDS.values() for name in names)
# The order in which changed fields are reported, whatever order they were found in.
_PERSON_FIELDS = ("name", "specialties", "deputy", "centre", "phone", "email")
_CLINIC_FIELDS = ("kind", "name", "weekday", "time", "location")

_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
# Clinic ids may hold a time, as the default `one_stop-monday-09:00` does.
_CLINIC_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,63}")
_TIME = re.compile(r"([01]?\d|2[0-3]):([0-5]\d)")
_NULL_TAG = "tag:yaml.org,2002:null"


# --- results ---------------------------------------------------------------------------


@dataclass(frozen=True, order=True)
class DirectoryProblem:
    """One thing wrong with a directory file, and where."""

    line: int
    field: str
    message: str

    def __str__(self) -> str:
        if self.field:
            return f"line {self.line}: {self.field}: {self.message}"
        return f"line {self.line}: {self.message}"


class DirectoryRejected(Exception):
    """The file cannot be applied to this database; nothing was changed."""

    def __init__(self, problems: list[DirectoryProblem]) -> None:
        super().__init__("\n".join(str(problem) for problem in problems))
        self.problems = problems


# `line` and `place` say where an entry came from; they take no part in equality, so
# the same directory read from YAML, CSV or an export compares equal.
@dataclass(frozen=True)
class CentreEntry:
    id: str
    name: str
    line: int = field(default=0, compare=False)
    place: str = field(default="", compare=False)


@dataclass(frozen=True)
class PersonEntry:
    role: Role
    id: str
    name: str
    specialties: tuple[str, ...] = ()  # sorted, no repeats
    deputy: str | None = None
    centre: str | None = None
    phone: str | None = None  # E.164
    email: str | None = None  # normalised
    line: int = field(default=0, compare=False)
    place: str = field(default="", compare=False)

    @property
    def kind(self) -> str:
        return self.role.value


@dataclass(frozen=True)
class ClinicEntry:
    id: str
    kind: str
    name: str
    weekday: int  # Monday is 0, as datetime.weekday()
    time: str  # HH:MM
    location: str
    line: int = field(default=0, compare=False)
    place: str = field(default="", compare=False)


Entry = CentreEntry | PersonEntry | ClinicEntry


def entry_kind(entry: Entry) -> str:
    """An entry's kind as reports name it: centre, clinician, link_clinician, admin, clinic."""
    if isinstance(entry, CentreEntry):
        return "centre"
    if isinstance(entry, ClinicEntry):
        return "clinic"
    return entry.role.value


@dataclass(frozen=True)
class ParsedDirectory:
    """A directory file that passed every check, in file order."""

    centres: tuple[CentreEntry, ...] = ()
    people: tuple[PersonEntry, ...] = ()
    clinics: tuple[ClinicEntry, ...] = ()

    def by_key(self) -> dict[tuple[str, str], Entry]:
        """Entries keyed by (kind, id): compare directories regardless of order."""
        entries: Iterable[Entry] = (*self.centres, *self.people, *self.clinics)
        return {(entry_kind(entry), entry.id): entry for entry in entries}


@dataclass
class ImportReport:
    """What an import did, as (kind, id) pairs; `changed` also names the fields."""

    added: list[tuple[str, str]] = field(default_factory=list)
    changed: list[tuple[str, str, tuple[str, ...]]] = field(default_factory=list)
    unchanged: list[tuple[str, str]] = field(default_factory=list)
    not_in_file: list[tuple[str, str]] = field(default_factory=list)


def directory_format(filename: str) -> Format | None:
    """The format a file name suggests (`.yaml`, `.yml`, `.csv`), if any."""
    lowered = filename.lower()
    if lowered.endswith((".yaml", ".yml")):
        return "yaml"
    if lowered.endswith(".csv"):
        return "csv"
    return None


# --- reading: both formats become raw entries, checked by one set of rules ---------------


@dataclass(frozen=True)
class _Value:
    """A field as written: a scalar's text, a list of values, or a mapping."""

    line: int
    text: str | None = None  # stripped; None for null or blank
    items: tuple[_Value, ...] | None = None
    mapping: bool = False

    @property
    def blank(self) -> bool:
        if self.items is not None:
            return all(item.blank for item in self.items)
        return not self.mapping and self.text is None


@dataclass
class _RawEntry:
    kind: str
    line: int
    place: str  # "clinicians[1]" (YAML) or "clinician" (CSV)
    fields: dict[str, _Value]


class _Problems:
    def __init__(self) -> None:
        self.items: list[DirectoryProblem] = []

    def add(self, line: int, where: str, message: str) -> None:
        self.items.append(DirectoryProblem(line, where, message))

    def __bool__(self) -> bool:
        return bool(self.items)


def parse_directory(text: str, fmt: Format) -> ParsedDirectory | list[DirectoryProblem]:
    """Check a whole directory file; the directory, or every problem sorted by line."""
    problems = _Problems()
    if fmt == "yaml":
        entries = _yaml_entries(text, problems)
    elif fmt == "csv":
        entries = _csv_entries(text, problems)
    else:
        raise ValueError(f"unknown directory format {fmt!r}")
    parsed = _check(entries, problems)
    if problems or parsed is None:
        # Stable sort: problems on one line stay in the order the fields were read.
        return sorted(problems.items, key=lambda problem: problem.line)
    return parsed


def _yaml_value(node: yaml.Node, line: int) -> _Value:
    if isinstance(node, yaml.ScalarNode):
        # The raw scalar, not the resolved value: YAML 1.1 would turn `09:00` into 540
        # and `no` into False, which nobody writing a directory means.
        text = None if node.tag == _NULL_TAG else (str(node.value).strip() or None)
        return _Value(line, text=text)
    if isinstance(node, yaml.SequenceNode):
        return _Value(
            line, items=tuple(_yaml_value(item, item.start_mark.line + 1) for item in node.value)
        )
    return _Value(line, mapping=True)


def _yaml_entries(text: str, problems: _Problems) -> list[_RawEntry]:
    try:
        # compose builds nodes without constructing objects: marks for line numbers,
        # and no tag can make it run code.
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        detail = ", ".join(part for part in (exc.context, exc.problem) if part)
        problems.add(mark.line + 1 if mark else 1, "", f"YAML syntax error: {detail or exc}")
        return []
    except yaml.reader.ReaderError as exc:
        line = text[: exc.position].count("\n") + 1
        problems.add(line, "", f"YAML syntax error: {exc.reason}")
        return []
    except yaml.YAMLError as exc:
        problems.add(1, "", f"YAML syntax error: {exc}")
        return []
    if root is None or (isinstance(root, yaml.ScalarNode) and root.tag == _NULL_TAG):
        problems.add(1, "", "the file is empty")
        return []
    if not isinstance(root, yaml.MappingNode):
        problems.add(
            root.start_mark.line + 1, "", f"expected a mapping of sections: {', '.join(SECTIONS)}"
        )
        return []

    entries: list[_RawEntry] = []
    seen_sections: dict[str, int] = {}
    for key_node, value_node in root.value:
        key_line = key_node.start_mark.line + 1
        key = str(key_node.value).strip() if isinstance(key_node, yaml.ScalarNode) else "?"
        if key not in SECTIONS:
            problems.add(
                key_line, key, f"unknown top-level key; expected one of {', '.join(SECTIONS)}"
            )
            continue
        if key in seen_sections:
            problems.add(key_line, key, f"section given twice (first at line {seen_sections[key]})")
            continue
        seen_sections[key] = key_line
        if isinstance(value_node, yaml.ScalarNode) and value_node.tag == _NULL_TAG:
            continue  # `admins:` with nothing under it: an empty section
        if not isinstance(value_node, yaml.SequenceNode):
            problems.add(key_line, key, "must be a list of entries")
            continue
        for index, item in enumerate(value_node.value):
            place, line = f"{key}[{index}]", item.start_mark.line + 1
            if not isinstance(item, yaml.MappingNode):
                problems.add(line, place, "each entry must be a mapping of fields (id: ...)")
                continue
            fields: dict[str, _Value] = {}
            for field_key, field_value in item.value:
                field_line = field_key.start_mark.line + 1
                if not isinstance(field_key, yaml.ScalarNode):
                    problems.add(field_line, place, "field names must be plain text")
                    continue
                name = str(field_key.value).strip()
                if name in fields:
                    problems.add(field_line, f"{place}.{name}", "field given twice")
                    continue
                fields[name] = _yaml_value(field_value, field_line)
            entries.append(_RawEntry(SECTIONS[key], line, place, fields))
    return entries


def _csv_entries(text: str, problems: _Problems) -> list[_RawEntry]:
    text = text.removeprefix("\ufeff")
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    header: list[str] | None = None
    entries: list[_RawEntry] = []
    row_end = 0
    try:
        for row in reader:
            line, row_end = row_end + 1, reader.line_num
            if not any(cell.strip() for cell in row) or row[0].lstrip().startswith("#"):
                continue
            if header is None:
                header = [cell.strip().lower() for cell in row]
                if not _csv_header_ok(header, line, problems):
                    return []
                continue
            entry = _csv_row(header, row, line, problems)
            if entry is not None:
                entries.append(entry)
    except csv.Error as exc:
        problems.add(reader.line_num or 1, "", f"CSV error: {exc}")
        return entries
    if header is None:
        problems.add(1, "", "the file is empty")
    return entries


def _csv_header_ok(header: list[str], line: int, problems: _Problems) -> bool:
    ok = True
    for position, column in enumerate(header):
        if column not in CSV_COLUMNS:
            problems.add(
                line,
                column or f"column {position + 1}",
                f"unknown column; expected one of {','.join(CSV_COLUMNS)}",
            )
            ok = False
        elif column in header[:position]:
            problems.add(line, column, "column given twice")
            ok = False
    if "kind" not in header:
        problems.add(line, "kind", "the header has no kind column")
        ok = False
    return ok


def _csv_row(header: list[str], row: list[str], line: int, problems: _Problems) -> _RawEntry | None:
    if any(cell.strip() for cell in row[len(header) :]):
        problems.add(line, "", f"more cells than the header's {len(header)} columns")
    cells = dict(zip(header, (cell.strip() for cell in row), strict=False))
    row_kind = cells.get("kind", "").lower()
    kind, _, clinic_kind = row_kind.partition(":")
    if not row_kind:
        problems.add(line, "kind", "missing")
        return None
    if kind not in _SECTION_OF or (clinic_kind and kind != "clinic"):
        expected = ", ".join([*_PERSON_ROLES, "centre", "clinic:<kind>"])
        problems.add(line, "kind", f"unknown kind '{row_kind}'; expected one of {expected}")
        return None
    fields: dict[str, _Value] = {}
    for column, cell in cells.items():
        if column == "kind" or not cell:
            continue
        if column == "specialties":
            items = tuple(
                _Value(line, text=part.strip()) for part in cell.split(";") if part.strip()
            )
            fields[column] = _Value(line, items=items)
        else:
            fields[column] = _Value(line, text=cell)
    if kind == "clinic" and clinic_kind.strip():
        fields["kind"] = _Value(line, text=clinic_kind.strip())
    return _RawEntry(kind, line, kind, fields)


# --- the rules --------------------------------------------------------------------------


def _plural(kind: str) -> str:
    return _SECTION_OF[kind].replace("_", " ")


class _EntryReader:
    """Reads one raw entry's fields, reporting what is wrong with each."""

    def __init__(self, raw: _RawEntry, problems: _Problems) -> None:
        self.raw = raw
        self.problems = problems
        self.ok = True

    def where(self, name: str) -> str:
        return f"{self.raw.place}.{name}"

    def fail(self, line: int, name: str, message: str) -> None:
        self.problems.add(line, self.where(name), message)
        self.ok = False

    def check_fields(self) -> None:
        allowed = _FIELDS[self.raw.kind]
        for name, value in self.raw.fields.items():
            if name not in allowed:
                known = name in _ALL_FIELDS
                self.fail(
                    value.line,
                    name,
                    f"not used for {_plural(self.raw.kind)}" if known else "unknown field",
                )
        for name in _REQUIRED[self.raw.kind]:
            given = self.raw.fields.get(name)
            if given is None or given.blank:
                self.fail(self.raw.line if given is None else given.line, name, "missing")

    def text(self, name: str) -> str | None:
        value = self.raw.fields.get(name)
        if value is None or name not in _FIELDS[self.raw.kind]:
            return None
        if value.items is not None or value.mapping:
            self.fail(
                value.line, name, f"must be text, not a {'mapping' if value.mapping else 'list'}"
            )
            return None
        return value.text

    def ident(self, name: str, pattern: re.Pattern[str] = _ID) -> str | None:
        text = self.text(name)
        if text is not None and not pattern.fullmatch(text):
            allowed = "'.', '_', ':' or '-'" if pattern is _CLINIC_ID else "'.', '_' or '-'"
            self.fail(
                self.raw.fields[name].line,
                name,
                f"must be 1-64 letters, digits, {allowed}, starting with a letter or digit",
            )
            return None
        return text

    def bounded(self, name: str, limit: int) -> str | None:
        text = self.text(name)
        if text is not None and len(text) > limit:
            self.fail(
                self.raw.fields[name].line, name, f"longer than {limit} characters ({len(text)})"
            )
            return None
        return text

    def specialties(self) -> tuple[str, ...]:
        value = self.raw.fields.get("specialties")
        if value is None or "specialties" not in _FIELDS[self.raw.kind]:
            return ()
        if value.items is None:
            self.fail(value.line, "specialties", "must be a list, e.g. [bone, soft_tissue]")
            return ()
        found: set[str] = set()
        for item in value.items:
            if item.items is not None or item.mapping:
                self.fail(item.line, "specialties", "each specialty must be plain text")
            elif item.text is not None and item.text.lower() not in SPECIALTIES:
                self.fail(
                    item.line,
                    "specialties",
                    f"unknown specialty '{item.text}'; expected {' or '.join(SPECIALTIES)}",
                )
            elif item.text is not None:
                found.add(item.text.lower())
        return tuple(sorted(found))

    def phone(self) -> str | None:
        text = self.text("phone")
        if text is None:
            return None
        try:
            number = phonenumbers.parse(text, "GB")
        except phonenumbers.NumberParseException:
            number = None
        if number is None or not phonenumbers.is_valid_number(number):
            # The value itself is left out: problems may end up in a terminal log.
            self.fail(self.raw.fields["phone"].line, "phone", "not a valid phone number")
            return None
        return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)

    def email(self) -> str | None:
        text = self.text("email")
        if text is None:
            return None
        try:
            return validate_email(text, check_deliverability=False).normalized
        except EmailNotValidError as exc:
            self.fail(self.raw.fields["email"].line, "email", f"not a valid email address: {exc}")
            return None

    def weekday(self) -> int | None:
        text = self.text("weekday")
        if text is None:
            return None
        if text.lower() not in WEEKDAYS:
            self.fail(
                self.raw.fields["weekday"].line,
                "weekday",
                f"unknown weekday '{text}'; expected monday to sunday",
            )
            return None
        return WEEKDAYS.index(text.lower())

    def time(self) -> str | None:
        text = self.text("time")
        if text is None:
            return None
        match = _TIME.fullmatch(text)
        if not match:
            self.fail(self.raw.fields["time"].line, "time", "must be a 24-hour time HH:MM")
            return None
        return f"{int(match[1]):02d}:{match[2]}"

    def clinic_kind(self) -> str | None:
        text = self.text("kind")
        if text is not None and text.lower() not in CLINIC_KINDS:
            self.fail(
                self.raw.fields["kind"].line,
                "kind",
                f"unknown clinic kind '{text}'; expected one of {', '.join(CLINIC_KINDS)}",
            )
            return None
        return text.lower() if text is not None else None


def default_clinic_id(kind: str, weekday: int, time: str) -> str:
    """A clinic's id when the file gives none: `one_stop-monday-09:00`."""
    return f"{kind}-{WEEKDAYS[weekday]}-{time}"


def _check(entries: list[_RawEntry], problems: _Problems) -> ParsedDirectory | None:
    centres: list[CentreEntry] = []
    people: list[PersonEntry] = []
    clinics: list[ClinicEntry] = []
    # First line each id was seen on; ids are checked for clashes even in entries with
    # other problems, so one run shows everything.
    centre_lines: dict[str, int] = {}
    person_lines: dict[str, tuple[int, str]] = {}
    clinic_lines: dict[str, int] = {}
    references: list[tuple[_RawEntry, str | None]] = []

    def unique(seen: dict[str, int], key: str, line: int, where: str) -> None:
        if key in seen:
            problems.add(line, where, f"duplicate id '{key}' (first at line {seen[key]})")
        else:
            seen[key] = line

    for raw in entries:
        reader = _EntryReader(raw, problems)
        reader.check_fields()
        id_line = raw.fields["id"].line if "id" in raw.fields else raw.line
        ident = reader.ident("id", _CLINIC_ID if raw.kind == "clinic" else _ID)
        name = reader.bounded("name", MAX_NAME_LENGTH)
        if raw.kind == "centre":
            if ident is not None:
                unique(centre_lines, ident, id_line, f"{raw.place}.id")
            if reader.ok and ident and name:
                centres.append(CentreEntry(ident, name, raw.line, raw.place))
        elif raw.kind == "clinic":
            kind, weekday, time = reader.clinic_kind(), reader.weekday(), reader.time()
            location = reader.bounded("location", MAX_LOCATION_LENGTH)
            key = ident
            id_given = "id" in raw.fields and not raw.fields["id"].blank
            if key is None and not id_given and kind and weekday is not None and time:
                key = default_clinic_id(kind, weekday, time)
            if key is not None:
                unique(clinic_lines, key, id_line, f"{raw.place}.id")
            if reader.ok and key and kind and name and weekday is not None and time and location:
                clinics.append(
                    ClinicEntry(key, kind, name, weekday, time, location, raw.line, raw.place)
                )
        else:
            specialties = reader.specialties()
            deputy = reader.ident("deputy")
            centre = reader.ident("centre")
            phone, email = reader.phone(), reader.email()
            if ident is not None:
                if ident in person_lines:
                    first = person_lines[ident][0]
                    problems.add(
                        id_line,
                        f"{raw.place}.id",
                        f"duplicate id '{ident}' (first at line {first})",
                    )
                else:
                    person_lines[ident] = (id_line, raw.kind)
            references.append((raw, ident))
            if reader.ok and ident and name:
                people.append(
                    PersonEntry(
                        _PERSON_ROLES[raw.kind],
                        ident,
                        name,
                        specialties,
                        deputy,
                        centre,
                        phone,
                        email,
                        raw.line,
                        raw.place,
                    )
                )

    # References need every id of the file, so they are checked once all are known.
    for raw, ident in references:
        deputy_value = raw.fields.get("deputy")
        # A malformed reference was reported already; "unknown" would only repeat it.
        if raw.kind == "clinician" and deputy_value and _ID.fullmatch(deputy_value.text or ""):
            deputy = deputy_value.text
            where = f"{raw.place}.deputy"
            if deputy == ident:
                problems.add(deputy_value.line, where, "a clinician cannot be their own deputy")
            elif deputy not in person_lines:
                problems.add(deputy_value.line, where, f"unknown clinician '{deputy}'")
            elif person_lines[deputy][1] != "clinician":
                other = person_lines[deputy][1].replace("_", " ")
                article = "an" if other.startswith("a") else "a"
                problems.add(
                    deputy_value.line, where, f"'{deputy}' is {article} {other}, not a clinician"
                )
        centre_value = raw.fields.get("centre")
        if (
            raw.kind == "link_clinician"
            and centre_value
            and _ID.fullmatch(centre_value.text or "")
            and centre_value.text not in centre_lines
        ):
            problems.add(
                centre_value.line,
                f"{raw.place}.centre",
                f"unknown centre '{centre_value.text}'",
            )

    if problems:
        return None
    return ParsedDirectory(tuple(centres), tuple(people), tuple(clinics))


# --- import -----------------------------------------------------------------------------


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

    report = ImportReport()
    # (kind, id, changed fields or None when added), in the order they were met.
    events: list[tuple[str, str, tuple[str, ...] | None]] = []

    def outcome(kind: str, ident: str, fields: list[str] | None, order: tuple[str, ...]) -> None:
        if fields is None:
            report.added.append((kind, ident))
            events.append((kind, ident, None))
        elif fields:
            ordered = tuple(name for name in order if name in fields)
            report.changed.append((kind, ident, ordered))
            events.append((kind, ident, ordered))
        else:
            report.unchanged.append((kind, ident))

    stored_centres = {centre.id: centre for centre in await uow.centres.all()}
    for centre_entry in parsed.centres:
        centre = stored_centres.get(centre_entry.id)
        if centre is None:
            uow.centres.add(Centre(id=centre_entry.id, name=centre_entry.name, created_at=now))
            outcome("centre", centre_entry.id, None, ("name",))
            continue
        changed: list[str] = []
        if centre.name != centre_entry.name:
            centre.name = centre_entry.name
            changed.append("name")
        outcome("centre", centre_entry.id, changed, ("name",))
    await uow.flush()

    people = dict(stored_people)
    person_changes: dict[str, list[str] | None] = {}
    for entry in parsed.people:
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
            person_changes[entry.id] = None
        else:
            person_changes[entry.id] = []
        changes = person_changes[entry.id]
        # Each value is compared with the decrypted stored one and written only when it
        # differs: re-encrypting (fresh nonce) would make every row look changed.
        wanted: dict[str, str | None] = {
            "name": entry.name,
            "phone": entry.phone,
            "email": entry.email,
        }
        for name, value in wanted.items():
            if getattr(person, name) != value:
                setattr(person, name, value)
                if changes is not None:
                    changes.append(name)
        specialties = ",".join(entry.specialties)
        if person.specialties != specialties:
            person.specialties = specialties
            if changes is not None:
                changes.append("specialties")
        if person.centre_id != entry.centre:
            person.centre_id = entry.centre
            if changes is not None:
                changes.append("centre")
    # Deputies point at people.id, which new people get only once inserted.
    await uow.flush()
    for entry in parsed.people:
        person = people[entry.id]
        changes = person_changes[entry.id]
        deputy_id = people[entry.deputy].id if entry.deputy else None
        if person.deputy_id != deputy_id:
            person.deputy_id = deputy_id
            if changes is not None:
                changes.append("deputy")
        if changes:
            person.updated_at = now
        outcome(entry.kind, entry.id, changes, _PERSON_FIELDS)

    stored_clinics = {clinic.id: clinic for clinic in await uow.clinics.all()}
    for clinic_entry in parsed.clinics:
        clinic = stored_clinics.get(clinic_entry.id)
        wanted_clinic: dict[str, Any] = {
            "kind": clinic_entry.kind,
            "name": clinic_entry.name,
            "weekday": clinic_entry.weekday,
            "time": clinic_entry.time,
            "location": clinic_entry.location,
        }
        if clinic is None:
            uow.clinics.add(Clinic(id=clinic_entry.id, **wanted_clinic))
            outcome("clinic", clinic_entry.id, None, _CLINIC_FIELDS)
            continue
        changed = []
        for name, value in wanted_clinic.items():
            if getattr(clinic, name) != value:
                setattr(clinic, name, value)
                changed.append(name)
        outcome("clinic", clinic_entry.id, changed, _CLINIC_FIELDS)

    # Present in the database, absent from the file: kept, since people may be bound
    # to Telegram accounts and named on cases; the report lets the admin notice them.
    listed = parsed.by_key().keys()
    report.not_in_file.extend(
        ("centre", centre_id) for centre_id in stored_centres if ("centre", centre_id) not in listed
    )
    report.not_in_file.extend(
        (person.role, directory_id)
        for directory_id, person in stored_people.items()
        if (person.role, directory_id) not in listed
    )
    report.not_in_file.extend(
        ("clinic", clinic_id) for clinic_id in stored_clinics if ("clinic", clinic_id) not in listed
    )

    # Field names only: the audit log never holds personal values.
    for kind, ident, fields in events:
        subject = f"{kind}:{ident}"
        if fields is None:
            await uow.audit.record(now, actor, "directory.added", subject)
        else:
            await uow.audit.record(now, actor, "directory.changed", subject, fields=list(fields))
    await uow.flush()
    return report


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


# --- export -----------------------------------------------------------------------------


async def load_directory(uow: UnitOfWork) -> ParsedDirectory:
    """The stored directory, in the shape `parse_directory` returns."""
    centres = sorted(await uow.centres.all(), key=lambda centre: centre.id)
    stored = [
        person for person in await uow.people.directory_people() if person.role in _PERSON_ROLES
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
    people.sort(key=lambda entry: list(_PERSON_ROLES).index(entry.kind))
    clinics = sorted(
        await uow.clinics.all(), key=lambda clinic: (clinic.weekday, clinic.time, clinic.id)
    )
    return ParsedDirectory(
        tuple(CentreEntry(centre.id, centre.name) for centre in centres),
        tuple(people),
        tuple(ClinicEntry(c.id, c.kind, c.name, c.weekday, c.time, c.location) for c in clinics),
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
        return {
            "id": entry.id,
            "kind": entry.kind,
            "name": entry.name,
            "weekday": WEEKDAYS[entry.weekday],
            "time": entry.time,
            "location": entry.location,
        }
    values: dict[str, Any] = {
        "id": entry.id,
        "name": entry.name,
        "centre": entry.centre,
        "specialties": list(entry.specialties) or None,
        "deputy": entry.deputy,
        "phone": entry.phone,
        "email": entry.email,
    }
    allowed = _FIELDS[entry.kind]
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
    quoted = bool(_TIME.fullmatch(data)) or data.startswith("+")
    return dumper.represent_scalar("tag:yaml.org,2002:str", data, style='"' if quoted else None)


_Dumper.add_representer(list, _represent_list)
_Dumper.add_representer(str, _represent_str)


def _dump_yaml(directory: ParsedDirectory) -> str:
    sections: dict[str, list[Entry]] = {section: [] for section in SECTIONS}
    entries: tuple[Entry, ...] = (*directory.centres, *directory.people, *directory.clinics)
    for entry in entries:
        sections[_SECTION_OF[entry_kind(entry)]].append(entry)
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
