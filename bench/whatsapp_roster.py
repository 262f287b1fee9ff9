"""A case to a WhatsApp roster of N officers (issue 26): the real webhook, inbox, engine,
delivery worker and media server of `python -m bot serve` (in this process), the fake Twilio
(which fetches each officer's photo from the signed URL, as Twilio does) on loopback.

Measures, for rosters of 1, 5 and 20 officers who said yes (their 24-hour window open):
- fan-out: from the reporter's last message ("Kirim") to every officer having the card and
  having had the photo fetched (the photo is a 12-megapixel JPEG, cleaned once for all);
- each signed-URL fetch of that cleaned copy (p50, max), as Twilio makes them.

Usage: python bench/whatsapp_roster.py [--sizes 1,5,20]
"""

from __future__ import annotations

import argparse
import asyncio
import io
import socket
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from PIL import Image  # noqa: E402

from bot.config import Settings  # noqa: E402
from flows.policy import Policy  # noqa: E402
from flows.staff import roster_admin  # noqa: E402
from storage import Database, contacts  # noqa: E402
from storage import rosters as roster_store  # noqa: E402
from tests import fake_twilio as tw  # noqa: E402
from tests import test_whatsapp_focal as focal  # noqa: E402
from tests.fake_twilio import FakeTwilio  # noqa: E402


def photo() -> bytes:
    image = Image.effect_noise((4000, 3000), 60).convert("RGB")
    out = io.BytesIO()
    exif = Image.Exif()
    exif[0x010F] = "Samsung"
    image.save(out, "JPEG", quality=90, exif=exif)
    return out.getvalue()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def roster(settings: Settings, size: int) -> list[str]:
    """N officers of Kota Bontang who said yes and wrote a moment ago."""
    numbers = [f"+62813{n:08d}" for n in range(1, size + 1)]
    db = await Database.open(settings.database)
    try:
        async with db.transaction() as tx:
            at = "2026-01-01T00:00:00+00:00"
            for number in numbers:
                added = await roster_admin.add_number(tx, Policy(), "64.74", number, title="Inspektorat Bontang",
                                                      by="shell", at=at)
                assert added.member is not None
                await roster_store.move(tx, added.member.id, "active", at, from_statuses=("invited",))
                await contacts.seen(tx, "whatsapp", number, time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime()))
            await tx.execute("DELETE FROM outbox")  # the invitations: not what is measured
    finally:
        await db.close()
    return numbers


async def one(size: int, data: bytes) -> tuple[float, list[float]]:
    twilio = FakeTwilio()
    await twilio.start()
    port = free_port()
    twilio.fetch_map[focal.PUBLIC] = f"http://127.0.0.1:{port}"
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(database_path=Path(tmp) / "lapor.db", evidence_dir=Path(tmp) / "evidence",
                            public_base_url=focal.PUBLIC, host="127.0.0.1", port=port,
                            twilio_account_sid=tw.ACCOUNT_SID, twilio_auth_token=tw.AUTH_TOKEN,
                            twilio_whatsapp_from=tw.BOT_NUMBER, delivery_poll_seconds=0.05, link_resolve=False,
                            max_messages_per_minute=0, **twilio.settings())
        numbers = await roster(settings, size)
        try:
            async with focal.service(settings, twilio) as people:
                started: list[float] = []
                original = people.reporter.say

                async def say(body: str, replies: int = 1) -> list[str]:
                    if body == "1" and any("Kirim" in b for b in twilio.to(focal.REPORTER)[-1:]):
                        started.append(time.perf_counter())
                    return await original(body, replies)

                people.reporter.say = say  # type: ignore[method-assign]
                await focal.report(people, "anonim", photo=data)
                await people.quiet(lambda: all(len(twilio.media_for(n)) == 1 for n in numbers), timeout=300)
                done = max(f_time for f_time in fetch_times(twilio, numbers))
        finally:
            await twilio.stop()
    fetch = [t for t in getattr(twilio, "fetch_seconds", [])]
    return done - started[-1], fetch


def fetch_times(twilio: FakeTwilio, numbers: list[str]) -> list[float]:
    return [t for url, t in getattr(twilio, "fetched_at", {}).items()
            if any(url in str(m) for n in numbers for m in twilio.sent_to(n))]


def instrument() -> None:
    """Time each of the fake Twilio's fetches (when it ends, and how long it took)."""
    fetch = FakeTwilio._fetch

    async def timed(self: FakeTwilio, url: str) -> None:
        begun = time.perf_counter()
        await fetch(self, url)
        ended = time.perf_counter()
        self.__dict__.setdefault("fetch_seconds", []).append(ended - begun)
        self.__dict__.setdefault("fetched_at", {})[url] = ended

    FakeTwilio._fetch = timed  # type: ignore[method-assign]


async def main(sizes: list[int]) -> None:
    instrument()
    data = photo()
    print(f"photo: {len(data) / 1024 / 1024:.1f} MB JPEG, 4000x3000, with EXIF")
    print("officers | submit -> all cards and photos fetched | fetch p50 | fetch max")
    for size in sizes:
        took, fetches = await one(size, data)
        print(f"{size:8d} | {took:10.2f} s | {statistics.median(fetches) * 1000:7.1f} ms | {max(fetches) * 1000:7.1f} ms")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="1,5,20")
    asyncio.run(main([int(n) for n in parser.parse_args().sizes.split(",")]))
