"""Attachments at rest, on both backends: the bytes and caption encrypted and bound to
their row, one copy of a file per case, key rotation, and the retention purge keeping
the metadata row."""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select, text, update
from sqlalchemy.exc import IntegrityError, InvalidRequestError

from core.clock import FakeClock
from services.retention import purge
from storage.crypto import DecryptionError, Keyring, key_id
from storage.models import Attachment, Case, Person, Query, Role
from storage.repositories import DuplicateAttachment, sha256_hex
from storage.rotation import rotate_keys
from storage.uow import Database

CANARY = "CANARY-7f3a9c-deep-thigh-mass"
CAPTION = f"MRI report, left thigh {CANARY}-caption"
# A PDF-ish file and a PNG-ish file, each carrying the canary in its bytes.
PDF = b"%PDF-1.7\n1 0 obj << /Title (" + CANARY.encode() + b") >>\n" + bytes(range(256)) * 40
PNG = b"\x89PNG\r\n\x1a\n" + CANARY.encode("utf-16-le") + secrets.token_bytes(5000)
EIGHT_YEARS = timedelta(days=2922)


async def _case(db: Database, clock: FakeClock, *, closed: bool = False) -> tuple[int, int]:
    """A referrer and a case (closed now when `closed`); returns (person id, case id)."""
    async with db.uow() as uow:
        referrer = Person(role=Role.REFERRER, name="Dr Referrer", created_at=clock.now())
        uow.people.add(referrer)
        await uow.flush()
        case = Case(
            referrer_id=referrer.id,
            site="Left thigh",
            summary="Deep thigh mass",
            tumour_type="soft_tissue",
            urgency="urgent",
            created_at=clock.now(),
            status="closed" if closed else "open",
            closed_at=clock.now() if closed else None,
        )
        uow.cases.add(case)
        await uow.commit()
        return referrer.id, case.id


async def _attach(
    db: Database,
    clock: FakeClock,
    case_id: int,
    person_id: int,
    content: bytes,
    *,
    kind: str = "pdf",
    caption: str | None = CAPTION,
    file_id: str | None = "BQACAgQAAxkBAAIBfile",
) -> int:
    async with db.uow() as uow:
        attachment = await uow.attachments.add(
            case_id=case_id,
            uploaded_by_id=person_id,
            kind=kind,
            content=content,
            now=clock.now(),
            caption=caption,
            pages=1 if kind == "pdf" else None,
            width=None if kind == "pdf" else 640,
            height=None if kind == "pdf" else 480,
            telegram_file_id=file_id,
        )
        await uow.commit()
        return attachment.id


async def test_round_trip_of_content_caption_and_metadata(db: Database, clock: FakeClock) -> None:
    person_id, case_id = await _case(db, clock)
    async with db.uow() as uow:
        query = Query(case_id=case_id, asked_by_id=person_id, created_at=clock.now())
        uow.queries.add(query)
        await uow.commit()
        query_id = query.id
    first = await _attach(db, clock, case_id, person_id, PDF)
    clock.advance(timedelta(minutes=1))
    async with db.uow() as uow:
        photo = await uow.attachments.add(
            case_id=case_id,
            query_id=query_id,
            uploaded_by_id=person_id,
            kind="png",
            content=PNG,
            now=clock.now(),
            width=640,
            height=480,
        )
        await uow.commit()
        second = photo.id

    async with db.uow() as uow:
        listed = await uow.attachments.of_case(case_id)
        assert [a.id for a in listed] == [first, second]  # oldest first
        assert await uow.attachments.count_of_case(case_id) == 2
        assert await uow.attachments.count_of_case(case_id + 1) == 0
        pdf, png = listed
        assert (pdf.kind, pdf.size, pdf.sha256, pdf.pages) == (
            "pdf",
            len(PDF),
            hashlib.sha256(PDF).hexdigest(),
            1,
        )
        assert (pdf.caption, pdf.telegram_file_id, pdf.uploaded_by_id) == (
            CAPTION,
            "BQACAgQAAxkBAAIBfile",
            person_id,
        )
        assert (png.kind, png.width, png.height, png.query_id, png.caption) == (
            "png",
            640,
            480,
            query_id,
            None,
        )
        assert pdf.created_at == clock.now() - timedelta(minutes=1) and pdf.purged_at is None
        assert pdf.ref == f"attachment:{first}"
        # Listing never loads a file's bytes; reading them is a deliberate call.
        with pytest.raises(InvalidRequestError):
            _ = pdf.content_enc
        assert await uow.attachments.content(pdf) == PDF
        assert await uow.attachments.content(png) == PNG
        got = await uow.attachments.get(second)
        assert got is not None and await uow.attachments.content(got) == PNG
        assert await uow.attachments.get(second + 100) is None

        assert await uow.attachments.set_file_id(second, "AgACAgQAAxkBphoto")
        await uow.commit()
    async with db.uow() as uow:
        got = await uow.attachments.get(second)
        assert got is not None and got.telegram_file_id == "AgACAgQAAxkBphoto"


