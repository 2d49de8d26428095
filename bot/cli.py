"""`referral-bot`: run the bot and operate it (keys, audit, directory, invites)."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import logging
import re
import secrets
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, TypeVar

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from bot.config import ConfigError, Settings, StartupError, load_settings
from bot.logs import setup_logging
from core.clock import SystemClock
from storage.crypto import Keyring

if TYPE_CHECKING:
    from storage.uow import Database

T = TypeVar("T")

# A crash's traceback never lists local variables: they hold the keys and the bot token.
app = typer.Typer(
    no_args_is_help=True,
    add_completion=False,
    help=__doc__,
    pretty_exceptions_show_locals=False,
)
keys_app = typer.Typer(no_args_is_help=True, help="Encryption keys.")
audit_app = typer.Typer(no_args_is_help=True, help="The audit log.")
directory_app = typer.Typer(no_args_is_help=True, help="Centres, clinicians and clinics.")
mdt_app = typer.Typer(no_args_is_help=True, help="The MDT meeting: agenda, cancelling.")
app.add_typer(keys_app, name="keys")
app.add_typer(audit_app, name="audit")
app.add_typer(directory_app, name="directory")
app.add_typer(mdt_app, name="mdt")

err = Console(stderr=True)


def _fail(message: str, code: int = 1) -> None:
    err.print(message, markup=False, highlight=False)
    raise typer.Exit(code)


def _settings() -> Settings:
    try:
        return load_settings()
    except ConfigError as exc:
        # One line, no traceback: an operator needs the variable's name, nothing else.
        print(f"configuration error: {exc}", file=sys.stderr)
        raise typer.Exit(2) from None


def _run(coro: Callable[[], Awaitable[T]]) -> T:
    return asyncio.run(coro())  # type: ignore[arg-type]


@contextlib.asynccontextmanager
async def _migrated(settings: Settings) -> AsyncIterator[Database]:
    """The configured database, migrated first, disposed of on the way out."""
    from storage.uow import Database

    db = Database(
        settings.DATABASE_URL,
        Keyring.from_keys(settings.ENCRYPTION_KEYS, settings.INDEX_KEY),
        sqlite_driver_name=settings.SQLITE_DRIVER,
    )
    try:
        await db.migrate()
        yield db
    finally:
        await db.dispose()


def _not_started(message: str, code: int) -> None:
    """One line, never wrapped (the console would cut it at 80 columns), then exit."""
    print(message, file=sys.stderr, flush=True)
    raise typer.Exit(code)


@app.command()
def run() -> None:
    """Run the bot: long polling, or webhook mode when WEBHOOK_URL is set."""
    settings = _settings()
    try:
        settings.require_token()
    except ConfigError as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        raise typer.Exit(2) from None
    setup_logging(settings.LOG_LEVEL)
    from bot.app import BotRuntime
    from bot.leadership import AlreadyRunning

    # Exit 2: a setting is wrong; exit 1: the environment is not as the settings expect.
    try:
        _run(lambda: BotRuntime(settings).run_until_signalled())
    except ConfigError as exc:
        _not_started(f"configuration error: {exc}", exc.exit_code)
    except StartupError as exc:
        _not_started(f"not started: {exc}", exc.exit_code)
    except AlreadyRunning as exc:
        _not_started(f"not started: {exc}", 1)


@keys_app.command("new")
def keys_new() -> None:
    """Print a fresh ENCRYPTION_KEYS / INDEX_KEY pair for .env."""
    key = base64.urlsafe_b64encode(secrets.token_bytes(32)).decode()
    index = base64.urlsafe_b64encode(secrets.token_bytes(32)).decode()
    typer.echo(f"ENCRYPTION_KEYS={key}")
    typer.echo(f"INDEX_KEY={index}")


@keys_app.command("rotate")
def keys_rotate() -> None:
    """Re-encrypt every encrypted field under the first key (resumable)."""
    settings = _settings()
    from storage.rotation import count_rows, record_rotation, rotate_keys

    async def rotate() -> None:
        async with _migrated(settings) as db:
            total = await count_rows(db)
            with Progress(
                TextColumn("re-encrypting"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeRemainingColumn(),
                console=err,
            ) as progress:
                task = progress.add_task("rows", total=total)
                result = await rotate_keys(db, lambda n: progress.advance(task, n))
            await record_rotation(db, result, SystemClock().now(), "cli")
            typer.echo(
                f"rows checked: {result.rows_seen}; values re-encrypted: "
                f"{result.values_reencrypted}"
            )

    _run(rotate)


@audit_app.command("verify")
def audit_verify() -> None:
    """Check the audit log's chain; exit 1 naming the first bad entry."""
    settings = _settings()

    async def verify() -> None:
        async with _migrated(settings) as db, db.uow() as uow:
            count, problem = await uow.audit.verify()
            head = await uow.audit.head()
        if problem:
            _fail(f"audit chain broken at entry {problem.entry_id}: {problem.reason}")
        typer.echo(f"audit chain intact: {count} entries")
        if head is not None:
            # Compare with the "audit head" lines of the bot's log: a cut-off tail shows.
            typer.echo(f"head: entry {head[0]} mac {head[1]}")

    _run(verify)


