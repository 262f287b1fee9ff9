"""Several workers on one database behave as one service: each worker here is its own
`Database` (its own connections, as a separate `serve` process has), sharing one
PostgreSQL database or one SQLite file."""

from __future__ import annotations

import asyncio
import functools
import hashlib
import json
import os
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest

from bot.delivery import DeliveryWorker, Progress
from flows.engine import Engine
from flows.policy import Policy
from flows.staff import route_admin
from storage import Database, cases, conversations, locks, outbox
from storage.cases import DuplicateCaseNumber, NewCase
from storage.database import LockHeld, savepoint
from storage.evidence_files import CHUNK_BYTES, EvidenceStore
from storage.outbox import Delivery
from tests.backends import Backend
from tests.chat import HAPPY_PATH, Chat

GROUP = -100777
POLICY = Policy(moderator_chat_id=-100999)


@pytest.fixture
async def workers(backend: Backend) -> AsyncIterator[tuple[Database, Database]]:
    a, b = await backend.open(), await backend.open()
    try:
        yield a, b
    finally:
        await a.close()
        await b.close()


def postgres_only(backend: Backend) -> None:
    if not backend.postgres:
        pytest.skip("one SQLite file is served by one process: SQLite's write lock already serialises it")


async def sessions_waiting_for_a_lock(backend: Backend, count: int) -> None:
    """Until `count` sessions of the test's PostgreSQL database wait for a lock (a row's, or
    an advisory one): the moment a step is queued, however long it takes to get there."""
    with backend.connect() as db:
        for _ in range(3000):
            if db.execute("SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'"
                          " AND datname = current_database()").fetchall()[0][0] >= count:
                return
            await asyncio.sleep(0.01)
    raise AssertionError(f"{count} session(s) never waited for a lock")


async def test_consecutive_updates_of_one_chat_on_two_workers_apply_in_order(
        backend: Backend, workers: tuple[Database, Database]) -> None:
    """Worker A is in the middle of update N (held up at its write by another session's row
    lock) when update N+1 of the same chat reaches worker B. B waits for A's step, then
    applies N+1 to the state A left: no step is lost or applied to a stale state."""
    postgres_only(backend)
    a, b = workers
    chat_a, chat_b = Chat(Engine(a)), Chat(Engine(b))
    await chat_a.run(*HAPPY_PATH[:5])  # now asking for the agency's name
    chat_b.counter, chat_b.now = chat_a.counter, chat_a.now
    import asyncpg

    assert backend.url is not None
    blocker = await asyncpg.connect(backend.url)
    try:
        holding = blocker.transaction()
        await holding.start()
        await blocker.execute("SELECT 1 FROM conversations WHERE address = $1 FOR UPDATE", chat_a.address)
        step_n = asyncio.create_task(chat_a.send("SMPN 1 Denpasar"))  # the agency name
        await sessions_waiting_for_a_lock(backend, 1)  # A holds the conversation's lock, waiting for the row
        chat_b.counter, chat_b.now = chat_a.counter, chat_a.now
        step_n1 = asyncio.create_task(chat_b.send("Budi Santoso"))  # the person's name, one step later
        await sessions_waiting_for_a_lock(backend, 2)  # B waits for the conversation's lock A holds
        assert not step_n.done() and not step_n1.done(), "both wait: A for the row, B for the conversation"
        await holding.rollback()
        first, second = await asyncio.gather(step_n, step_n1)
    finally:
        await blocker.close()
    assert not first.duplicate and not second.duplicate
    async with a.reading() as tx:
        stored = await conversations.load(tx, "test", chat_a.address)
    assert stored is not None and stored.state == "person_position"
    draft = json.loads(stored.data)["draft"]
    assert (draft["agency_name"], draft["person_name"]) == ("SMPN 1 Denpasar", "Budi Santoso")


async def test_one_update_delivered_to_both_workers_at_once_is_applied_once(workers: tuple[Database, Database]) -> None:
    a, b = workers
    chat_a, chat_b = Chat(Engine(a)), Chat(Engine(b))
    for line in [*HAPPY_PATH, "@send"]:
        chat_b.counter, chat_b.now = chat_a.counter, chat_a.now
        results = await asyncio.gather(chat_a.send(line, update_id=f"u-{chat_a.counter + 1}"),
                                       chat_b.send(line, update_id=f"u-{chat_a.counter + 1}"))
        assert sorted(r.duplicate for r in results) == [False, True], line
    async with a.reading() as tx:
        assert await cases.count(tx) == 1


