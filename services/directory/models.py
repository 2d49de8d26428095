"""The rules for one directory entry, as pydantic models, and its problems with their lines.

A model sees plain values (text, lists, mappings: `Value.plain()`); each error pydantic
reports names its field (and list position), which `check_entry` turns back into the
line the value was written on.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from typing import Annotated, Any, ClassVar, NoReturn

import phonenumbers
from email_validator import EmailNotValidError, validate_email
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    PlainValidator,
    TypeAdapter,
    ValidationError,
)
from pydantic_core import ErrorDetails, PydanticCustomError

from services.directory.entries import (
    CLINIC_KINDS,
    MAX_LOCATION_LENGTH,
    MAX_NAME_LENGTH,
    MDT_KIND,
    SECTION_OF,
    SPECIALTIES,
    WEEKDAYS,
    DirectoryProblem,
)
from services.directory.reading import RawEntry, Value

ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
# Clinic ids may hold a time, as the default `one_stop-monday-09:00` does.
CLINIC_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,63}")
TIME = re.compile(r"([01]?\d|2[0-3]):([0-5]\d)")


def _fail(message: str) -> NoReturn:
    # The message goes in as context: a value quoted in it may hold braces.
    raise PydanticCustomError("directory", "{message}", {"message": message})


# --- one value ------------------------------------------------------------------------------


def _scalar(check: Callable[[str], Any]) -> PlainValidator:
    """A rule for one written value: blank is no value (a required field's blankness is
    reported as missing, by `check_entry`), and a list or mapping is not text."""

    def validate(value: Any) -> Any:
        if value is None:
            return None
        if isinstance(value, list | dict):
            _fail(f"must be text, not a {'mapping' if isinstance(value, dict) else 'list'}")
        return check(value)

    return PlainValidator(validate)


def _ident(pattern: re.Pattern[str], allowed: str) -> Callable[[str], str]:
    def check(text: str) -> str:
        if not pattern.fullmatch(text):
            _fail(f"must be 1-64 letters, digits, {allowed}, starting with a letter or digit")
        return text

    return check


def _bounded(limit: int) -> Callable[[str], str]:
    def check(text: str) -> str:
        if len(text) > limit:
            _fail(f"longer than {limit} characters ({len(text)})")
        return text

    return check


def _phone(text: str) -> str:
    try:
        number = phonenumbers.parse(text, "GB")
    except phonenumbers.NumberParseException:
        number = None
    if number is None or not phonenumbers.is_valid_number(number):
        # The value itself is left out: problems may end up in a terminal log.
        _fail("not a valid phone number")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def _email(text: str) -> str:
    try:
        return validate_email(text, check_deliverability=False).normalized
    except EmailNotValidError as exc:
        _fail(f"not a valid email address: {exc}")


def _weekday(text: str) -> int:
    if text.lower() not in WEEKDAYS:
        _fail(f"unknown weekday '{text}'; expected monday to sunday")
    return WEEKDAYS.index(text.lower())


def _time(text: str) -> str:
    match = TIME.fullmatch(text)
    if not match:
        _fail("must be a 24-hour time HH:MM")
    return f"{int(match[1]):02d}:{match[2]}"


def _cutoff(text: str) -> tuple[int, str]:
    """An MDT's listing cut-off, `Thursday 17:00`: a weekday (any case) and HH:MM."""
    day, _, hhmm = text.strip().partition(" ")
    if not day or not hhmm.strip():
        _fail("must be a weekday and a 24-hour time, e.g. Thursday 17:00")
    if day.lower() not in WEEKDAYS:
        _fail(f"unknown weekday '{day}' in the cut-off; expected monday to sunday")
    match = TIME.fullmatch(hhmm.strip())
    if not match:
        _fail(f"the cut-off time '{hhmm.strip()}' must be a 24-hour time HH:MM, e.g. 17:00")
    return WEEKDAYS.index(day.lower()), f"{int(match[1]):02d}:{match[2]}"


def _clinic_kind(text: str) -> str:
    if text.lower() not in CLINIC_KINDS:
        _fail(f"unknown clinic kind '{text}'; expected one of {', '.join(CLINIC_KINDS)}")
    return text.lower()


def _specialty(value: Any) -> str | None:
    if isinstance(value, list | dict):
        _fail("each specialty must be plain text")
    if value is not None and value.lower() not in SPECIALTIES:
        _fail(f"unknown specialty '{value}'; expected {' or '.join(SPECIALTIES)}")
    return None if value is None else value.lower()  # None: a blank item, skipped


def _a_list(value: Any) -> Any:
    if not isinstance(value, list):
        _fail("must be a list, e.g. [bone, soft_tissue]")
    return value


Ident = Annotated[str, _scalar(_ident(ID, "'.', '_' or '-'"))]
ClinicIdent = Annotated[str, _scalar(_ident(CLINIC_ID, "'.', '_', ':' or '-'"))]
Name = Annotated[str, _scalar(_bounded(MAX_NAME_LENGTH))]
Location = Annotated[str, _scalar(_bounded(MAX_LOCATION_LENGTH))]
Phone = Annotated[str, _scalar(_phone)]
Email = Annotated[str, _scalar(_email)]
Weekday = Annotated[int, _scalar(_weekday)]
Time = Annotated[str, _scalar(_time)]
ClinicKind = Annotated[str, _scalar(_clinic_kind)]
Cutoff = Annotated[tuple[int, str], _scalar(_cutoff)]
Specialties = Annotated[
    tuple[Annotated[str | None, PlainValidator(_specialty)], ...],
    BeforeValidator(_a_list),
    AfterValidator(lambda found: tuple(sorted({name for name in found if name}))),
]


