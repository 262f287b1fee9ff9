"""The aiohttp server that carries the webhooks (Telegram, WhatsApp) and health."""

from __future__ import annotations

import hmac
import json
import logging
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

from aiohttp import web
from telegram import Update
from telegram.ext import Application

from bot import metrics
from bot.config import Settings
from bot.health import set_aside as recent_set_aside
from storage import Database, outbox

log = logging.getLogger(__name__)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
MAX_BODY_BYTES = 256 * 1024
"""Telegram updates and Twilio forms are a few kilobytes (files come by URL): more is refused (413)."""


def make_web_app(settings: Settings, db: Database, application: Application | None) -> web.Application:  # type: ignore[type-arg]
    """The routes of the configured channels: Telegram's when `application` is given,
    WhatsApp's when the Twilio settings are."""
    app = web.Application(client_max_size=MAX_BODY_BYTES)
    token = settings.metrics_token.get_secret_value() if settings.metrics_token else ""

    def authorised(request: web.Request) -> bool:
        given = request.headers.get("Authorization", "")
        return bool(token) and hmac.compare_digest(given.encode(), f"Bearer {token}".encode())

    async def healthz(request: web.Request) -> web.Response:
        """Unhealthy (503) when the database does not answer or the oldest waiting delivery
        is older than `HEALTH_MAX_BACKLOG_SECONDS` (messages are not getting out). Only
        healthy or not, unless the request carries the metrics token."""
        answer = await health(request)
        if authorised(request):
            return answer
        return web.json_response({"status": json.loads(answer.text or "{}").get("status", "unhealthy")},
                                 status=answer.status)

    async def health(request: web.Request) -> web.Response:
        try:
            pending, oldest = await backlog(db)
        except Exception as exc:  # the database is what we cannot work without
            log.error("health check failed: %s", type(exc).__name__)
            return web.json_response({"status": "unhealthy", "database": "unreachable"}, status=503)
        last = metrics.LAST_SUCCESS.at.get("telegram")
        body: dict[str, object] = {"status": "ok", "database": "ok", "outbox_pending": pending,
                "oldest_pending_seconds": round(oldest, 1) if oldest is not None else None,
                "last_telegram_success_seconds_ago": round(time.time() - last, 1) if last else None}
        if authorised(request):  # what was set aside after crashes: the service goes on, someone should look
            body["set_aside"] = await recent_set_aside(db)
        if oldest is not None and oldest > settings.health_max_backlog_seconds:
            body["status"] = "unhealthy"
            return web.json_response(body, status=503)
        return web.json_response(body)

    async def metrics_page(request: web.Request) -> web.Response:
        """Only with `Authorization: Bearer <METRICS_TOKEN>`; off when no token is set."""
        if not token:
            return web.Response(status=404, text="metrics are off (set METRICS_TOKEN)")
        if not authorised(request):
            return web.Response(status=401, text="unauthorised", headers={"WWW-Authenticate": "Bearer"})
        pending, oldest = await backlog(db)
        metrics.OUTBOX_DEPTH.set(pending)
        metrics.OUTBOX_OLDEST.set(oldest or 0)
        data, content_type = metrics.exposition()
        return web.Response(body=data, headers={"Content-Type": content_type})

    if application is not None:
        secret = settings.telegram_webhook_secret.get_secret_value() if settings.telegram_webhook_secret else ""
        app.router.add_post(settings.telegram_webhook_path, _telegram_handler(application, secret))
    if settings.whatsapp_enabled:
        from bot.whatsapp.webhook import handler

        assert settings.twilio_auth_token and settings.public_base_url
        app.router.add_post(settings.twilio_webhook_path, handler(
            db, settings.twilio_auth_token.get_secret_value(), settings.public_base_url))
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/metrics", metrics_page)
    return app


def _telegram_handler(application: Application, secret: str) -> Handler:  # type: ignore[type-arg]
    async def telegram_webhook(request: web.Request) -> web.Response:
        """Checked first: the secret Telegram echoes back. The update is processed before
        we answer, so if we die midway Telegram delivers it again (and it is then
        recognised as a duplicate if it had been stored). The answer to a button press
        rides in the response."""
        given = request.headers.get("X-Telegram-Bot-Api-Secret-Token", "")
        if not secret or not hmac.compare_digest(given.encode(), secret.encode()):
            return web.Response(status=403, text="forbidden")
        if request.content_type != "application/json":
            return web.Response(status=415, text="json expected")
        try:
            data = json.loads(await request.text())
            update = Update.de_json(data, application.bot)
        except (ValueError, TypeError, KeyError, AttributeError):
            return web.Response(status=400, text="bad update")
        if update is None:
            return web.Response(text="ok")
        from bot.telegram.channel import WEBHOOK_ANSWER

        answer: dict[str, object] = {}
        token = WEBHOOK_ANSWER.set(answer)
        try:
            await application.process_update(update)
        finally:
            WEBHOOK_ANSWER.reset(token)
        # A press is answered in this response (Telegram carries out one method given here):
        # one Bot API call fewer per button.
        return web.json_response(answer) if answer else web.Response(text="ok")

    return telegram_webhook


async def backlog(db: Database) -> tuple[int, float | None]:
    """Waiting deliveries and the age in seconds of the oldest."""
    async with db.reading() as tx:
        pending, oldest = await outbox.backlog(tx)
    age = (datetime.now(UTC) - datetime.fromisoformat(oldest)).total_seconds() if oldest else None
    return pending, age


async def start_site(app: web.Application, host: str, port: int) -> web.AppRunner:
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, host, port).start()
    return runner
