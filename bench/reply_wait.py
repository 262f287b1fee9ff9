"""A reporter's wait for the bot's answer while other work is slow (issue 25).

`python -m bot serve` runs as a separate process with both channels on, against the fake
Bot API and the fake Twilio (its media host behind a redirect, over https), on a SQLite
file. Three measurements:

- **load**: N reporters (default 30) on one channel, each filing two complete reports with a
  photo, one after the other, into 3 regions whose focal-point groups take at most 20
  messages a minute (`TELEGRAM_GROUP_MAX_PER_MINUTE=20`). They start within the first 10 s
  and take 0.5 to 2 s to answer each question, so cases are filed all along while others
  are mid-report. Each case costs its group a card, its photo and an edit: the groups'
  posts queue for minutes. Wait: from the webhook POST to the arrival of the bot's answer at
  the fake API (news of a forwarded case, which can come in between, is not an answer).
  Prints p50, p95 and max per channel.
- **restart**: the process is killed (SIGKILL) while it is sending a Telegram reply; wait
  from the new process being ready (`/healthz` answers) to the reply's arrival. With
  `--postgres`: two workers on one throwaway PostgreSQL, the one sending is killed and not
  restarted; wait from the kill.
- **retry-after**: a WhatsApp number's first reply gets a 429 with `Retry-After: 30`; the
  person writes again every 2 s; counts the messages sent to that number before the 30 s
  are over.

Usage: python bench/reply_wait.py [--reporters 30] [--only load,restart,retry-after] [--postgres]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import random
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Self

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import aiohttp  # noqa: E402

from flows.policy import Policy  # noqa: E402
from flows.staff import route_admin  # noqa: E402
from storage import Database  # noqa: E402
from tests import fake_telegram as tg  # noqa: E402
from tests import fake_twilio as tw  # noqa: E402
from tests.fake_telegram import FakeTelegram  # noqa: E402
from tests.fake_twilio import FakeTwilio, sign  # noqa: E402
from tests.test_focal_points import jpeg_with_gps  # noqa: E402

PUBLIC = "https://lapor.example.org"
SECRET = "reply-wait-secret"
REGIONS = (("kota denpasar", "denpasar", -1009100000001), ("kab badung", "badung", -1009100000002),
           ("kab tabanan", "tabanan", -1009100000003))
SCRIPT = ["halo", "1", "{region}", "Pemerintah daerah", "8", "SMPN {n} Denpasar", "Pegawai {n}", "Kepala Sekolah",
          "1", "2", "19/11/2024", "2", "Ruang guru {n}", "1",
          "Kepala sekolah {n} mengunggah ajakan memilih paslon 2 di grup WhatsApp guru.", "1", "#photo",
          "1", "1", "1"]
BASE_CHAT = 700_000_000
THINK = (0.5, 2.0)
"""Seconds a reporter takes to answer the next question (uniform, seeded per reporter)."""
START_WITHIN = 10.0
REPORTS = 2
NEWS = " telah diteruskan ke petugas "
"""In the news of a forwarded case (Indonesian), which is not the answer to a step."""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Arrivals:
    """When each message reached a chat (a Telegram chat id or a WhatsApp `To`)."""

    def __init__(self) -> None:
        self.times: dict[str, list[float]] = {}
        self.events: dict[str, asyncio.Event] = {}

    def add(self, to: str, text: str) -> None:
        if NEWS in text:
            return
        self.times.setdefault(to, []).append(time.perf_counter())
        self.events.setdefault(to, asyncio.Event()).set()

    def count(self, to: str) -> int:
        return len(self.times.get(to, []))

    async def after(self, to: str, seen: int, timeout: float = 180.0) -> float:
        """The arrival time of message number `seen` (0-based) to `to`, waiting for it."""
        event = self.events.setdefault(to, asyncio.Event())
        deadline = time.monotonic() + timeout
        while self.count(to) <= seen:
            event.clear()
            await asyncio.wait_for(event.wait(), max(0.01, deadline - time.monotonic()))
        return self.times[to][seen]


class Fakes:
    def __init__(self) -> None:
        self.telegram = FakeTelegram()
        self.twilio = FakeTwilio()
        self.arrivals = Arrivals()
        self.cards: list[float] = []

    async def __aenter__(self) -> Self:
        await self.telegram.start()
        await self.twilio.start()
        arrivals = self.arrivals
        send, edit = self.telegram._m_sendMessage, self.telegram._m_editMessageText

        def on_send(params: dict[str, Any]) -> dict[str, Any]:
            result = send(params)
            arrivals.add(str(params["chat_id"]), str(params.get("text", "")))
            if str(params.get("text", "")).startswith("<b>Laporan "):
                self.cards.append(time.perf_counter())
            return result

        def on_edit(params: dict[str, Any]) -> dict[str, Any]:
            result = edit(params)
            arrivals.add(str(params["chat_id"]), str(params.get("text", "")))
            return result

        self.telegram._m_sendMessage = on_send  # type: ignore[method-assign]
        self.telegram._m_editMessageText = on_edit  # type: ignore[method-assign]
        original = self.twilio.messages

        class Recorded(list[dict[str, str]]):
            def append(self, message: dict[str, str]) -> None:
                super().append(message)
                arrivals.add(message.get("To", ""), message.get("Body", ""))

        self.twilio.messages = Recorded(original)
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.telegram.stop()
        await self.twilio.stop()


def service(fakes: Fakes, tmp: Path, port: int, database_url: str | None = None,
            log_name: str = "bot.log", **extra: str) -> subprocess.Popen[bytes]:
    """`python -m bot serve` with both channels, production settings except the fakes (and
    `extra` settings, by their environment names)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TELEGRAM_", "TWILIO_", "DATABASE_", "DELIVERY_"))}
    twilio = fakes.twilio
    env.update(
        DATABASE_PATH=str(tmp / "lapor.db"), EVIDENCE_DIR=str(tmp / "evidence"), PUBLIC_BASE_URL=PUBLIC,
        HOST="127.0.0.1", PORT=str(port), TELEGRAM_BOT_TOKEN=tg.TOKEN, TELEGRAM_BASE_URL=fakes.telegram.api_url,
        TELEGRAM_BASE_FILE_URL=fakes.telegram.file_url, TELEGRAM_WEBHOOK_SECRET=SECRET,
        TELEGRAM_GROUP_MAX_PER_MINUTE="20", TWILIO_ACCOUNT_SID=tw.ACCOUNT_SID, TWILIO_AUTH_TOKEN=tw.AUTH_TOKEN,
        TWILIO_WHATSAPP_FROM=tw.BOT_NUMBER, TWILIO_API_BASE_URL=twilio.base, TWILIO_MEDIA_AUTH_HOSTS="localhost",
        TWILIO_MEDIA_CA_FILE=str(twilio.ca_file), TWILIO_MEDIA_ALLOW_NETWORKS="127.0.0.1/32,::1/128",
        MAX_MESSAGES_PER_MINUTE="0", MAX_CASES_PER_DAY="0", LOG_LEVEL="WARNING", PYTHONPATH=str(ROOT))
    if database_url:
        env["DATABASE_URL"] = database_url
    env.update(extra)
    return subprocess.Popen([sys.executable, "-m", "bot", "serve"], cwd=tmp, env=env,
                            stdout=subprocess.DEVNULL, stderr=(tmp / log_name).open("ab"))


