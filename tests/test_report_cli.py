"""`referral-bot report` and `referral-bot audit export` as an operator runs them."""

from __future__ import annotations

import asyncio
import base64
import csv
import io
import sqlite3
from pathlib import Path

import pytest

from storage.crypto import Keyring
from storage.uow import Database
from tests import report_data as data
from tests.processes import fresh_key
from tests.test_cli import cli
from tests.test_reports import csv_figures

PERIOD = ("--since", "2026-11-02", "--until", "2026-11-15")


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return {
        "ENCRYPTION_KEYS": fresh_key(),
        "INDEX_KEY": fresh_key(),
        "DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path}/cli.db",
        "TIMEZONE": "Europe/London",
    }


def _build(tmp_path: Path, env: dict[str, str]) -> data.Ids:
    keyring = Keyring(
        (base64.urlsafe_b64decode(env["ENCRYPTION_KEYS"]),),
        base64.urlsafe_b64decode(env["INDEX_KEY"]),
    )

    async def go() -> data.Ids:
        db = Database(env["DATABASE_URL"], keyring)
        await db.migrate()
        try:
            return await data.build(db)
        finally:
            await db.dispose()

    return asyncio.run(go())


def _audit_actions(tmp_path: Path) -> list[str]:
    with sqlite3.connect(tmp_path / "cli.db") as conn:
        return [r[0] for r in conn.execute("SELECT action FROM audit_log ORDER BY id")]


def test_report_in_each_format(tmp_path: Path, env: dict[str, str]) -> None:
    ids = _build(tmp_path, env)
    result = cli("report", *PERIOD, "--format", "csv", cwd=tmp_path, **env)
    assert result.returncode == 0, result.stderr
    figures = csv_figures(result.stdout)
    expected = data.expected(ids)
    # Figures that do not depend on the day the test runs are exactly those of the dataset.
    for key in [
        ("summary", "cases", "count"),
        ("summary", "messages", "count"),
        ("by_centre", "__other__", "cases"),
        ("times", "first_response", "median_seconds"),
        ("times", "resolution", "p90_seconds"),
        ("escalations", "to_admins", "count"),
        ("reminders", "confirmed", "count"),
        ("weekly", "2026-11-09", "queries"),
        ("clinicians", f"person:{ids.bone}", "open_queries"),
        ("clinicians", f"person:{ids.bone}", "overdue_queries"),
        # Medians and 90th percentiles by centre and by clinician (the answered queries).
        ("first_response_by_centre", "rbh", "median_seconds"),
        ("first_response_by_centre", "rbh", "p90_seconds"),
        ("first_response_by_centre", "gwh", "p90_seconds"),
        ("first_response_by_clinician", f"person:{ids.patel}", "p90_seconds"),
        ("first_response_by_clinician", f"person:{ids.jones}", "median_seconds"),
        # Files by centre and type (a purged one included).
        ("attachments_by_centre", "rbh", "pdf"),
        ("attachments_by_centre", "__all__", "total"),
        ("attachments_by_centre", "__all__", "bytes"),
        # The MDT: meetings, days against the letter, outcomes by centre, roll-overs.
        ("mdt_meetings", "total", "listed"),
        ("mdt_days", "to_outcome_sent", "p90_days"),
        ("mdt_days", "to_discussion", "within_14_days"),
        ("mdt_outcomes", "surgery_centre", "count"),
        ("mdt_outcomes_by_centre", "rbh", "total"),
        ("mdt_rollovers", "2026-11-02", "then_decided"),
    ]:
        assert figures[key] == expected[key], key

    html = cli("report", *PERIOD, "--format", "html", "--out", "r.html", cwd=tmp_path, **env)
    assert html.returncode == 0, html.stderr
    page = (tmp_path / "r.html").read_text()
    assert page.startswith("<!DOCTYPE html>") and page.count("data:image/svg+xml") == 4
    assert "Time to first response by referring centre</h2>" in page
    assert (
        f"data-key='first_response_by_clinician|person:{ids.patel}|p90_seconds'"
        " data-value='1213200'>14 d 1 h</td>"
    ) in page
    text = cli("report", *PERIOD, cwd=tmp_path, **env)
    assert text.returncode == 0 and "Dr Bea Bone" in text.stdout
    assert "Great Western Hospital            2        4" in text.stdout
    squeezed = [" ".join(line.split()) for line in text.stdout.splitlines()]
    assert "Time to first response by clinician" in squeezed
    assert "All centres 3 2 2 7 1.1 MB" in squeezed
    assert "Referral to outcome sent 3 7 d 14.2 d 14 d 2 1" in squeezed
    # Answered, median, 90th percentile (the rest depends on the day the test runs).
    assert any(line.startswith("Dr Raj Patel 4 1 h 00 min 14 d 1 h ") for line in squeezed)
    assert any(
        line.startswith("Royal Berkshire Hospital 4 1 h 00 min 14 d 1 h ") for line in squeezed
    )
    assert _audit_actions(tmp_path).count("report.generated") == 3


