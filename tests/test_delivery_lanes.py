"""Issue 25, in one process: a delivery that waits never delays one that could go now
(lanes), a chat's messages keep their order, replies go before news and group posts
without starving them, and a channel's Retry-After is a floor nothing undercuts."""

from __future__ import annotations

import asyncio
import random
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from telegram.error import RetryAfter

from bot.delivery import SENDING, DeliveryWorker, Progress, Retry, Throttled
from bot.telegram.limiter import DeliveryRateLimiter
from flows.case import notify
from flows.policy import Policy
from flows.replies import TextReply, to_dict
from storage import Database, outbox
from storage.outbox import Delivery
from tests.backends import Backend
from tests.fake_telegram import FakeTelegram
from tests.telegram_harness import polling_bot, settings_for

GROUP = -1002500000001
REPORTER = 250000001
T0 = datetime(2024, 11, 21, 3, 0, tzinfo=UTC)


def reply(text: str) -> dict[str, Any]:
    return {"replies": [to_dict(TextReply(text))], "locale": "id"}


def pending_to(backend: Backend, address: str) -> list[tuple[Any, ...]]:
    with backend.connect() as db:
        return list(db.execute("SELECT leased_until, next_attempt_at FROM outbox WHERE address = ? AND status = 'pending'"
                               " ORDER BY id",
                               (address,)).fetchall())


async def test_a_throttled_group_post_does_not_delay_a_reply_to_another_chat(fake: FakeTelegram,
                                                                             backend: Backend) -> None:
    """Five posts to a group that takes two a minute: two go, three wait for their slots.
    A reply queued meanwhile goes at once (it waited for the whole leased batch: 90 s), and
    the posts that wait hold no lease: each is scheduled for its slot."""
    db = await backend.open()
    async with db.transaction() as tx:
        for n in range(5):
            await notify.group(tx, GROUP, f"Kabar {n}", datetime.now(UTC).isoformat())
    await db.close()
    settings = settings_for(fake, backend, telegram_group_max_per_minute=2, telegram_max_rate=0,
                            delivery_poll_seconds=0.05)
    async with polling_bot(settings) as runtime:
        assert runtime.db is not None
        await fake.wait_for(lambda: len(fake.texts(GROUP)) == 2)
        await asyncio.sleep(0.3)  # the third post is now waiting for the group's next slot
        async with runtime.db.transaction() as tx:
            await outbox.enqueue(tx, "telegram", str(REPORTER), "send", reply("Langkah 2 dari 9"),
                                 datetime.now(UTC).isoformat())
        await fake.wait_for(lambda: fake.texts(REPORTER) == ["Langkah 2 dari 9"], timeout=10)
        assert len(fake.texts(GROUP)) == 2, "the group's posts still wait for their slots"
        waiting = pending_to(backend, str(GROUP))
        assert len(waiting) == 3
        assert all(leased is None for leased, _due in waiting), "a post waiting for its slot holds no lease"
        assert datetime.fromisoformat(waiting[0][1]) > datetime.now(UTC), \
            "the next post is scheduled for its slot (the others wait behind it, in order)"


class Slow:
    """A channel whose calls take a random while (a Twilio call, an upload)."""

    def __init__(self, seed: int, log: list[tuple[str, int]]) -> None:
        self.rng = random.Random(seed)
        self.log = log
        self.in_flight = 0
        self.most = 0

    async def deliver(self, delivery: Delivery, progress: Progress) -> None:
        self.in_flight += 1
        self.most = max(self.most, self.in_flight)
        try:
            await asyncio.sleep(self.rng.uniform(0, 0.03))
        finally:
            self.in_flight -= 1
        self.log.append((delivery.address, int(delivery.payload["n"])))


async def test_each_chats_order_is_kept_while_deliveries_overtake_each_other(backend: Backend) -> None:
    db = await backend.open()
    try:
        async with db.transaction() as tx:
            for n in range(6):
                for chat in range(15):
                    await outbox.enqueue(tx, "test", f"chat-{chat}", "send", {"n": n}, T0.isoformat())
        sent: list[tuple[str, int]] = []
        channel = Slow(3, sent)
        worker = DeliveryWorker(db, Policy(), {"test": channel}, batch=8, poll_seconds=0.01, deadline_every=3600)
        worker.start()
        deadline = time.monotonic() + 30
        while len(sent) < 90 and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
        await worker.stop()
    finally:
        await db.close()
    assert len(sent) == 90
    for chat in range(15):
        assert [n for address, n in sent if address == f"chat-{chat}"] == list(range(6)), "a chat's order is kept"
    assert 1 < channel.most <= 8, "chats went concurrently, never more than the channel's bound"
    assert sent != sorted(sent, key=lambda item: (item[1], int(item[0].split("-")[1]))), \
        "deliveries to different chats overtook each other"


async def test_replies_go_before_news_and_group_posts_that_are_due_but_nothing_starves(backend: Backend) -> None:
    db = await backend.open()
    try:
        now = T0.isoformat()
        async with db.transaction() as tx:
            old = await outbox.enqueue(tx, "test", "group-0", "send", {"n": 0},
                                       (T0 - timedelta(seconds=outbox.AGING_SECONDS + 1)).isoformat())
            news = [await outbox.enqueue(tx, "test", f"group-{n}", "send", {"n": n}, now) for n in range(1, 6)]
            replies = [await outbox.enqueue(tx, "test", f"person-{n}", "send", {"n": n}, now, reply=True)
                       for n in range(3)]
        order: list[int] = []
        async with db.transaction() as tx:
            for _ in range(9):
                taken = await outbox.lease_due(tx, now, (T0 + timedelta(minutes=1)).isoformat(), 1, ["test"])
                order += [d.id for d in taken]
    finally:
        await db.close()
    assert order == [old, *replies, *news], "due long enough counts as urgent; then replies; then the rest"


