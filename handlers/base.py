"""What every handler shares: the turn (one update's unit of work and replies),
role checks, and conversations whose state lives in the database.

A handler never sends directly: it queues replies on the turn; they go out through the
sender only after the turn's transaction has committed, so the user is never told
something the database does not hold.
"""

from __future__ import annotations

import functools
import json
import logging
import traceback
from collections.abc import Awaitable, Callable, Coroutine, Iterable
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from telegram import Update
from telegram.ext import ApplicationHandlerStop, ContextTypes

from core.clock import Clock
from delivery.sender import Button, Keyboard, Outgoing, Sender, to_person
from delivery.text import Html, render
from handlers import texts
from handlers.menus import Menus, menu_key, set_menu
from monitoring.metrics import Metrics
from services import reachability
from storage.models import Person, PersonStatus, Query, Role
from storage.uow import Database, UnitOfWork

log = logging.getLogger(__name__)

END = "__end__"
IDLE_TIMEOUT = timedelta(minutes=30)
CONVERSATION_PREFIX = "cv:"


@dataclass
class Resources:
    """What handlers need from the running bot, placed in `bot_data["resources"]`."""

    db: Database
    clock: Clock
    sender: Sender
    timezone: ZoneInfo
    service_phone: str
    bot_username: str | None = None
    conversations: dict[str, Conversation] = field(default_factory=dict)
    menus: Menus = field(default_factory=dict)  # each menu's commands: handlers/commands.py
    reminder_offsets: tuple[timedelta, ...] = ()
    quiet_hours: tuple[time, time] | None = None
    metrics: Metrics = field(default_factory=Metrics)
    ack_sla: timedelta = timedelta(hours=4)  # for /stats: when an open query is overdue
    attachment_max_bytes: int = 20 * 1024 * 1024
    attachments_per_case: int = 30


def resources_of(context: ContextTypes.DEFAULT_TYPE) -> Resources:
    """The running bot's resources."""
    return context.application.bot_data["resources"]


@dataclass
class Turn:
    """One update being handled: who, what they sent, a unit of work, queued replies."""

    update: Update
    resources: Resources
    uow: UnitOfWork
    person: Person | None
    user_id: int
    chat_id: int
    now: datetime
    data: dict[str, Any] = field(default_factory=dict)
    replies: list[Outgoing] = field(default_factory=list)
    error: str | None = None
    notice: str | None = None  # plain text shown on a pressed button (answerCallbackQuery)
    menus: dict[int, str | None] = field(default_factory=dict)  # chat -> menu, after commit

    @property
    def text(self) -> str | None:
        """The typed text, if this update is a text message."""
        message = self.update.effective_message
        if self.update.callback_query is None and message is not None:
            return message.text
        return None

    @property
    def choice(self) -> str | None:
        """The value of a pressed conversation button."""
        query = self.update.callback_query
        if query and query.data and query.data.startswith(CONVERSATION_PREFIX):
            return query.data[len(CONVERSATION_PREFIX) :]
        return None

    @property
    def args(self) -> list[str]:
        """Words after a command."""
        text = self.text or ""
        return text.split()[1:] if text.startswith("/") else []

    def say(
        self,
        text: Html | str,
        buttons: Keyboard | None = None,
        *,
        protect: bool = False,
        case_id: int | None = None,
        query_id: int | None = None,
    ) -> None:
        """Queue a reply; plain `str` is escaped, `Html` (a rendered template) is kept.

        A reply about a case (`case_id`/`query_id`) or to a patient is protected whatever
        `protect` says (see `protected`).
        """
        body = text if isinstance(text, Html) else render("{t}", t=text)
        self.replies.append(
            Outgoing(
                self.chat_id,
                body,
                buttons,
                protected(self.person, protect, case_id, query_id),
                recipient_id=self.person.id if self.person else None,
                case_id=case_id,
                query_id=query_id,
            )
        )

    def tell(
        self,
        person: Person,
        text: Html,
        buttons: Keyboard | None = None,
        *,
        protect: bool = False,
        case_id: int | None = None,
        query_id: int | None = None,
    ) -> bool:
        """Queue a message to someone else; False if they have no Telegram account yet."""
        message = message_to(
            person, text, buttons, protect=protect, case_id=case_id, query_id=query_id
        )
        if message is not None:
            self.replies.append(message)
        return message is not None

    def say_about(self, text: Html | str, query: Query, buttons: Keyboard | None = None) -> None:
        """Queue a reply about a query (protected, naming its case and the query)."""
        self.say(text, buttons, case_id=query.case_id, query_id=query.id)

    def tell_about(
        self, person: Person, text: Html, query: Query, buttons: Keyboard | None = None
    ) -> bool:
        """Queue a message about a query to someone else: protected, naming its case and
        the query (so replies to it are relayed)."""
        return self.tell(
            person, text, buttons, protect=True, case_id=query.case_id, query_id=query.id
        )

    async def hand_over(self, conversation: str, data: dict[str, Any]) -> str:
        """Begin another conversation (by its registered name) from a step of this one."""
        await self.resources.conversations[conversation].begin(self, data)
        return HANDED_OVER

    def reset_menu(self, chat_id: int | None, person: Person | None) -> None:
        """After a change of role or standing: give the chat the menu `person` has now
        (None: a stranger's). Applied once the turn has committed."""
        if chat_id:
            self.menus[chat_id] = menu_key(person)

    def again(self, error: str | Html) -> str:
        """Reject an answer: say what is wrong and ask the same question again."""
        self.error = error
        return _AGAIN


