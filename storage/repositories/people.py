"""People, centres, clinics and invitations."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import (
    delete,
    func,
    inspect,
    select,
    update,
)
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import make_transient_to_detached

from storage.crypto import Keyring, normalise_email, normalise_phone
from storage.models import (
    CacheGeneration,
    Centre,
    Clinic,
    Invite,
    InviteFailure,
    Person,
    PersonStatus,
    ReferrerDetails,
    Role,
)
from storage.repositories._base import _Repository

_PERSON = inspect(Person)
_PERSON_COLUMNS = tuple(a.key for a in _PERSON.column_attrs)
_PEOPLE_WRITES = ("INSERT INTO people ", "UPDATE people ", "DELETE FROM people ")


class PersonCache:
    """People as handlers last read them, by Telegram user id and by id.

    Every update starts with "who is this?", and handlers ask again for the clinicians
    of a case: 1.8 reads of `people` per update, a fifth of the statements (issue 20's
    profile). A person changes rarely. Used only by units of work handling updates
    (they take turns on one connection: see CommitGroup), so:
    - a write to `people` by this process, through any statement, empties the cache at
      once (`saw_statement`, an engine hook), so the next update sees the change;
    - a change by anything else (another process, a CLI command, a job on another
      connection) raises `cache_generations.people` through a trigger; the intake
      compares it before each batch of updates (`check`), so such a change is seen from
      the next batch, as if it had been made a moment later.
    Only people found are kept: someone registering is read from the database until
    they exist. Entries are detached copies; a unit of work gets its own via merge.
    """

    def __init__(self) -> None:
        self.generation: int | None = None
        self._by_telegram_id: dict[int, Person] = {}
        self._by_id: dict[int, Person] = {}
        self.hits = 0

    def clear(self) -> None:
        self._by_telegram_id.clear()
        self._by_id.clear()

    # Engine hooks: `info` is the connection's own dict. A write to people not yet
    # committed is remembered on its connection: if it is rolled back, what was read
    # since may be a row that never existed; once committed, readers on other
    # connections may have kept the row as it was before.
    def saw_statement(self, info: dict[str, Any], statement: str) -> None:
        if statement.startswith(_PEOPLE_WRITES):
            self.clear()
            info["people_written"] = True

    def saw_savepoint_rollback(self, info: dict[str, Any]) -> None:
        if info.get("people_written"):
            self.clear()

    def saw_end(self, info: dict[str, Any]) -> None:
        """The connection's transaction committed or rolled back."""
        if info.pop("people_written", False):
            self.clear()

    def check(self, generation: int | None) -> None:
        """Forget everything if anyone changed `people` since the last check."""
        if generation != self.generation:
            self.clear()
            self.generation = generation

    def keep(self, person: Person) -> None:
        state = inspect(person)
        values = person.__dict__
        if state.modified or any(key not in values for key in _PERSON_COLUMNS):
            return  # changed and not yet written, or not wholly loaded: not a copy of a row
        copy = Person(**{key: values[key] for key in _PERSON_COLUMNS})
        make_transient_to_detached(copy)
        if person.telegram_user_id is not None:
            self._by_telegram_id[person.telegram_user_id] = copy
        self._by_id[person.id] = copy

    def by_telegram_id(self, telegram_user_id: int) -> Person | None:
        return self._by_telegram_id.get(telegram_user_id)

    def by_id(self, person_id: int) -> Person | None:
        return self._by_id.get(person_id)


class CentreRepository(_Repository):
    async def get(self, centre_id: str) -> Centre | None:
        return await self.session.get(Centre, centre_id)

    async def all(self) -> Sequence[Centre]:
        return (await self.session.scalars(select(Centre).order_by(Centre.name))).all()

    def add(self, centre: Centre) -> None:
        self.session.add(centre)


class ClinicRepository(_Repository):
    async def all(self) -> Sequence[Clinic]:
        return (await self.session.scalars(select(Clinic).order_by(Clinic.id))).all()

    async def get(self, clinic_id: str) -> Clinic | None:
        return await self.session.get(Clinic, clinic_id)

    def add(self, clinic: Clinic) -> None:
        self.session.add(clinic)


