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
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Protocol
from zoneinfo import ZoneInfo

from flows import set_aside
from flows.case.forwarding import destinations
from flows.case.recording import record_outcomes
from flows.events import Event, Forwarded, Inbound, Media, Text
from flows.i18n import gettext_for, normalize_locale
from flows.limits import FloodGate, SharedFloodGate, cases_today_reached
from flows.outcomes import CaseSubmitted, ConsentGiven, ConsentRefused, DataErased, Outcome
from flows.policy import Policy
from flows.replies import Option, Reply, TextReply, to_dict
from flows.reporter import consent, data_rights
from flows.reporter.conversation import Conversation, State
from flows.reporter.data_rights import is_data_query, my_data_replies
from flows.reporter.report import file_room, new_conversation, step
from flows.reporter.status import is_status_query, status_replies
from flows.reporter.turn import Facts
from flows.reporter.wording import press
from storage import Database, Tx, contacts, conversations, keys, locks, outbox, reporters, retention, updates, workers
from storage.cases import DuplicateCaseNumber
from storage.database import savepoint
from storage.evidence_files import EvidenceStore

log = logging.getLogger(__name__)
MAX_NUMBER_ATTEMPTS = 8
MAX_BATCH_ATTEMPTS = 5
SENT_FLUSH_SECONDS = 0.1
Key = tuple[str, str]


@dataclass(frozen=True, slots=True)
class Handled:
    """What the channel sends back; `duplicate` when the update had been processed before."""

    replies: list[Reply]
    locale: str
    duplicate: bool = False
    case_number: str | None = None
    stale: bool = False
    erased: bool = False
    delivery: outbox.Delivery | None = None
    """The replies as queued in the outbox and leased to the channel, which sends them at
    once (`Engine.delivered` then records them); None when the worker sends them."""


@dataclass(frozen=True, slots=True)
class ReplyQueue:
    """How a channel's replies are queued in the outbox with the step. `windowed`: the
    channel may write only for a while after the person's last message (WhatsApp), so
    each inbound message is noted."""

    coalesce: timedelta
    windowed: bool
    lease: timedelta | None = None
    """Set: the channel sends each step's replies itself right after the commit, holding
    this lease on them meanwhile (the delivery worker sends them only if it runs out, or
    if `worker` is known to be dead)."""
    worker: str | None = None


class LinkResolver(Protocol):
    """Follows the share links of a text (`cleaning.short_links.LinkResolver`)."""

    async def resolve_text(self, text: str) -> str: ...


