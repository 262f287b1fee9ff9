"""The PTB `Application`: long polling (`python -m bot run`) or a webhook on the shared
aiohttp server (`python -m bot serve`)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from dataclasses import dataclass

from telegram import BotCommand, BotCommandScopeAllPrivateChats, Update
from telegram.ext import AIORateLimiter, Application, ContextTypes, TypeHandler

from bot.config import Settings
from bot.delivery import DeliveryWorker
from bot.telegram.channel import TelegramChannel
from bot.telegram.focal import FocalGroups
from bot.telegram.sender import TelegramSender
from bot.web import make_web_app, start_site
from flows.desk import Desk
from flows.engine import Engine
from flows.i18n import LOCALES, N_, gettext_for
from storage import Database
from storage.evidence_files import EvidenceStore

log = logging.getLogger(__name__)
ALLOWED_UPDATES = ["message", "edited_message", "callback_query", "my_chat_member"]
COMMANDS = (
    ("mulai", N_("Start a new report")),
    ("kembali", N_("Go back one step")),
    ("batal", N_("Cancel the report")),
    ("bantuan", N_("Help for this step")),
    ("bahasa", N_("Change language")),
    ("status", N_("Check a report you sent")),
)


@dataclass
class Runtime:
    """What the application needs once it runs: the database and the channel on it."""

    settings: Settings
    db: Database | None = None
    channel: TelegramChannel | None = None
    worker: DeliveryWorker | None = None


def build_application(settings: Settings, *, webhook: bool = False) -> tuple[Application, Runtime]:  # type: ignore[type-arg]
    assert settings.telegram_bot_token is not None
    runtime = Runtime(settings)
    builder = (
        Application.builder()
        .token(settings.telegram_bot_token.get_secret_value())
        .base_url(settings.telegram_base_url)
        .base_file_url(settings.telegram_base_file_url)
        .rate_limiter(AIORateLimiter(overall_max_rate=settings.telegram_max_rate, max_retries=3))
        .read_timeout(settings.telegram_timeout)
        .write_timeout(settings.telegram_timeout)
        .connect_timeout(settings.telegram_timeout)
        .media_write_timeout(max(settings.telegram_timeout, 20.0))
        .pool_timeout(settings.telegram_timeout)
        .concurrent_updates(True)
        .post_init(lambda app: open_runtime(app, runtime))
        .post_shutdown(lambda app: close_runtime(runtime))
    )
    if webhook:
        builder = builder.updater(None)
    application = builder.build()

    async def on_update(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        assert runtime.channel is not None
        await runtime.channel.on_update(update, context)

    async def on_error(update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
        update_id = getattr(update, "update_id", None)
        log.error("error while handling update %s", update_id, exc_info=context.error)

    application.add_handler(TypeHandler(Update, on_update))
    application.add_error_handler(on_error)
    return application, runtime


async def open_runtime(application: Application, runtime: Runtime) -> None:  # type: ignore[type-arg]
    """Open the database and the channel; `run_polling` calls it as post_init, `serve`
    and the tests call it themselves after initialising the application."""
    if runtime.db is not None:
        return
    settings = runtime.settings
    policy = settings.policy()
    runtime.db = await Database.open(settings.database_path)
    store = EvidenceStore(settings.evidence_dir)
    engine = Engine(runtime.db, settings.default_locale, settings.timezone, policy=policy)
    focal = FocalGroups(Desk(runtime.db, policy))
    runtime.channel = TelegramChannel(engine, store, settings.default_locale, focal=focal)
    sender = TelegramSender(application.bot, runtime.db, store, settings.default_locale)
    runtime.worker = DeliveryWorker(
        runtime.db, policy, {"telegram": sender}, lease_seconds=settings.delivery_lease_seconds,
        poll_seconds=settings.delivery_poll_seconds, deadline_every=settings.deadline_check_seconds,
        base_backoff=settings.delivery_backoff_seconds)
    runtime.worker.start()
    await register_commands(application)


async def close_runtime(runtime: Runtime) -> None:
    if runtime.worker is not None:
        await runtime.worker.stop()
        runtime.worker = None
    if runtime.db is not None:
        await runtime.db.close()
        runtime.db = None


async def register_commands(application: Application) -> None:  # type: ignore[type-arg]
    """The command menu in Indonesian by default and in English for English clients."""
    scope = BotCommandScopeAllPrivateChats()
    for locale in LOCALES:
        _ = gettext_for(locale)
        commands = [BotCommand(name, _(description)) for name, description in COMMANDS]
        language = None if locale == "id" else locale
        await application.bot.set_my_commands(commands, scope=scope, language_code=language)


def run_polling(settings: Settings) -> None:
    application, _runtime = build_application(settings)
    application.run_polling(allowed_updates=ALLOWED_UPDATES)


def run_webhook(settings: Settings) -> None:
    asyncio.run(serve(settings))


async def serve(settings: Settings, stop: asyncio.Event | None = None) -> None:
    """Run the web server (webhook + health) until `stop` is set or a signal arrives."""
    if not (settings.public_base_url and settings.telegram_webhook_secret):
        raise SystemExit("serve needs PUBLIC_BASE_URL and TELEGRAM_WEBHOOK_SECRET")
    application, runtime = build_application(settings, webhook=True)
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):  # not on Windows / not main thread
            loop.add_signal_handler(sig, stop.set)
    async with application:
        await open_runtime(application, runtime)
        await application.start()
        assert runtime.db is not None
        runner = await start_site(make_web_app(settings, runtime.db, application), settings.host, settings.port)
        url = settings.public_base_url.rstrip("/") + settings.telegram_webhook_path
        await application.bot.set_webhook(
            url, secret_token=settings.telegram_webhook_secret.get_secret_value(),
            allowed_updates=ALLOWED_UPDATES,
        )
        log.info("serving on %s:%s, webhook at %s", settings.host, settings.port, settings.telegram_webhook_path)
        try:
            await stop.wait()
        finally:
            await runner.cleanup()
            await application.stop()
            await close_runtime(runtime)
