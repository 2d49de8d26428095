"""Directory import/export: every check with its line, all-or-nothing, idempotent upsert."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from core.clock import FakeClock
from services.directory import (
    DirectoryProblem,
    DirectoryRejected,
    ImportReport,
    ParsedDirectory,
    dump_directory,
    export_directory,
    import_directory,
    parse_directory,
    render_report,
)
from storage.models import AuditEntry, Centre, Clinic, Person
from storage.uow import Database

DOCS = Path(__file__).resolve().parent.parent / "docs"
EXAMPLE_YAML = (DOCS / "directory.example.yaml").read_text(encoding="utf-8")
EXAMPLE_CSV = (DOCS / "directory.example.csv").read_text(encoding="utf-8")

EVERYTHING = [
    ("centre", "rbh"),
    ("centre", "mkuh"),
    ("clinician", "dr-jones"),
    ("clinician", "dr-patel"),
    ("link_clinician", "lc-rbh-khan"),
    ("link_clinician", "lc-mkuh-evans"),
    ("admin", "coord-sam"),
    ("clinic", "one_stop-monday-09:00"),
    ("clinic", "mdt-monday-13:00"),
]
# docs/directory.example.csv does not list the MDT meeting (yet): compared without it.
MDT = ("clinic", "mdt-monday-13:00")
EVERYTHING_CSV = EVERYTHING  # the two examples describe the same directory


def parsed(text: str, fmt: str = "yaml") -> ParsedDirectory:
    result = parse_directory(text, fmt)  # type: ignore[arg-type]
    assert isinstance(result, ParsedDirectory), [str(p) for p in result]
    return result


def problems(text: str, fmt: str = "yaml") -> list[tuple[int, str, str]]:
    result = parse_directory(text, fmt)  # type: ignore[arg-type]
    assert isinstance(result, list), "expected the file to be rejected"
    return [(p.line, p.field, p.message) for p in result]


async def load(db: Database, text: str, clock: FakeClock, fmt: str = "yaml") -> ImportReport:
    async with db.uow() as uow:
        report = await import_directory(uow, parsed(text, fmt), clock.now())
        await uow.commit()
    return report


async def row_counts(db: Database) -> dict[str, int]:
    async with db.uow() as uow:
        return {
            model.__tablename__: int(
                await uow._session.scalar(select(func.count()).select_from(model)) or 0
            )
            for model in (Centre, Person, Clinic, AuditEntry)
        }


async def person(db: Database, directory_id: str) -> dict[str, object]:
    """A directory person's stored state, decrypted, with the deputy as its directory id."""
    async with db.uow() as uow:
        found = await uow.people.by_directory_id(directory_id)
        assert found is not None
        deputy = await uow.people.get(found.deputy_id) if found.deputy_id else None
        return {
            "role": found.role,
            "status": found.status,
            "name": found.name,
            "phone": found.phone,
            "email": found.email,
            "specialties": found.specialties,
            "centre": found.centre_id,
            "deputy": deputy.directory_id if deputy else None,
        }


# --- parsing, no database --------------------------------------------------------------


def test_example_files_describe_the_same_directory() -> None:
    from_yaml, from_csv = parsed(EXAMPLE_YAML), parsed(EXAMPLE_CSV, "csv")
    assert from_yaml.by_key() == from_csv.by_key()
    assert list(from_yaml.by_key()) == EVERYTHING
    jones = from_yaml.by_key()[("clinician", "dr-jones")]
    assert jones.line == 7  # type: ignore[union-attr]
    assert jones == from_csv.by_key()[("clinician", "dr-jones")]