def protected(
    recipient: Person | None, protect: bool, case_id: int | None, query_id: int | None
) -> bool:
    """Whether a message goes out with `protect_content` (no forwarding or saving).

    Everything about a case (it names the case or query it belongs to) and everything
    sent to a patient is protected, so a new kind of message about a case cannot forget
    it; `protect` adds others (an invitation link, say).
    """
    return (
        protect
        or case_id is not None
        or query_id is not None
        or (recipient is not None and recipient.role == Role.PATIENT)
    )


def message_to(
    person: Person,
    text: Html,
    buttons: Keyboard | None = None,
    *,
    protect: bool = False,
    case_id: int | None = None,
    query_id: int | None = None,
    document: tuple[str, bytes] | None = None,
) -> Outgoing | None:
    """A message to a person outside the current chat, protected by the same rule as a
    reply; None if they have no Telegram account (yet, or any more)."""
    message = to_person(
        person,
        text,
        buttons=buttons,
        protect=protected(person, protect, case_id, query_id),
        case_id=case_id,
        query_id=query_id,
    )
    if message is not None and document is not None:
        message.document = document
    return message


_AGAIN = "__again__"
HANDED_OVER = "__handed_over__"  # a step began another conversation, which saved its own state
STAY = "__stay__"  # the step took the answer and waits for more without asking again
Ask = Callable[[Turn], Awaitable[None]]
Answer = Callable[[Turn], Awaitable[str]]
Guard = Callable[[Turn], Awaitable[bool]]


@dataclass
class Step:
    """One question: how to ask it, and what to do with the answer."""

    ask: Ask
    answer: Answer
    accepts_text: bool = True
    text_hint: str = texts.PLEASE_TYPE
    offers_buttons: bool = False  # a text question that also offers a shortcut button
    accepts_files: bool = False  # a file (or other media) goes to `answer`, not the hint


