"""What a directory file holds once checked, and what can be wrong with one."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Literal

from storage.models import Role

Format = Literal["yaml", "csv"]

SPECIALTIES = ("bone", "soft_tissue")
CLINIC_KINDS = ("one_stop", "follow_up_noc", "oncology_follow_up", "joint_follow_up", "mdt")
# The one clinic kind with a listing cut-off (`cutoff`), and the only one it is for.
MDT_KIND = "mdt"
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
    "cutoff",
)

# YAML section -> entry kind; the kinds double as report kinds and CSV row kinds.
SECTIONS = {
    "centres": "centre",
    "clinicians": "clinician",
    "link_clinicians": "link_clinician",
    "admins": "admin",
    "clinics": "clinic",
}
SECTION_OF = {kind: section for section, kind in SECTIONS.items()}
PERSON_ROLES = {
    "clinician": Role.CLINICIAN,
    "link_clinician": Role.LINK_CLINICIAN,
    "admin": Role.ADMIN,
}


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


class Problems:
    """The problems found so far in one file, in the order they were found."""

    def __init__(self) -> None:
        self.items: list[DirectoryProblem] = []

    def add(self, line: int, where: str, message: str) -> None:
        self.items.append(DirectoryProblem(line, where, message))

    def __bool__(self) -> bool:
        return bool(self.items)


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
    # MDT meetings only: cases are listed until this weekday and time before the meeting.
    cutoff_weekday: int | None = None  # Monday is 0
    cutoff_time: str | None = None  # HH:MM
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


def directory_format(filename: str) -> Format | None:
    """The format a file name suggests (`.yaml`, `.yml`, `.csv`), if any."""
    lowered = filename.lower()
    if lowered.endswith((".yaml", ".yml")):
        return "yaml"
    if lowered.endswith(".csv"):
        return "csv"
    return None


def cutoff_text(weekday: int, time: str) -> str:
    """A cut-off as a file writes it: `Thursday 17:00`."""
    return f"{WEEKDAYS[weekday].capitalize()} {time}"


def default_clinic_id(kind: str, weekday: int, time: str) -> str:
    """A clinic's id when the file gives none: `one_stop-monday-09:00`."""
    return f"{kind}-{WEEKDAYS[weekday]}-{time}"