MANY_PROBLEMS = """\
centres:
  - {id: rbh, name: Royal Berkshire Hospital}
  - {id: rbh, name: Another Royal Berkshire}
  - {name: No id}
clinicians:
  - id: dr-jones
    name: Dr Alice Jones
    specialties: [bone, knee]
    deputy: dr-nobody
    phone: "12345"
    email: not-an-email
  - id: dr-patel
    name: Dr Ravi Patel
    specialties: soft_tissue
    deputy: dr-patel
  - id: dr-jones
    name: Dr {long}
    specialties: [bone]
    deputy: lc-rbh-khan
  - id: dr-lee
    specialties: [bone]
    emial: lee@nhs.net
link_clinicians:
  - {id: lc-rbh-khan, name: Dr Omar Khan, centre: nowhere}
  - {id: lc-two, name: Dr Two, centre: rbh, deputy: dr-jones}
admins:
  - {id: coord-sam, name: [Sam, Lee]}
  - {id: "bad id!", name: Bad Id}
clinics:
  - {kind: one_stop, name: One-stop, weekday: funday, time: "25:00", location: NOC}
  - {kind: tea_party, name: Tea, weekday: monday, time: "09:00", location: NOC}
  - {kind: one_stop, name: One-stop, weekday: Monday, time: "9:00", location: NOC}
  - {kind: one_stop, name: Again, weekday: monday, time: "09:00", location: NOC}
wards: []
""".replace("{long}", "x" * 118)


def test_every_problem_is_reported_with_its_line() -> None:
    found = problems(MANY_PROBLEMS)
    email = [entry for entry in found if entry[1] == "clinicians[0].email"]
    assert len(email) == 1 and email[0][0] == 11
    assert email[0][2].startswith("not a valid email address")
    assert [entry for entry in found if entry not in email] == [
        (3, "centres[1].id", "duplicate id 'rbh' (first at line 2)"),
        (4, "centres[2].id", "missing"),
        (8, "clinicians[0].specialties", "unknown specialty 'knee'; expected bone or soft_tissue"),
        (9, "clinicians[0].deputy", "unknown clinician 'dr-nobody'"),
        (10, "clinicians[0].phone", "not a valid phone number"),
        (14, "clinicians[1].specialties", "must be a list, e.g. [bone, soft_tissue]"),
        (15, "clinicians[1].deputy", "a clinician cannot be their own deputy"),
        (16, "clinicians[2].id", "duplicate id 'dr-jones' (first at line 6)"),
        (17, "clinicians[2].name", "longer than 120 characters (121)"),
        (19, "clinicians[2].deputy", "'lc-rbh-khan' is a link clinician, not a clinician"),
        (20, "clinicians[3].name", "missing"),
        (22, "clinicians[3].emial", "unknown field"),
        (24, "link_clinicians[0].centre", "unknown centre 'nowhere'"),
        (25, "link_clinicians[1].deputy", "not used for link clinicians"),
        (27, "admins[0].name", "must be text, not a list"),
        (
            28,
            "admins[1].id",
            "must be 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit",
        ),
        (30, "clinics[0].weekday", "unknown weekday 'funday'; expected monday to sunday"),
        (30, "clinics[0].time", "must be a 24-hour time HH:MM"),
        (
            31,
            "clinics[1].kind",
            "unknown clinic kind 'tea_party'; expected one of one_stop, follow_up_noc, "
            "oncology_follow_up, joint_follow_up, mdt",
        ),
        (33, "clinics[3].id", "duplicate id 'one_stop-monday-09:00' (first at line 32)"),
        (
            34,
            "wards",
            "unknown top-level key; expected one of centres, clinicians, link_clinicians, "
            "admins, clinics",
        ),
    ]


def test_problem_reads_as_line_field_message() -> None:
    problem = DirectoryProblem(12, "clinicians[1].deputy", "unknown clinician 'dr-nobody'")
    assert str(problem) == "line 12: clinicians[1].deputy: unknown clinician 'dr-nobody'"
    assert str(DirectoryProblem(3, "", "the file is empty")) == "line 3: the file is empty"


