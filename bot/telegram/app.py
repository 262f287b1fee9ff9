"""The PTB `Application`: long polling (`python -m bot run`) or, without an updater, the
webhook on the shared aiohttp server (`bot/serve.py`)."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from telegram import (
    Bot,
    BotCommand,
    BotCommandScopeAllGroupChats,
    BotCommandScopeAllPrivateChats,
    BotCommandScopeChat,
    LinkPreviewOptions,
    Update,
)
from telegram.error import TelegramError
from telegram.ext import Application, ContextTypes, Defaults, TypeHandler

from bot import runtime as runtime_module
from bot.config import Settings
from bot.logs import address_ref
from bot.runtime import Runtime, close_runtime
from bot.telegram import TelegramApp
from bot.telegram.limiter import DeliveryRateLimiter
from bot.telegram.request import AiohttpRequest
from flows.command_menus import Menu, entries
from flows.i18n import LOCALES, gettext_for
from storage import Database, staff

log = logging.getLogger(__name__)
ALLOWED_UPDATES = ["message", "edited_message", "callback_query", "my_chat_member"]


def _transport(settings: Settings, connections: int) -> AiohttpRequest:
    timeout = settings.telegram_timeout
    return AiohttpRequest(connections, read_timeout=timeout, write_timeout=timeout, connect_timeout=timeout,
                          pool_timeout=timeout, media_write_timeout=max(timeout, 20.0))


@asynccontextmanager
async def plain_bot(settings: Settings) -> AsyncIterator[Bot]:
    """A bot for a few calls outside the service (`check`): initialised (which asks
    `getMe`, raising `InvalidToken` for a refused token) and always closed."""
    assert settings.telegram_bot_token is not None
    bot = Bot(settings.telegram_bot_token.get_secret_value(), base_url=settings.telegram_base_url,
              base_file_url=settings.telegram_base_file_url, request=_transport(settings, 8),
              get_updates_request=_transport(settings, 1))
    async with bot:  # PTB closes its requests when initialising fails
        yield bot


@asynccontextmanager
async def initialized(application: TelegramApp) -> AsyncIterator[None]:
    """`async with application`, except that a failed start (a refused token, Telegram out
    of reach) closes the HTTP sessions too: PTB's `shutdown` skips an application that never
    finished initialising, and the sessions' "Unclosed client session" followed the error."""
    try:
        await application.initialize()
    except BaseException:
        await application.bot.shutdown()
        raise
    try:
        yield
    finally:
        await application.shutdown()


def build_application(settings: Settings, *, webhook: bool = False) -> tuple[TelegramApp, Runtime]:
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


async def open_runtime(application: TelegramApp, runtime: Runtime) -> None:
    """The shared runtime with this bot, and the command menus; called after the
    application is initialised (`run`, `serve`, the tests)."""
    await runtime_module.open_runtime(runtime, application.bot)
    assert runtime.db is not None
    await register_commands(application.bot, runtime.db, runtime.settings)


def _commands(menu: Menu, locale: str) -> list[BotCommand]:
    _ = gettext_for(locale)
    return [BotCommand(entry.command, _(entry.description)) for entry in entries(menu)]


async def register_commands(bot: Bot, db: Database, settings: Settings) -> None:
    """The command menus, per scope as Telegram resolves them: reporters' commands in every
    private chat (Indonesian by default, English for English clients); the focal points'
    commands in groups; each admin's and moderator's own commands in their private chat
    (in the staff's language). A chat Telegram does not know yet (a moderator who never
    wrote to the bot) keeps the default menu until the next start."""
    for locale in LOCALES:
        language = None if locale == settings.default_locale else locale
        await bot.set_my_commands(_commands("reporter", locale), scope=BotCommandScopeAllPrivateChats(),
                                  language_code=language)
    await bot.set_my_commands(_commands("group", settings.default_locale), scope=BotCommandScopeAllGroupChats())
    async with db.reading() as tx:
        moderators = await staff.moderator_ids(tx)
    people: dict[int, Menu] = {user: "moderator" for user in moderators}
    people.update({user: "admin" for user in settings.admin_telegram_ids})
    for user_id, menu in sorted(people.items()):
        try:
            await set_private_menu(bot, user_id, menu, settings.default_locale)
        except TelegramError as exc:
            log.warning("could not set the command menu of %s: %s", address_ref(user_id), type(exc).__name__)


async def set_private_menu(bot: Bot, user_id: int, menu: str | None, locale: str) -> None:
    """One person's private chat: their staff commands, or (None) back to the reporters'."""
    scope = BotCommandScopeChat(user_id)
    if menu in ("moderator", "admin"):
        await bot.set_my_commands(_commands(menu, locale), scope=scope)  # type: ignore[arg-type]
    else:
        await bot.delete_my_commands(scope=scope)


def run_polling(settings: Settings) -> None:
    from bot.telegram.polling import run

    run(settings)
