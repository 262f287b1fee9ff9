"""The service as real processes, killed with SIGKILL (issue 25's leases, issue 28's poison
pills): a restart, or the other worker, sends what the dead process was sending within
seconds instead of after the lease time; and work the process died on three times is set
aside, with an alert, while everyone else is served."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp
import pytest

from bench import reply_wait as rw
from bot import health
from bot.delivery import DeliveryWorker, Progress
from flows.engine import Engine
from flows.policy import Policy
from storage import Database, outbox
from storage.outbox import Delivery
from tests import fake_telegram as tg
from tests.backends import Backend
from tests.chat import HAPPY_PATH, Chat
from tests.conftest import fresh_database
from tests.postgres_server import PostgresServer

LEASE = 60.0
"""`DELIVERY_LEASE_SECONDS`' default: before issue 25, the time a dead process's work waited."""
MODERATORS = -1002800000009
TOKEN = "metrics-t0ken"
GROUP = rw.REGIONS[0][2]
"""The focal-point group of Kota Denpasar, where the test reports go."""


@pytest.mark.slow  # the service as processes, killed
@pytest.mark.timeout(180)
async def test_a_reply_being_sent_at_a_sigkill_goes_out_soon_after_the_restart() -> None:
    """Regression: the restarted process was ready in seconds, and the reporter still heard
    nothing until the dead process's lease ran out (60 s)."""
    waited = await rw.restart_sqlite()
    assert waited < LEASE / 2, f"the reply came {waited:.1f} s after the restart"


@pytest.mark.slow  # the service as processes, killed
@pytest.mark.timeout(180)
async def test_two_postgresql_workers_one_killed_while_sending_the_other_takes_over(
        postgres_server: PostgresServer) -> None:
    with fresh_database(postgres_server) as url:
        waited = await rw.restart_postgres(url)
    assert waited < LEASE / 2, f"the reply came {waited:.1f} s after the kill"


async def _killed_three_times(start: Callable[[], subprocess.Popen[bytes]], port: int,
                              tries: Callable[[], int]) -> subprocess.Popen[bytes]:
    """Start the service, wait until it is on the poisoned work (`tries` counts the times it
    was taken up), kill it; three times. Then the fourth process, ready."""
    for _ in range(3):
        before = tries()
        process = start()
        try:
            await _until(lambda before=before: tries() > before, "the poisoned work to be taken up", timeout=60)
        finally:
            process.send_signal(signal.SIGKILL)
            process.wait()
    process = start()
    await rw.ready(port)
    return process


async def _health(port: int) -> dict[str, object]:
    """Readiness's details (issue 29 split health): the work set aside is one of them, and
    does not make the worker unready."""
    async with aiohttp.ClientSession() as http, http.get(
            f"http://127.0.0.1:{port}/readyz", headers={"Authorization": f"Bearer {TOKEN}"}) as answer:
        assert answer.status == 200
        return dict(await answer.json())


async def _until(condition: Callable[[], bool], what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.02)


@pytest.mark.slow  # the service as processes, killed
@pytest.mark.timeout(240)
async def test_a_delivery_the_process_dies_on_three_times_is_set_aside_and_others_are_served() -> None:
    """The group's card never gets an answer: each time, the process is killed while it is
    sending it (an out-of-memory kill during a file's cleaning looks the same). After the
    third death it is not tried again; moderators are told, the health output says so, and
    the next reporter is answered as usual."""
    async with rw.Fakes() as fakes:
        with tempfile.TemporaryDirectory() as name:
            tmp = Path(name)
            await rw.seed(tmp / "lapor.db")
            db = await Database.open(tmp / "lapor.db")
            chat = Chat(Engine(db, policy=Policy()), address="poison-1")
            chat.now = datetime.now(UTC) - timedelta(minutes=10)  # a fresh backlog: the service is healthy
            await chat.run(*HAPPY_PATH, "@send")
            await db.close()
            telegram = fakes.telegram
            telegram.fail("sendMessage", 500, delay=3600, chat_id=GROUP, times=10)
            port = rw.free_port()

            def start() -> subprocess.Popen[bytes]:
                return rw.service(fakes, tmp, port, MODERATOR_CHAT_ID=str(MODERATORS), METRICS_TOKEN=TOKEN,
                                  TELEGRAM_TIMEOUT="120")  # the card hangs until the process dies

            process = await _killed_three_times(start, port, lambda: len(telegram.sent("sendMessage", GROUP)))
            with rw.stopped_at_exit(process):
                await _until(lambda: any("Dikesampingkan" in t for t in telegram.texts(MODERATORS)), "the alert")
                alert = next(t for t in telegram.texts(MODERATORS) if "Dikesampingkan" in t)
                assert "3 kali" in alert and "kartu kasus" in alert and "LN-" in alert
                assert "poison-1" not in alert and "Siti" not in alert, "no identifier in the alert"
                set_aside = (await _health(port))["set_aside"]
                assert isinstance(set_aside, dict) and list(set_aside) == ["delivery:post_case"]
                assert set_aside["delivery:post_case"]["count"] == 1
                attempts = len(telegram.sent("sendMessage", GROUP))
                async with aiohttp.ClientSession() as http:
                    other = rw.TelegramReporter(fakes, http, f"http://127.0.0.1:{port}/telegram/webhook", 7)
                    await other.say("/start")
                    assert telegram.texts(other.chat)[0].startswith("Selamat datang"), "the service serves others"
                await asyncio.sleep(1.0)
                assert len(telegram.sent("sendMessage", GROUP)) == attempts == 3, "never tried a fourth time"
            with (tmp / "bot.log").open() as log:
                text = log.read()
            assert "set aside" in text and "poison-1" not in text


