"""Runs inbound updates through the report flow, durably.

Everything an update changes (its processed record, the conversation, the reporter, a
new case with its evidence and first audit event) is written in one transaction, so a
crash leaves all of it or none of it, and a redelivered update changes nothing.

Updates that arrive while a transaction is running wait and are then applied together
in the next one (group commit). Each still sees the state the one before it left, but
the batch shares its reads, its writes and one COMMIT: that is what lets one SQLite
file keep up with a burst of reporters.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import Callable
from datetime import timedelta
from dataclasses import dataclass, replace
from zoneinfo import ZoneInfo

from flows.reporter.conversation import Conversation
from flows.events import Inbound
from flows.reporter.data_rights import is_data_query, my_data_replies
from flows.i18n import gettext_for, normalize_locale
from flows.limits import FloodGate, SharedFloodGate, cases_today_reached
from flows.outcomes import CaseSubmitted, ConsentRefused, DataErased
from flows.policy import Policy
from flows.case.recording import record_outcomes
from flows.replies import Reply, TextReply, to_dict
from flows.reporter.report import new_conversation, step
from flows.reporter.status import is_status_query, status_replies
from storage import Database, Tx, contacts, conversations, locks, outbox, reporters, updates
from storage.cases import DuplicateCaseNumber
from storage.database import savepoint

log = logging.getLogger(__name__)
MAX_NUMBER_ATTEMPTS = 8
MAX_BATCH_ATTEMPTS = 5
Key = tuple[str, str]


@dataclass(frozen=True, slots=True)
class Handled:
    """What the channel sends back; `duplicate` when the update had been processed before."""

    replies: list[Reply]
    locale: str
    duplicate: bool = False
    case_number: str | None = None
    stale: bool = False


@dataclass(frozen=True, slots=True)
class ReplyQueue:
    """How a channel's replies are queued in the outbox with the step. `windowed`: the
    channel may write only for a while after the person's last message (WhatsApp), so
    each inbound message is noted."""

    coalesce: timedelta
    windowed: bool


class Engine:
    def __init__(self, db: Database, default_locale: str = "id",
                 timezone: str = "Asia/Jakarta", max_batch: int = 64, policy: Policy | None = None,
                 outbox_channels: frozenset[str] = frozenset(),
                 windowed_channels: frozenset[str] = frozenset()) -> None:
        """`outbox_channels`: channels whose replies are written to the outbox in the step's
        transaction; `windowed_channels`: those of them with a reply window."""
        self.db = db
        self.default_locale = default_locale
        self.policy = policy or Policy(default_locale=default_locale)
        self.outbox_channels = outbox_channels
        self.windowed_channels = windowed_channels
        self.coalesce_seconds = 1.0
        self.observer: Callable[[str, float], None] | None = None
        """Told (channel, seconds) for every update committed: the service's metrics."""
        self.flood = FloodGate(self.policy.max_messages_per_minute)
        self.shared_flood = SharedFloodGate(self.policy.max_messages_per_minute) \
            if db.dialect.shared_counters else None
        """Several workers on one database count a sender's messages together."""
        self.tz = ZoneInfo(timezone)
        self.max_batch = max_batch
        self._pending: list[tuple[Inbound, asyncio.Future[Handled]]] = []
        self._queued_at: dict[int, float] = {}
        self._draining = False

    async def handle(self, inbound: Inbound) -> Handled:
        """Process one update. The step sees the time in the service's zone, so "today"
        is the reporter's today, not UTC's. Raises if the update could not be stored, and
        then nothing of it was."""
        key = (inbound.channel, inbound.address)
        verdict = await self.shared_flood.check(self.db, key, inbound.at) if self.shared_flood \
            else self.flood.check(key, inbound.at)
        if verdict != "ok":  # nothing is stored: the flood never reaches the database
            locale = normalize_locale(inbound.locale_hint, self.default_locale)
            _ = gettext_for(locale)
            text = _("You are sending messages very fast. Please wait a minute, then send your last answer again.")
            return Handled([TextReply(text)] if verdict == "warn" else [], locale, duplicate=verdict == "drop")
        future: asyncio.Future[Handled] = asyncio.get_running_loop().create_future()
        queued = replace(inbound, at=inbound.at.astimezone(self.tz))
        if self.observer is not None:
            self._queued_at[id(queued)] = asyncio.get_running_loop().time()
        self._pending.append((queued, future))
        if not self._draining:
            self._draining = True
            asyncio.create_task(self._drain())
        return await future

    async def _drain(self) -> None:
        try:
            while self._pending:
                await asyncio.sleep(0)  # let updates that are ready join this batch
                batch = self._pending[: self.max_batch]
                del self._pending[: self.max_batch]
                await self._run_batch(batch)
        finally:
            self._draining = False

    def _reply_queues(self) -> dict[str, ReplyQueue]:
        coalesce = timedelta(seconds=self.coalesce_seconds)
        return {channel: ReplyQueue(coalesce, channel in self.windowed_channels) for channel in self.outbox_channels}

    async def _run_batch(self, batch: list[tuple[Inbound, asyncio.Future[Handled]]]) -> None:
        results: list[tuple[asyncio.Future[Handled], Handled | Exception]] = []
        for attempt in range(1, MAX_BATCH_ATTEMPTS + 1):
            results = []
            try:
                async with self.db.transaction() as tx:
                    work = await _Batch.load(tx, [inbound for inbound, _ in batch], self.default_locale, self.policy,
                                             self._reply_queues())
                    isolate = len(batch) > 1 and self.db.dialect.failed_statement_aborts
                    for inbound, future in batch:
                        try:
                            async with savepoint(tx, enabled=isolate):  # PostgreSQL: keep the batch usable
                                results.append((future, await work.apply(tx, inbound)))
                        except Exception as exc:  # this update wrote nothing; the others go on
                            if self.db.dialect.is_retryable(exc):
                                raise  # the transaction is lost: run the batch again
                            log.exception("step failed for %s update %s", inbound.channel, inbound.update_id)
                            results.append((future, exc))
                    await work.flush(tx)
                break
            except Exception as exc:
                if attempt < MAX_BATCH_ATTEMPTS and self.db.dialect.is_retryable(exc):
                    log.info("transaction of %d updates lost a race with another worker (%s); again",
                             len(batch), type(exc).__name__)
                    continue
                log.exception("transaction of %d updates failed", len(batch))
                for _inbound, future in batch:
                    if not future.done():
                        future.set_exception(exc)
                return
        if self.observer is not None:
            now = asyncio.get_running_loop().time()
            for inbound, _future in batch:
                self.observer(inbound.channel, now - self._queued_at.pop(id(inbound), now))
        for future, result in results:
            if future.done():
                continue
            if isinstance(result, Exception):
                future.set_exception(result)
            else:
                future.set_result(result)