def test_yaml_syntax_error_has_its_line() -> None:
    text = "centres:\n  - {id: rbh, name: Royal Berkshire Hospital}\n  - {id: x, name: [\n"
    [(line, where, message)] = problems(text)
    assert (line, where) == (4, "")
    assert message.startswith("YAML syntax error")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", [(1, "", "the file is empty")]),
        (
            "- just a list\n",
            [
                (
                    1,
                    "",
                    "expected a mapping of sections: "
                    + ", ".join(["centres", "clinicians", "link_clinicians", "admins", "clinics"]),
                )
            ],
        ),
        ("centres: {id: rbh}\n", [(1, "centres", "must be a list of entries")]),
        (
            "admins:\n  - coord-sam\n",
            [(2, "admins[0]", "each entry must be a mapping of fields (id: ...)")],
        ),
        (
            "admins:\n  - {id: a, name: A}\nadmins:\n  - {id: b, name: B}\n",
            [(3, "admins", "section given twice (first at line 1)")],
        ),
        (
            "admins:\n  - id: a\n    name: A\n    name: B\n",
            [(4, "admins[0].name", "field given twice")],
        ),
        (
            "clinicians:\n  - {id: dr-a, name: A, specialties: []}\n",
            [(2, "clinicians[0].specialties", "missing")],
        ),
        (
            "clinicians:\n  - {id: dr-a, name: A, specialties: [bone], deputy: coord}\n"
            "admins:\n  - {id: coord, name: C}\n",
            [(2, "clinicians[0].deputy", "'coord' is an admin, not a clinician")],
        ),
        (
            "clinics:\n  - {name: Clinic}\n",
            [
                (2, "clinics[0].kind", "missing"),
                (2, "clinics[0].weekday", "missing"),
                (2, "clinics[0].time", "missing"),
                (2, "clinics[0].location", "missing"),
            ],
        ),
    ],
)
def test_structural_problems(text: str, expected: list[tuple[int, str, str]]) -> None:
    assert problems(text) == expected


def test_yaml_values_are_read_as_written() -> None:
    # Unquoted, YAML 1.1 would make 09:00 the number 540 and `no` False.
    directory = parsed(
        "centres:\n  - {id: no, name: Norway General}\n"
        "clinics:\n  - {id: joint-tue, kind: joint_follow_up, name: Joint, weekday: TUESDAY,"
        " time: 14:30, location: Base hospital}\n"
    )
    assert directory.centres[0].id == "no"
    clinic = directory.clinics[0]
    assert (clinic.id, clinic.weekday, clinic.time) == ("joint-tue", 1, "14:30")


CSV_PROBLEMS = """\
kind,id,name,centre,specialties,deputy,phone,email,weekday,time,location
centre,rbh,Royal Berkshire Hospital,,,,,,,,
# a comment row, skipped

clinician,dr-jones,Dr Alice Jones,rbh,bone;elbow,dr-nobody,,,,,
link_clinician,lc-one,Dr One,nowhere,,,,,,,
surgeon,dr-x,Dr X,,,,,,,,
clinic:tea_party,,Tea,,,,,,monday,09:00,NOC
clinic,,No kind,,,,,,monday,09:00,NOC
admin,coord-sam,"Sam
Lee",,,,07700,,,,
admin,coord-sam,Sam Again,,,,,,,,
"""


def test_csv_problems_have_file_lines() -> None:
    assert problems(CSV_PROBLEMS, "csv") == [
        (5, "clinician.centre", "not used for clinicians"),
        (5, "clinician.specialties", "unknown specialty 'elbow'; expected bone or soft_tissue"),
        (5, "clinician.deputy", "unknown clinician 'dr-nobody'"),
        (6, "link_clinician.centre", "unknown centre 'nowhere'"),
        (
            7,
            "kind",
            "unknown kind 'surgeon'; expected one of clinician, link_clinician, admin, centre, "
            "clinic:<kind>",
        ),
        (
            8,
            "clinic.kind",
            "unknown clinic kind 'tea_party'; expected one of one_stop, follow_up_noc, "
            "oncology_follow_up, joint_follow_up, mdt",
        ),
        (9, "clinic.kind", "missing"),
        (10, "admin.phone", "not a valid phone number"),
        (12, "admin.id", "duplicate id 'coord-sam' (first at line 10)"),
    ]