@pytest.mark.slow  # the service as processes, killed
@pytest.mark.timeout(240)
async def test_a_whatsapp_message_the_process_dies_on_three_times_is_set_aside_and_the_reporter_asked_again() -> None:
    """A photo whose handling never ends: each time the process is killed while it is on it.
    After the third death the reporter is told it could not be used and asked to send it
    another way, their report goes on from where it was, moderators are told, and another
    number is answered as usual."""
    async with rw.Fakes() as fakes:
        twilio = fakes.twilio
        with tempfile.TemporaryDirectory() as name:
            tmp = Path(name)
            await rw.seed(tmp / "lapor.db")
            port = rw.free_port()
            url = f"http://127.0.0.1:{port}/twilio/whatsapp"

            def start() -> subprocess.Popen[bytes]:
                return rw.service(fakes, tmp, port, MODERATOR_CHAT_ID=str(MODERATORS), METRICS_TOKEN=TOKEN)

            poison = twilio.host("poison.jpg", rw.photo(1))
            twilio.holds["poison.jpg"] = held = asyncio.Event()

            def tries() -> int:
                return sum(1 for name, _auth in twilio.cdn_requests if name == "poison.jpg")

            first = start()
            try:
                async with aiohttp.ClientSession() as http:
                    await rw.ready(port)
                    person = rw.WhatsAppReporter(fakes, http, url, 3)
                    for line in rw.SCRIPT[:rw.SCRIPT.index("#photo")]:
                        await person.say(line.format(n=3, region="denpasar"))
                    form = person.form("")
                    form.update(NumMedia="1", MediaUrl0=poison, MediaContentType0="image/jpeg")
                    await person.post(form)
                    await _until(lambda: tries() == 1, "the download to start")
            finally:
                first.send_signal(signal.SIGKILL)
                first.wait()
            for _ in range(2):  # killed twice more while on it again
                before = tries()
                process = start()
                try:
                    await _until(lambda before=before: tries() > before, "the download to start again", timeout=60)
                finally:
                    process.send_signal(signal.SIGKILL)
                    process.wait()
            process = start()
            with rw.stopped_at_exit(process):
                await rw.ready(port)
                async with aiohttp.ClientSession() as http:
                    person = rw.WhatsAppReporter(fakes, http, url, 3)
                    await _until(lambda: any("tidak dapat kami gunakan" in m for m in twilio.to(person.number)),
                                 "the reporter to be told")
                    told = twilio.to(person.number)[-1]
                    assert "cara lain" in told and "tetap tersimpan" in told
                    await _until(lambda: any("Dikesampingkan" in t for t in fakes.telegram.texts(MODERATORS)),
                                 "the alert")
                    alert = next(t for t in fakes.telegram.texts(MODERATORS) if "Dikesampingkan" in t)
                    assert "pesan dari pelapor (WhatsApp)" in alert and person.number.lstrip("+") not in alert
                    set_aside = (await _health(port))["set_aside"]
                    assert isinstance(set_aside, dict) and set_aside["inbound"]["count"] == 1
                    assert tries() == 3, "never tried a fourth time"
                    await person.say("#photo")  # sent another way: the report goes on from the evidence step
                    assert "1 bukti sudah masuk" in twilio.to(person.number)[-1]
                    other = rw.WhatsAppReporter(fakes, http, url, 4)
                    await other.say("halo")
                    assert "Selamat datang" in twilio.to(other.number)[0], "the service serves others"
            held.set()
            text = (tmp / "bot.log").read_text()
            assert "set aside" in text and person.number not in text and person.number.lstrip("+") not in text