class Engine:
    def __init__(self, db: Database, default_locale: str = "id",
                 timezone: str = "Asia/Jakarta", max_batch: int = 64, policy: Policy | None = None,
                 outbox_channels: frozenset[str] = frozenset(),
                 windowed_channels: frozenset[str] = frozenset(), store: EvidenceStore | None = None,
                 direct_channels: frozenset[str] = frozenset(), lease_seconds: float = 60.0,
                 links: LinkResolver | None = None, worker_id: str | None = None) -> None:
        """`outbox_channels`: channels whose replies are written to the outbox in the step's
        transaction; `windowed_channels`: those of them with a reply window; `store`: the
        evidence files, so that files no step kept are deleted and an erasure cleans them;
        `direct_channels`: those that send a step's replies themselves after the commit,
        under leases that name `worker_id` (the process's delivery worker); `links`: follows
        share links before a step sees them (without it, a short link is held for the
        moderators: the step never does I/O)."""
        self.db = db
        self.links = links
        self.worker_id = worker_id
        self.store = store
        self._chores: set[asyncio.Task[None]] = set()
        self.direct_channels = direct_channels
        self.lease = timedelta(seconds=lease_seconds)
        self._sent: list[int] = []
        self._sent_timer: asyncio.TimerHandle | None = None
        self.default_locale = default_locale
        self.policy = policy or Policy(default_locale=default_locale)
        self.outbox_channels = outbox_channels
        self.windowed_channels = windowed_channels
        self.coalesce_seconds = 1.0
        self.sent_flush_seconds = SENT_FLUSH_SECONDS
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

    async def file_room(self, channel: str, address: str, at: datetime) -> int:
        """How many files of a message from this chat may be stored: none before it has agreed
        to the terms, when it is over the flood limit, blocked, or at a step that keeps no
        file; otherwise what the draft has room for. Channels ask before they store a file."""
        accepted = await self.shared_flood.would_accept(self.db, (channel, address), at) if self.shared_flood \
            else self.flood.would_accept((channel, address), at)
        if not accepted:
            return 0
        async with self.db.reading() as tx:
            if not await consent.has_agreed(tx, channel, address):
                return 0
            if (channel, address) in await reporters.blocked_among(tx, [(channel, address)]):
                return 0
            stored = await conversations.load(tx, channel, address)
        if stored is None:
            return 0
        conv = Conversation.from_json(stored.state, stored.data, stored.updated_at)
        return file_room(conv, at.astimezone(self.tz))

    async def attempt(self, channel: str, update_id: str, at: datetime) -> int:
        """Count a try at an update that channels cannot lease (Telegram's, which Telegram
        sends again until answered): how many tries there were, this one included. Only
        updates whose handling does heavy work (a file) are counted: one write each."""
        async with self.db.transaction() as tx:
            return await workers.count_attempt(tx, channel, update_id, at.isoformat())

    async def set_aside(self, channel: str, address: str, update_id: str, at: datetime, tries: int,
                        locale_hint: str | None = None) -> bool:
        """An update whose handling died every time: recorded as processed without a step,
        the reporter asked to send it another way, the moderators alerted. False: it had
        been processed after all (a redelivery), nothing to do."""
        key = await keys.message_digest_key(self.db)
        remembered = updates.digest(key, channel, address, update_id)
        async with self.db.transaction() as tx:
            await locks.conversations(tx, [(channel, address)])
            if await updates.processed_among(tx, [(channel, update_id)]) or await updates.seen_among(tx, [remembered]):
                return False
            await set_aside.inbound(tx, self.policy, channel, address, update_id, at.isoformat(), tries - 1,
                                    at.isoformat(), normalize_locale(locale_hint, self.default_locale),
                                    digest=remembered)
        return True

    def drop_files(self, shas: list[str]) -> None:
        """Files a channel stored for a message it then could not hand over: they go unless
        something refers to them."""
        if self.store is None or not shas:
            return
        self.store.release(shas)
        self._chore(self._discard(set(shas)))

    def _chore(self, work: Awaitable[None]) -> None:
        task = asyncio.ensure_future(work)
        self._chores.add(task)
        task.add_done_callback(self._chores.discard)

    async def _discard(self, shas: set[str]) -> None:
        if self.store is None or not shas:
            return
        try:
            async with self.db.reading() as tx:
                keep = await retention.referenced_files(tx, sorted(shas))
            await self.store.discard(shas - keep)
        except Exception:  # the daily sweep deletes what is left
            log.exception("could not delete unused evidence files")

    async def _after_erasure(self) -> None:
        """The erasure has committed and the WAL was truncated: originals give way to cleaned
        copies, and the WAL is truncated again (once more if the first try met a reader)."""
        try:
            if self.store is not None:
                await data_rights.clean_erased_evidence(self.db, self.store)
            await self.db.checkpoint_truncate()
        except Exception:  # the retention job finishes what is left
            log.exception("clean-up after an erasure failed")

    async def settle(self) -> None:
        """Wait for the clean-ups started after commits (tests, shutdown)."""
        while self._chores:
            await asyncio.gather(*list(self._chores), return_exceptions=True)

    async def admit(self, channel: str, address: str, at: datetime) -> str:
        """The flood gate's verdict on one more message from this sender: "ok", "warn" (the
        first over the limit: tell them once) or "drop". Every message counts, whether the
        report flow takes it or another desk does (an officer of a WhatsApp roster)."""
        key = (channel, address)
        return await self.shared_flood.check(self.db, key, at) if self.shared_flood else self.flood.check(key, at)

    async def handle(self, inbound: Inbound) -> Handled:
        """Process one update. The step sees the time in the service's zone, so "today"
        is the reporter's today, not UTC's. Raises if the update could not be stored, and
        then nothing of it was."""
        verdict = await self.admit(inbound.channel, inbound.address, inbound.at)
        if verdict != "ok":  # nothing is stored: the flood never reaches the database
            self.drop_files(_files_of(inbound.event))
            locale = normalize_locale(inbound.locale_hint, self.default_locale)
            _ = gettext_for(locale)
            text = _("You are sending messages very fast. Please wait a minute, then send your last answer again.")
            return Handled([TextReply(text)] if verdict == "warn" else [], locale, duplicate=verdict == "drop")
        if self.links is not None:  # before the batch: a slow platform holds up this message only
            try:
                inbound = replace(inbound, event=await _links_followed(inbound.event, self.links))
            except Exception:  # the step holds any short link left: nothing is forwarded as typed
                log.exception("share links of a %s update could not be followed", inbound.channel)
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
        return {channel: ReplyQueue(coalesce, channel in self.windowed_channels,
                                    self.lease if channel in self.direct_channels else None, self.worker_id)
                for channel in self.outbox_channels}

    def delivered(self, delivery_ids: list[int]) -> None:
        """Replies a channel sent itself: recorded as sent in the next transaction (a later
        step's, so no round trip of their own), or after `sent_flush_seconds` if none
        comes. Until then their lease keeps the worker off them; a crash meanwhile sends
        them once more when it runs out."""
        self._sent.extend(delivery_ids)
        if self._sent_timer is None:
            self._sent_timer = asyncio.get_running_loop().call_later(self.sent_flush_seconds, self._flush_sent)

    def _flush_sent(self) -> None:
        self._sent_timer = None
        if not self._sent:
            return
        if self._draining:  # the running batches take them
            self._sent_timer = asyncio.get_running_loop().call_later(self.sent_flush_seconds, self._flush_sent)
            return
        asyncio.create_task(self._record_sent())

    async def _record_sent(self) -> None:
        sent, self._sent = self._sent, []
        if not sent:
            return
        try:
            async with self.db.transaction() as tx:
                await outbox.mark_sent_many(tx, sent, datetime.now(UTC).isoformat())
        except Exception:  # kept for the next batch; the lease keeps them from being sent again meanwhile
            log.exception("could not record %d sent replies", len(sent))
            self._sent[:0] = sent

    async def close(self) -> None:
        """Record what was sent before the database closes (else, after a restart, those
        replies would go out once more when their lease runs out)."""
        if self._sent_timer is not None:
            self._sent_timer.cancel()
            self._sent_timer = None
        try:
            await self._record_sent()
        except Exception:  # e.g. the connection left mid-transaction by a cancelled task
            log.exception("could not record sent replies at shutdown; they may be sent once more")

    async def _run_batch(self, batch: list[tuple[Inbound, asyncio.Future[Handled]]]) -> None:
        results: list[tuple[asyncio.Future[Handled], Handled | Exception]] = []
        sent, self._sent = self._sent, []
        try:
            key = await keys.message_digest_key(self.db)  # read once, then kept in memory
        except Exception as exc:  # noqa: BLE001 - the batch's callers get the error, as for a failed transaction
            self._sent[:0] = sent
            for _inbound, future in batch:
                future.set_exception(exc)
            return
        for attempt in range(1, MAX_BATCH_ATTEMPTS + 1):
            results = []
            try:
                async with self.db.transaction() as tx:
                    if sent:  # first: a chat whose last reply went out may have this step's sent at once too
                        await outbox.mark_sent_many(tx, sent, datetime.now(UTC).isoformat())
                    work = await _Batch.load(tx, [inbound for inbound, _ in batch], self.default_locale, self.policy,
                                             self._reply_queues(), key)
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
                self._sent[:0] = sent
                log.exception("transaction of %d updates failed", len(batch))
                self.drop_files([sha for inbound, _ in batch for sha in _files_of(inbound.event)])
                for _inbound, future in batch:
                    if not future.done():
                        future.set_exception(exc)
                return
        if self.store is not None:
            self.store.release(sha for inbound, _ in batch for sha in _files_of(inbound.event))
            if work.dropped:
                self._chore(self._discard(work.dropped))
        if work.erased:  # before the answer: the erased values leave the -wal file at once
            await self.db.checkpoint_truncate(tries=5)
            self._chore(self._after_erasure())
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
                 stored: dict[Key, conversations.StoredConversation], blocked: set[Key],
                 standing: dict[Key, consent.Standing], key: keys.DigestKey,
                 seen: set[bytes] | None = None) -> None:
        self.default_locale = default_locale
        self.policy = policy
        self.queues = queues
        self.blocked = blocked
        self.standing = standing
        self.processed = processed
        self.current: dict[Key, Conversation | None] = {
            key: Conversation.from_json(row.state, row.data, row.updated_at) for key, row in stored.items()
        }
        self.claims: list[tuple[str, str, str, bytes | None]] = []
        self.key = key
        self.seen = seen or set()
        """Digests of the messages processed before, at any age (`updates.digest`)."""
        self.changed: set[Key] = set()
        self.dropped: set[str] = set()
        """Files the batch's steps let go (a cleared or cancelled draft, a file sent at a step
        that keeps none): deleted after the commit unless something else refers to them."""
        self.erased = False

    @classmethod
    async def load(cls, tx: Tx, inbounds: list[Inbound], default_locale: str, policy: Policy,
                   queues: dict[str, ReplyQueue], key: keys.DigestKey) -> _Batch:
        update_keys = list({(i.channel, i.update_id) for i in inbounds})
        conv_keys = list({(i.channel, i.address) for i in inbounds})
        await locks.conversations(tx, conv_keys)  # first: what follows must see other workers' last step
        digests = list({updates.digest(key, i.channel, i.address, i.update_id) for i in inbounds})
        return cls(default_locale, policy, queues, await updates.processed_among(tx, update_keys),
                   await conversations.load_many(tx, conv_keys), await reporters.blocked_among(tx, conv_keys),
                   await consent.standing_among(tx, conv_keys), key, await updates.seen_among(tx, digests))

    async def apply(self, tx: Tx, inbound: Inbound) -> Handled:
        update_key = (inbound.channel, inbound.update_id)
        conv_key = (inbound.channel, inbound.address)
        conv = self.current.get(conv_key) or new_conversation(inbound.locale_hint, self.default_locale)
        remembered = updates.digest(self.key, inbound.channel, inbound.address, inbound.update_id)
        if update_key in self.processed or remembered in self.seen:
            return Handled([], conv.locale, duplicate=True)
        queue = self.queues.get(inbound.channel)
        handled = await self._read_only(tx, inbound, conv_key, conv)
        if handled is not None:
            if queue is not None:
                handled = replace(handled, delivery=await _queue_replies(tx, inbound, handled, queue))
        else:
            facts = await self._facts(tx, conv_key, conv)
            handled, kept, outcomes = await _step_and_record(tx, self.policy, inbound, conv, queue, facts)
            self.current[conv_key] = kept
            self.changed.add(conv_key)
            self.dropped |= (_draft_files(conv) | set(_files_of(inbound.event))) - _draft_files(kept)
            self.erased |= handled.erased
            self._note(conv_key, outcomes)
        self.processed.add(update_key)
        self.seen.add(remembered)
        self.claims.append((inbound.channel, inbound.update_id, inbound.at.isoformat(), remembered))
        return handled

    async def _facts(self, tx: Tx, key: Key, conv: Conversation) -> Facts:
        """What the step needs to know from the database. Whether a report would reach a
        focal point is looked up only where one can be sent (the summary)."""
        standing = self.standing.get(key) or consent.Standing()
        routable = True
        draft = conv.draft
        if conv.state == State.SUMMARY and draft.region_code and draft.province_code and draft.agency_group:
            routable = bool(await destinations(tx, self.policy, draft.region_code, draft.province_code,
                                               draft.agency_group))
        return Facts(standing.agreed_at, standing.known, routable, self.policy.operator_name)

    def _note(self, key: Key, outcomes: list[Outcome]) -> None:
        """Later updates of the same chat in this batch see what this one recorded."""
        for outcome in outcomes:
            if isinstance(outcome, ConsentGiven):
                self.standing[key] = consent.Standing(outcome.at, known=True)
            elif isinstance(outcome, CaseSubmitted):
                self.standing[key] = replace(self.standing.get(key) or consent.Standing(), known=True)
            elif isinstance(outcome, ConsentRefused):
                self.standing[key] = replace(self.standing.get(key) or consent.Standing(), agreed_at=None)
            elif isinstance(outcome, DataErased):
                self.standing[key] = consent.Standing()

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
            return Handled(await my_data_replies(tx, inbound, conv, ZoneInfo(self.policy.timezone)), conv.locale)
        return None

    async def flush(self, tx: Tx) -> None:
        await updates.claim_many(tx, self.claims)
        kept = [(key, conv) for key in self.changed if (conv := self.current[key]) is not None]
        await conversations.save_many(tx, [
            conversations.StoredConversation(key[0], key[1], conv.state.value, conv.to_json(),
                                             conv.updated_at or "", tuple(sorted(_draft_files(conv))))
            for key, conv in kept
        ])
        await conversations.delete_many(tx, [key for key in self.changed if self.current[key] is None])