async def ready(port: int, timeout: float = 60.0) -> float:
    """When `/healthz` first answers 200."""
    deadline = time.monotonic() + timeout
    async with aiohttp.ClientSession() as http:
        while time.monotonic() < deadline:
            with contextlib.suppress(aiohttp.ClientError):
                async with http.get(f"http://127.0.0.1:{port}/healthz") as response:
                    if response.status == 200:
                        return time.perf_counter()
            await asyncio.sleep(0.02)
    raise TimeoutError(f"the service on port {port} did not come up")


async def seed(target: str | Path) -> None:
    db = await Database.open(target)
    try:
        async with db.transaction() as tx:
            for name, _word, chat in REGIONS:
                await route_admin.add(tx, Policy(), name, chat, by="bench", at="2024-11-20T00:00:00+00:00")
    finally:
        await db.close()


@contextlib.contextmanager
def stopped_at_exit(*processes: subprocess.Popen[bytes]) -> Iterator[None]:
    try:
        yield
    finally:
        for process in processes:
            if process.poll() is None:
                process.terminate()
        for process in processes:
            try:
                process.wait(15)
            except subprocess.TimeoutExpired:
                process.kill()


def percentiles(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)
    return {"p50": statistics.median(ordered), "p95": ordered[int(0.95 * (len(ordered) - 1))], "max": ordered[-1]}


