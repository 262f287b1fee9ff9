"""The web server's edges: health and metrics, and what it refuses (sizes, methods,
content types), on `python -m bot serve` with the fake Bot API."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import aiohttp
import pytest

from bot.config import Settings
from bot.serve import serve
from flows import retention
from flows.policy import Policy
from storage import Database, keys, outbox, updates
from tests import fake_telegram as tg
from tests.backends import Backend
from tests.conftest import wait_stopped
from tests.fake_telegram import FakeTelegram
from tests.quiet import until_quiet
from tests.telegram_harness import settings_for

SECRET = {"X-Telegram-Bot-Api-Secret-Token": "s3cret"}
METRICS = {"Authorization": "Bearer metrics-t0ken"}


@pytest.fixture
async def base(fake: FakeTelegram, backend: Backend, unused_tcp_port: int) -> AsyncIterator[tuple[str, Settings]]:
    settings = settings_for(fake, backend, public_base_url="https://lapor.example.org", telegram_webhook_secret="s3cret",
                            host="127.0.0.1", port=unused_tcp_port, delivery_poll_seconds=0.05,
                            metrics_token="metrics-t0ken")
    stop = asyncio.Event()
    task = asyncio.create_task(serve(settings, stop))
    await fake.wait_for(lambda: bool(fake.sent("setWebhook")))
    yield f"http://127.0.0.1:{unused_tcp_port}", settings
    stop.set()
    await wait_stopped(task)


async def test_health_and_metrics(base: tuple[str, Settings], fake: FakeTelegram) -> None:
    url, _settings = base
    async with aiohttp.ClientSession() as http:
        update = {**tg.text(5001, "/start"), "update_id": 77}
        async with http.post(f"{url}/telegram/webhook", json=update, headers=SECRET) as response:
            assert response.status == 200
        await fake.wait_messages(5001, 2)
        await until_quiet(_settings)  # the replies are recorded as sent
        async with http.get(f"{url}/healthz") as response:
            assert response.status == 200 and await response.json() == {"status": "ok"}, "no details without the token"
        async with http.get(f"{url}/healthz", headers=METRICS) as response:
            assert response.status == 200 and await response.json() == {"status": "ok", "database": "ok"}
        async with http.get(f"{url}/readyz") as response:
            assert response.status == 200 and await response.json() == {"status": "ok"}, "no details without the token"
        async with http.get(f"{url}/readyz", headers=METRICS) as response:
            health = await response.json()
            assert response.status == 200
        assert health["status"] == "ok" and health["database"] == "ok" and health["outbox_pending"] == 0
        assert health["last_telegram_success_seconds_ago"] is not None
        for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": "metrics-t0ken"}):
            async with http.get(f"{url}/metrics", headers=headers) as response:
                assert response.status == 401 and "lapor_" not in await response.text()
        async with http.get(f"{url}/metrics", headers=METRICS) as response:
            text = await response.text()
            assert response.status == 200 and response.content_type.startswith("text/plain")
        assert 'lapor_updates_total{channel="telegram"}' in text
        assert 'lapor_step_seconds_bucket{channel="telegram",le="0.5"}' in text
        assert "lapor_outbox_pending 0.0" in text and 'lapor_deliveries_total{channel="telegram"}' in text


async def test_readiness_is_503_when_a_sendable_message_is_stuck_but_health_stays_200(base: tuple[str, Settings]) -> None:
    """Liveness says the process and the database answer; readiness says messages get out."""
    url, settings = base
    db = await Database.open(settings.database)
    async with db.transaction() as tx:  # a message for a channel this process cannot send, an hour old
        await outbox.enqueue(tx, "whatsapp", "+62812", "send", {"replies": []},
                             (datetime.now(UTC) - timedelta(hours=1)).isoformat())
    await db.close()
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{url}/readyz") as response:
            assert response.status == 503 and await response.json() == {"status": "unhealthy"}
        async with http.get(f"{url}/readyz", headers=METRICS) as response:
            body = await response.json()
            assert response.status == 503 and body["status"] == "unhealthy" and body["oldest_pending_seconds"] > 3000
        async with http.get(f"{url}/healthz") as response:
            assert response.status == 200, "the process is alive: a restart would not help"


async def test_the_webhook_refuses_big_bodies_wrong_methods_and_content_types(base: tuple[str, Settings]) -> None:
    url, _settings = base
    async with aiohttp.ClientSession() as http:
        async with http.post(f"{url}/telegram/webhook", data=b"{" + b" " * 400_000 + b"}",
                             headers={**SECRET, "Content-Type": "application/json"}) as response:
            assert response.status == 413
        async with http.get(f"{url}/telegram/webhook") as response:
            assert response.status == 405
        async with http.post(f"{url}/telegram/webhook", data="update_id=1", headers=SECRET) as response:
            assert response.status == 415
        async with http.post(f"{url}/telegram/webhook", json={"update_id": "x", "message": 5}, headers=SECRET) as r:
            assert r.status == 400
        async with http.post(f"{url}/twilio/whatsapp", data={"a": "b"}) as response:
            assert response.status == 404, "WhatsApp is not configured here"


async def test_metrics_are_off_without_a_token(fake: FakeTelegram, backend: Backend, unused_tcp_port: int) -> None:
    settings = settings_for(fake, backend, public_base_url="https://lapor.example.org", telegram_webhook_secret="s3cret",
                            host="127.0.0.1", port=unused_tcp_port, delivery_poll_seconds=0.05)
    stop = asyncio.Event()
    task = asyncio.create_task(serve(settings, stop))
    try:
        await fake.wait_for(lambda: bool(fake.sent("setWebhook")))
        async with aiohttp.ClientSession() as http:
            async with http.get(f"http://127.0.0.1:{unused_tcp_port}/metrics", headers=METRICS) as response:
                assert response.status == 404 and "lapor_" not in await response.text()
            async with http.get(f"http://127.0.0.1:{unused_tcp_port}/healthz", headers=METRICS) as response:
                assert await response.json() == {"status": "ok"}
    finally:
        stop.set()
        await wait_stopped(task)


async def test_bad_json_is_a_400_with_the_right_secret_never_a_traceback(
        base: tuple[str, Settings], caplog: pytest.LogCaptureFixture) -> None:
    """The attack round's 50,000-deep body got a 500 and a RecursionError traceback."""
    url, _settings = base
    deep = b'{"update_id": 1, "message": ' + b"[" * 50_000 + b"]" * 50_000 + b"}"
    bodies = [
        deep,
        b"[" * 50_000 + b"]" * 50_000,  # an array, not an update
        b'{"update_id": 2, "message": {"text": "\xff\xfe"}}',  # not UTF-8
        b'{"update_id": 3, "message": ',  # cut off
        b"[1, 2, 3]",
        b'"just a string"',
        b'{"update_id": 4, "message": {"chat": ' + b'{"a": ' * 300 + b"1" + b"}" * 300 + b"}}",
    ]
    async with aiohttp.ClientSession() as http:
        for body in bodies:
            async with http.post(f"{url}/telegram/webhook", data=body,
                                 headers={**SECRET, "Content-Type": "application/json"}) as response:
                assert response.status == 400, body[:60]
                assert "Traceback" not in await response.text()
        async with http.get(f"{url}/healthz") as response:
            assert response.status == 200, "the server still serves"
    assert not [r for r in caplog.records if r.exc_info], "nothing was logged as a crash"


