"""The delivery worker: sends what the outbox holds, one channel sender per channel, with
retries. Messages to one chat go out in order (only the oldest pending one is taken);
different chats go out concurrently and independently ("lanes"): the worker keeps leasing
while earlier deliveries are in flight, up to a bound per channel, so a slow upload, a
Twilio call that takes seconds or a group post waiting for its per-minute slot (which is
rescheduled to its slot instead of waiting with its lease) never holds up a reply to
someone else. Replies to a person who just wrote go before news and group posts.

A delivery is leased before it is sent and recorded after. The lease names this worker
(`storage.workers`): if the process dies in between, the next process (SQLite) or another
worker's heartbeat (PostgreSQL) frees it within seconds and it is sent again, at most one
duplicate, never a loss; each such crash is counted, and a delivery in flight at three of
them is set aside (`flows.set_aside`). Multi-part deliveries (a case card and its albums)
record each part as it goes. A wait a channel asked for (Retry-After) is a floor for that
address that nothing undercuts.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import logging
import os
import random
import secrets
import socket
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Protocol

from bot import metrics
from bot.background import BackgroundLoop
from bot.logs import address_ref, redact
from flows import retention, set_aside
from flows.case import deadlines, forwarding, notify, related, rosters
from flows.policy import Policy
from storage import Database, Tx, cases, inbound_queue, keys, locks, outbox, privacy, updates, workers
from storage import rosters as roster_store
from storage.evidence_files import EvidenceStore
from storage.outbox import Delivery

log = logging.getLogger(__name__)
RETENTION_EVERY = 3600.0
SUSPECT_CHECK_SECONDS = 1.0
"""How often the worker looks for deliveries that were in flight at two crashes (sent alone)."""
SENDING: contextvars.ContextVar[bool] = contextvars.ContextVar("sending_a_delivery", default=False)
"""Set while a delivery is being sent: the Telegram rate limiter then raises `Throttled`
instead of waiting for a group's slot, and lets a RetryAfter through to the worker."""


def new_worker_id() -> str:
    """This process as a worker: unique, and telling an operator which host and process it was."""
    return f"{socket.gethostname()[:32]}-{os.getpid()}-{secrets.token_hex(4)}"


class Retry(Exception):
    """Try again later: after `after` seconds if the service said so, else with backoff.
    `held`: the delivery waits for something outside the service (`outbox.HELD`), so it
    does not count as a backlog meanwhile. `floor`: the channel asked us to wait (a 429,
    Retry-After): nothing goes to that address before then, whatever wakes it. Waits of our
    own (WhatsApp's 24-hour window) are not floors."""

    def __init__(self, reason: str, after: float | None = None, held: str | None = None, *,
                 floor: bool = False) -> None:
        super().__init__(reason)
        self.after = after
        self.held = held
        self.floor = floor


class Throttled(Exception):
    """Not sent yet: the address's own rate (a group's messages a minute) has no slot for
    `after` seconds. Not a failure: the delivery gives its lease back until then."""

    def __init__(self, after: float) -> None:
        super().__init__(f"throttled for {after:.1f}s")
        self.after = after


class Gone(Exception):
    """The chat cannot be reached any more (bot removed or blocked, chat deleted)."""


class Migrated(Exception):
    """The chat has a new address (a group upgraded to a supergroup)."""

    def __init__(self, new_address: str) -> None:
        super().__init__(new_address)
        self.new_address = new_address


class Rejected(Exception):
    """This message can never be sent as it is; other messages to the chat may be."""


class Dropped(Exception):
    """This message must not be sent (the person opted out): not an error."""


Progress = Callable[[int, int | None], Awaitable[None]]
"""(parts sent so far, message id of the part just sent): recorded at once."""


class Sender(Protocol):
    async def deliver(self, delivery: Delivery, progress: Progress) -> None: ...


def _now() -> datetime:
    return datetime.now(UTC)