# --- the two kinds of reporter -------------------------------------------------------------

class TelegramReporter:
    def __init__(self, fakes: Fakes, http: aiohttp.ClientSession, url: str, n: int) -> None:
        self.fakes, self.http, self.url, self.n = fakes, http, url, n
        self.chat = BASE_CHAT + n
        self.photos = 0

    async def post(self, update: dict[str, Any]) -> None:
        update.setdefault("update_id", self.fakes.telegram.next_update_id)
        self.fakes.telegram.next_update_id += 1
        for _ in range(100):  # as Telegram does: the same update again until it gets a 200
            with contextlib.suppress(aiohttp.ClientError):
                async with self.http.post(self.url, json=update,
                                          headers={"X-Telegram-Bot-Api-Secret-Token": SECRET}) as answer:
                    if answer.status == 200:
                        return
            await asyncio.sleep(0.2)

    async def say(self, line: str) -> float:
        if line == "#photo":
            self.photos += 1
            update = tg.photo(self.fakes.telegram, self.chat, f"p{self.n}-{self.photos}.jpg",
                              photo(self.n * 100 + self.photos))
        else:
            update = tg.text(self.chat, line)
        seen = self.fakes.arrivals.count(str(self.chat))
        started = time.perf_counter()
        await self.post(update)
        return await self.fakes.arrivals.after(str(self.chat), seen) - started


class WhatsAppReporter:
    sids = iter(range(10**9))

    def __init__(self, fakes: Fakes, http: aiohttp.ClientSession, url: str, n: int) -> None:
        self.fakes, self.http, self.url, self.n = fakes, http, url, n
        self.number = f"+62813{n:07d}"
        self.to = f"whatsapp:{self.number}"
        self.photos = 0

    async def post(self, form: dict[str, str]) -> None:
        async with self.http.post(self.url, data=form, headers={"X-Twilio-Signature": sign(
                PUBLIC + "/twilio/whatsapp", form)}) as answer:
            assert answer.status == 200, answer.status

    def form(self, line: str) -> dict[str, str]:
        form = {"MessageSid": f"SM{next(self.sids):032d}", "From": self.to, "To": tw.BOT_NUMBER, "Body": line,
                "NumMedia": "0"}
        if line == "#photo":
            self.photos += 1
            url = self.fakes.twilio.host(f"w{self.n}-{self.photos}.jpg", photo(self.n * 100 + self.photos))
            form.update(Body="", NumMedia="1", MediaUrl0=url, MediaContentType0="image/jpeg")
        return form

    async def say(self, line: str) -> float:
        seen = self.fakes.arrivals.count(self.to)
        started = time.perf_counter()
        await self.post(self.form(line))
        return await self.fakes.arrivals.after(self.to, seen) - started