def _date(value: str | None, option: str) -> date | None:
    """A YYYY-MM-DD option, or a one-line error naming the option (exit 2)."""
    if value is None:
        return None
    try:
        if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
            raise ValueError
        return date.fromisoformat(value)
    except ValueError:
        _fail(f"{option}: {value!r} is not a date; use YYYY-MM-DD, e.g. 2026-11-02", 2)
    return None


SinceOpt = Annotated[
    str | None, typer.Option("--since", help="first day, YYYY-MM-DD (service time zone)")
]
UntilOpt = Annotated[
    str | None, typer.Option("--until", help="last day, YYYY-MM-DD, inclusive (default today)")
]
OutOpt = Annotated[Path | None, typer.Option("--out", help="write to this file, not stdout")]


def _write_out(text: str, out: Path | None) -> None:
    if out is None:
        sys.stdout.write(text)
        return
    try:
        out.write_text(text, encoding="utf-8")
    except OSError as exc:
        _fail(f"{out}: {exc.strerror}")
    err.print(f"written {out}", markup=False, highlight=False)


@audit_app.command("export")
def audit_export(
    since: SinceOpt = None,
    until: UntilOpt = None,
    fmt: Annotated[str, typer.Option("--format", help="csv")] = "csv",
    out: OutOpt = None,
) -> None:
    """Export audit entries as CSV, verifying the whole chain; exit 1 if it is broken."""
    settings = _settings()
    first, last = _date(since, "--since"), _date(until, "--until")
    if fmt != "csv":
        _fail(f"--format: {fmt!r} is not supported; use csv", 2)
    from services.audit_export import export_csv
    from services.reports import PeriodError, period
    from storage.audit import ChainBroken

    try:
        span = period(first, last, SystemClock().now(), settings.TIMEZONE)
    except PeriodError as exc:
        _fail(f"--since/--until: {exc}", 2)
    # Until the chain is verified to the end, rows go to a side file, never to `out`.
    partial = out.with_name(out.name + ".partial") if out else None

    async def export() -> int:
        async with _migrated(settings) as db:
            async with db.uow() as uow:
                if partial is None:
                    count = await export_csv(uow, sys.stdout.write, span.start, span.end)
                else:
                    with partial.open("w", encoding="utf-8", newline="") as handle:
                        count = await export_csv(uow, handle.write, span.start, span.end)
            async with db.uow() as uow:
                await uow.audit.record(
                    SystemClock().now(), "cli", "audit.exported", "", entries=count
                )
                await uow.commit()
            return count

    try:
        count = _run(export)
    except ChainBroken as exc:
        if partial is not None:
            partial.unlink(missing_ok=True)
        _fail(f"audit chain broken at entry {exc.problem.entry_id}: {exc.problem.reason}")
        return
    if partial is not None and out is not None:
        partial.replace(out)
    err.print(f"exported {count} entries; chain intact", markup=False, highlight=False)


