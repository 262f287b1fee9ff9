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
from storage import Database, outbox
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


async def test_health_is_503_when_messages_are_stuck(base: tuple[str, Settings]) -> None:
    url, settings = base
    db = await Database.open(settings.database)
    async with db.transaction() as tx:  # a message for a channel this process cannot send, an hour old
        await outbox.enqueue(tx, "whatsapp", "+62812", "send", {"replies": []},
                             (datetime.now(UTC) - timedelta(hours=1)).isoformat())
    await db.close()
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{url}/healthz") as response:
            assert response.status == 503 and await response.json() == {"status": "unhealthy"}
        async with http.get(f"{url}/healthz", headers=METRICS) as response:
            body = await response.json()
            assert response.status == 503 and body["status"] == "unhealthy" and body["oldest_pending_seconds"] > 3000


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