async def test_the_same_file_twice_on_one_case_is_stored_once(
    db: Database, clock: FakeClock
) -> None:
    person_id, case_id = await _case(db, clock)
    _, other_case = await _case(db, clock)
    first = await _attach(db, clock, case_id, person_id, PDF)
    with pytest.raises(DuplicateAttachment) as refused:
        await _attach(db, clock, case_id, person_id, PDF, caption="again")
    assert refused.value.existing.id == first
    # The same file on another case is that case's own copy.
    elsewhere = await _attach(db, clock, other_case, person_id, PDF)
    async with db.uow() as uow:
        assert await uow.attachments.count_of_case(case_id) == 1
        found = await uow.attachments.by_hash(case_id, sha256_hex(PDF))
        assert found is not None and found.id == first and found.caption == CAPTION
        upper = await uow.attachments.by_hash(case_id, sha256_hex(PDF).upper())
        assert upper is not None and upper.id == first
        assert await uow.attachments.by_hash(case_id, sha256_hex(PNG)) is None
        other = await uow.attachments.by_hash(other_case, sha256_hex(PDF))
        assert other is not None and other.id == elsewhere

        # A writer that skipped the check (a race) is stopped by the database, and the
        # repository turns that into the same answer without spoiling the transaction.
        uow._session.add(
            Attachment(
                case_id=case_id,
                uploaded_by_id=person_id,
                created_at=clock.now(),
                kind="pdf",
                size=len(PDF),
                sha256=sha256_hex(PDF),
                content=PDF,
            )
        )
        with pytest.raises(IntegrityError):
            await uow.flush()
        await uow.rollback()
    async with db.uow() as uow:
        original = uow.attachments.by_hash

        async def missed(case_id: int, sha256: str) -> Attachment | None:
            uow.attachments.by_hash = original  # type: ignore[method-assign]
            return None  # the first look finds nothing, as if the other writer was late

        uow.attachments.by_hash = missed  # type: ignore[method-assign]
        with pytest.raises(DuplicateAttachment) as raced:
            await uow.attachments.add(
                case_id=case_id, uploaded_by_id=person_id, kind="pdf", content=PDF, now=clock.now()
            )
        assert raced.value.existing.id == first
        # The transaction goes on: another file is stored in it.
        await uow.attachments.add(
            case_id=case_id, uploaded_by_id=person_id, kind="png", content=PNG, now=clock.now()
        )
        await uow.commit()
    async with db.uow() as uow:
        assert await uow.attachments.count_of_case(case_id) == 2


async def test_unknown_kinds_are_refused(db: Database, clock: FakeClock) -> None:
    person_id, case_id = await _case(db, clock)
    with pytest.raises(ValueError, match="pdf"):
        await _attach(db, clock, case_id, person_id, b"PK\x03\x04zip", kind="zip")
    async with db.uow() as uow:
        assert await uow.attachments.count_of_case(case_id) == 0