class DeliveryWorker(BackgroundLoop):
    name = "delivery-worker"

    def __init__(self, db: Database, policy: Policy, senders: dict[str, Sender], *,
                 lease_seconds: float = 60.0, batch: int = 32, poll_seconds: float = 1.0,
                 deadline_every: float = 60.0, base_backoff: float = 2.0, max_backoff: float = 600.0,
                 clock: Callable[[], datetime] = _now, store: EvidenceStore | None = None,
                 worker_id: str | None = None, heartbeat_seconds: float = 1.0, dead_after: float = 3.0,
                 limits: dict[str, int] | None = None) -> None:
        """`batch`: deliveries in flight per channel at most (`limits` per channel overrides it).
        `worker_id`: the id leases are taken under (the engine's replies share it); a worker
        whose heartbeat (every `heartbeat_seconds`, PostgreSQL) is older than `dead_after` is
        dead and its leases are taken over."""
        super().__init__(poll_seconds)
        self.db = db
        self.store = store
        self.policy = policy
        self.senders = senders
        self.lease = timedelta(seconds=lease_seconds)
        self.batch = batch
        self.limits = {channel: (limits or {}).get(channel, batch) for channel in senders}
        self.deadline_every = deadline_every
        self.base_backoff = base_backoff
        self.max_backoff = max_backoff
        self.clock = clock
        self.worker_id = worker_id or new_worker_id()
        self.heartbeat = heartbeat_seconds
        self.dead_after = timedelta(seconds=dead_after)
        self.sent = 0
        self.failures: dict[str, int] = {}
        self.throttled = 0
        self._last_deadlines: float | None = None
        self._last_retention: float | None = None
        self._in_flight: set[int] = set()
        """Every delivery leased to this worker and not yet done (its own and `deliver_now`'s)."""
        self._tasks: dict[int, tuple[str, asyncio.Task[None]]] = {}
        """The worker's own deliveries in flight, with their channel."""
        self._suspect: Delivery | None = None
        """A delivery that was in flight at `outbox.ALONE_AFTER` crashes: sent alone, once nothing
        else is in flight."""
        self._suspect_check = 0.0
        self._side_tasks: list[asyncio.Task[None]] = []
        self._woken_at = -1
        self.on_sent: Callable[[list[int]], None] | None = None
        """Where replies sent at once (`deliver_now`) are recorded (the engine's next
        transaction); None: each is recorded in a transaction of its own."""
        db.on_commit(self.wake)

    def wake(self) -> None:
        """After a commit: a round only if something was queued for the worker since the
        last wake (steps whose replies their channel sends itself queue nothing for it)."""
        queued = outbox.queued()
        if queued != self._woken_at:
            self._woken_at = queued
            super().wake()

    # --- this process as a worker: registration, heartbeat, what dead workers left ---------

    @property
    def several_workers(self) -> bool:
        """PostgreSQL: workers share the database and must tell each other they are alive.
        SQLite: one process serves the file."""
        return self.db.dialect.shared_counters

    async def register(self) -> workers.Reclaimed:
        """Before anything is leased: say this worker is alive, and free what dead workers
        held: on SQLite every lease left (the process that held it is gone), on PostgreSQL
        those of workers whose heartbeat stopped. Each is counted as a crash."""
        key = await keys.message_digest_key(self.db)  # read before the transaction (once, then kept)
        now = self.clock()
        stale = (now - self.dead_after).isoformat() if self.several_workers else None
        async with self.db.transaction() as tx:
            await workers.beat(tx, self.worker_id, now.isoformat())
            reclaimed = await workers.reclaim(tx, self.worker_id, now.isoformat(), stale)
            await self._set_aside(tx, reclaimed, now.isoformat(), key)
        self._reclaimed(reclaimed)
        return reclaimed

    async def beat(self) -> workers.Reclaimed:
        """One heartbeat (PostgreSQL): this worker is alive; the leases of workers whose
        heartbeat stopped are taken over."""
        key = await keys.message_digest_key(self.db)
        now = self.clock()
        async with self.db.transaction() as tx:
            await workers.beat(tx, self.worker_id, now.isoformat())
            reclaimed = await workers.reclaim(tx, self.worker_id, now.isoformat(), (now - self.dead_after).isoformat())
            await self._set_aside(tx, reclaimed, now.isoformat(), key)
        self._reclaimed(reclaimed)
        return reclaimed

    def _reclaimed(self, reclaimed: workers.Reclaimed) -> None:
        if reclaimed.freed:
            log.warning("took over %d lease(s) of a worker that died; %d set aside after %d crashes",
                        reclaimed.freed, len(reclaimed.deliveries) + len(reclaimed.inbound), workers.MAX_CRASHES)
            self._suspect_check = 0.0
            outbox.note_queued()
            self.wake()

    async def _set_aside(self, tx: Tx, reclaimed: workers.Reclaimed, at: str, key: keys.DigestKey) -> None:
        await set_aside.deliveries(tx, self.policy, reclaimed.deliveries, at)
        for item in reclaimed.inbound:
            await set_aside.inbound(tx, self.policy, item.channel, item.address, item.external_id, item.received_at,
                                    item.crashes, at,
                                    digest=updates.digest(key, item.channel, item.address, item.external_id))
            await inbound_queue.mark_done(tx, item.id)

    async def _keepalive(self) -> None:
        while True:
            await asyncio.sleep(self.heartbeat)
            try:
                await self.beat()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("heartbeat failed; trying again")

    # --- the loop ----------------------------------------------------------------------------

    def start(self) -> None:
        if self._task is None:
            self._side_tasks.append(asyncio.create_task(self._jobs(), name="delivery-jobs"))
            if self.several_workers:
                self._side_tasks.append(asyncio.create_task(self._keepalive(), name="delivery-heartbeat"))
        super().start()

    async def deliver_now(self, delivery: Delivery) -> None:
        """Send a reply leased to the caller straight after its step committed, with the
        worker's handling of failures (retry, gone, rejected, a group's slot not yet free).
        A reporter's reply records no progress part by part: a crash sends the whole reply
        again once its lease is freed. A staff answer does (a transaction per part): it may
        carry a chart, files and a case's evidence, and one to a group may have to wait for
        the group's next slot halfway, so what went out is not sent again."""

        async def untracked(parts: int, message_id: int | None) -> None:
            return None

        self._in_flight.add(delivery.id)
        try:
            await self._deliver(delivery, None if "staff" in delivery.payload else untracked)
        finally:
            self._in_flight.discard(delivery.id)

    async def settle(self) -> None:
        """Wait until the deliveries this worker started are done (tests, benchmarks)."""
        while self._tasks:
            await asyncio.gather(*(task for _channel, task in list(self._tasks.values())), return_exceptions=True)

    async def stopped(self) -> None:
        """Deliveries cut off midway are released at once for the next process (one of
        them may then be sent twice); only a crash leaves them to be reclaimed."""
        self.db.remove_on_commit(self.wake)
        held = self._in_flight | set(self._tasks) | ({self._suspect.id} if self._suspect else set())
        # noted before the tasks are cancelled: a cancelled delivery forgets itself as it ends
        side, self._side_tasks = self._side_tasks, []
        tasks = [task for _channel, task in self._tasks.values()] + side
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._tasks.clear()
        self._suspect = None
        held |= self._in_flight  # a reply sent at once that began meanwhile
        async with self.db.transaction() as tx:
            if held:  # only those still pending: what was sent meanwhile stays sent
                await outbox.release(tx, sorted(held))
            await workers.leave(tx, self.worker_id)
        self._in_flight.clear()

    async def _jobs(self) -> None:
        """The timed jobs run beside the deliveries, never in front of them: a long
        retention pass delays no reply."""
        while True:
            try:
                await self.run_jobs()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("a timed job failed; trying again")
            await asyncio.sleep(self.poll_seconds)

    async def run_jobs(self) -> None:
        """Timed jobs ride on the worker: deadlines every `deadline_every`, the retention
        clean-up (`flows/retention.py`) at start and then every hour, on the worker's clock. With
        several workers on one database each job runs in one of them at a time (a job lock);
        what it did is marked in the data, so the next worker's round finds nothing left to do."""
        now = asyncio.get_running_loop().time()
        if self._last_deadlines is None or now - self._last_deadlines >= self.deadline_every:
            self._last_deadlines = now
            await self.check_deadlines()
        if self._last_retention is None or now - self._last_retention >= RETENTION_EVERY:
            self._last_retention = now
            await retention.run(self.db, self.policy, self.clock(), self.store)

    async def check_deadlines(self) -> tuple[int, int]:
        async with self.db.transaction() as tx:
            if not await locks.job(tx, "deadlines"):
                return 0, 0  # another worker is on it
            return await deadlines.run_due(tx, self.policy, self.clock())

    def _rooms(self) -> dict[str, int]:
        busy: dict[str, int] = {}
        for channel, _task in self._tasks.values():
            busy[channel] = busy.get(channel, 0) + 1
        return {channel: room for channel, limit in self.limits.items() if (room := limit - busy.get(channel, 0)) > 0}

    async def run_once(self) -> int:
        """Link new cases to related ones (before their cards go), then lease what is due
        now, as much as each channel has room for, and start each delivery at once; a
        delivery that ends wakes the loop for what its chat has next. Returns how many were
        started when a channel's room was filled (more may be due), else 0."""
        now = self.clock()
        await related.link_waiting(self.db, now.isoformat())
        if self._alone():
            return 0  # nothing else is leased meanwhile
        rooms = self._rooms()
        if not rooms:
            return 0
        check_suspects = asyncio.get_running_loop().time() >= self._suspect_check
        async with self.db.reading() as tx:  # a read first: an idle round commits nothing
            if not await outbox.has_due(tx, now.isoformat(), list(rooms)):
                return 0

        async def lease() -> list[Delivery]:
            until = (now + self.lease).isoformat()
            async with self.db.transaction() as tx:
                if check_suspects:
                    suspects = await outbox.lease_due(tx, now.isoformat(), until, 1, list(self.limits),
                                                      worker=self.worker_id, suspects=True)
                    if suspects:
                        self._suspect = suspects[0]  # noted at once, so that `stopped` gives it back
                        return suspects
                taken: list[Delivery] = []
                for channel, room in rooms.items():
                    taken += await outbox.lease_due(tx, now.isoformat(), until, room, [channel],
                                                    worker=self.worker_id)
            for delivery in taken:  # started at once, so that `stopped` sees and gives them back
                self._start(delivery)
            return taken

        due = await self.taking(lease())
        if self._alone():
            return 0
        if check_suspects:
            self._suspect_check = asyncio.get_running_loop().time() + SUSPECT_CHECK_SECONDS
        filled = any(sum(1 for d in due if d.channel == channel) >= room for channel, room in rooms.items())
        return len(due) if filled else 0

    def _alone(self) -> bool:
        """True while a suspect is noted: it is started once nothing else is in flight, and
        nothing else is leased until it ends."""
        if self._suspect is None:
            return False
        if not self._tasks:
            self._start(self._suspect)
        return True

    def _start(self, delivery: Delivery) -> None:
        if delivery.id in self._tasks:
            return  # still being sent after its lease ran out: the lease is renewed, not sent twice
        self._in_flight.add(delivery.id)
        task = asyncio.create_task(self._deliver(delivery), name=f"delivery-{delivery.id}")
        self._tasks[delivery.id] = (delivery.channel, task)
        task.add_done_callback(functools.partial(self._done, delivery.id))

    def _done(self, delivery_id: int, _task: asyncio.Task[None] | None = None) -> None:
        self._tasks.pop(delivery_id, None)
        self._in_flight.discard(delivery_id)
        if self._suspect is not None and self._suspect.id == delivery_id:
            self._suspect = None
        super().wake()  # its chat's next message, or room for another

    async def _deliver(self, delivery: Delivery, progress: Progress | None = None) -> None:
        token = SENDING.set(True)  # the rate limiter knows a delivery is calling
        try:
            await self._send(delivery, progress)
        finally:
            SENDING.reset(token)

    async def _send(self, delivery: Delivery, progress: Progress | None) -> None:
        sender = self.senders[delivery.channel]  # only channels we have a sender for are leased

        async def recorded(parts: int, message_id: int | None) -> None:
            async with self.db.transaction() as tx:
                await outbox.set_progress(tx, delivery.id, parts)
                if delivery.kind == "post_case" and parts == 1 and message_id is not None:
                    assert delivery.case_id is not None and delivery.post_id is not None
                    await forwarding.post_delivered(tx, delivery.case_id, delivery.post_id, message_id,
                                                    self.clock().isoformat())

        progress = progress or recorded
        try:
            await sender.deliver(delivery, progress)
        except Throttled as exc:
            self.throttled += 1
            async with self.db.transaction() as tx:
                await outbox.reschedule(tx, delivery.id, (self.clock() + timedelta(seconds=exc.after)).isoformat())
        except Retry as exc:
            await self._retry(delivery, str(exc), exc.after, exc.held, floor=exc.floor)
        except Migrated as exc:
            log.info("delivery %s: chat %s moved to %s", delivery.id, address_ref(delivery.address),
                     address_ref(exc.new_address))
            async with self.db.transaction() as tx:
                await forwarding.chat_migrated(tx, int(delivery.address), int(exc.new_address))
                await outbox.retry_at(tx, delivery.id, self.clock().isoformat(), "migrated")
        except Gone as exc:
            self._count(delivery, "gone")
            await self._gone(delivery, str(exc))
        except Rejected as exc:
            await self._rejected(delivery, str(exc))
        except Dropped as exc:
            log.info("delivery %s (%s to %s) dropped: %s", delivery.id, delivery.channel, address_ref(delivery.address),
                     redact(str(exc)))
            async with self.db.transaction() as tx:
                await outbox.mark_failed(tx, delivery.id, self.clock().isoformat(), f"dropped: {exc}")
        except Exception as exc:  # a bug or an unexpected answer: keep the message, try later
            log.exception("delivery %s failed unexpectedly", delivery.id)
            await self._retry(delivery, f"{type(exc).__name__}: {exc}", None)
        else:
            self.sent += 1
            metrics.DELIVERIES.labels(delivery.channel).inc()
            metrics.LAST_SUCCESS.mark(delivery.channel)
            forget = bool(delivery.payload.get("forget_after_send"))
            if delivery.leased and self.on_sent is not None and not forget:
                self.on_sent([delivery.id])  # recorded with the next step: no round trip of its own
                return
            async with self.db.transaction() as tx:
                await outbox.mark_sent(tx, delivery.id, self.clock().isoformat())
                if forget:  # the confirmation of an erasure: the address goes now that it is out
                    await privacy.forget_sent(tx, delivery.id)
            if forget:
                await self.db.checkpoint_truncate()

    async def _rejected(self, delivery: Delivery, error: str) -> None:
        """Never retried: the same request would fail the same way. A case card that cannot
        be posted is a job for moderators."""
        self._count(delivery, "rejected")
        log.error("delivery %s (%s, %s to %s) rejected: %s", delivery.id, delivery.kind, delivery.channel,
                  address_ref(delivery.address), redact(error))
        at = self.clock().isoformat()
        async with self.db.transaction() as tx:
            await outbox.mark_failed(tx, delivery.id, at, error)
            if delivery.kind == "post_case" and delivery.channel == rosters.CHANNEL:  # an officer's card
                _ = notify.staff_gettext(self.policy)
                member = await roster_store.member_by_number(tx, delivery.address)
                roster = int(str(delivery.payload.get(rosters.ROSTER, member.chat_id if member else 0)))
                case = await cases.get(tx, delivery.case_id) if delivery.case_id is not None else None
                await notify.moderators(tx, self.policy, at, _(
                    "Case {number} could not be sent to {officer} of {roster}: {error}").format(
                        number=case.number if case else "-",
                        officer=rosters.officer_name(self.policy.default_locale, member) if member else "-",
                        roster=await notify.chat_label(tx, self.policy, roster), error=redact(error)),
                    delivery.case_id)
            elif delivery.kind == "post_case":
                _ = notify.staff_gettext(self.policy)
                await notify.moderators(tx, self.policy, at, _(
                    "A case could not be posted to group {chat}: {error}").format(
                        chat=await notify.chat_label(tx, self.policy, int(delivery.address)), error=error),
                    delivery.case_id)

    def _count(self, delivery: Delivery, reason: str) -> None:
        self.failures[reason] = self.failures.get(reason, 0) + 1
        metrics.DELIVERY_FAILURES.labels(delivery.channel, reason).inc()

    async def _retry(self, delivery: Delivery, reason: str, after: float | None, held: str | None = None,
                     floor: bool = False) -> None:
        self._count(delivery, held or ("retry_after" if after is not None else "transient"))
        if after is None:
            after = min(self.max_backoff, self.base_backoff * 2 ** max(delivery.attempts - 1, 0))
            after *= random.uniform(0.5, 1.5)  # jitter: retries of many messages do not come back together
        log.warning("delivery %s (%s to %s) failed (%s); next try in %.1fs%s",
                    delivery.id, delivery.channel, address_ref(delivery.address), redact(reason), after,
                    " (nothing to this address before then)" if floor else "")
        at = (self.clock() + timedelta(seconds=after)).isoformat()
        async with self.db.transaction() as tx:
            await outbox.retry_at(tx, delivery.id, at, reason, held)
            if floor:
                await outbox.hold(tx, delivery.channel, delivery.address, at)

    async def _gone(self, delivery: Delivery, reason: str) -> None:
        at = self.clock().isoformat()
        log.error("delivery %s: %s chat %s is unreachable: %s", delivery.id, delivery.channel,
                  address_ref(delivery.address), redact(reason))
        async with self.db.transaction() as tx:
            if delivery.channel == notify.GROUP_CHANNEL and delivery.address.lstrip("-").isdecimal() \
                    and int(delivery.address) < 0:
                await forwarding.chat_gone(tx, self.policy, int(delivery.address), reason, at)
            else:  # a person who blocked the bot: nothing to re-route, nothing else to stop
                await outbox.mark_failed(tx, delivery.id, at, reason)