def test_report_refuses_bad_dates_and_formats_in_one_line(
    tmp_path: Path,
    env: dict[str, str],
) -> None:
    for args, words in [
        (("--since", "2026-13-01"), "--since: '2026-13-01' is not a date"),
        (("--until", "1/11/2026"), "--until: '1/11/2026' is not a date"),
        (("--since", "2026-11-20", "--until", "2026-11-02"), "after the end date"),
        (("--format", "pdf"), "--format: 'pdf' is not one of text, csv, html"),
    ]:
        result = cli("report", *args, cwd=tmp_path, **env)
        assert result.returncode == 2, (args, result.stderr)
        assert words in result.stderr and "Traceback" not in result.stderr
        assert len(result.stderr.strip().splitlines()) == 1


def test_empty_database_report(tmp_path: Path, env: dict[str, str]) -> None:
    result = cli("report", "--format", "csv", cwd=tmp_path, **env)
    assert result.returncode == 0, result.stderr
    assert csv_figures(result.stdout)[("summary", "cases", "count")] == "0"


def test_audit_export_verifies_the_chain_as_it_goes(
    tmp_path: Path,
    env: dict[str, str],
) -> None:
    _build(tmp_path, env)
    with sqlite3.connect(tmp_path / "cli.db") as conn:
        total = conn.execute("SELECT count(*) FROM audit_log").fetchone()[0]
        since = conn.execute(
            "SELECT count(*) FROM audit_log WHERE at >= '2026-11-10 00:00:00'"
        ).fetchone()[0]
    assert 0 < since < total

    everything = cli("audit", "export", "--format", "csv", cwd=tmp_path, **env)
    assert everything.returncode == 0, everything.stderr
    rows = list(csv.DictReader(io.StringIO(everything.stdout)))
    assert [int(r["id"]) for r in rows] == list(range(1, total + 1))
    assert "chain intact" in everything.stderr
    assert rows[0]["action"] == "case.created" and rows[0]["at"].startswith("2026-10-26T10:00")

    part = cli("audit", "export", "--since", "2026-11-10", "--out", "a.csv", cwd=tmp_path, **env)
    assert part.returncode == 0, part.stderr
    rows = list(csv.DictReader(io.StringIO((tmp_path / "a.csv").read_text())))
    # ... plus the first export's own entry (made today).
    assert len(rows) == since + 1 and all(r["at"] >= "2026-11-10" for r in rows)
    assert rows[-1]["action"] == "audit.exported"
    assert _audit_actions(tmp_path)[-2:] == ["audit.exported", "audit.exported"]

    with sqlite3.connect(tmp_path / "cli.db") as conn:
        conn.execute("UPDATE audit_log SET subject = 'C-99' WHERE id = 7")
    (tmp_path / "a.csv").unlink()
    broken = cli("audit", "export", "--since", "2026-11-10", "--out", "a.csv", cwd=tmp_path, **env)
    assert broken.returncode == 1
    assert "audit chain broken at entry 7" in broken.stderr
    assert not (tmp_path / "a.csv").exists() and not (tmp_path / "a.csv.partial").exists()
    to_stdout = cli("audit", "export", cwd=tmp_path, **env)
    assert to_stdout.returncode == 1 and "entry 7" in to_stdout.stderr
    ids = [int(r["id"]) for r in csv.DictReader(io.StringIO(to_stdout.stdout))]
    assert ids == list(range(1, 7))  # nothing past the break

    bad = cli("audit", "export", "--since", "yesterday", cwd=tmp_path, **env)
    assert bad.returncode == 2 and "--since: 'yesterday' is not a date" in bad.stderr
