"""The service directory: centres, clinicians, link clinicians, admins and clinics.

`reading` turns a file into raw entries with lines, `models` checks each entry,
`checking` ids and references across them, `importing` applies a checked directory and
`exporting` writes it back.

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
    clinics          id (optional), kind, name, weekday, time, location, cutoff (MDT only)

Values are read as written (`time: 09:00` needs no quotes, `id: 007` stays `007`).

CSV format
----------
One UTF-8 file (a byte-order mark, as spreadsheets save it, is fine), one row per
entry, a header row first:

    kind,id,name,centre,specialties,deputy,phone,email,weekday,time,location,cutoff

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

Rules (both formats), as the pydantic models in `models` check them
-------------------------------------------------------------------
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
  `joint_follow_up`, `mdt`; `weekday` `monday`..`sunday` (any case); `time` `HH:MM`,
  24-hour; `location` at most 200 characters. All required.
- `cutoff` (MDT meetings, kind `mdt`: required there, refused for any other kind): the
  listing cut-off, a weekday and a 24-hour time, e.g. `Thursday 17:00` (weekday in any
  case). It is the last such weekday and time before the meeting; one on the meeting's
  own weekday at or after its time means the week before. Export writes it back as
  `Thursday 17:00`.
- A problem's line is the line of the offending value (or list item); for a missing
  field, the line where the entry starts.
- On import, an id stored with another role (say a clinician now listed under
  admins) is refused: roles are granted by invites and change only deliberately.
"""

from services.directory.checking import parse_directory
from services.directory.entries import (
    CLINIC_KINDS,
    CSV_COLUMNS,
    MAX_LOCATION_LENGTH,
    MAX_NAME_LENGTH,
    MDT_KIND,
    SECTIONS,
    SPECIALTIES,
    WEEKDAYS,
    CentreEntry,
    ClinicEntry,
    DirectoryProblem,
    DirectoryRejected,
    Entry,
    Format,
    ParsedDirectory,
    PersonEntry,
    default_clinic_id,
    directory_format,
    entry_kind,
)
from services.directory.exporting import dump_directory, export_directory, load_directory
from services.directory.importing import ImportReport, import_directory, render_report

__all__ = [
    "CLINIC_KINDS",
    "CSV_COLUMNS",
    "MAX_LOCATION_LENGTH",
    "MAX_NAME_LENGTH",
    "MDT_KIND",
    "SECTIONS",
    "SPECIALTIES",
    "WEEKDAYS",
    "CentreEntry",
    "ClinicEntry",
    "DirectoryProblem",
    "DirectoryRejected",
    "Entry",
    "Format",
    "ImportReport",
    "ParsedDirectory",
    "PersonEntry",
    "default_clinic_id",
    "directory_format",
    "dump_directory",
    "entry_kind",
    "export_directory",
    "import_directory",
    "load_directory",
    "parse_directory",
    "render_report",
]