@dataclass
class Conversation:
    """A named sequence of questions; state constants name the steps."""

    name: str
    start_state: str
    steps: dict[str, Step] = field(default_factory=dict)
    idle: timedelta = IDLE_TIMEOUT
    on_timeout: str = texts.CONVERSATION_TIMED_OUT
    # Checked on every update of the conversation, before its step: whoever began it may
    # have been suspended, or taken off the case, since (the buttons re-check the same).
    allowed: Guard | None = None

    def step(
        self,
        state: str,
        ask: Ask,
        *,
        accepts_text: bool = True,
        text_hint: str = texts.PLEASE_TYPE,
        offers_buttons: bool = False,
        accepts_files: bool = False,
    ) -> Callable[[Answer], Answer]:
        """Register the answer handler of `state`, asked by `ask`."""

        def register(answer: Answer) -> Answer:
            self.steps[state] = Step(
                ask, answer, accepts_text, text_hint, offers_buttons, accepts_files
            )
            return answer

        return register

    async def begin(self, turn: Turn, data: dict[str, Any] | None = None) -> None:
        """Start (or restart) this conversation for the user at its first step."""
        turn.data = dict(data or {})
        await self.steps[self.start_state].ask(turn)
        await self._save(turn, self.start_state)

    async def goto(self, turn: Turn, state: str) -> None:
        """Move to `state` and ask its question."""
        await self.steps[state].ask(turn)
        await self._save(turn, state)

    async def handle(self, turn: Turn, state: str) -> None:
        """Feed the user's message or button to the current step."""
        step = self.steps.get(state)
        if step is None:  # a step removed by an upgrade: start over rather than crash
            await turn.uow.conversations.delete(turn.user_id)
            turn.say(texts.CONVERSATION_RESET)
            return
        query = turn.update.callback_query
        if self.allowed is not None and not await self.allowed(turn):
            await turn.uow.conversations.delete(turn.user_id)
            log.info("conversation %s ended: user %s no longer allowed", self.name, turn.user_id)
            turn.say(texts.NO_LONGER_ALLOWED)
            return
        if query is None and turn.text is None and not step.accepts_files:
            turn.say(step.text_hint)
            await step.ask(turn)
            await self._save(turn, state)
            return
        if query is not None and step.accepts_text and not step.offers_buttons:
            turn.notice = texts.BUTTON_EXPIRED  # a button of an earlier question
            await step.ask(turn)
            await self._save(turn, state)
            return
        if query is None and not step.accepts_text:
            turn.say(texts.PLEASE_USE_BUTTONS)
            await step.ask(turn)
            await self._save(turn, state)
            return
        next_state = await step.answer(turn)
        if next_state == _AGAIN:
            if turn.error:
                turn.say(turn.error)
            await step.ask(turn)
            await self._save(turn, state)
        elif next_state == END:
            await turn.uow.conversations.delete(turn.user_id)
        elif next_state == HANDED_OVER:
            pass
        elif next_state == STAY:
            await self._save(turn, state)
        else:
            await self.goto(turn, next_state)

    async def _save(self, turn: Turn, state: str) -> None:
        await turn.uow.conversations.save(
            turn.user_id,
            self.name,
            state,
            json.dumps(turn.data, separators=(",", ":")),
            turn.now,
            turn.now + self.idle,
        )


def choice_button(label: str, value: str) -> Button:
    """A button whose press is fed to the current conversation step."""
    return Button(label, data=f"{CONVERSATION_PREFIX}{value}")


def summary_buttons() -> list[list[Button]]:
    """Confirm / Edit / Cancel, the end of every conversation."""
    return [
        [
            choice_button("Confirm", "confirm"),
            choice_button("Edit", "edit"),
            choice_button("Cancel", "cancel"),
        ]
    ]


def summary_choice(turn: Turn, edit_state: str) -> str | None:
    """Edit / Cancel / a stray press on a summary; None when Confirm was pressed."""
    if turn.choice == "edit":
        return edit_state
    if turn.choice == "cancel":
        turn.say(texts.CANCELLED)
        return END
    if turn.choice != "confirm":
        return turn.again(texts.PLEASE_USE_BUTTONS)
    return None


def edit_choice(turn: Turn, fields: Iterable[str], back_state: str) -> str:
    """After Edit: the chosen field's question (answered, it returns to the summary)."""
    field = (turn.choice or "").removeprefix("f:")
    if field == "back":
        return back_state
    if field not in set(fields):
        return turn.again(texts.PLEASE_USE_BUTTONS)
    turn.data["editing"] = True
    return field


async def run_turn(
    update: Update,
    context: ContextTypes.DEFAULT_TYPE,
    body: Callable[[Turn], Awaitable[None]],
    label: str | None = None,
) -> None:
    """Handle one update in one transaction, then send the replies it queued."""
    resources = resources_of(context)
    user = update.effective_user
    chat = update.effective_chat
    if user is None or chat is None:
        return
    # Handlers define their body inside themselves: the outer name is the handler's.
    name = label or body.__qualname__.split(".<locals>")[0]
    with resources.metrics.handler_seconds.labels(name).time():
        await _turn(update, resources, user.id, chat.id, body)