def photo(n: int) -> bytes:
    return jpeg_with_gps(n % 250) + n.to_bytes(4, "big") * 50_000  # 200 kB, a different file for each reporter


# --- the measurements -----------------------------------------------------------------------

async def load(channel: str, reporters: int) -> dict[str, Any]:
    async with Fakes() as fakes:
        with tempfile.TemporaryDirectory(prefix="reply-wait-") as name:
            tmp = Path(name)
            await seed(tmp / "lapor.db")
            port = free_port()
            process = service(fakes, tmp, port)
            with stopped_at_exit(process):
                await ready(port)
                waits: list[float] = []
                async with aiohttp.ClientSession() as http:
                    path = "/telegram/webhook" if channel == "telegram" else "/twilio/whatsapp"
                    kind = TelegramReporter if channel == "telegram" else WhatsAppReporter
                    people = [kind(fakes, http, f"http://127.0.0.1:{port}{path}", n) for n in range(reporters)]

                    async def report(person: TelegramReporter | WhatsAppReporter) -> None:
                        rng = random.Random(person.n)
                        await asyncio.sleep(rng.uniform(0, START_WITHIN))
                        for round_ in range(REPORTS):
                            region = REGIONS[(person.n + round_) % len(REGIONS)][1]
                            for line in SCRIPT:
                                waits.append(await person.say(line.format(n=person.n, region=region)))
                                await asyncio.sleep(rng.uniform(*THINK))

                    began = time.perf_counter()
                    await asyncio.gather(*(report(p) for p in people))
                    seconds = time.perf_counter() - began
                    cards_during = sum(1 for t in fakes.cards if t <= began + seconds)
    return {"channel": channel, "replies": len(waits), "seconds": seconds, "cards_during": cards_during,
            **percentiles(waits)}


async def restart_sqlite() -> float:
    async with Fakes() as fakes:
        with tempfile.TemporaryDirectory(prefix="reply-wait-") as name:
            tmp = Path(name)
            port = free_port()
            first = service(fakes, tmp, port)
            with stopped_at_exit(first):
                await ready(port)
                async with aiohttp.ClientSession() as http:
                    person = TelegramReporter(fakes, http, f"http://127.0.0.1:{port}/telegram/webhook", 1)
                    return await killed_while_sending(fakes, person, first, lambda: service(fakes, tmp, port), port)


async def restart_postgres(database_url: str | None = None) -> float:
    """Two workers on one PostgreSQL database (`database_url`, else a throwaway server)."""
    from tests.postgres_server import running_server

    async with Fakes() as fakes:
        with contextlib.ExitStack() as stack:
            url = database_url or stack.enter_context(running_server()).url()
            tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="reply-wait-")))
            ports = [free_port(), free_port()]
            workers = [service(fakes, tmp, p, url, f"worker-{i}.log") for i, p in enumerate(ports)]
            with stopped_at_exit(*workers):
                for p in ports:
                    await ready(p)
                async with aiohttp.ClientSession() as http:
                    person = TelegramReporter(fakes, http, f"http://127.0.0.1:{ports[0]}/telegram/webhook", 1)
                    return await killed_while_sending(fakes, person, workers[0], None, ports[0])


async def killed_while_sending(fakes: Fakes, person: TelegramReporter, process: subprocess.Popen[bytes],
                               restart: Any, port: int) -> float:
    """The reply to /start hangs at the fake until the process is killed; then the time until
    it arrives: from the restarted process being ready, or from the kill (no restart)."""
    fake = fakes.telegram
    chat = person.chat
    fake.fail("sendMessage", 500, delay=3600, chat_id=chat)
    update = tg.text(chat, "/start")
    update["update_id"] = fake.next_update_id
    fake.next_update_id += 1
    calls = len(fake.calls)
    posting = asyncio.create_task(person.post(dict(update)))
    deadline = time.monotonic() + 30
    while not any(c.method == "sendMessage" and str(c.params.get("chat_id")) == str(chat) for c in fake.calls[calls:]):
        if time.monotonic() > deadline:
            raise TimeoutError("the reply was never sent")
        await asyncio.sleep(0.01)
    process.send_signal(signal.SIGKILL)
    process.wait()
    killed = time.perf_counter()
    seen = fakes.arrivals.count(str(chat))
    posting.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await posting
    if restart is not None:
        replacement = restart()
        with stopped_at_exit(replacement):
            since = await ready(port)
            await person.post(dict(update))  # Telegram sends the unanswered update again
            return await fakes.arrivals.after(str(chat), seen, timeout=120) - since
    return await fakes.arrivals.after(str(chat), seen, timeout=120) - killed