class _Batch:
    """One transaction's unit of work: what it read up front, the conversations as the
    batch's steps left them, and the writes saved for one `executemany` each."""

    def __init__(self, default_locale: str, policy: Policy, queues: dict[str, ReplyQueue], processed: set[Key],
                 stored: dict[Key, conversations.StoredConversation], blocked: set[Key]) -> None:
        self.default_locale = default_locale
        self.policy = policy
        self.queues = queues
        self.blocked = blocked
        self.processed = processed
        self.current: dict[Key, Conversation | None] = {
            key: Conversation.from_json(row.state, row.data, row.updated_at) for key, row in stored.items()
        }
        self.claims: list[tuple[str, str, str]] = []
        self.changed: set[Key] = set()

    @classmethod
    async def load(cls, tx: Tx, inbounds: list[Inbound], default_locale: str, policy: Policy,
                   queues: dict[str, ReplyQueue]) -> _Batch:
        update_keys = list({(i.channel, i.update_id) for i in inbounds})
        conv_keys = list({(i.channel, i.address) for i in inbounds})
        await locks.conversations(tx, conv_keys)  # first: what follows must see other workers' last step
        return cls(default_locale, policy, queues, await updates.processed_among(tx, update_keys),
                   await conversations.load_many(tx, conv_keys), await reporters.blocked_among(tx, conv_keys))

    async def apply(self, tx: Tx, inbound: Inbound) -> Handled:
        update_key = (inbound.channel, inbound.update_id)
        conv_key = (inbound.channel, inbound.address)
        conv = self.current.get(conv_key) or new_conversation(inbound.locale_hint, self.default_locale)
        if update_key in self.processed:
            return Handled([], conv.locale, duplicate=True)
        queue = self.queues.get(inbound.channel)
        handled = await self._read_only(tx, inbound, conv_key, conv)
        if handled is not None:
            if queue is not None:
                await _queue_replies(tx, inbound, handled, queue)
        else:
            handled, kept = await _step_and_record(tx, self.policy, inbound, conv, queue)
            self.current[conv_key] = kept
            self.changed.add(conv_key)
        self.processed.add(update_key)
        self.claims.append((inbound.channel, inbound.update_id, inbound.at.isoformat()))
        return handled

    async def _read_only(self, tx: Tx, inbound: Inbound, conv_key: Key, conv: Conversation) -> Handled | None:
        """Answers that change no conversation: a blocked reporter's refusal, `/status`,
        `/data_saya`. None: the update is a step."""
        if conv_key in self.blocked:
            _ = gettext_for(conv.locale)
            return Handled([TextReply(_(
                "Sorry, this service cannot take your messages any more. Reports you sent before are "
                "kept and handled."))], conv.locale)
        if is_status_query(inbound):
            return Handled(await status_replies(tx, inbound, conv), conv.locale)
        if is_data_query(inbound):
            return Handled(await my_data_replies(tx, inbound, conv), conv.locale)
        return None

    async def flush(self, tx: Tx) -> None:
        await updates.claim_many(tx, self.claims)
        kept = [(key, conv) for key in self.changed if (conv := self.current[key]) is not None]
        await conversations.save_many(tx, [
            conversations.StoredConversation(key[0], key[1], conv.state.value, conv.to_json(),
                                             conv.updated_at or "")
            for key, conv in kept
        ])
        await conversations.delete_many(tx, [key for key in self.changed if self.current[key] is None])