@app.command()
def report(
    since: SinceOpt = None,
    until: UntilOpt = None,
    fmt: Annotated[str, typer.Option("--format", help="text, csv or html")] = "text",
    out: OutOpt = None,
) -> None:
    """The governance pack: cases, queries, response times, load, reminders, gaps."""
    settings = _settings()
    first, last = _date(since, "--since"), _date(until, "--until")
    from services.report_render import FORMATS, render
    from services.reports import PeriodError, build_report

    if fmt not in FORMATS:
        _fail(f"--format: {fmt!r} is not one of {', '.join(FORMATS)}", 2)

    async def make() -> str:
        clock = SystemClock()
        async with _migrated(settings) as db:
            async with db.uow() as uow:
                figures = await build_report(
                    uow, clock, settings.TIMEZONE, settings.ACK_SLA, first, last
                )
            async with db.uow() as uow:
                await uow.audit.record(
                    clock.now(),
                    "cli",
                    "report.generated",
                    "",
                    since=str(figures.since or ""),
                    until=str(figures.until),
                    format=fmt,
                )
                await uow.commit()
        return render(figures, fmt)

    try:
        text = _run(make)
    except PeriodError as exc:
        _fail(f"--since/--until: {exc}", 2)
        return
    _write_out(text, out)


@app.command()
def purge() -> None:
    """Apply the retention policy: clear free text of cases closed > RETENTION_DAYS."""
    settings = _settings()
    from services.retention import purge as apply_retention

    async def run_purge() -> None:
        async with _migrated(settings) as db:
            result = await apply_retention(db, SystemClock().now(), settings.retention, actor="cli")
        typer.echo(f"retention: {settings.RETENTION_DAYS} days")
        for name, count in result.as_dict().items():
            typer.echo(f"{name.replace('_', ' ')}: {count}")

    _run(run_purge)


FileArg = Annotated[Path, typer.Argument(help="YAML (.yaml/.yml) or CSV (.csv) file")]


