"""Crash test: the bot runs as a real process (`python -m bot run`) against the local fake
Bot API while N simulated reporters (default 200) file reports; it is killed with SIGKILL
K times (default 5) at random moments and restarted each time.

With `--workers 2 --database postgresql` the service is N `python -m bot serve` workers on
one throwaway PostgreSQL, behind one webhook URL (a small round-robin proxy, the load
balancer), fed the way Telegram feeds a webhook: one update of a chat at a time, the
same update again until it gets a 200. Each kill hits one of the workers at random.

Then it checks and prints:

- every conversation continued where it stood: each reporter finished the script and
  their case holds exactly the answers they gave, in order;
- every submitted case exists exactly once;
- every case reached its focal-point group at least once, with duplicates at most 1%.

Reporters answer only after the bot has asked (a closed loop, as people do); a question
delivered twice after a crash is recognised and answered once.

Usage: python bench/chaos.py [--reporters 200] [--kills 5] [--seed 1] [--workers 1]
                             [--database sqlite|postgresql]
The test suite runs shorter forms (tests/test_chaos.py).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from collections import deque
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from flows.policy import Policy  # noqa: E402
from flows.staff import route_admin  # noqa: E402
from storage import Database  # noqa: E402
from storage.sealing import KeySource  # noqa: E402
from tests import fake_telegram as tg  # noqa: E402
from tests.fake_telegram import FakeTelegram  # noqa: E402

GROUP = -1009000000001
BASE_CHAT = 800_000_000
SCRIPT = [
    "/start", "1", "denpasar", "1", "8", "SMPN {n} Denpasar", "Pegawai {n}", "1", "1", "2",
    "19/11/2024", "1", "Ruang guru {n}", "1",
    "Kepala sekolah {n} mengunggah ajakan memilih paslon 2 di grup WhatsApp guru.", "1", "1", "2",
    "1", "1",
]


SECRET = "chaos-secret"


@dataclass
class Result:
    reporters: int
    kills: int
    seconds: float
    finished: int
    cases: int
    distinct_cases: int
    wrong_answers: int
    cards: int
    distinct_cards: int
    undelivered: int
    duplicate_questions: int
    problems: list[str] = field(default_factory=list)

    @property
    def card_duplicates(self) -> float:
        return (self.cards - self.distinct_cards) / max(self.distinct_cards, 1)

    def ok(self) -> bool:
        return not self.problems

    setup: str = "1 worker, sqlite"

    def report(self) -> str:
        lines = [
            f"{self.reporters} reporters, {self.kills} SIGKILLs, {self.setup}, {self.seconds:.1f} s",
            f"conversations finished:       {self.finished}/{self.reporters}",
            f"cases stored:                 {self.cases} ({self.distinct_cases} distinct reporters)",
            f"cases with a wrong answer:    {self.wrong_answers}",
            f"cases reaching the group:     {self.distinct_cards}/{self.cases} ({self.undelivered} never)",
            f"duplicate cards:              {self.cards - self.distinct_cards} ({self.card_duplicates:.2%})",
            f"questions delivered twice:    {self.duplicate_questions}",
        ]
        lines.append("OK" if self.ok() else "FAILED: " + "; ".join(self.problems))
        return "\n".join(lines)


class Driver:
    """Feeds each chat its next line when a new question arrives."""

    def __init__(self, fake: FakeTelegram, reporters: int, push: Callable[[dict[str, Any]], object] | None = None) -> None:
        self.fake = fake
        self.push = push or fake.push
        self.position = {BASE_CHAT + n: 0 for n in range(reporters)}
        self.last_question: dict[int, str] = {}
        self.duplicates = 0
        self.finished: set[int] = set()
        self.all_done = asyncio.Event()
        original = fake._m_sendMessage

        def on_send(params: dict[str, Any]) -> dict[str, Any]:
            result = original(params)
            chat = int(params["chat_id"])
            if chat in self.position:
                self._seen(chat, str(params.get("text", "")), "reply_markup" in params)
            return result

        fake._m_sendMessage = on_send  # type: ignore[method-assign]

    def _seen(self, chat: int, text: str, question: bool) -> None:
        step = self.position[chat]
        if step >= len(SCRIPT):
            if "LN-" in text and chat not in self.finished:
                self.finished.add(chat)
                if len(self.finished) == len(self.position):
                    self.all_done.set()
            return
        if not question:
            return
        if self.last_question.get(chat) == text:
            self.duplicates += 1  # the same question again (sent twice around a crash)
            return
        self.last_question[chat] = text
        self.send_next(chat)

    def send_next(self, chat: int) -> None:
        step = self.position[chat]
        self.position[chat] = step + 1
        self.push(tg.text(chat, SCRIPT[step].format(n=chat - BASE_CHAT)))

    def start(self) -> None:
        for chat in self.position:
            self.send_next(chat)


def bot_process(fake: FakeTelegram, tmp: Path, database_url: str | None = None, port: int | None = None,
                log_name: str = "bot.log") -> subprocess.Popen[bytes]:
    """`python -m bot run` (polling), or with a `port` one `serve` worker."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TELEGRAM_", "TWILIO_", "DATABASE_"))}
    env.update(
        TELEGRAM_BOT_TOKEN=tg.TOKEN, TELEGRAM_BASE_URL=fake.api_url, TELEGRAM_BASE_FILE_URL=fake.file_url,
        DATABASE_PATH=str(tmp / "lapor.db"), EVIDENCE_DIR=str(tmp / "evidence"), TELEGRAM_MAX_RATE="0",
        TELEGRAM_GROUP_MAX_PER_MINUTE="0",
        MAX_MESSAGES_PER_MINUTE="0", MAX_CASES_PER_DAY="0", DELIVERY_POLL_SECONDS="0.2",
        DELIVERY_LEASE_SECONDS="3", DELIVERY_BACKOFF_SECONDS="0.2", LOG_LEVEL="ERROR", PYTHONPATH=str(ROOT),
        ALLOW_EPHEMERAL_DATABASE="1")  # a throwaway folder, maybe on a tmpfs
    if database_url:
        env["DATABASE_URL"] = database_url
    command = "run"
    if port is not None:
        command = "serve"
        env.update(HOST="127.0.0.1", PORT=str(port), PUBLIC_BASE_URL="https://lapor.example.org",
                   TELEGRAM_WEBHOOK_SECRET=SECRET)
    return subprocess.Popen([sys.executable, "-m", "bot", command], cwd=tmp, env=env,
                            stdout=subprocess.DEVNULL, stderr=(tmp / log_name).open("ab"))


