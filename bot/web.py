"""The aiohttp server that carries the webhooks (Telegram, WhatsApp) and health."""

from __future__ import annotations

import hmac
import json
import logging
from collections.abc import Awaitable, Callable

from aiohttp import web
from telegram import Update
from telegram.ext import Application

from bot.config import Settings
from storage import Database

log = logging.getLogger(__name__)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
MAX_BODY_BYTES = 1024 * 1024


def make_web_app(settings: Settings, db: Database, application: Application | None) -> web.Application:  # type: ignore[type-arg]
    """The routes of the configured channels: Telegram's when `application` is given,
    WhatsApp's when the Twilio settings are."""
    app = web.Application(client_max_size=MAX_BODY_BYTES)

    async def healthz(request: web.Request) -> web.Response:
        try:
            await db.ping()
        except Exception as exc:  # the database is what we cannot work without
            log.error("health check failed: %s", exc)
            return web.json_response({"status": "unhealthy", "database": "unreachable"}, status=503)
        return web.json_response({"status": "ok", "database": "ok"})

    if application is not None:
        secret = settings.telegram_webhook_secret.get_secret_value() if settings.telegram_webhook_secret else ""
        app.router.add_post(settings.telegram_webhook_path, _telegram_handler(application, secret))
    if settings.whatsapp_enabled:
        from bot.whatsapp.webhook import handler

        assert settings.twilio_auth_token and settings.public_base_url
        app.router.add_post(settings.twilio_webhook_path, handler(
            db, settings.twilio_auth_token.get_secret_value(), settings.public_base_url))
    app.router.add_get("/healthz", healthz)
    return app


def _telegram_handler(application: Application, secret: str) -> Handler:  # type: ignore[type-arg]
    async def telegram_webhook(request: web.Request) -> web.Response:
        """Checked first: the secret Telegram echoes back. The update is processed before
        we answer, so if we die midway Telegram delivers it again (and it is then
        recognised as a duplicate if it had been stored)."""
        given = request.headers.get("X-Telegram-Bot-Api-Secret-Token", "")
        if not secret or not hmac.compare_digest(given.encode(), secret.encode()):
            return web.Response(status=403, text="forbidden")
        try:
            data = json.loads(await request.text())
            update = Update.de_json(data, application.bot)
        except (ValueError, TypeError, KeyError):
            return web.Response(status=400, text="bad update")
        if update is not None:
            await application.process_update(update)
        return web.Response(text="ok")

    return telegram_webhook


async def start_site(app: web.Application, host: str, port: int) -> web.AppRunner:
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, host, port).start()
    return runner
