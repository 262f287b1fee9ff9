"""The real PTB Application polling a local fake Bot API, and helpers to talk to it."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

from bot.config import Settings
from bot.runtime import Runtime, close_runtime
from bot.telegram.app import ALLOWED_UPDATES, build_application, open_runtime
from bot.telegram.polling import poll
from tests import fake_telegram as tg
from tests.backends import Backend
from tests.fake_telegram import FakeTelegram
from tests.quiet import until_quiet


def settings_for(fake: FakeTelegram, backend: Backend, **extra: Any) -> Settings:
    """A bot on the fake Bot API, stored on the test's backend (SQLite or PostgreSQL). The
    fake keeps them, so that waiting for the bot can look at what it has left to do.

    Unless a test says otherwise, waits are short: a failed delivery is tried again after
    0.1 s (2 s in service) and the worker looks for due ones every 0.05 s (1 s), and there
    is no limit of 20 messages a minute per group (Telegram's, which PTB's rate limiter
    keeps by waiting 3 s a message once a group has had its 20): a test's group is not
    Telegram's."""
    extra.setdefault("telegram_group_max_per_minute", 0)
    extra.setdefault("delivery_backoff_seconds", 0.1)
    extra.setdefault("delivery_poll_seconds", 0.05)
    settings = Settings(
        telegram_bot_token=tg.TOKEN, telegram_base_url=fake.api_url, telegram_base_file_url=fake.file_url,
        **backend.settings(), **extra,
    )
    fake.service = settings
    return settings


@asynccontextmanager
async def polling_bot(settings: Settings, album_quiet: float = 0.3, sent_flush: float = 0.005) -> AsyncIterator[Runtime]:
    """The bot as `python -m bot run` runs it: our poller, which confirms updates once handled.
    `sent_flush`: how soon replies sent right after their step are recorded as sent when no
    next step does it (0.1 s in service); the tests wait for that record (`tests/quiet.py`)."""
    application, runtime = build_application(settings, webhook=True)
    async with application:
        await open_runtime(application, runtime)
        assert runtime.engine is not None
        runtime.engine.coalesce_seconds = album_quiet
        runtime.engine.sent_flush_seconds = sent_flush
        await application.start()
        stop = asyncio.Event()
        poller = asyncio.create_task(poll(application, stop, ALLOWED_UPDATES, timeout=1))
        try:
            yield runtime
        finally:
            stop.set()
            await poller
            await application.stop()
            await close_runtime(runtime)


async def quiet(fake: FakeTelegram, condition: Callable[[], bool] = lambda: True, timeout: float = 20.0) -> None:
    """Until `condition` holds and the bot polling `fake` has nothing left to do at all
    (`tests/quiet.py`): before reading the database for what the bot did."""
    assert fake.service is not None, "make the settings with settings_for(fake, ...)"
    await until_quiet(fake.service, condition, fake, timeout)


UPLOAD_DESCRIPTION = "Kepala sekolah mengunggah ajakan memilih paslon 2 di grup WhatsApp guru."