class Recorder:
    """A channel's API as seen from the delivery worker: records what reached it."""

    def __init__(self, name: str, log: list[tuple[str, int, str, int]]) -> None:
        self.name = name
        self.log = log

    async def deliver(self, delivery: Delivery, progress: Progress) -> None:
        await asyncio.sleep(0.01)
        self.log.append((self.name, delivery.id, delivery.address, int(delivery.payload["n"])))


async def test_two_delivery_workers_never_send_one_delivery_twice_and_keep_each_chats_order(
        workers: tuple[Database, Database]) -> None:
    a, b = workers
    now = datetime.now(UTC)
    async with a.transaction() as tx:
        for n in range(4):
            for chat in range(12):
                await outbox.enqueue(tx, "test", f"chat-{chat}", "send", {"n": n}, now.isoformat())
    sent: list[tuple[str, int, str, int]] = []
    wa = DeliveryWorker(a, POLICY, {"test": Recorder("a", sent)}, batch=5, deadline_every=3600)
    wb = DeliveryWorker(b, POLICY, {"test": Recorder("b", sent)}, batch=5, deadline_every=3600)
    for _ in range(200):
        await asyncio.gather(wa.run_once(), wb.run_once())
        await asyncio.gather(wa.settle(), wb.settle())  # each started up to 5 at once; the next round takes more
        if len(sent) >= 48:
            break
    assert len(sent) == 48 and len({d for _w, d, _a, _n in sent}) == 48, "each delivery sent exactly once"
    for chat in range(12):
        assert [n for _w, _d, address, n in sent if address == f"chat-{chat}"] == [0, 1, 2, 3], "order per chat"
    assert {w for w, *_ in sent} == {"a", "b"}, "both workers took a share"


async def test_a_lease_held_by_one_worker_is_skipped_by_the_other_not_waited_for(
        backend: Backend, workers: tuple[Database, Database]) -> None:
    postgres_only(backend)
    a, b = workers
    now = datetime.now(UTC)
    async with a.transaction() as tx:
        for chat in range(4):
            await outbox.enqueue(tx, "test", f"chat-{chat}", "send", {"n": 0}, now.isoformat())
            await outbox.enqueue(tx, "test", f"chat-{chat}", "send", {"n": 1}, now.isoformat())
    later = (now + timedelta(minutes=1)).isoformat()
    async with a.transaction() as tx_a:
        mine = await outbox.lease_due(tx_a, now.isoformat(), later, 2, ["test"])
        async with b.transaction() as tx_b:  # while A's lease is not yet committed
            theirs = await asyncio.wait_for(outbox.lease_due(tx_b, now.isoformat(), later, 10, ["test"]), 10)
    assert len(mine) == 2 and len(theirs) == 2
    assert {d.address for d in mine}.isdisjoint({d.address for d in theirs}), "never a chat's second message early"
    assert all(d.payload["n"] == 0 for d in mine + theirs)


async def test_deadline_jobs_run_once_across_workers(workers: tuple[Database, Database]) -> None:
    a, b = workers
    async with a.transaction() as tx:
        await route_admin.add(tx, POLICY, "51.71", GROUP, by="test", at="2024-11-21T08:00:00+07:00")
    chat = Chat(Engine(a, policy=POLICY))
    await chat.run(*HAPPY_PATH, "@send")
    async with a.reading() as tx:
        case = (await cases.recent(tx, 1))[0]
    assert case.routed_at
    late = datetime.fromisoformat(case.routed_at) + timedelta(hours=80)
    wa = DeliveryWorker(a, POLICY, {}, clock=lambda: late)
    wb = DeliveryWorker(b, POLICY, {}, clock=lambda: late)
    results = await asyncio.gather(wa.check_deadlines(), wb.check_deadlines(), wa.check_deadlines(),
                                   wb.check_deadlines())
    assert sum(r for r, _e in results) == 1 and sum(e for _r, e in results) == 1
    async with a.reading() as tx:
        queued = await outbox.of_case(tx, case.id)
    reminders = [d for d in queued if d.address == str(GROUP) and "Pengingat" in str(d.payload)]
    assert len(reminders) == 1


async def test_a_job_lock_is_held_by_one_transaction_at_a_time(backend: Backend,
                                                              workers: tuple[Database, Database]) -> None:
    postgres_only(backend)
    a, b = workers
    async with a.transaction() as tx_a:
        assert await locks.job(tx_a, "retention")
        async with b.transaction() as tx_b:
            assert not await locks.job(tx_b, "retention"), "the other worker skips this round"
            assert await locks.job(tx_b, "deadlines"), "another job is free"
    async with b.transaction() as tx_b:
        assert await locks.job(tx_b, "retention"), "released with the transaction"