async def _links_followed(event: Event, resolver: LinkResolver) -> Event:
    """The event with the share links of its text followed to their posts (and every link
    cleaned); what cannot be followed stays short, and the step holds it."""
    if isinstance(event, Text) and "." in event.text:
        return Text(await resolver.resolve_text(event.text))
    if isinstance(event, Forwarded) and "." in event.text:
        return replace(event, text=await resolver.resolve_text(event.text))
    if isinstance(event, Media) and event.caption and "." in event.caption:
        return Media(event.items, await resolver.resolve_text(event.caption))
    return event


def _files_of(event: Event) -> list[str]:
    return [i.sha256 for i in event.items if i.sha256] if isinstance(event, Media) else []


def _draft_files(conv: Conversation | None) -> set[str]:
    if conv is None:
        return set()
    return {str(e["sha256"]) for e in conv.draft.evidence if e.get("sha256")}


async def _queue_replies(tx: Tx, inbound: Inbound, handled: Handled, queue: ReplyQueue,
                         forget_after_send: bool = False) -> outbox.Delivery | None:
    """The person just wrote: on a windowed channel note it (the window opens); let
    messages that were put off go out now; and queue this step's replies, in the same
    transaction as the step: a reply can be neither lost nor sent twice. A stale button's
    answer is the channel's to show (a toast), not a message. Returns the delivery when
    it is leased to the channel to send at once."""
    at = inbound.at.isoformat()
    if queue.windowed:
        await contacts.seen(tx, inbound.channel, inbound.address, at)
    if queue.lease is None:
        await outbox.wake_address(tx, inbound.channel, inbound.address, at)
    if not handled.replies or handled.stale:
        return None
    payload: dict[str, object] = {"replies": [to_dict(r) for r in handled.replies], "locale": handled.locale}
    payload.update(inbound.reply_extra or {})
    if forget_after_send:  # the confirmation of an erasure: once sent, its row forgets the address
        payload["forget_after_send"] = True
    if inbound.reply_key:
        await outbox.enqueue_coalesced(tx, inbound.channel, inbound.address, inbound.reply_key, payload, at,
                                       (inbound.at + queue.coalesce).isoformat(), reply=True)
    elif queue.lease is not None and not forget_after_send:
        delivery = await outbox.enqueue_to_send_now(tx, inbound.channel, inbound.address, payload, at,
                                                    (inbound.at + queue.lease).isoformat(), queue.worker)
        if delivery.leased:
            return delivery
        await outbox.wake_address(tx, inbound.channel, inbound.address, at)  # what waits (a backoff) goes now
    else:
        await outbox.enqueue(tx, inbound.channel, inbound.address, "send", payload, at, reply=True)
    return None