async def _queue_replies(tx: Tx, inbound: Inbound, handled: Handled, queue: ReplyQueue) -> None:
    """The person just wrote: on a windowed channel note it (the window opens); let
    messages that were put off go out now; and queue this step's replies, in the same
    transaction as the step: a reply can be neither lost nor sent twice. A stale button's
    answer is the channel's to show (a toast), not a message."""
    at = inbound.at.isoformat()
    if queue.windowed:
        await contacts.seen(tx, inbound.channel, inbound.address, at)
    await outbox.wake_address(tx, inbound.channel, inbound.address, at)
    if not handled.replies or handled.stale:
        return
    payload = {"replies": [to_dict(r) for r in handled.replies], "locale": handled.locale}
    if inbound.reply_key:
        await outbox.enqueue_coalesced(tx, inbound.channel, inbound.address, inbound.reply_key, payload, at,
                                       (inbound.at + queue.coalesce).isoformat())
    else:
        await outbox.enqueue(tx, inbound.channel, inbound.address, "send", payload, at)


async def _step_and_record(tx: Tx, policy: Policy, inbound: Inbound, conv: Conversation,
                           queue: ReplyQueue | None) -> tuple[Handled, Conversation | None]:
    """Run the step and write its outcomes. Returns the replies and the conversation to
    keep (None: a refusal of consent or an erasure keeps nothing). A clash of case numbers
    undoes just that case and draws another number. With a `queue` the replies are queued
    first, so the answer to a step goes out before any news its outcomes cause."""
    for _attempt in range(MAX_NUMBER_ATTEMPTS):
        result = step(conv, replace(inbound, nonce=secrets.randbits(64)))
        if any(isinstance(o, CaseSubmitted) for o in result.outcomes) and await cases_today_reached(
                tx, policy, inbound.channel, inbound.address, inbound.at):
            _ = gettext_for(conv.locale)  # the report stays in the conversation, ready to send later
            limited = Handled([TextReply(_(
                "You have sent {limit} reports in the last 24 hours, the most we accept from one person. "
                "Your report is kept: press Send again tomorrow.").format(limit=policy.max_cases_per_day))],
                conv.locale)
            if queue is not None:
                await _queue_replies(tx, inbound, limited, queue)
            return limited, conv
        handled = Handled(result.replies, result.conversation.locale, stale=result.stale)
        try:  # a failure undoes this step's writes only; most steps write no outcome at all
            async with savepoint(tx, enabled=bool(result.outcomes)):
                if queue is not None:
                    await _queue_replies(tx, inbound, handled, queue)
                number = await record_outcomes(tx, policy, inbound, result.conversation, result.outcomes)
        except DuplicateCaseNumber:
            log.info("case number collision, drawing another")
            continue
        refused = any(isinstance(o, (ConsentRefused, DataErased)) for o in result.outcomes)
        return replace(handled, case_number=number), None if refused else result.conversation
    raise RuntimeError("could not draw a free case number")
