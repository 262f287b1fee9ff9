"""The PTB `Application`: long polling (`python -m bot run`) or, without an updater, the
webhook on the shared aiohttp server (`bot/serve.py`)."""

from __future__ import annotations

import logging

from telegram import BotCommand, BotCommandScopeAllPrivateChats, LinkPreviewOptions, Update
from telegram.ext import Application, ContextTypes, Defaults, TypeHandler

from bot import runtime as runtime_module
from bot.config import Settings
from bot.runtime import Runtime, close_runtime
from bot.telegram.limiter import DeliveryRateLimiter
from bot.telegram.request import AiohttpRequest
from flows.i18n import LOCALES, N_, gettext_for

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


def _transport(settings: Settings, connections: int) -> AiohttpRequest:
    timeout = settings.telegram_timeout
    return AiohttpRequest(connections, read_timeout=timeout, write_timeout=timeout, connect_timeout=timeout,
                          pool_timeout=timeout, media_write_timeout=max(timeout, 20.0))


def build_application(settings: Settings, *, webhook: bool = False) -> tuple[Application, Runtime]:  # type: ignore[type-arg]
    """`webhook=True` leaves out PTB's Updater: updates come from the webhook or from
    `bot/telegram/polling.py`, which confirms them only once handled."""
    assert settings.telegram_bot_token is not None
    runtime = Runtime(settings)
    builder = (
        Application.builder()
        .token(settings.telegram_bot_token.get_secret_value())
        .base_url(settings.telegram_base_url)
        .base_file_url(settings.telegram_base_file_url)
        .rate_limiter(DeliveryRateLimiter(settings.telegram_max_rate, settings.telegram_group_max_per_minute))
        .request(_transport(settings, 256))
        .get_updates_request(_transport(settings, 1))
        .concurrent_updates(True)
        # No link previews anywhere: a preview of a link an officer put in a question (or a
        # reporter in an answer) would be fetched and shown without anyone choosing to open it.
        .defaults(Defaults(link_preview_options=LinkPreviewOptions(is_disabled=True)))
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
    """The shared runtime with this bot, and the command menu; called after the
    application is initialised (`run`, `serve`, the tests)."""
    await runtime_module.open_runtime(runtime, application.bot)
    await register_commands(application)


async def register_commands(application: Application) -> None:  # type: ignore[type-arg]
    """The command menu in Indonesian by default and in English for English clients."""
    scope = BotCommandScopeAllPrivateChats()
    for locale in LOCALES:
        _ = gettext_for(locale)
        commands = [BotCommand(name, _(description)) for name, description in COMMANDS]
        language = None if locale == "id" else locale
        await application.bot.set_my_commands(commands, scope=scope, language_code=language)


def run_polling(settings: Settings) -> None:
    from bot.telegram.polling import run

    run(settings)
