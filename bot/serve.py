"""`python -m bot serve`: one aiohttp server for the webhooks of every configured channel
(Telegram, WhatsApp) and `/healthz`, with the shared runtime behind it."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import AsyncIterator

from bot.config import Settings
from bot.runtime import Runtime, close_runtime, open_runtime
from bot.telegram import TelegramApp
from bot.web import make_web_app, start_site

log = logging.getLogger(__name__)


def run(settings: Settings) -> None:
    asyncio.run(serve(settings))


async def serve(settings: Settings, stop: asyncio.Event | None = None) -> None:
    """Run until `stop` is set or a signal arrives."""
    if not settings.public_base_url:
        raise SystemExit("serve needs PUBLIC_BASE_URL (the address Telegram and Twilio call)")
    if settings.telegram_bot_token and not settings.telegram_webhook_secret:
        raise SystemExit("serve needs TELEGRAM_WEBHOOK_SECRET with TELEGRAM_BOT_TOKEN")
    if not (settings.telegram_bot_token or settings.whatsapp_enabled):
        raise SystemExit("serve needs TELEGRAM_BOT_TOKEN or the TWILIO_* settings")
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):  # not on Windows / not main thread
            loop.add_signal_handler(sig, stop.set)
    async with _telegram(settings) as (application, runtime):
        assert runtime.db is not None and runtime.engine is not None
        runner = await start_site(make_web_app(settings, runtime.db, application), settings.host, settings.port)
        log.info("serving on %s:%s", settings.host, settings.port)
        if application is not None:  # only now: Telegram may call as soon as it knows the URL
            from bot.telegram.app import ALLOWED_UPDATES

            assert settings.public_base_url and settings.telegram_webhook_secret
            await application.bot.set_webhook(
                settings.public_base_url.rstrip("/") + settings.telegram_webhook_path,
                secret_token=settings.telegram_webhook_secret.get_secret_value(), allowed_updates=ALLOWED_UPDATES)
        try:
            await stop.wait()
        finally:
            await runner.cleanup()


@contextlib.asynccontextmanager
async def _telegram(settings: Settings) -> AsyncIterator[tuple[TelegramApp | None, Runtime]]:
    """The PTB application in webhook mode when Telegram is configured, and the runtime."""
    if not settings.telegram_bot_token:
        runtime = Runtime(settings)
        try:
            await open_runtime(runtime, None)
            yield None, runtime
        finally:
            await close_runtime(runtime)
        return
    from bot.telegram.app import build_application, initialized
    from bot.telegram.app import open_runtime as open_with_bot

    application, runtime = build_application(settings, webhook=True)
    async with initialized(application):
        try:
            await open_with_bot(application, runtime)
            await application.start()
            try:
                yield application, runtime
            finally:
                await application.stop()
        finally:
            await close_runtime(runtime)