async def retry_after(hold: int = 30, every: float = 2.0) -> dict[str, Any]:
    async with Fakes() as fakes:
        with tempfile.TemporaryDirectory(prefix="reply-wait-") as name:
            tmp = Path(name)
            port = free_port()
            process = service(fakes, tmp, port)
            with stopped_at_exit(process):
                await ready(port)
                async with aiohttp.ClientSession() as http:
                    person = WhatsAppReporter(fakes, http, f"http://127.0.0.1:{port}/twilio/whatsapp", 9)
                    fakes.twilio.retry_after_to[person.to] = [hold]
                    await person.post(person.form("halo"))
                    deadline = time.monotonic() + 30
                    while not fakes.twilio.refused_to.get(person.to):
                        if time.monotonic() > deadline:
                            raise TimeoutError("the first reply was never tried")
                        await asyncio.sleep(0.01)
                    refused = time.perf_counter()
                    written = 0
                    for line in ["1", "denpasar", "Pemerintah daerah", "8", "SMPN 9", "Pegawai 9", "-", "1", "2",
                                 "19/11/2024", "2", "Ruang guru", "1", "halo", "halo", "halo", "halo"]:
                        if time.perf_counter() - refused > hold + every:
                            break
                        await person.post(person.form(line))
                        written += 1
                        await asyncio.sleep(every)
                    first = await fakes.arrivals.after(person.to, 0, timeout=60)
                    early = sum(1 for t in fakes.arrivals.times.get(person.to, []) if t < refused + hold)
    return {"hold": hold, "written": written, "early": early, "first_after": first - refused}


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--reporters", type=int, default=30)
    parser.add_argument("--only", default="load,restart,retry-after")
    parser.add_argument("--postgres", action="store_true", help="also two workers on PostgreSQL, one killed")
    args = parser.parse_args()
    parts = set(args.only.split(","))
    if "load" in parts:
        for channel in ("whatsapp", "telegram"):
            r = await load(channel, args.reporters)
            print(f"load, {channel}: {args.reporters} reporters, {r['replies']} replies in {r['seconds']:.0f} s "
                  f"({r['cards_during']} of {REPORTS * args.reporters} cards in the groups by then); "
                  f"reply wait p50 {r['p50']:.3f} s, p95 {r['p95']:.3f} s, max {r['max']:.3f} s", flush=True)
    if "restart" in parts:
        waited = await restart_sqlite()
        print(f"restart (SQLite, SIGKILL while sending a reply): the reply arrived {max(waited, 0.0):.2f} s after "
              "the new process was ready" + (" (before /healthz first answered)" if waited <= 0 else ""), flush=True)
        if args.postgres:
            print(f"restart (PostgreSQL, 2 workers, the sending one killed): the reply arrived "
                  f"{await restart_postgres():.2f} s after the kill", flush=True)
    if "retry-after" in parts:
        r = await retry_after()
        print(f"retry-after {r['hold']} s on a number that wrote {r['written']} times meanwhile: "
              f"{r['early']} sends before the {r['hold']} s were over; the held reply went "
              f"{r['first_after']:.1f} s after the 429", flush=True)


if __name__ == "__main__":
    asyncio.run(main())