class RoundRobin:
    """The load balancer in front of the workers: each request to the next worker; one
    that refuses the connection (down) is skipped, as a balancer's health check would."""

    def __init__(self, ports: list[int]) -> None:
        self.ports = ports
        self.turn = 0
        self.url = ""
        self._runner: web.AppRunner | None = None
        self._http: aiohttp.ClientSession | None = None

    async def start(self) -> None:
        self._http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60))
        app = web.Application(client_max_size=1024 * 1024)
        app.router.add_route("*", "/{path:.*}", self._forward)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.url = f"http://127.0.0.1:{site._server.sockets[0].getsockname()[1]}"  # type: ignore[union-attr]

    async def stop(self) -> None:
        if self._http:
            await self._http.close()
        if self._runner:
            await self._runner.cleanup()

    async def _forward(self, request: web.Request) -> web.Response:
        assert self._http is not None
        body = await request.read()
        headers = {k: v for k, v in request.headers.items() if k.lower() in ("content-type",
                                                                           "x-telegram-bot-api-secret-token")}
        for _ in range(len(self.ports)):
            port = self.ports[self.turn % len(self.ports)]
            self.turn += 1
            try:
                async with self._http.request(request.method, f"http://127.0.0.1:{port}{request.path_qs}",
                                              data=body, headers=headers) as answer:
                    return web.Response(status=answer.status, body=await answer.read())
            except aiohttp.ClientConnectorError:
                continue  # that worker is down: the next one
            except (TimeoutError, aiohttp.ClientError):
                return web.Response(status=502)  # died with the request: Telegram will send it again
        return web.Response(status=503)