@pytest.mark.slow  # the service as processes, killed
@pytest.mark.timeout(240)
async def test_a_telegram_file_the_process_dies_on_three_times_is_set_aside_when_telegram_sends_it_again() -> None:
    """Telegram sends an update again until the webhook answers: a photo whose handling never
    ends comes back after every restart. Counted each time it starts; the fourth time it is
    answered without being handled, and the reporter is asked to send it another way."""
    async with rw.Fakes() as fakes:
        telegram = fakes.telegram
        with tempfile.TemporaryDirectory() as name:
            tmp = Path(name)
            await rw.seed(tmp / "lapor.db")
            port = rw.free_port()
            url = f"http://127.0.0.1:{port}/telegram/webhook"

            def start() -> subprocess.Popen[bytes]:
                return rw.service(fakes, tmp, port, MODERATOR_CHAT_ID=str(MODERATORS), METRICS_TOKEN=TOKEN)

            async with aiohttp.ClientSession() as http:
                person = rw.TelegramReporter(fakes, http, url, 5)
                photo = tg.photo(telegram, person.chat, "poison.jpg", rw.photo(2))
                photo["update_id"] = 900_000
                telegram.file_holds["files/poison.jpg"] = held = asyncio.Event()

                def tries() -> int:
                    return telegram.file_requests.count("files/poison.jpg")

                posting: asyncio.Task[None] | None = None
                for attempt in range(3):
                    process = start()
                    try:
                        await rw.ready(port)
                        if attempt == 0:
                            for line in rw.SCRIPT[:rw.SCRIPT.index("#photo")]:
                                await person.say(line.format(n=5, region="denpasar"))
                        posting = asyncio.create_task(person.post(dict(photo)))  # Telegram's (re)delivery
                        await _until(lambda attempt=attempt: tries() > attempt, "the download to start")
                    finally:
                        process.send_signal(signal.SIGKILL)
                        process.wait()
                    if posting is not None:
                        posting.cancel()
                process = start()
                with rw.stopped_at_exit(process):
                    await rw.ready(port)
                    await person.post(dict(photo))  # the fourth delivery of the same update
                    await _until(lambda: any("tidak dapat kami gunakan" in t for t in telegram.texts(person.chat)),
                                 "the reporter to be told")
                    assert tries() == 3, "not downloaded a fourth time"
                    await _until(lambda: any("Dikesampingkan" in t for t in telegram.texts(MODERATORS)), "the alert")
                    alert = next(t for t in telegram.texts(MODERATORS) if "Dikesampingkan" in t)
                    assert "pesan dari pelapor (Telegram)" in alert and str(person.chat) not in alert
                    set_aside = (await _health(port))["set_aside"]
                    assert isinstance(set_aside, dict) and set_aside["inbound"]["count"] == 1
                    await person.post(dict(photo))  # once more: now a processed update, nothing happens
                    await person.say("#photo")  # sent another way: the report goes on from the evidence step
                    assert "1 bukti sudah masuk" in telegram.texts(person.chat)[-1]
                    assert sum("tidak dapat kami gunakan" in t for t in telegram.texts(person.chat)) == 1
                held.set()


# --- the same in one process, on both backends: a worker that stops is a dead worker -------------

class Recorder:
    def __init__(self) -> None:
        self.sent: list[tuple[str, int]] = []
        self.company: list[int] = []
        """How many other deliveries were in flight as each one was sent."""
        self.in_flight = 0

    async def deliver(self, delivery: Delivery, progress: Progress) -> None:
        self.in_flight += 1
        await asyncio.sleep(0.005)
        self.company.append(self.in_flight - 1)
        self.in_flight -= 1
        self.sent.append((delivery.address, int(delivery.payload["n"])))


async def test_a_dead_workers_leases_are_taken_over_at_once_and_twice_orphaned_work_is_sent_alone(
        backend: Backend) -> None:
    db = await backend.open()
    now = datetime.now(UTC)
    try:
        async with db.transaction() as tx:
            for n in range(3):
                await outbox.enqueue(tx, "test", "chat-1", "send", {"n": n}, now.isoformat())
            for n in range(4):
                await outbox.enqueue(tx, "test", f"chat-{n + 2}", "send", {"n": 0}, now.isoformat())
        held: list[Delivery] = []
        for death in range(2):  # a worker leases two deliveries, then dies: no heartbeat any more
            at = now + timedelta(seconds=5 * death)
            dead = DeliveryWorker(db, Policy(), {"test": Recorder()}, worker_id=f"dead-{death}", clock=lambda at=at: at)
            reclaimed = await dead.register()
            assert reclaimed.freed == (2 if death else 0)
            async with db.transaction() as tx:
                held = await outbox.lease_due(tx, at.isoformat(), (at + timedelta(seconds=60)).isoformat(), 2,
                                              ["test"], worker=f"dead-{death}")
            assert [d.crashes for d in held] == [death, death], "the same two, taken up again after one death"
        channel = Recorder()
        later = now + timedelta(seconds=10)  # within the lease, past the last heartbeat
        alive = DeliveryWorker(db, Policy(), {"test": channel}, worker_id="alive", clock=lambda: later)
        reclaimed = await alive.register()
        assert reclaimed.freed == 2 and not reclaimed.deliveries
        with backend.connect() as inspector:
            assert inspector.execute("SELECT count(*) FROM outbox WHERE crashes = 2 AND leased_by IS NULL"
                                     ).fetchone()[0] == 2
        for _ in range(20):
            await alive.run_once()
            await alive.settle()
        assert sorted(channel.sent) == sorted([("chat-1", 0), ("chat-1", 1), ("chat-1", 2), ("chat-2", 0),
                                               ("chat-3", 0), ("chat-4", 0), ("chat-5", 0)])
        assert [n for address, n in channel.sent if address == "chat-1"] == [0, 1, 2]
        assert channel.sent[:2] == [(d.address, int(d.payload["n"])) for d in held], "what was orphaned twice went first"
        assert channel.company[:2] == [0, 0], "each alone"
        assert max(channel.company[2:]) > 0, "then the rest as usual, side by side"
    finally:
        await db.close()