# --- one entry ------------------------------------------------------------------------------
# Fields in the order they are read, which is the order of their problems on one line.


class _Fields(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    # Required fields reported missing ahead of the others, when they are.
    missing_first: ClassVar[tuple[str, ...]] = ()


class CentreFields(_Fields):
    id: Ident
    name: Name


class ClinicianFields(_Fields):
    id: Ident
    name: Name
    specialties: Specialties  # at least one: allocation matches on them
    deputy: Ident | None = None
    phone: Phone | None = None
    email: Email | None = None


class LinkClinicianFields(_Fields):
    id: Ident
    name: Name
    specialties: Specialties = ()
    centre: Ident
    phone: Phone | None = None
    email: Email | None = None


class AdminFields(_Fields):
    id: Ident
    name: Name
    phone: Phone | None = None
    email: Email | None = None


class ClinicFields(_Fields):
    missing_first = ("kind",)  # what the clinic is, before what it is called

    id: ClinicIdent | None = None  # defaults to <kind>-<weekday>-<time>
    name: Name
    kind: ClinicKind
    weekday: Weekday
    time: Time
    location: Location
    # Required for kind `mdt` and refused for the others: see `_cutoff_problems`.
    cutoff: Cutoff | None = None


MODELS: dict[str, type[_Fields]] = {
    "centre": CentreFields,
    "clinician": ClinicianFields,
    "link_clinician": LinkClinicianFields,
    "admin": AdminFields,
    "clinic": ClinicFields,
}
_ALL_FIELDS = frozenset(name for model in MODELS.values() for name in model.model_fields)


@dataclass(frozen=True)
class CheckedEntry:
    """One raw entry after its own rules: whether it passed them all, and the value of
    every field that passed (ids and references are checked across entries even in an
    entry with other problems, so one run shows everything)."""

    raw: RawEntry
    ok: bool
    valid: dict[str, Any]


def check_entry(raw: RawEntry) -> tuple[CheckedEntry, list[DirectoryProblem]]:
    """Validate one entry with its kind's model; its problems as a reader meets them:
    unknown fields, then missing ones, then wrong values, each in field order."""
    model = MODELS[raw.kind]
    # Blank counts as not given: a required field left blank is missing, on its own line.
    missing = [
        DirectoryProblem(
            raw.fields[name].line if name in raw.fields else raw.line,
            f"{raw.place}.{name}",
            "missing",
        )
        for name, info in sorted(
            model.model_fields.items(), key=lambda field: field[0] not in model.missing_first
        )
        if info.is_required() and (name not in raw.fields or raw.fields[name].blank)
    ]
    data = {name: value.plain() for name, value in raw.fields.items()}
    try:
        valid = dict(model.model_validate(data))
        errors: list[ErrorDetails] = []
    except ValidationError as exc:
        errors = [error for error in exc.errors() if error["type"] != "missing"]  # as above
        failed = {error["loc"][0] for error in errors}
        valid = {
            name: _field_adapter(model, name).validate_python(value)
            for name, value in data.items()
            if name in model.model_fields and name not in failed
        }
    unknown = [_problem(raw, error) for error in errors if error["type"] == "extra_forbidden"]
    wrong = [_problem(raw, error) for error in errors if error["type"] != "extra_forbidden"]
    if raw.kind == "clinic":
        missing_cutoff, wrong_cutoff = _cutoff_problems(raw, valid)
        missing += missing_cutoff
        wrong += wrong_cutoff
    problems = [*unknown, *missing, *wrong]
    return CheckedEntry(raw, not problems, valid), problems


def _cutoff_problems(
    raw: RawEntry, valid: dict[str, Any]
) -> tuple[list[DirectoryProblem], list[DirectoryProblem]]:
    """A clinic's cut-off against its kind: an MDT needs one, no other clinic has one.
    (Nothing is said when the kind itself is missing or wrong: reported already.)"""
    kind = valid.get("kind")
    given = "cutoff" in raw.fields and not raw.fields["cutoff"].blank
    where = f"{raw.place}.cutoff"
    if kind == MDT_KIND and not given:
        line = raw.fields["cutoff"].line if "cutoff" in raw.fields else raw.line
        message = "missing: an MDT needs its listing cut-off, e.g. cutoff: Thursday 17:00"
        return [DirectoryProblem(line, where, message)], []
    if kind is not None and kind != MDT_KIND and given:
        message = f"only MDT meetings (kind {MDT_KIND}) have a cut-off, not {kind}"
        return [], [DirectoryProblem(raw.fields["cutoff"].line, where, message)]
    return [], []


@cache
def _field_adapter(model: type[_Fields], name: str) -> TypeAdapter[Any]:
    """One field's rules on their own, for the fields that passed in a failed entry."""
    return TypeAdapter(model.model_fields[name].rebuild_annotation())


def _problem(raw: RawEntry, error: ErrorDetails) -> DirectoryProblem:
    name, *position = error["loc"]
    where = f"{raw.place}.{name}"
    value = raw.fields.get(str(name))
    line = _line(value, position) if value else raw.line
    if error["type"] == "extra_forbidden":
        plural = SECTION_OF[raw.kind].replace("_", " ")
        return DirectoryProblem(
            line, where, f"not used for {plural}" if name in _ALL_FIELDS else "unknown field"
        )
    return DirectoryProblem(line, where, error["msg"])


def _line(value: Value, position: list[int | str]) -> int:
    """The line of the list item an error points into, or of the value itself."""
    for index in position:
        if value.items is None or not isinstance(index, int):
            break
        value = value.items[index]
    return value.line