def _clear_forms(secret: str) -> list[bytes]:
    return [secret.encode("utf-8"), secret.encode("utf-16-le")]


async def test_sqlite_file_holds_no_file_or_caption_in_clear(
    tmp_path: Path, keyring: Keyring, clock: FakeClock
) -> None:
    db = Database(f"sqlite+aiosqlite:///{tmp_path}/raw.db", keyring)
    await db.migrate()
    person_id, case_id = await _case(db, clock)
    await _attach(db, clock, case_id, person_id, PDF)
    await _attach(db, clock, case_id, person_id, PNG, kind="png", caption=None)
    await db.dispose()
    raw = b"".join(p.read_bytes() for p in tmp_path.iterdir() if p.name.startswith("raw.db"))
    assert len(raw) > len(PDF) + len(PNG)
    for secret in (CANARY, CAPTION, "MRI report"):
        for form in _clear_forms(secret):
            assert form not in raw, secret
    assert bytes(range(256)) not in raw  # nor a run of the file's own bytes


async def test_raw_columns_hold_no_file_or_caption_in_clear(db: Database, clock: FakeClock) -> None:
    person_id, case_id = await _case(db, clock)
    await _attach(db, clock, case_id, person_id, PDF)
    await _attach(db, clock, case_id, person_id, PNG, kind="png")
    async with db.uow() as uow:
        rows = (
            await uow._session.execute(text("SELECT content_enc, caption_enc FROM attachments"))
        ).all()
        dump = repr((await uow._session.execute(text("SELECT * FROM attachments"))).all())
    assert len(rows) == 2
    for content, caption in rows:
        blob = bytes(content) + bytes(caption)
        for form in _clear_forms(CANARY):
            assert form not in blob
        assert bytes(range(256)) not in blob and b"%PDF-1.7" not in blob
        assert blob[1:5] == key_id(db.keyring.keys[0])  # our format, under the first key
    assert CANARY not in dump and "MRI report" not in dump


async def test_content_swapped_between_rows_fails_to_decrypt(
    db: Database, clock: FakeClock
) -> None:
    person_id, case_id = await _case(db, clock)
    a = await _attach(db, clock, case_id, person_id, PDF)
    b = await _attach(db, clock, case_id, person_id, PNG, kind="png", caption="Photo")
    async with db.uow() as uow:
        s = uow._session
        enc_a = await s.scalar(select(Attachment.content_enc).where(Attachment.id == a))
        enc_b = await s.scalar(select(Attachment.content_enc).where(Attachment.id == b))
        caption_a = await s.scalar(select(Attachment.caption_enc).where(Attachment.id == a))
        await s.execute(update(Attachment).where(Attachment.id == a).values(content_enc=enc_b))
        await s.execute(
            update(Attachment)
            .where(Attachment.id == b)
            .values(content_enc=enc_a, caption_enc=caption_a)
        )
        await uow.commit()
    async with db.uow() as uow:
        first, second = await uow.attachments.of_case(case_id)
        for row in (first, second):
            with pytest.raises(DecryptionError, match=r"attachments\.content\..*authentication"):
                await uow.attachments.content(row)
        with pytest.raises(DecryptionError, match=r"attachments\.caption\."):
            _ = second.caption
        # ...and a caption's ciphertext is no file (another column of the same row).
        await uow._session.execute(
            update(Attachment)
            .where(Attachment.id == a)
            .values(
                content_enc=select(Attachment.caption_enc)
                .where(Attachment.id == a)
                .scalar_subquery()
            )
        )
        with pytest.raises(DecryptionError, match=r"attachments\.content\."):
            await uow.attachments.content(first)