def test_csv_header_problems() -> None:
    assert problems("kind,id,name,colour\n", "csv") == [
        (
            1,
            "colour",
            "unknown column; expected one of "
            "kind,id,name,centre,specialties,deputy,phone,email,weekday,time,location,cutoff",
        )
    ]
    assert problems("id,name\nrbh,Royal\n", "csv") == [(1, "kind", "the header has no kind column")]
    assert problems("", "csv") == [(1, "", "the file is empty")]


def test_csv_with_byte_order_mark_and_reordered_columns() -> None:
    text = "\ufeffname,kind,id\nRoyal Berkshire Hospital,centre,rbh\n"
    assert parsed(text, "csv").centres[0].name == "Royal Berkshire Hospital"


def test_dump_then_parse_round_trips_both_formats() -> None:
    directory = parsed(EXAMPLE_YAML)
    for fmt in ("yaml", "csv"):
        assert parsed(dump_directory(directory, fmt), fmt).by_key() == directory.by_key()  # type: ignore[arg-type]


def test_render_report() -> None:
    report = ImportReport(
        added=[("link_clinician", "lc-rbh-khan")],
        changed=[("clinician", "dr-jones", ("phone", "email"))],
        unchanged=[("centre", "rbh")] * 5,
        not_in_file=[("admin", "coord-old")],
    )
    assert render_report(report) == [
        "added link clinician lc-rbh-khan",
        "changed clinician dr-jones (phone, email)",
        "unchanged: 5",
        "not in file, left as stored: admin coord-old",
        "added: 1, changed: 1, unchanged: 5, not in file: 1",
    ]


# --- import and export, on every backend --------------------------------------------------


async def test_import_of_the_example(db: Database, clock: FakeClock) -> None:
    report = await load(db, EXAMPLE_YAML, clock)
    assert report.added == EVERYTHING
    assert (report.changed, report.unchanged, report.not_in_file) == ([], [], [])
    assert await row_counts(db) == {"centres": 2, "people": 5, "clinics": 2, "audit_log": 9}

    assert await person(db, "dr-jones") == {
        "role": "clinician",
        "status": "active",
        "name": "Dr Alice Jones",
        "phone": "+441865738000",
        "email": "alice.jones@nhs.net",
        "specialties": "bone,soft_tissue",
        "centre": None,
        "deputy": "dr-patel",
    }
    assert (await person(db, "dr-patel"))["deputy"] == "dr-jones"
    khan = await person(db, "lc-rbh-khan")
    assert (khan["role"], khan["centre"], khan["phone"]) == ("link_clinician", "rbh", None)
    sam = await person(db, "coord-sam")
    assert (sam["role"], sam["name"], sam["specialties"]) == ("admin", "Sam Lee", "")

    async with db.uow() as uow:
        clinic = await uow.clinics.get("one_stop-monday-09:00")
        assert clinic is not None
        assert (clinic.kind, clinic.weekday, clinic.time) == ("one_stop", 0, "09:00")
        entries = (await uow._session.scalars(select(AuditEntry).order_by(AuditEntry.id))).all()
        assert [(e.action, e.subject) for e in entries][:3] == [
            ("directory.added", "centre:rbh"),
            ("directory.added", "centre:mkuh"),
            ("directory.added", "clinician:dr-jones"),
        ]
        # Personal data is stored encrypted only.
        row = await uow._session.scalar(select(Person).where(Person.directory_id == "dr-jones"))
        assert row is not None and b"Alice" not in (row.name_enc or b"")