class WebhookFeed:
    """Telegram's side of a webhook: each chat's updates one at a time, in order, each
    sent again (the same update id) until the webhook answers 200."""

    def __init__(self, fake: FakeTelegram, url: str) -> None:
        self.fake = fake
        self.url = url
        self.queues: dict[int, deque[dict[str, Any]]] = {}
        self.tasks: dict[int, asyncio.Task[None]] = {}
        self.retries = 0
        self._http: aiohttp.ClientSession | None = None

    async def start(self) -> None:
        self._http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60))

    async def stop(self) -> None:
        for task in self.tasks.values():
            task.cancel()
        for task in self.tasks.values():
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self._http:
            await self._http.close()

    def push(self, update: dict[str, Any]) -> int:
        update["update_id"] = self.fake.next_update_id
        self.fake.next_update_id += 1
        chat = int(update["message"]["chat"]["id"]) if "message" in update else 0
        self.queues.setdefault(chat, deque()).append(update)
        if chat not in self.tasks or self.tasks[chat].done():
            self.tasks[chat] = asyncio.create_task(self._feed(chat))
        return int(update["update_id"])

    async def _feed(self, chat: int) -> None:
        assert self._http is not None
        queue = self.queues[chat]
        while queue:
            try:
                async with self._http.post(self.url, json=queue[0], headers={
                        "X-Telegram-Bot-Api-Secret-Token": SECRET}) as answer:
                    ok = answer.status == 200
            except (TimeoutError, aiohttp.ClientError):
                ok = False
            if ok:
                queue.popleft()
            else:
                self.retries += 1
                await asyncio.sleep(0.2)


async def _healthy(port: int, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    async with aiohttp.ClientSession() as http:
        while time.monotonic() < deadline:
            try:
                async with http.get(f"http://127.0.0.1:{port}/healthz") as answer:
                    if answer.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.1)
    raise TimeoutError(f"worker on port {port} did not come up")


@contextlib.asynccontextmanager
async def _database(kind: str, database_url: str | None) -> AsyncIterator[str | None]:
    """The URL to use: given, or a throwaway PostgreSQL server for this run; None: SQLite."""
    if kind != "postgresql":
        yield None
        return
    if database_url:
        yield database_url
        return
    from tests.postgres_server import running_server

    with running_server() as server:
        yield server.url()


async def run(reporters: int = 200, kills: int = 5, seed: int = 1, timeout: float = 600.0, workers: int = 1,
              database: str = "sqlite", database_url: str | None = None) -> Result:
    if workers > 1 and database != "postgresql":
        raise SystemExit("several workers share a PostgreSQL database: use --database postgresql")
    rng = random.Random(seed)
    fake = FakeTelegram()
    await fake.start()
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        async with _database(database, database_url) as url:
            result = await _run(fake, tmp, url, rng, reporters, kills, timeout, workers)
            result.setup = f"{workers} worker{'s' if workers > 1 else ''} ({'serve' if workers > 1 else 'run'}), {database}"
    await fake.stop()
    return result