async def test_keys_rotate_attachments_then_only_the_new_key_reads_them(
    database_url: dict, keyring: Keyring, clock: FakeClock
) -> None:
    old = Database(database_url["url"], keyring, **database_url["engine_kwargs"])
    await old.migrate()
    person_id, case_id = await _case(old, clock)
    ids = [
        await _attach(old, clock, case_id, person_id, PDF),
        await _attach(old, clock, case_id, person_id, PNG, kind="png", caption=None),
        await _attach(old, clock, case_id, person_id, PDF + b"2", caption="Letter"),
    ]
    await old.dispose()

    new_key = secrets.token_bytes(32)
    both = Database(
        database_url["url"],
        Keyring((new_key, *keyring.keys), keyring.index_key),
        **database_url["engine_kwargs"],
    )
    first = await rotate_keys(both, batch=1)
    again = await rotate_keys(both)
    # 3 contents and 2 captions, besides the person's name and the case's two fields.
    assert first.values_reencrypted == 5 + 3 and again.values_reencrypted == 0
    await both.dispose()

    only_new = Database(
        database_url["url"], Keyring((new_key,), keyring.index_key), **database_url["engine_kwargs"]
    )
    try:
        async with only_new.uow() as uow:
            rows = await uow.attachments.of_case(case_id)
            assert [r.id for r in rows] == ids
            assert [await uow.attachments.content(r) for r in rows] == [PDF, PNG, PDF + b"2"]
            assert [r.caption for r in rows] == [CAPTION, None, "Letter"]
            blobs = (await uow._session.scalars(select(Attachment.content_enc))).all()
            assert all(blob[1:5] == key_id(new_key) for blob in blobs)
    finally:
        await only_new.dispose()


async def test_purge_clears_files_of_old_closed_cases_and_keeps_their_metadata(
    db: Database, clock: FakeClock
) -> None:
    person_id, closed_case = await _case(db, clock, closed=True)
    _, open_case = await _case(db, clock)
    _, recently_closed = await _case(db, clock)
    purged = [
        await _attach(db, clock, closed_case, person_id, PDF),
        await _attach(db, clock, closed_case, person_id, PNG, kind="png", caption=None),
    ]
    kept = await _attach(db, clock, open_case, person_id, PDF)
    clock.advance(EIGHT_YEARS + timedelta(days=1))
    async with db.uow() as uow:  # closed only now: within the retention period
        case = await uow.cases.get(recently_closed)
        assert case is not None
        case.status, case.closed_at = "closed", clock.now()
        await uow.commit()
    recent = await _attach(db, clock, recently_closed, person_id, PNG, kind="png")

    result = await purge(db, clock.now(), EIGHT_YEARS)
    assert (result.cases, result.attachments) == (1, 2)

    async with db.uow() as uow:
        gone = await uow.attachments.of_case(closed_case)
        assert [a.id for a in gone] == purged
        for attachment, content in zip(gone, (PDF, PNG), strict=True):
            assert await uow.attachments.content(attachment) is None
            assert (attachment.caption, attachment.telegram_file_id) == (None, None)
            assert attachment.purged_at == clock.now()
            # The metadata row stays: type, size, hash, uploader, dates.
            assert attachment.size == len(content)
            assert attachment.sha256 == sha256_hex(content)
            assert attachment.uploaded_by_id == person_id
            assert attachment.created_at < attachment.purged_at
        assert [a.kind for a in gone] == ["pdf", "png"]
        raw = (
            await uow._session.execute(
                text(
                    "SELECT content_enc, caption_enc, telegram_file_id FROM attachments "
                    "WHERE case_id = :c"
                ),
                {"c": closed_case},
            )
        ).all()
        assert raw and all(row == (None, None, None) for row in raw)
        # An open case's files, and a case closed within the period, are untouched.
        for attachment_id, content in ((kept, PDF), (recent, PNG)):
            attachment = await uow.attachments.get(attachment_id)
            assert attachment is not None and attachment.purged_at is None
            assert await uow.attachments.content(attachment) == content
            assert attachment.caption == CAPTION
            assert attachment.telegram_file_id == "BQACAgQAAxkBAAIBfile"
        # A purged file is no longer sent by file id.
        assert not await uow.attachments.set_file_id(purged[0], "new")

    again = await purge(db, clock.now(), EIGHT_YEARS)
    assert (again.cases, again.attachments) == (0, 0)