async def test_reimport_changes_nothing_and_audits_nothing(db: Database, clock: FakeClock) -> None:
    await load(db, EXAMPLE_YAML, clock)
    before = await row_counts(db)
    clock.advance(timedelta(days=1))
    report = await load(db, EXAMPLE_YAML, clock)
    assert report.unchanged == EVERYTHING
    assert (report.added, report.changed, report.not_in_file) == ([], [], [])
    assert await row_counts(db) == before
    assert "unchanged: 9" in render_report(report)


async def test_changed_phone_is_reported_by_field_name(db: Database, clock: FakeClock) -> None:
    await load(db, EXAMPLE_YAML, clock)
    edited = EXAMPLE_YAML.replace('"01865 738000"', '"0118 322 5111"')
    report = await load(db, edited, clock)
    assert report.changed == [("clinician", "dr-jones", ("phone",))]
    assert len(report.unchanged) == len(EVERYTHING) - 1
    assert "changed clinician dr-jones (phone)" in render_report(report)
    assert (await person(db, "dr-jones"))["phone"] == "+441183225111"
    async with db.uow() as uow:
        assert [p.directory_id for p in await uow.people.by_phone("+441183225111")] == ["dr-jones"]
        last = await uow._session.scalar(select(AuditEntry).order_by(AuditEntry.id.desc()))
        assert last is not None
        assert (last.action, last.subject, last.details) == (
            "directory.changed",
            "clinician:dr-jones",
            '{"fields":["phone"]}',
        )


async def test_several_fields_and_deputy_change(db: Database, clock: FakeClock) -> None:
    await load(db, EXAMPLE_YAML, clock)
    edited = (
        EXAMPLE_YAML.replace("deputy: dr-patel  ", "            ")
        .replace("alice.jones@nhs.net", "a.jones@nhs.net")
        .replace("specialties: [bone, soft_tissue]", "specialties: [bone]")
    )
    report = await load(db, edited, clock)
    assert report.changed == [("clinician", "dr-jones", ("specialties", "deputy", "email"))]
    jones = await person(db, "dr-jones")
    assert (jones["deputy"], jones["email"], jones["specialties"]) == (
        None,
        "a.jones@nhs.net",
        "bone",
    )


async def test_role_clash_rejects_the_whole_file(db: Database, clock: FakeClock) -> None:
    await load(db, EXAMPLE_YAML, clock)
    before = await row_counts(db)
    clash = (
        "centres:\n  - {id: new-centre, name: New Centre}\n"
        "admins:\n  - {id: coord-new, name: New Coordinator}\n"
        "  - {id: dr-jones, name: Dr Alice Jones}\n"
    )
    async with db.uow() as uow:
        with pytest.raises(DirectoryRejected) as rejected:
            await import_directory(uow, parsed(clash), clock.now())
        await uow.commit()  # even a careless caller's commit has nothing to write
    assert [str(p) for p in rejected.value.problems] == [
        "line 5: admins[1].id: 'dr-jones' is stored as clinician, not as admin; "
        "an import does not change roles"
    ]
    assert await row_counts(db) == before


async def test_entries_missing_from_the_file_are_kept(db: Database, clock: FakeClock) -> None:
    await load(db, EXAMPLE_YAML, clock)
    report = await load(db, "centres:\n  - {id: rbh, name: Royal Berkshire Hospital}\n", clock)
    assert report.unchanged == [("centre", "rbh")]
    assert sorted(report.not_in_file) == sorted(e for e in EVERYTHING if e != ("centre", "rbh"))
    assert await row_counts(db) == {"centres": 2, "people": 5, "clinics": 2, "audit_log": 9}


async def test_csv_import_gives_the_same_state_as_yaml(db: Database, clock: FakeClock) -> None:
    report = await load(db, EXAMPLE_CSV, clock, "csv")
    assert report.added == EVERYTHING_CSV
    async with db.uow() as uow:
        from_csv = await export_directory(uow, "yaml")
    # The YAML example over the CSV-made database: nothing to do.
    report = await load(db, EXAMPLE_YAML, clock)
    assert (report.unchanged, report.added) == (EVERYTHING, [])
    assert parsed(from_csv).by_key() == parsed(EXAMPLE_YAML).by_key()