async def test_only_one_poller_per_database(workers: tuple[Database, Database]) -> None:
    a, b = workers
    async with a.exclusive("telegram-polling") as lost:
        with pytest.raises(LockHeld):
            async with b.exclusive("telegram-polling"):
                pass
        assert not lost.is_set()
    async with b.exclusive("telegram-polling"):
        pass  # free again once the first poller stops


async def test_the_flood_gate_counts_one_sender_across_workers(backend: Backend) -> None:
    postgres_only(backend)
    policy = Policy(max_messages_per_minute=5)
    a, b = await backend.open(), await backend.open()
    try:
        on_a, on_b = Chat(Engine(a, policy=policy), address="flooder"), Chat(Engine(b, policy=policy), address="flooder")
        answers = []
        start = datetime.now().astimezone()
        for n in range(8):  # alternating workers, all within one minute (a send adds 20 s)
            chat = on_a if n % 2 == 0 else on_b
            chat.now = start + timedelta(seconds=5 * n - 20)
            chat.counter = n
            answers.append(await chat.send("halo"))
        warned = [h for h in answers if h.replies and "terlalu cepat" in h.replies[0].text]  # type: ignore[union-attr]
        assert len(warned) == 1 and sum(1 for h in answers if not h.replies) == 2
    finally:
        await a.close()
        await b.close()


async def test_the_daily_case_limit_counts_cases_filed_through_any_worker(backend: Backend) -> None:
    policy = Policy(max_cases_per_day=1, max_messages_per_minute=0)
    a, b = await backend.open(), await backend.open()
    try:
        first = Chat(Engine(a, policy=policy), address="r-1", update_prefix="a")
        await first.run(*HAPPY_PATH, "@send")
        again = Chat(Engine(b, policy=policy), address="r-1", update_prefix="b")
        again.now = first.now + timedelta(hours=1)
        await again.run("/mulai", *HAPPY_PATH[1:], "@send")
        assert again.text().startswith("Anda sudah mengirim 1 laporan dalam 24 jam terakhir")
    finally:
        await a.close()
        await b.close()


async def test_evidence_written_by_one_worker_is_read_by_another(backend: Backend,
                                                                 workers: tuple[Database, Database]) -> None:
    """Several chunks, read back whole and streamed; stored once however often it comes."""
    a, b = workers
    data = os.urandom(3 * CHUNK_BYTES + 1234)
    sha = hashlib.sha256(data).hexdigest()
    store_a = EvidenceStore.for_database(a, backend.evidence_dir)
    store_b = EvidenceStore.for_database(b, backend.evidence_dir)
    stored = await store_a.put(data)
    assert (stored.sha256, stored.size) == (sha, len(data))
    again = await store_b.put(data)
    assert again.sha256 == sha
    assert await store_b.get(sha) == data
    parts = [chunk async for chunk in store_b.stream(sha)]
    assert len(parts) == 4 and b"".join(parts) == data
    assert [entry async for entry in store_a.blobs.listing()] == [(sha, len(data))], "one copy"
    assert await store_b.get("0" * 64) is None
    assert await store_b.delete(sha) and await store_a.get(sha) is None
    if backend.postgres:  # no chunk is left behind either
        with backend.connect() as db:
            assert db.execute("SELECT count(*) FROM evidence_chunks").fetchall() == [(0,)]


async def test_a_writer_that_gives_up_leaves_nothing_under_a_name(backend: Backend,
                                                                  workers: tuple[Database, Database]) -> None:
    a, _b = workers
    store = EvidenceStore.for_database(a, backend.evidence_dir)
    writer = store.blobs.writer()
    await writer.write(b"half a file")
    await writer.abort()
    assert [entry async for entry in store.blobs.listing()] == []
    if backend.postgres:
        with backend.connect() as db:
            assert db.execute("SELECT count(*) FROM evidence_chunks").fetchall() == [(0,)]


async def test_case_numbers_drawn_by_two_workers_never_clash(workers: tuple[Database, Database]) -> None:
    """A number already taken by another worker's case is refused by the unique index as
    `DuplicateCaseNumber` (so the engine draws again), and inside a savepoint the rest of
    the transaction goes on, on PostgreSQL too."""
    a, b = workers
    chat = Chat(Engine(a), address="r-1")
    await chat.run(*HAPPY_PATH, "@send")
    async with a.reading() as tx:
        taken = (await cases.recent(tx, 1))[0]
    again = NewCase(**{name: getattr(taken, name) for name in NewCase.__dataclass_fields__})
    async with b.transaction() as tx:
        with pytest.raises(DuplicateCaseNumber):
            async with savepoint(tx):
                await cases.insert(tx, again, [])
        assert await cases.by_number(tx, taken.number) is not None, "the transaction goes on"