async def test_a_retry_after_is_a_floor_that_wake_address_and_new_replies_do_not_undercut(backend: Backend) -> None:
    """Regression: a reporter writing again made every message to their address due at once
    (`wake_address`), the one the channel had asked us to hold back for 30 s included."""
    db = await backend.open()
    clock = [T0]
    attempts: list[tuple[datetime, int]] = []

    class Limited:
        async def deliver(self, delivery: Delivery, progress: Progress) -> None:
            attempts.append((clock[0], int(delivery.payload["n"])))
            if len(attempts) == 1:
                raise Retry("twilio 429, retry after 30s", 30.0, floor=True)

    try:
        async with db.transaction() as tx:
            await outbox.enqueue(tx, "whatsapp", "+6281200000001", "send", {"n": 0}, T0.isoformat(), reply=True)
        worker = DeliveryWorker(db, Policy(), {"whatsapp": Limited()}, clock=lambda: clock[0], deadline_every=3600)
        await worker.run_once()
        await worker.settle()
        assert len(attempts) == 1
        for step in range(1, 15):  # the person writes every 2 s: their step wakes the address and queues a reply
            clock[0] = T0 + timedelta(seconds=2 * step)
            at = clock[0].isoformat()
            async with db.transaction() as tx:
                await outbox.wake_address(tx, "whatsapp", "+6281200000001", at)
                await outbox.enqueue(tx, "whatsapp", "+6281200000001", "send", {"n": step}, at, reply=True)
                direct = await outbox.enqueue_to_send_now(tx, "whatsapp", "+6281200000001", {"n": 100 + step}, at,
                                                          (clock[0] + timedelta(minutes=1)).isoformat(), "w")
            assert not direct.leased, "a reply sent at once by its channel waits for the floor too"
            await worker.run_once()
            await worker.settle()
        assert len(attempts) == 1, "nothing was sent to the address before its 30 s were over"
        clock[0] = T0 + timedelta(seconds=30.5)
        for _ in range(40):
            await worker.run_once()
            await worker.settle()
    finally:
        await db.close()
    assert [n for _at, n in attempts][:3] == [0, 0, 1], "then in order, the held message first"
    assert all(at >= T0 + timedelta(seconds=30) for at, _n in attempts[1:])


async def test_a_floor_is_kept_per_address_and_a_longer_one_wins(backend: Backend) -> None:
    db: Database = await backend.open()
    try:
        async with db.transaction() as tx:
            await outbox.hold(tx, "telegram", str(GROUP), (T0 + timedelta(seconds=30)).isoformat())
            await outbox.hold(tx, "telegram", str(GROUP), (T0 + timedelta(seconds=5)).isoformat())
            assert await outbox.floor_of(tx, "telegram", str(GROUP)) == (T0 + timedelta(seconds=30)).isoformat()
            await outbox.enqueue(tx, "telegram", str(GROUP), "send", {"n": 1}, T0.isoformat())
            await outbox.enqueue(tx, "telegram", str(REPORTER), "send", {"n": 2}, T0.isoformat())
            taken = await outbox.lease_due(tx, (T0 + timedelta(seconds=10)).isoformat(),
                                           (T0 + timedelta(minutes=1)).isoformat(), 10, ["telegram"])
            assert [d.address for d in taken] == [str(REPORTER)], "only the held address waits"
            assert await outbox.prune_floors(tx, (T0 + timedelta(seconds=31)).isoformat()) == 1
    finally:
        await db.close()


async def test_the_telegram_limiter_never_holds_a_delivery_and_keeps_a_part_whole() -> None:
    """A delivery's call to a group with no slot left is not held (`Throttled`, with the time
    to the next slot); a part of several calls goes only if there is a slot for each; a
    RetryAfter reaches the worker at once. Calls outside a delivery wait as before."""
    limiter = DeliveryRateLimiter(overall_per_second=0, group_per_minute=3)
    made: list[str] = []

    async def call(name: str) -> bool:
        made.append(name)
        return True

    async def send(chat_id: int, name: str) -> Any:
        return await limiter.process_request(call, (name,), {}, "sendMessage", {"chat_id": chat_id}, None)

    token = SENDING.set(True)
    try:
        await send(GROUP, "card")
        limiter.ensure_room(GROUP, 2)  # an album and its note: two slots left
        await send(GROUP, "album")
        with pytest.raises(Throttled):
            limiter.ensure_room(GROUP, 2)  # one slot left: the part waits whole
        await send(GROUP, "note")
        with pytest.raises(Throttled) as throttled:
            await send(GROUP, "next card")
        assert throttled.value.after == pytest.approx(20.0), "60 s / 3 a minute: the next slot"
        await send(REPORTER, "reply")  # a private chat has no per-minute limit

        async def flooded(name: str) -> bool:
            raise RetryAfter(timedelta(seconds=30))

        with pytest.raises(RetryAfter):  # not slept on: the worker keeps it as a floor
            await asyncio.wait_for(limiter.process_request(flooded, ("x",), {}, "sendMessage",
                                                           {"chat_id": REPORTER}, None), 1)
    finally:
        SENDING.reset(token)
    waiting = asyncio.ensure_future(send(GROUP, "a staff answer"))  # outside a delivery: waits for its slot
    await asyncio.sleep(0.2)
    assert not waiting.done()
    waiting.cancel()
    assert made == ["card", "album", "note", "reply"]