class PeopleRepository(_Repository):
    def __init__(
        self, session: AsyncSession, keyring: Keyring, cache: PersonCache | None = None
    ) -> None:
        super().__init__(session, keyring)
        self.cache = cache

    async def get(self, person_id: int, *, for_update: bool = False) -> Person | None:
        """One person; `for_update` locks the row (PostgreSQL) for a decision made once."""
        if for_update:
            return await self.session.get(
                Person, person_id, with_for_update=True, populate_existing=True
            )
        if self.cache is not None:
            cached = self.cache.by_id(person_id)
            if cached is not None:
                return await self._from_cache(cached)
        person = await self.session.get(Person, person_id)
        if person is not None and self.cache is not None:
            self.cache.keep(person)
        return person

    async def by_telegram_id(self, telegram_user_id: int) -> Person | None:
        if self.cache is not None:
            cached = self.cache.by_telegram_id(telegram_user_id)
            if cached is not None:
                return await self._from_cache(cached)
        person = await self.session.scalar(
            select(Person).where(Person.telegram_user_id == telegram_user_id)
        )
        if person is not None and self.cache is not None:
            self.cache.keep(person)
        return person

    async def generation(self) -> int | None:
        """How many times `people` has changed (raised by triggers; see PersonCache)."""
        return await self.session.scalar(
            select(CacheGeneration.generation).where(CacheGeneration.name == "people")
        )

    async def _from_cache(self, cached: Person) -> Person:
        assert self.cache is not None
        self.cache.hits += 1
        # One already in this unit of work wins: merging would copy the cached state
        # over changes to it not yet flushed.
        present = self.session.identity_map.get(_PERSON.identity_key_from_primary_key((cached.id,)))
        if isinstance(present, Person):
            return present
        # Else a copy of its own in this session: changes to it are flushed as usual.
        return await self.session.merge(cached, load=False)

    async def by_directory_id(self, directory_id: str) -> Person | None:
        return await self.session.scalar(select(Person).where(Person.directory_id == directory_id))

    async def directory_people(self) -> Sequence[Person]:
        return (
            await self.session.scalars(
                select(Person).where(Person.directory_id.is_not(None)).order_by(Person.id)
            )
        ).all()

    async def by_role(self, role: Role, *, active_only: bool = True) -> Sequence[Person]:
        query = select(Person).where(Person.role == role)
        if active_only:
            query = query.where(Person.status == PersonStatus.ACTIVE)
        return (await self.session.scalars(query.order_by(Person.id))).all()

    async def by_phone(self, phone: str) -> Sequence[Person]:
        digest = self.keyring.blind_index("phone", normalise_phone(phone))
        return (
            await self.session.scalars(select(Person).where(Person.phone_index == digest))
        ).all()

    async def by_email(self, email: str) -> Sequence[Person]:
        digest = self.keyring.blind_index("email", normalise_email(email))
        return (
            await self.session.scalars(select(Person).where(Person.email_index == digest))
        ).all()

    async def patients_of_case(self, case_id: int) -> Sequence[Person]:
        """Every patient record of a case not yet erased (active, stopped or unreachable)."""
        return await self.patients_of_cases([case_id])

    async def patients_of_cases(self, case_ids: Sequence[int]) -> Sequence[Person]:
        """The same for several cases in one query, in the order of `case_ids`."""
        found = (
            await self.session.scalars(
                select(Person).where(
                    Person.role == Role.PATIENT,
                    Person.case_id.in_(case_ids),
                    Person.status != PersonStatus.ERASED,
                )
            )
        ).all()
        place = {case_id: i for i, case_id in enumerate(case_ids)}
        return sorted(found, key=lambda person: (place[person.case_id or 0], person.id))

    async def referrer_details(self, person_id: int) -> ReferrerDetails | None:
        return await self.session.get(ReferrerDetails, person_id)

    def add(self, person: Person) -> None:
        self.session.add(person)

    def add_details(self, details: ReferrerDetails) -> None:
        self.session.add(details)


class InviteRepository(_Repository):
    def add(self, invite: Invite) -> None:
        self.session.add(invite)

    async def get(self, invite_id: int) -> Invite | None:
        """An invitation by id (a patient's consent question carries it)."""
        return await self.session.get(Invite, invite_id)

    async def by_hash(self, token_hash: bytes) -> Invite | None:
        return await self.session.scalar(select(Invite).where(Invite.token_hash == token_hash))

    async def failures_since(self, telegram_user_id: int, since: datetime) -> int:
        count = await self.session.scalar(
            select(func.count())
            .select_from(InviteFailure)
            .where(InviteFailure.telegram_user_id == telegram_user_id, InviteFailure.at >= since)
        )
        return int(count or 0)

    def add_failure(self, telegram_user_id: int, at: datetime) -> None:
        self.session.add(InviteFailure(telegram_user_id=telegram_user_id, at=at))

    async def forget_account(self, telegram_user_id: int) -> None:
        """Drop every trace of a Telegram account: who used an invitation, failed tries."""
        await self.session.execute(
            update(Invite)
            .where(Invite.used_by_telegram_id == telegram_user_id)
            .values(used_by_telegram_id=None)
        )
        await self.session.execute(
            delete(InviteFailure).where(InviteFailure.telegram_user_id == telegram_user_id)
        )