async def test_a_long_read_never_holds_up_the_steps(backend: Backend, workers: tuple[Database, Database]) -> None:
    """Reads (statistics, exports, health) have a pool of their own: with more long reads
    open or waiting than there are connections at all, ten steps still complete while the
    reads wait. (SQLite gets its own read connection in issue 14.)"""
    postgres_only(backend)
    a, _b = workers
    release = asyncio.Event()

    async def long_read() -> int:
        async with a.reading() as tx:
            count = await cases.count(tx)
            await release.wait()  # as long as the steps below take
            return count

    from storage.postgres import POOL_SIZE

    readers = [asyncio.create_task(long_read()) for _ in range(POOL_SIZE + 2)]
    await asyncio.sleep(0.05)
    chat = Chat(Engine(a))
    for line in HAPPY_PATH[:10]:
        handled = await asyncio.wait_for(chat.send(line), 30)
        assert handled.replies
    assert not any(r.done() for r in readers), "the reads are still open: the steps did not wait for them"
    release.set()
    assert await asyncio.gather(*readers) == [0] * len(readers)


async def test_a_failing_step_does_not_take_its_batch_down(backend: Backend) -> None:
    """A statement that fails (here a trigger refusing one chat's replies, as a full disk or a
    broken row would) undoes that update only: the others in the same group commit are kept,
    also on PostgreSQL, where a failed statement would otherwise abort the whole transaction."""
    db = await backend.open()
    try:
        with backend.connect() as conn:
            if backend.postgres:
                conn.execute("CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS"
                             " $$ BEGIN RAISE EXCEPTION 'refused'; END $$")
                conn.execute("CREATE TRIGGER refuse BEFORE INSERT ON outbox FOR EACH ROW"
                             " WHEN (NEW.address = 'bad') EXECUTE FUNCTION refuse()")
            else:
                conn.execute("CREATE TRIGGER refuse BEFORE INSERT ON outbox WHEN NEW.address = 'bad'"
                             " BEGIN SELECT RAISE(ABORT, 'refused'); END")
        engine = Engine(db, outbox_channels=frozenset({"test"}), policy=Policy(max_messages_per_minute=0))
        good, bad = Chat(engine, address="good"), Chat(engine, address="bad")
        results = await asyncio.gather(good.send("halo"), bad.send("halo"), return_exceptions=True)
        assert not isinstance(results[0], BaseException) and results[0].replies
        assert isinstance(results[1], Exception)
        assert await good.state() == "consent" and await bad.state() == "none"
        with backend.connect() as conn:
            assert conn.execute("SELECT address FROM outbox").fetchall() == [("good",)]
    finally:
        await db.close()


