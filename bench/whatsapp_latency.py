"""WhatsApp reply latency: N people (default 30) report at once through the real webhook of
`python -m bot serve` (a separate process), signed as Twilio signs, with a photo fetched
from the fake Twilio's https media host behind a redirect; replies go out through the fake
Twilio REST API. Each person answers only after the bot has answered (a closed loop).

Latency is from the webhook POST to the reply's arrival at the fake Twilio. Prints p50,
p95 and max over all replies, and how many reports were filed.

Usage: python bench/whatsapp_latency.py [--reporters 30] [--slow 0]
(`--slow S`: one person's photo takes S seconds to download; the others must not wait.)
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import aiohttp  # noqa: E402

from tests import fake_twilio as tw  # noqa: E402
from tests.fake_twilio import FakeTwilio, sign  # noqa: E402
from tests.test_focal_points import jpeg_with_gps  # noqa: E402

PUBLIC = "https://lapor.example.org/twilio/whatsapp"
SCRIPT = ["halo", "1", "denpasar", "Pemerintah daerah", "8", "SMPN {n} Denpasar", "Pegawai {n}", "Kepala Sekolah",
          "1", "2", "19/11/2024", "2", "Ruang guru {n}", "1",
          "Kepala sekolah {n} mengunggah ajakan memilih paslon 2 di grup WhatsApp guru.", "1", "#photo",
          "1", "1", "1"]


class Arrivals(list[dict[str, str]]):
    """The fake Twilio's sent messages, with the moment each arrived, per number."""

    def __init__(self) -> None:
        super().__init__()
        self.events: dict[str, asyncio.Event] = {}
        self.times: dict[str, list[float]] = {}

    def append(self, message: dict[str, str]) -> None:
        super().append(message)
        to = message.get("To", "")
        self.times.setdefault(to, []).append(time.perf_counter())
        self.events.setdefault(to, asyncio.Event()).set()


def bot_process(twilio: FakeTwilio, tmp: Path, port: int) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TELEGRAM_", "TWILIO_"))}
    env.update(
        DATABASE_PATH=str(tmp / "lapor.db"), EVIDENCE_DIR=str(tmp / "evidence"), PUBLIC_BASE_URL=PUBLIC.rsplit(
            "/twilio", 1)[0], HOST="127.0.0.1", PORT=str(port), TWILIO_ACCOUNT_SID=tw.ACCOUNT_SID,
        TWILIO_AUTH_TOKEN=tw.AUTH_TOKEN, TWILIO_WHATSAPP_FROM=tw.BOT_NUMBER, TWILIO_API_BASE_URL=twilio.base,
        TWILIO_MEDIA_AUTH_HOSTS="localhost", TWILIO_MEDIA_CA_FILE=str(twilio.ca_file),
        TWILIO_MEDIA_ALLOW_NETWORKS="127.0.0.1/32,::1/128", MAX_MESSAGES_PER_MINUTE="0", MAX_CASES_PER_DAY="0",
        DELIVERY_POLL_SECONDS="0.5", LOG_LEVEL="WARNING", ALLOW_EPHEMERAL_DATABASE="1", PYTHONPATH=str(ROOT))
    return subprocess.Popen([sys.executable, "-m", "bot", "serve"], cwd=tmp, env=env,
                            stdout=subprocess.DEVNULL, stderr=(tmp / "bot.log").open("ab"))


async def run(reporters: int = 30, slow: float = 0.0) -> dict[str, Any]:
    twilio = FakeTwilio()
    arrivals = Arrivals()
    twilio.messages = arrivals
    await twilio.start()
    photos = {n: twilio.host(f"p{n}.jpg", jpeg_with_gps(n % 250) + os.urandom(200_000), delay=slow if n == 0 else 0)
              for n in range(reporters)}
    with socket_port() as port, tempfile.TemporaryDirectory() as name:
        tmp = Path(name)
        process = bot_process(twilio, tmp, port)
        url = f"http://127.0.0.1:{port}/twilio/whatsapp"
        latencies: list[float] = []
        slow_latencies: list[float] = []
        try:
            async with aiohttp.ClientSession() as http:
                for _ in range(300):
                    try:
                        async with http.get(f"http://127.0.0.1:{port}/healthz") as response:
                            if response.status == 200:
                                break
                    except aiohttp.ClientError:
                        pass
                    await asyncio.sleep(0.1)
                sids = iter(range(10**9))

                async def person(n: int) -> None:
                    number = f"+62813{n:07d}"
                    to = f"whatsapp:{number}"
                    event = arrivals.events.setdefault(to, asyncio.Event())
                    for line in SCRIPT:
                        form = {"MessageSid": f"SM{next(sids):032d}", "From": f"whatsapp:{number}", "To": tw.BOT_NUMBER,
                                "Body": line.format(n=n), "NumMedia": "0"}
                        if line == "#photo":
                            form.update(Body="", NumMedia="1", MediaUrl0=photos[n], MediaContentType0="image/jpeg")
                        seen = len(arrivals.times.get(to, []))
                        event.clear()
                        started = time.perf_counter()
                        async with http.post(url, data=form, headers={"X-Twilio-Signature": sign(PUBLIC, form)}) as r:
                            assert r.status == 200, r.status
                        while len(arrivals.times.get(to, [])) <= seen:
                            await asyncio.wait_for(event.wait(), 120)
                            event.clear()
                        (slow_latencies if n == 0 and slow else latencies).append(
                            arrivals.times[to][seen] - started)
                        await asyncio.sleep(0.3)  # a moment for any second message of the same answer
                began = time.perf_counter()
                await asyncio.gather(*(person(n) for n in range(reporters)))
                seconds = time.perf_counter() - began
        finally:
            process.terminate()
            process.wait(10)
            await twilio.stop()
        import sqlite3

        with sqlite3.connect(tmp / "lapor.db") as db:
            cases = db.execute("SELECT count(*) FROM cases").fetchone()[0]
    ordered = sorted(latencies)
    return {"reporters": reporters, "replies": len(latencies), "cases": cases, "seconds": seconds,
            "p50": statistics.median(ordered), "p95": ordered[int(0.95 * (len(ordered) - 1))], "max": ordered[-1],
            "slow_person_max": max(slow_latencies) if slow_latencies else None}


class socket_port:
    def __enter__(self) -> int:
        import socket

        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            return int(s.getsockname()[1])

    def __exit__(self, *exc: object) -> None:
        return None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--reporters", type=int, default=30)
    parser.add_argument("--slow", type=float, default=0.0)
    args = parser.parse_args()
    result = asyncio.run(run(args.reporters, args.slow))
    print(f"{result['reporters']} reporters at once, {result['replies']} replies, {result['cases']} cases, "
          f"{result['seconds']:.1f} s")
    print(f"reply latency: p50 {result['p50']:.3f} s, p95 {result['p95']:.3f} s, max {result['max']:.3f} s")
    if result["slow_person_max"] is not None:
        print(f"(the person whose photo took {args.slow:g} s waited at most {result['slow_person_max']:.1f} s;"
              " not counted above)")


if __name__ == "__main__":
    main()