async def test_export_round_trips(db: Database, clock: FakeClock) -> None:
    await load(db, EXAMPLE_YAML, clock)
    async with db.uow() as uow:
        exported = {fmt: await export_directory(uow, fmt) for fmt in ("yaml", "csv")}
    example = parsed(EXAMPLE_YAML).by_key()
    assert parsed(exported["yaml"]).by_key() == example
    assert parsed(exported["csv"], "csv").by_key() == example
    # Clinics are exported with their id, so an edited day updates the same row.
    assert "id: one_stop-monday-09:00" in exported["yaml"]
    report = await load(db, exported["csv"], clock, "csv")
    assert sorted(report.unchanged) == sorted(EVERYTHING)


# --- MDT meetings: clinics of kind mdt, with a listing cut-off ----------------------------

MDT_ENTRY = (
    "clinics:\n"
    "  - kind: mdt\n"
    "    name: Sarcoma MDT\n"
    "    weekday: monday\n"
    '    time: "13:00"\n'
    "    location: NOC MDT room\n"
    "    cutoff: {cutoff}\n"
)


def test_mdt_with_its_cutoff() -> None:
    [clinic] = parsed(MDT_ENTRY.format(cutoff="THURSDAY 17:00")).clinics
    assert (clinic.id, clinic.kind, clinic.weekday, clinic.time) == (
        "mdt-monday-13:00",
        "mdt",
        0,
        "13:00",
    )
    assert (clinic.cutoff_weekday, clinic.cutoff_time) == (3, "17:00")
    # Written loosely, read the same; on the meeting's own weekday after it: the week before.
    assert parsed(MDT_ENTRY.format(cutoff="thursday  9:05")).clinics[0].cutoff_time == "09:05"
    [same_day] = parsed(MDT_ENTRY.format(cutoff="Monday 14:00")).clinics
    assert (same_day.cutoff_weekday, same_day.cutoff_time) == (0, "14:00")


@pytest.mark.parametrize(
    ("cutoff", "message"),
    [
        ("Funday 17:00", "unknown weekday 'Funday' in the cut-off; expected monday to sunday"),
        ("Thursday 5pm", "the cut-off time '5pm' must be a 24-hour time HH:MM, e.g. 17:00"),
        ("Thursday 24:00", "the cut-off time '24:00' must be a 24-hour time HH:MM, e.g. 17:00"),
        ("Thursday", "must be a weekday and a 24-hour time, e.g. Thursday 17:00"),
        ('"17:00"', "must be a weekday and a 24-hour time, e.g. Thursday 17:00"),
        ("[Thursday, '17:00']", "must be text, not a list"),
    ],
)
def test_mdt_cutoff_problems(cutoff: str, message: str) -> None:
    assert problems(MDT_ENTRY.format(cutoff=cutoff)) == [(7, "clinics[0].cutoff", message)]


def test_mdt_needs_a_cutoff_and_other_clinics_have_none() -> None:
    without = MDT_ENTRY.replace("    cutoff: {cutoff}\n", "")
    assert problems(without) == [
        (
            2,
            "clinics[0].cutoff",
            "missing: an MDT needs its listing cut-off, e.g. cutoff: Thursday 17:00",
        )
    ]
    blank = problems(MDT_ENTRY.format(cutoff=""))
    assert [(line, where) for line, where, _ in blank] == [(7, "clinics[0].cutoff")]
    one_stop = MDT_ENTRY.format(cutoff="Thursday 17:00").replace("kind: mdt", "kind: one_stop")
    assert problems(one_stop) == [
        (7, "clinics[0].cutoff", "only MDT meetings (kind mdt) have a cut-off, not one_stop")
    ]
    # A wrong kind is reported once, not again as a cut-off problem.
    tea = MDT_ENTRY.format(cutoff="Thursday 17:00").replace("kind: mdt", "kind: tea_party")
    assert [where for _, where, _ in problems(tea)] == ["clinics[0].kind"]
    # Nobody else has a cut-off either.
    assert problems("admins:\n  - {id: a, name: A, cutoff: Thursday 17:00}\n") == [
        (2, "admins[0].cutoff", "not used for admins")
    ]


