"""People, centres, clinics and invitations."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import (
    delete,
    func,
    select,
    update,
)

from storage.crypto import normalise_email, normalise_phone
from storage.models import (
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
    async def get(self, person_id: int, *, for_update: bool = False) -> Person | None:
        """One person; `for_update` locks the row (PostgreSQL) for a decision made once."""
        if for_update:
            return await self.session.get(
                Person, person_id, with_for_update=True, populate_existing=True
            )
        return await self.session.get(Person, person_id)

    async def by_telegram_id(self, telegram_user_id: int) -> Person | None:
        return await self.session.scalar(
            select(Person).where(Person.telegram_user_id == telegram_user_id)
        )

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