class Reporter:
    """One Telegram user in a private chat with the bot."""

    def __init__(self, fake: FakeTelegram, chat_id: int, language: str = "id") -> None:
        self.fake = fake
        self.chat_id = chat_id
        self.language = language

    def _count(self) -> int:
        return len(self.fake.shown(self.chat_id))

    async def settle(self, before: int, at_least: int = 1, timeout: float = 10.0) -> list[str]:
        """Wait for the bot's answer, then until the bot has nothing left to do for this chat:
        its outbox drained. Not until every update is handled: the poller keeps polling
        beside an update still at work (a slow download), which must not hold this chat up."""
        await self.fake.wait_for(lambda: self._count() >= before + at_least, timeout)
        assert self.fake.service is not None, "make the settings with settings_for(fake, ...)"
        await until_quiet(self.fake.service, timeout=timeout, chat=("telegram", str(self.chat_id)))
        return self.fake.shown(self.chat_id)[before:]

    async def say(self, body: str, at_least: int = 1) -> list[str]:
        before = self._count()
        self.fake.push(tg.text(self.chat_id, body, language=self.language))
        return await self.settle(before, at_least)

    async def send(self, update: dict[str, Any], at_least: int = 1) -> list[str]:
        before = self._count()
        self.fake.push(update)
        return await self.settle(before, at_least)

    async def until_evidence(self, description: str = UPLOAD_DESCRIPTION, first: bool = True) -> None:
        """A report from its start (the first: /start and consent; a later one: /mulai) to the
        evidence step, with the answers the end-to-end tests share."""
        if first:
            await self.say("/start", at_least=2)
            await self.press("agree")
        else:
            await self.say("/mulai")
        await self.say("denpasar")
        await self.press("pemda")
        await self.press("sekolah")
        await self.say("SMPN 1 Denpasar")
        await self.say("Budi Santoso")
        await self.press("skip")
        await self.press("pns")
        await self.press("media_sosial")
        await self.say("19/11/2024")
        await self.press("same")
        await self.say("Ruang guru")
        await self.send(tg.location(self.chat_id, -8.65, 115.21))
        await self.say(description)
        await self.press("skip")

    def last_keyboard_message(self) -> dict[str, Any]:
        for call in reversed(self.fake.calls):
            markup = call.params.get("reply_markup")
            if (call.method in ("sendMessage", "editMessageText") and str(call.params.get("chat_id")) == str(self.chat_id)
                    and isinstance(markup, dict) and "inline_keyboard" in markup):
                return {"params": call.params, "result": call.result}
        raise AssertionError("no keyboard was sent")

    def press_update(self, option_id: str, message: dict[str, Any] | None = None) -> dict[str, Any]:
        message = message or self.last_keyboard_message()
        keyboard = message["params"]["reply_markup"]["inline_keyboard"]
        data = next(b["callback_data"] for row in keyboard for b in row
                    if b["callback_data"].split(":", 1)[1] == option_id)
        return tg.press(self.chat_id, data, message["result"]["message_id"], message["params"]["text"], keyboard)

    async def press(self, option_id: str, at_least: int = 1) -> list[str]:
        return await self.send(self.press_update(option_id), at_least)


async def submit_report(r: Reporter, photos: list[bytes], identity: str = "anonim",
                        region: str = "denpasar", person: str = "Budi Santoso", incident: str = "media_sosial",
                        occurred: str = "19/11/2024") -> str:
    """A complete report with an album of `photos`; returns the case number."""
    await r.say("/start", at_least=2)
    await r.press("agree")
    await r.say(region)
    await r.press("pemda")
    await r.press("sekolah")
    await r.say("SMPN 1 Denpasar")
    await r.say(person)
    await r.press("skip")
    await r.press("pns")
    await r.press(incident)
    await r.say(occurred)
    await r.press("same")
    await r.say("Ruang guru <b>SMPN 1</b> & kantin")
    await r.send(tg.location(r.chat_id, -8.65, 115.21))
    await r.say("Kepala sekolah mengunggah ajakan memilih paslon 2 di grup WhatsApp guru <script>.")
    await r.press("skip")
    if photos:
        before = r._count()
        for n, data in enumerate(photos):
            r.fake.push(tg.photo(r.fake, r.chat_id, f"{r.chat_id}-album-{n}", data, group=f"album-{r.chat_id}"))
        await r.settle(before)
        await r.press("done")
    else:
        await r.press("done")
        await r.press("none")
    await r.press(identity)
    if identity != "anonim":
        await r.say("Siti Aminah")
        await r.send(tg.contact(r.chat_id, "+6281234567890"))
    done = await r.press("send")
    number = next(word for word in done[0].split() if word.startswith("LN-")).rstrip(".")
    return number