def _format_of(path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix in (".yaml", ".yml"):
        return "yaml"
    if suffix == ".csv":
        return "csv"
    _fail(f"{path}: use a .yaml, .yml or .csv file")
    return ""


@directory_app.command("import")
def directory_import(file: FileArg) -> None:
    """Load the directory: validate everything, then apply all or nothing."""
    settings = _settings()
    from services.directory import (
        DirectoryRejected,
        import_directory,
        parse_directory,
        render_report,
    )

    fmt = _format_of(file)
    try:
        text = file.read_text(encoding="utf-8")
    except OSError as exc:
        _fail(f"{file}: {exc.strerror}")
    parsed = parse_directory(text, fmt)  # type: ignore[arg-type]
    if isinstance(parsed, list):
        for problem in parsed:
            err.print(f"{file}: {problem}", markup=False, highlight=False)
        _fail(f"{len(parsed)} problem(s); nothing was imported")

    async def apply() -> None:
        try:
            async with _migrated(settings) as db, db.uow() as uow:
                report = await import_directory(uow, parsed, SystemClock().now())  # type: ignore[arg-type]
                await uow.commit()
        except DirectoryRejected as exc:
            for problem in exc.problems:
                err.print(f"{file}: {problem}", markup=False, highlight=False)
            _fail(f"{len(exc.problems)} problem(s); nothing was imported")
            return
        for line in render_report(report):
            typer.echo(line)

    _run(apply)


@directory_app.command("export")
def directory_export(file: FileArg) -> None:
    """Write the directory in the import format."""
    settings = _settings()
    from services.directory import export_directory

    fmt = _format_of(file)

    async def export() -> None:
        async with _migrated(settings) as db, db.uow() as uow:
            text = await export_directory(uow, fmt)  # type: ignore[arg-type]
        file.write_text(text, encoding="utf-8")
        typer.echo(f"written {file}")

    _run(export)


def _agenda_format(fmt: str | None, out: Path) -> str:
    """--format, else the file's extension (.pdf or .csv), else pdf."""
    if fmt is None:
        return "csv" if out.suffix.lower() == ".csv" else "pdf"
    if fmt not in ("pdf", "csv"):
        _fail(f"--format: {fmt!r} is not one of pdf, csv", 2)
    return fmt


@mdt_app.command("agenda")
def mdt_agenda(
    day: Annotated[str, typer.Option("--date", help="the meeting's day, YYYY-MM-DD")],
    out: Annotated[Path, typer.Option("--out", help="write to this file")],
    fmt: Annotated[
        str | None, typer.Option("--format", help="pdf or csv (default: from --out, else pdf)")
    ] = None,
) -> None:
    """Write a meeting's agenda: a PDF (a page per case) or CSV, NHS numbers included."""
    settings = _settings()
    meeting_day = _date(day, "--date")
    kind = _agenda_format(fmt, out)
    assert meeting_day is not None
    from services.mdt import meeting_of_day
    from services.mdt_agenda import agenda_csv, agenda_pages, day_words
    from services.mdt_pdf import agenda_pdf

    async def make() -> tuple[bytes, int, bool]:
        now = SystemClock().now()
        tz = settings.TIMEZONE
        async with _migrated(settings) as db, db.uow() as uow:
            meeting = await meeting_of_day(uow, meeting_day)
            today = now.astimezone(tz).date()
            pages = await agenda_pages(uow, meeting, tz, today) if meeting else []
            cancelled = meeting is not None and meeting.cancelled_at is not None
            subject = f"mdt:{meeting_day.isoformat()}"
            await uow.audit.record(
                now, "cli", "mdt.agenda_exported", subject, cases=len(pages), format=kind
            )
            await uow.commit()
        if kind == "csv":
            return agenda_csv(pages, nhs_numbers=True).encode("utf-8"), len(pages), cancelled
        title = f"MDT agenda, {day_words(meeting_day)}"
        return agenda_pdf(title, meeting_day, pages, created=now), len(pages), cancelled

    data, count, cancelled = _run(make)
    try:
        out.write_bytes(data)
    except OSError as exc:
        _fail(f"{out}: {exc.strerror}")
    when = day_words(meeting_day)
    if count == 0:
        why = " (the meeting is cancelled)" if cancelled else ""
        typer.echo(f"written {out}: no cases listed for the MDT of {when}{why}")
    else:
        cases = "1 case" if count == 1 else f"{count} cases"
        typer.echo(f"written {out}: {cases} on the agenda of the MDT of {when}")


@mdt_app.command("cancel")
def mdt_cancel(
    day: Annotated[str, typer.Argument(help="the meeting's day, YYYY-MM-DD")],
) -> None:
    """Cancel the MDT of a day: its listed cases move to the next meeting at once."""
    settings = _settings()
    meeting_day = _date(day, "DATE")
    assert meeting_day is not None
    from delivery.sender import enqueue
    from handlers.mdt import cancellation_notices
    from services.mdt import cancel
    from services.mdt_agenda import day_words

    async def apply() -> tuple[bool, list[date]] | str:
        async with _migrated(settings) as db, db.uow() as uow:
            now = SystemClock().now()
            result = await cancel(uow, meeting_day, now, settings.TIMEZONE, "cli")
            if isinstance(result, str):
                return result
            # Queued with the change; the running bot's dispatcher sends them.
            for message in await cancellation_notices(uow, result[1], meeting_day):
                enqueue(uow, message, now)
            await uow.commit()
        changed, rolled = result
        return changed, [r.meeting.day for r in rolled]

    result = _run(apply)
    when = f"MDT of {day_words(meeting_day)}"
    if result == "past":
        _fail(f"cannot cancel the {when}: it is in the past")
    if result == "not_a_meeting":
        _fail(f"cannot cancel {day_words(meeting_day)}: not an MDT day")
    assert not isinstance(result, str)
    changed, moved_to = result
    if not changed:
        typer.echo(f"{when} already cancelled")
        return
    if not moved_to:
        typer.echo(f"{when} cancelled; no listed case moved")
        return
    days = sorted(set(moved_to))
    to = " and ".join(day_words(d) for d in days)
    cases = "1 listed case" if len(moved_to) == 1 else f"{len(moved_to)} listed cases"
    typer.echo(f"{when} cancelled; {cases} moved to {to}")


@app.command()
def invite(
    role: Annotated[str, typer.Argument(help="admin, clinician or link")],
    person_id: Annotated[str, typer.Argument(help="the person's id in the directory")],
) -> None:
    """Print a one-time invitation link (single use, 14 days)."""
    settings = _settings()
    from services.invites import InviteError, create_staff_invite, invite_link

    async def make() -> str:
        async with _migrated(settings) as db, db.uow() as uow:
            token = await create_staff_invite(uow, role, person_id, SystemClock().now())
            username = settings.BOT_USERNAME or await _username_from_telegram(settings)
            await uow.commit()
        return invite_link(username, token)

    try:
        typer.echo(_run(make))
    except InviteError as exc:
        _fail(f"cannot invite: {exc}")


async def _username_from_telegram(settings: Settings) -> str:
    from telegram import Bot
    from telegram.error import TelegramError

    try:
        token = settings.require_token()
    except ConfigError as exc:
        raise_config(f"BOT_USERNAME: not set, and getMe is impossible ({exc})")
    try:
        async with Bot(token, base_url=settings.TELEGRAM_API_BASE_URL) as bot:
            return bot.username
    except TelegramError as exc:
        raise_config(f"BOT_USERNAME: not set, and getMe failed ({type(exc).__name__})")
    return ""


@app.command()
def sandbox(
    port: Annotated[
        int, typer.Option(min=0, max=65535, help="port of the page (0: any free port)")
    ] = 8080,
    host: Annotated[str, typer.Option(help="loopback address to listen on")] = "127.0.0.1",
    start: Annotated[
        str | None,
        typer.Option(help="start the sandbox clock at this UTC time, YYYY-MM-DDTHH:MM"),
    ] = None,
) -> None:
    """Try the bot without Telegram: every role in a browser, made-up data, no network."""
    from datetime import UTC, datetime

    from bot.sandboxed import SandboxRuntime
    from sandbox.run import real_database_problem, serve
    from sandbox.world import SandboxError

    problem = real_database_problem()
    if problem:
        _fail(f"sandbox: {problem}", 2)
    started: datetime | None = None
    if start:
        try:
            started = datetime.fromisoformat(start).replace(tzinfo=UTC)
        except ValueError:
            _fail(f"sandbox: --start {start!r} is not a time like 2026-11-02T09:00", 2)
    setup_logging("INFO")

    def ready(url: str) -> None:
        typer.echo("Sandbox of the sarcoma referral bot: made-up people and data, no Telegram.")
        typer.echo(f"Open {url} in a browser. Ctrl+C stops it and deletes its database.")
        sys.stdout.flush()  # a script waiting for the URL gets it now, not at exit

    try:
        _run(lambda: serve(SandboxRuntime, host, port, started, ready))
    except SandboxError as exc:
        _fail(f"sandbox: {exc}", 2)


def raise_config(message: str) -> None:
    print(f"configuration error: {message}", file=sys.stderr)
    raise typer.Exit(2)


def main() -> None:
    """Console-script entry point."""
    logging.captureWarnings(True)
    app()