def test_mdt_in_csv() -> None:
    header = "kind,id,name,weekday,time,location,cutoff\n"
    text = header + "clinic:mdt,,Sarcoma MDT,monday,13:00,NOC,Thursday 17:00\n"
    [clinic] = parsed(text, "csv").clinics
    assert (clinic.id, clinic.cutoff_weekday, clinic.cutoff_time) == (
        "mdt-monday-13:00",
        3,
        "17:00",
    )
    assert problems(header + "clinic:mdt,,Sarcoma MDT,monday,13:00,NOC,\n", "csv") == [
        (
            2,
            "clinic.cutoff",
            "missing: an MDT needs its listing cut-off, e.g. cutoff: Thursday 17:00",
        )
    ]
    assert problems(header + "clinic:one_stop,,One-stop,monday,09:00,NOC,Thu 17:00\n", "csv") == [
        (2, "clinic.cutoff", "unknown weekday 'Thu' in the cut-off; expected monday to sunday"),
        (2, "clinic.cutoff", "only MDT meetings (kind mdt) have a cut-off, not one_stop"),
    ]


def test_mdt_dump_then_parse_round_trips() -> None:
    directory = parsed(MDT_ENTRY.format(cutoff="thursday 17:00"))
    for fmt in ("yaml", "csv"):
        text = dump_directory(directory, fmt)  # type: ignore[arg-type]
        assert "Thursday 17:00" in text
        assert parsed(text, fmt).by_key() == directory.by_key()


async def test_mdt_import_export_and_meeting_times(db: Database, clock: FakeClock) -> None:
    from zoneinfo import ZoneInfo

    from services.mdt import meeting_on

    await load(db, EXAMPLE_YAML, clock)
    async with db.uow() as uow:
        clinic = await uow.clinics.get("mdt-monday-13:00")
        assert clinic is not None
        assert (clinic.kind, clinic.weekday, clinic.time) == ("mdt", 0, "13:00")
        assert (clinic.cutoff_weekday, clinic.cutoff_time) == (3, "17:00")
        one_stop = await uow.clinics.get("one_stop-monday-09:00")
        assert one_stop is not None and (one_stop.cutoff_weekday, one_stop.cutoff_time) == (
            None,
            None,
        )
        london = ZoneInfo("Europe/London")
        meeting = meeting_on(clinic, date(2026, 12, 7), london)
        assert meeting.cutoff_at == datetime(2026, 12, 3, 17, 0, tzinfo=london)
        assert meeting.starts_at == datetime(2026, 12, 7, 13, 0, tzinfo=london)
        exported = {fmt: await export_directory(uow, fmt) for fmt in ("yaml", "csv")}
    assert "cutoff: Thursday 17:00" in exported["yaml"]
    for fmt, text in exported.items():
        assert parsed(text, fmt).by_key() == parsed(EXAMPLE_YAML).by_key()
        assert sorted((await load(db, text, clock, fmt)).unchanged) == sorted(EVERYTHING)

    # A moved cut-off is one changed field, named as in the file.
    report = await load(db, EXAMPLE_YAML.replace("Thursday 17:00", "Friday 12:00"), clock)
    assert report.changed == [("clinic", "mdt-monday-13:00", ("cutoff",))]
    async with db.uow() as uow:
        clinic = await uow.clinics.get("mdt-monday-13:00")
        assert clinic is not None and (clinic.cutoff_weekday, clinic.cutoff_time) == (4, "12:00")
        last = await uow._session.scalar(select(AuditEntry).order_by(AuditEntry.id.desc()))
        assert last is not None and last.details == '{"fields":["cutoff"]}'