async def test_a_replayed_update_at_any_age_gets_200_and_no_effect(base: tuple[str, Settings], fake: FakeTelegram) -> None:
    url, settings = base
    update = {**tg.text(5003, "/start"), "update_id": 91}
    async with aiohttp.ClientSession() as http:
        async with http.post(f"{url}/telegram/webhook", json=update, headers=SECRET) as response:
            assert response.status == 200
        answered = len(await fake.wait_messages(5003, 2))
        db = await Database.open(settings.database)
        try:  # what the clean-up does after 7 days (its job lock may be the running service's now)
            async with db.transaction() as tx:
                assert await updates.move_to_digests(tx, (datetime.now(UTC) + timedelta(days=300)).isoformat(), 100)
            async with db.reading() as tx:
                assert await updates.count(tx) == 0, "the processed-update row is gone"
        finally:
            await db.close()
        async with http.post(f"{url}/telegram/webhook", json=update, headers=SECRET) as response:
            assert response.status == 200
        await asyncio.sleep(0.5)
    assert len(fake.texts(5003)) == answered, "no fresh answer"


async def test_digests_are_kept_four_hundred_days(backend: Backend) -> None:
    db = await backend.open()
    try:
        key = await keys.message_digest_key(db)
        assert key == await keys.message_digest_key(db) and len(key) == 32
        now = datetime(2026, 6, 1, tzinfo=UTC)
        async with db.transaction() as tx:
            await updates.remember(tx, [(updates.digest(key, "telegram", "1", "old"), updates.day_of("2025-04-01T00:00:00")),
                                        (updates.digest(key, "telegram", "1", "young"), updates.day_of("2025-06-01T00:00:00"))])
        await retention.run(db, Policy(), now)
        async with db.reading() as tx:
            left = await updates.seen_among(tx, [updates.digest(key, "telegram", "1", name) for name in ("old", "young")])
    finally:
        await db.close()
    assert left == {updates.digest(key, "telegram", "1", "young")}, "older than 400 days: gone; a year old: kept"
    assert updates.digest(key, "telegram", "1", "x") != updates.digest(key, "telegram", "2", "x"), "per chat"