@pytest.mark.slow  # the bot as a process
async def test_a_second_poller_refuses_to_start(backend: Backend, fake: object) -> None:
    import subprocess
    import sys

    from tests import fake_telegram as tg

    env = {k: v for k, v in os.environ.items() if not k.startswith(("TELEGRAM_", "TWILIO_", "DATABASE_"))}
    env.update(backend.env(), TELEGRAM_BOT_TOKEN=tg.TOKEN, TELEGRAM_BASE_URL=fake.api_url,  # type: ignore[attr-defined]
               TELEGRAM_BASE_FILE_URL=fake.file_url, LOG_LEVEL="ERROR",  # type: ignore[attr-defined]
               ALLOW_EPHEMERAL_DATABASE="1")  # a test's folder, maybe on a tmpfs
    first = subprocess.Popen([sys.executable, "-m", "bot", "run"], env=env, cwd=backend.tmp_path,
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        await fake.wait_for(lambda: any(c.method == "getUpdates" for c in fake.calls), 30)  # type: ignore[attr-defined]
        second = await asyncio.to_thread(subprocess.run, [sys.executable, "-m", "bot", "run"], env=env,
                                         cwd=backend.tmp_path, capture_output=True, text=True, timeout=60)
        assert second.returncode != 0
        assert "another process is already polling Telegram on this database" in second.stderr
        assert first.poll() is None, "the first poller goes on"
    finally:
        first.terminate()
        first.wait(20)


async def test_group_commit_keeps_working_in_each_worker(workers: tuple[Database, Database]) -> None:
    """Updates arriving together at a worker share its next transaction, on each worker."""
    policy = Policy(max_messages_per_minute=0)
    for n, db in enumerate(workers):
        commits: list[int] = []
        db.on_commit(functools.partial(commits.append, 1))
        engine = Engine(db, policy=policy)
        chats = [Chat(engine, address=f"w{n}-r{i}") for i in range(20)]
        results = await asyncio.gather(*(chat.send("halo") for chat in chats))
        assert all(r.replies and not r.duplicate for r in results)
        assert len(commits) <= 2, f"20 updates in {len(commits)} transactions"


async def test_what_a_dead_writer_left_is_swept_and_nothing_else(backend: Backend,
                                                                workers: tuple[Database, Database]) -> None:
    a, _b = workers
    store = EvidenceStore.for_database(a, backend.evidence_dir)
    kept = await store.put(b"a whole photo" * 100_000)
    writer = store.blobs.writer()
    await writer.write(b"the first part of a photo whose writer then died" * (CHUNK_BYTES // 40))  # > one chunk
    assert await store.blobs.sweep_incomplete(datetime.now(UTC) - timedelta(hours=1)) == 0, "too recent to tell"
    assert await store.blobs.sweep_incomplete(datetime.now(UTC) + timedelta(seconds=1)) == 1
    assert await store.get(kept.sha256) == b"a whole photo" * 100_000


async def test_retention_runs_in_one_worker_at_a_time(backend: Backend, workers: tuple[Database, Database]) -> None:
    """The clean-up is many short transactions: the job lock is held for its whole run, so a
    second worker's round skips instead of sweeping the same rows (and files) beside it."""
    from flows import retention

    postgres_only(backend)
    a, b = workers
    now = datetime.now(UTC)
    async with b.transaction() as tx:  # something to clean: a record of an old update
        await tx.execute("INSERT INTO processed_updates (channel, update_id, processed_at) VALUES ('test', 'old', ?)",
                         ((now - timedelta(days=30)).isoformat(),))
    async with locks.job_held(a, "retention") as mine:
        assert mine
        assert (await retention.run(b, POLICY, now)).counts == {}, "the other worker skips this round"
    done = await retention.run(b, POLICY, now)
    assert done.counts.get("processed-update records pruned") == 1, "its next round runs"


async def test_flood_windows_of_senders_long_gone_are_pruned(backend: Backend) -> None:
    """PostgreSQL keeps each sender's flood window in a table shared by the workers: without
    the clean-up a row would stay for every number that ever wrote."""
    from flows import retention

    policy = Policy(max_messages_per_minute=5)
    db = await backend.open()
    try:
        chat = Chat(Engine(db, policy=policy), address="once")
        await chat.send("halo")
        if backend.postgres:
            with backend.connect() as inspector:
                assert inspector.execute("SELECT count(*) FROM flood_windows").fetchall() == [(1,)]
        soon = await retention.run(db, policy, chat.now + timedelta(minutes=10))
        assert "flood windows pruned" not in soon.counts, "a recent window stays"
        later = await retention.run(db, policy, chat.now + timedelta(hours=2))
        assert later.counts.get("flood windows pruned", 0) == (1 if backend.postgres else 0)
        if backend.postgres:
            with backend.connect() as inspector:
                assert inspector.execute("SELECT count(*) FROM flood_windows").fetchall() == [(0,)]
        again = await chat.send("halo lagi")
        assert again.replies, "the gate still counts the sender afresh"
    finally:
        await db.close()


async def test_the_orphan_sweep_spares_a_file_another_worker_stored_again(
        backend: Backend, workers: tuple[Database, Database]) -> None:
    """Worker A's sweep saw an unreferenced, old file; worker B receives the same bytes again
    before A deletes it (its step will refer to them). The delete must see the fresh write."""
    a, b = workers
    store_a = EvidenceStore.for_database(a, backend.evidence_dir)
    store_b = EvidenceStore.for_database(b, backend.evidence_dir)
    data = b"a photo sent twice" * 1000
    first = await store_a.put(data)
    store_a.release([first.sha256])
    hour_ago = (datetime.now(UTC) - timedelta(hours=2)).timestamp()
    with backend.connect() as inspector:
        inspector.age_evidence(backend.evidence_dir, first.sha256, hour_ago)
    cutoff = (datetime.now(UTC) - timedelta(hours=1)).timestamp()

    async def nothing_refers(shas: list[str]) -> set[str]:
        await store_b.put(data)  # meanwhile, on the other worker
        return set()

    assert await store_a.sweep(nothing_refers, cutoff) == 0
    assert await store_b.get(first.sha256) == data