async def _turn(
    update: Update,
    resources: Resources,
    user_id: int,
    chat_id: int,
    body: Callable[[Turn], Awaitable[None]],
) -> None:
    async with resources.db.uow() as uow:
        person = await uow.people.by_telegram_id(user_id)
        if person is not None:
            reachability.wrote_to_the_bot(person)
        turn = Turn(
            update=update,
            resources=resources,
            uow=uow,
            person=person,
            user_id=user_id,
            chat_id=chat_id,
            now=resources.clock.now(),
        )
        try:
            await body(turn)
        except Exception as exc:
            # Nothing of the turn is kept; the user hears that it failed, and no later
            # handler group (e.g. the "did not understand" fallback) answers as well.
            log.error(
                "update %s failed in a handler: %s\n%s",
                update.update_id,
                type(exc).__name__,
                frames_only(exc),
            )
            await uow.rollback()
            if update.callback_query is not None:
                await update.callback_query.answer()
            await resources.sender.send_direct(chat_id, texts.SOMETHING_WENT_WRONG)
            raise ApplicationHandlerStop from None
        for reply in turn.replies:
            resources.sender.enqueue(uow, reply, turn.now)
        await uow.commit()
    for menu_chat, key in turn.menus.items():
        # Awaited, not a background task: the next update of this user sees the new menu.
        await set_menu(resources.sender.bot, menu_chat, resources.menus.get(key, []))
    if update.callback_query is not None:
        notice = turn.notice[:200] if turn.notice else None
        await update.callback_query.answer(notice, show_alert=bool(notice))
    if turn.replies:
        resources.sender.wake()


TurnBody = Callable[[Turn], Awaitable[None]]
Handler = Callable[[Update, ContextTypes.DEFAULT_TYPE], Coroutine[Any, Any, None]]


def active_in(*roles: Role) -> Guard:
    """A conversation guard: the user is still active in one of `roles`."""

    async def guard(turn: Turn) -> bool:
        return has_role(turn.person, roles)

    return guard


def for_roles(*roles: Role, refusal: str) -> Callable[[TurnBody], Handler]:
    """A command for active people of `roles`; anyone else gets `refusal`."""

    def wrap(body: TurnBody) -> Handler:
        async def handler(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
            async def guarded(turn: Turn) -> None:
                if not has_role(turn.person, roles):
                    turn.say(refusal)
                    return
                await body(turn)

            await run_turn(update, context, guarded, label=body.__name__)

        # The command table and ARCHITECTURE.md name the module that holds the body.
        return functools.wraps(body)(handler)

    return wrap


def frames_only(exc: BaseException) -> str:
    """Where it failed, without the exception's message (which may quote user data)."""
    return "".join(traceback.format_tb(exc.__traceback__))


def has_role(person: Person | None, roles: Iterable[Role]) -> bool:
    """Whether someone is active in one of `roles`."""
    return (
        person is not None
        and person.status == PersonStatus.ACTIVE
        and Role(person.role) in set(roles)
    )


async def conversation_router(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Feed messages and conversation buttons to the user's open conversation, if any.

    Runs before every other handler. Commands are left to their own handlers, so
    `/help` or `/cancel` work in the middle of a conversation.
    """
    resources = resources_of(context)
    user = update.effective_user
    message = update.message
    query = update.callback_query
    if user is None:
        return
    if query is not None and not (query.data or "").startswith(CONVERSATION_PREFIX):
        return
    if message is not None and message.text and message.text.startswith("/"):
        return  # commands go to their handlers (which may end or restart the conversation)
    if message is None and query is None:
        return
    async with resources.db.uow() as uow:
        row = await uow.conversations.get(user.id)
        found = (row.name, row.state, row.data) if row else None
    if found is None:
        if query is not None:
            await query.answer(texts.BUTTON_EXPIRED, show_alert=True)
            raise ApplicationHandlerStop
        return
    name, state, raw = found
    conversation = resources.conversations.get(name)
    if conversation is None:
        return

    async def step(turn: Turn) -> None:
        turn.data = json.loads(raw or "{}")
        await conversation.handle(turn, state)

    await run_turn(update, context, step, label=f"{name}.{state}")
    raise ApplicationHandlerStop
