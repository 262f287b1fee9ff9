"""Downloads have a deadline (`bot/downloads.py`): a media server that answers one byte
every couple of seconds is given up within the file's deadline, on WhatsApp and on Telegram
alike, and while it trickles nobody else waits for it."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from bot.config import Settings
from bot.downloads import DownloadLimits
from bot.whatsapp.media import DownloadFailed, MediaFetcher, MediaRules
from storage.evidence_files import EvidenceStore
from tests import fake_telegram as tg
from tests import fake_twilio as tw
from tests import hostile_files as hostile
from tests.backends import Backend
from tests.fake_telegram import FakeTelegram
from tests.fake_twilio import FakeTwilio
from tests.telegram_harness import Reporter, polling_bot, settings_for

QUICK = DownloadLimits(deadline=4.0, min_rate=1024, tries=3)
"""A 4 s deadline, the rate measured over 1 s."""


def fetcher_for(twilio: FakeTwilio, tmp_path: Path, limits: DownloadLimits | None = None) -> MediaFetcher:
    extra = twilio.settings()
    rules = MediaRules.from_settings(extra["twilio_media_auth_hosts"], extra["twilio_media_allow_networks"],
                                     extra["twilio_media_ca_file"])
    return MediaFetcher(EvidenceStore(tmp_path), tw.ACCOUNT_SID, tw.AUTH_TOKEN, rules, limits=limits,
                        retry_pause=0.05)


async def test_a_trickling_media_server_is_given_up_within_the_deadline(twilio: FakeTwilio, tmp_path: Path) -> None:
    """The attack round's server sent one byte every 2 s and was still being read after
    45 s; the limits allowed 300 s × 4 tries per file."""
    url = twilio.host("slow.jpg", hostile.jpeg(), trickle=2.0)
    fetcher = fetcher_for(twilio, tmp_path, QUICK)
    started = time.monotonic()
    try:
        with pytest.raises(DownloadFailed):
            await asyncio.wait_for(fetcher.fetch(url), 30)
    finally:
        await fetcher.close()
    assert time.monotonic() - started < QUICK.deadline + 1.5
    assert not list((tmp_path).rglob("*.jpg")), "nothing of it was kept"


async def test_a_slow_but_steady_server_is_not_cut_off(twilio: FakeTwilio, tmp_path: Path) -> None:
    url = twilio.host("steady.jpg", hostile.jpeg(size=(256, 192)))
    twilio.chunk_size = 2048
    fetcher = fetcher_for(twilio, tmp_path, QUICK)
    try:
        stored = await fetcher.fetch(url)
    finally:
        await fetcher.close()
    assert stored.size == len(hostile.jpeg(size=(256, 192)))


def test_the_default_limits_are_a_minute_a_rate_and_three_tries() -> None:
    limits = Settings().download_limits()
    assert (limits.deadline, limits.min_rate, limits.tries, limits.window) == (60.0, 16 * 1024, 3, 10.0)


@pytest.fixture
def quick_settings(fake: FakeTelegram, backend: Backend) -> Settings:
    return settings_for(fake, backend, delivery_poll_seconds=0.05, delivery_backoff_seconds=0.1,
                        download_deadline_seconds=QUICK.deadline, download_min_bytes_per_second=QUICK.min_rate)


async def test_a_stalled_telegram_download_holds_up_nobody_and_is_given_up(
        fake: FakeTelegram, quick_settings: Settings) -> None:
    """Polling confirms an update only once it is handled: the whole batch used to wait for
    the slowest download, so one trickling file stopped every reporter."""
    slow, other = Reporter(fake, 5101), Reporter(fake, 5102)
    async with polling_bot(quick_settings):
        await slow.until_evidence()
        fake.trickles["files/lambat.pdf"] = 2.0
        started = time.monotonic()
        fake.push(tg.document(fake, slow.chat_id, "lambat.pdf", hostile.pdf()))
        await fake.wait_for(lambda: "files/lambat.pdf" in fake.downloads)
        answered = await other.say("/start", at_least=2)
        assert time.monotonic() - started < 2.5, "the other reporter did not wait for the download"
        assert "Selamat datang" in answered[0]
        await fake.wait_for(lambda: any("tidak sampai" in t for t in fake.texts(slow.chat_id)), timeout=15)
        assert time.monotonic() - started < QUICK.deadline + 3
        again = await slow.send(tg.document(fake, slow.chat_id, "cepat.pdf", hostile.pdf()))
        assert again, "the conversation goes on where it was: the file sent again is taken"
    assert any(p == "files/cepat.pdf" for p in fake.downloads)