async def _three_deaths(db: Database, policy: Policy, channel: str, address: str, payload: dict[str, object],
                        now: datetime) -> None:
    """A delivery leased by three workers in turn, each dying with it; a fourth starts."""
    async with db.transaction() as tx:
        await outbox.enqueue(tx, channel, address, "send", payload, now.isoformat(), reply=True)
    for death in range(3):
        at = now + timedelta(seconds=10 * death)
        worker = DeliveryWorker(db, policy, {channel: Recorder()}, worker_id=f"w{death}", clock=lambda at=at: at)
        await worker.register()
        async with db.transaction() as tx:
            suspects = death >= outbox.ALONE_AFTER
            taken = await outbox.lease_due(tx, at.isoformat(), (at + timedelta(seconds=60)).isoformat(), 1,
                                           [channel], worker=f"w{death}", suspects=suspects)
        assert len(taken) == 1 and taken[0].crashes == death  # and then the process dies
    last = DeliveryWorker(db, policy, {channel: Recorder()}, worker_id="w3", clock=lambda: now + timedelta(seconds=30))
    reclaimed = await last.register()
    assert [d.crashes for d in reclaimed.deliveries] == [3]


async def test_a_delivery_in_flight_at_three_deaths_is_set_aside_with_an_alert_and_a_word_to_the_reporter(
        backend: Backend) -> None:
    db = await backend.open()
    policy = Policy(moderator_chat_id=MODERATORS)
    now = datetime.now(UTC)
    try:
        await _three_deaths(db, policy, "whatsapp", "+6281200000077", {"replies": [], "locale": "id", "n": 1}, now)
        with backend.connect() as inspector:
            rows = inspector.execute("SELECT address, status, payload, priority FROM outbox ORDER BY id").fetchall()
            kinds = inspector.execute("SELECT kind, channel, crashes FROM set_aside").fetchall()
        assert rows[0][1] == "failed", "not tried again"
        alert = next(payload for address, _status, payload, _p in rows if address == str(MODERATORS))
        assert "Dikesampingkan" in alert and "pesan ke pelapor" in alert and "6281200000077" not in alert
        notice = next(payload for address, status, payload, _p in rows[1:] if address == "+6281200000077")
        assert "tidak dapat dikirim" in notice, "the reporter is told, and asked to send their last answer again"
        assert kinds == [("delivery:send", "whatsapp", 3)]
        summary = await health.set_aside(db)
        last = summary["delivery:send"]["last"]
        assert health.lines(summary) == [f"set aside (last 7 days): 1 delivery:send, the last at {last}"]
    finally:
        await db.close()


async def test_a_staff_answer_set_aside_is_named_as_one_and_the_group_gets_no_word_meant_for_a_reporter(
        backend: Backend) -> None:
    """Regression (attacker's review): a staff answer carries a locale, so it was taken for a
    message to a reporter: the alert said so and the group got the reporter's apology."""
    db = await backend.open()
    policy = Policy(moderator_chat_id=MODERATORS)
    try:
        await _three_deaths(db, policy, "telegram", str(GROUP), {"staff": {"text": "3 kasus"}, "locale": "id",
                                                                 "timezone": "Asia/Jakarta"}, datetime.now(UTC))
        with backend.connect() as inspector:
            rows = inspector.execute("SELECT address, payload FROM outbox ORDER BY id").fetchall()
        alert = next(payload for address, payload in rows if address == str(MODERATORS))
        assert "pesan ke pelapor" not in alert and "Dikesampingkan" in alert
        assert [address for address, _payload in rows] == [str(GROUP), str(MODERATORS)], "no word to the group"
    finally:
        await db.close()