async def _run(fake: FakeTelegram, tmp: Path, url: str | None, rng: random.Random, reporters: int, kills: int,
               timeout: float, workers: int) -> Result:
    from tests.backends import write_key_file

    key_file = write_key_file(tmp)  # the tests' data key (a database copied from the tests' template has it)
    db = await Database.open(url or tmp / "lapor.db", key=KeySource(None, key_file))  # the workers' key file
    async with db.transaction() as tx:
        await route_admin.add(tx, Policy(), "51.71", GROUP, by="chaos", at="2024-11-20T00:00:00+00:00")
    await db.close()
    webhook = workers > 1
    ports = [_free_port() for _ in range(workers)] if webhook else []
    proxy = RoundRobin(ports) if webhook else None
    feed: WebhookFeed | None = None
    if proxy is not None:
        await proxy.start()
        feed = WebhookFeed(fake, proxy.url + "/telegram/webhook")
        await feed.start()
    start = (lambda i: bot_process(fake, tmp, url, ports[i], f"worker-{i}.log")) if webhook \
        else (lambda i: bot_process(fake, tmp, url))
    processes = [start(i) for i in range(max(workers, 1))]
    for port in ports:
        await _healthy(port)
    driver = Driver(fake, reporters, feed.push if feed else None)
    started = time.perf_counter()
    driver.start()
    killed = 0
    try:
        loop = asyncio.get_running_loop()
        while killed < kills and not driver.all_done.is_set():
            # after a random while, or sooner once the run is this far on: a fast run still gets every kill
            deadline = loop.time() + rng.uniform(0.5, 3.0)
            milestone = reporters * len(SCRIPT) * (killed + 1) / (kills + 1)
            while loop.time() < deadline and sum(driver.position.values()) < milestone \
                    and not driver.all_done.is_set():
                await asyncio.sleep(0.02)
            if driver.all_done.is_set():
                break
            victim = rng.randrange(len(processes))
            processes[victim].send_signal(signal.SIGKILL)
            processes[victim].wait()
            killed += 1
            processes[victim] = start(victim)
        await asyncio.wait_for(driver.all_done.wait(), timeout)
        await _settle(fake, reporters, timeout)
    except TimeoutError:
        pass
    finally:
        seconds = time.perf_counter() - started
        for process in processes:
            process.send_signal(signal.SIGTERM)
        for process in processes:
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
        if feed is not None:
            await feed.stop()
        if proxy is not None:
            await proxy.stop()
    return _check(fake, tmp, url, driver, reporters, killed, seconds)


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def _settle(fake: FakeTelegram, reporters: int, timeout: float) -> None:
    """Wait until every case has reached the group (delivery runs after the last answer)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if len(_cards(fake)) >= reporters:
            return
        await asyncio.sleep(0.2)


def _cards(fake: FakeTelegram) -> dict[str, int]:
    found: dict[str, int] = {}
    for call in fake.calls:
        text = str(call.params.get("text", ""))
        if call.method == "sendMessage" and call.result and str(call.params.get("chat_id")) == str(GROUP) \
                and text.startswith("<b>Laporan "):
            number = text.split("</b>")[0].removeprefix("<b>Laporan ")
            found[number] = found.get(number, 0) + 1
    return found


def _check(fake: FakeTelegram, tmp: Path, url: str | None, driver: Driver, reporters: int, kills: int,
           seconds: float) -> Result:
    from tests.backends import Backend

    cases_sql = ("SELECT c.number, r.address_sealed, c.agency_name, c.person_name, c.place, c.description"
                 " FROM cases c JOIN reporters r ON r.id = c.reporter_id")
    states_sql = "SELECT address, state FROM conversations"
    with Backend("postgresql" if url else "sqlite", tmp, url).connect() as db:  # sealed values opened with the key
        rows = [(number, db.open("reporters", "address_sealed", address), db.open("cases", "agency_name", agency),
                 db.open("cases", "person_name", person), db.open("cases", "place", place),
                 db.open("cases", "description", description))
                for number, address, agency, person, place, description in db.execute(cases_sql).fetchall()]
        hashed = {bytes(address): state for address, state in db.execute(states_sql).fetchall()}
        states = {str(c): hashed.get(db.lookup(str(c))) for c in driver.position}
    wrong = 0
    for _number, address, agency, person, place, description in rows:
        n = int(address) - BASE_CHAT
        expected = (f"SMPN {n} Denpasar", f"Pegawai {n}", f"Ruang guru {n}")
        if (agency, person, place) != expected or f"Kepala sekolah {n} " not in description:
            wrong += 1
    cards = _cards(fake)
    numbers = {row[0] for row in rows}
    result = Result(reporters, kills, seconds, len(driver.finished), len(rows), len({row[1] for row in rows}),
                    wrong, sum(cards.values()), len(cards), len(numbers - set(cards)), driver.duplicates)
    if result.finished != reporters or any(states.get(str(c)) != "done" for c in driver.position):
        result.problems.append("not every conversation reached its end")
    if result.cases != reporters or result.distinct_cases != reporters:
        result.problems.append("cases missing or stored twice")
    if wrong:
        result.problems.append("answers landed in the wrong step")
    if result.undelivered:
        result.problems.append("some cases never reached the group")
    if result.card_duplicates > 0.01:
        result.problems.append("more than 1% duplicate cards")
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--reporters", type=int, default=200)
    parser.add_argument("--kills", type=int, default=5)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--workers", type=int, default=1, help="more than one: `serve` workers behind a webhook")
    parser.add_argument("--database", choices=["sqlite", "postgresql"], default="sqlite",
                        help="postgresql: a throwaway server from the installed binaries")
    args = parser.parse_args()
    result = asyncio.run(run(args.reporters, args.kills, args.seed, workers=args.workers, database=args.database))
    print(result.report())
    sys.exit(0 if result.ok() else 1)


if __name__ == "__main__":
    main()