async def _step_and_record(tx: Tx, policy: Policy, inbound: Inbound, conv: Conversation,
                           queue: ReplyQueue | None, facts: Facts) -> tuple[Handled, Conversation | None, list[Outcome]]:
    """Run the step and write its outcomes. Returns the replies and the conversation to
    keep (None: a refusal of consent or an erasure keeps nothing). A clash of case numbers
    undoes just that case and draws another number. With a `queue` the replies are queued
    first, so the answer to a step goes out before any news its outcomes cause."""
    for _attempt in range(MAX_NUMBER_ATTEMPTS):
        result = step(conv, replace(inbound, nonce=secrets.randbits(64)), facts)
        if any(isinstance(o, CaseSubmitted) for o in result.outcomes) and await cases_today_reached(
                tx, policy, inbound.channel, inbound.address, inbound.at):
            _ = gettext_for(conv.locale)  # the report stays in the conversation, ready to send later
            send = press(_, inbound.caps, [Option("send", _("Send"))], "send")
            limited = Handled([TextReply(_(
                "You have sent {limit} reports in the last 24 hours, the most we accept from one person. "
                "Your report is kept: {send} again tomorrow.").format(limit=policy.max_cases_per_day, send=send))],
                conv.locale)
            if queue is not None:
                limited = replace(limited, delivery=await _queue_replies(tx, inbound, limited, queue))
            return limited, conv, []
        erasing = any(isinstance(o, DataErased) for o in result.outcomes)
        handled = Handled(result.replies, result.conversation.locale, stale=result.stale, erased=erasing)
        try:  # a failure undoes this step's writes only; most steps write no outcome at all
            async with savepoint(tx, enabled=bool(result.outcomes)):
                if queue is not None and not erasing:
                    handled = replace(handled, delivery=await _queue_replies(tx, inbound, handled, queue))
                number = await record_outcomes(tx, policy, inbound, result.conversation, result.outcomes)
                if queue is not None and erasing:  # after the erasure, which stops what was queued
                    await _queue_replies(tx, inbound, handled, queue, forget_after_send=True)
        except DuplicateCaseNumber:
            log.info("case number collision, drawing another")
            continue
        refused = any(isinstance(o, (ConsentRefused, DataErased)) for o in result.outcomes)
        return replace(handled, case_number=number), None if refused else result.conversation, result.outcomes
    raise RuntimeError("could not draw a free case number")
