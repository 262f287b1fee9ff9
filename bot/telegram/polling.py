"""Long polling that confirms an update only after it has been handled.

One poller per database: a second `run` on the same database refuses to start (it holds
`Database.exclusive`), instead of competing for the same updates.

PTB's own Updater confirms a batch (by asking for the next offset) as soon as it has
fetched it, before the handlers ran; a crash in between loses those updates. Here each
batch is handled first (chats concurrently, each chat in order: the channel holds a lock
per chat), and only then is the next offset requested. A crash means the batch is
fetched again, and the engine recognises what it had already stored.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal

from telegram.error import InvalidToken, TelegramError
from telegram.ext import Application

from bot.config import Settings
from storage.database import LockHeld

log = logging.getLogger(__name__)


async def poll(application: Application, stop: asyncio.Event, allowed_updates: list[str],  # type: ignore[type-arg]
               timeout: int = 10, retry_pause: float = 1.0) -> None:
    bot = application.bot
    await bot.delete_webhook()  # getUpdates refuses to work while a webhook is set
    offset: int | None = None
    while not stop.is_set():
        fetch = asyncio.ensure_future(bot.get_updates(offset=offset, timeout=timeout, allowed_updates=allowed_updates,
                                                      read_timeout=timeout + 10))
        stopping = asyncio.ensure_future(stop.wait())
        await asyncio.wait({fetch, stopping}, return_when=asyncio.FIRST_COMPLETED)
        stopping.cancel()
        if not fetch.done():
            fetch.cancel()
            with contextlib.suppress(asyncio.CancelledError, TelegramError):
                await fetch
            break
        try:
            updates = fetch.result()
        except InvalidToken:
            raise
        except TelegramError as exc:
            log.warning("getUpdates failed (%s); trying again", type(exc).__name__)
            await asyncio.sleep(retry_pause)
            continue
        if not updates:
            continue
        await asyncio.gather(*(application.process_update(update) for update in updates))
        offset = updates[-1].update_id + 1


def run(settings: Settings) -> None:
    """`python -m bot run`."""
    asyncio.run(_main(settings))


async def _main(settings: Settings) -> None:
    from bot.runtime import close_runtime
    from bot.telegram.app import ALLOWED_UPDATES, build_application, initialized, open_runtime

    application, runtime = build_application(settings, webhook=True)  # no PTB Updater: we poll
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    async with initialized(application):
        try:
            await open_runtime(application, runtime)
            assert runtime.db is not None
            async with runtime.db.exclusive("telegram-polling") as lost:
                await application.start()
                log.info("polling for updates")
                watch = asyncio.create_task(_stop_when(lost, stop))
                try:
                    await poll(application, stop, ALLOWED_UPDATES)
                finally:
                    watch.cancel()
                    await application.stop()
                if lost.is_set():
                    raise SystemExit("lost the polling lock (database connection gone); stopping")
        except LockHeld:
            raise SystemExit("another process is already polling Telegram on this database; "
                             "run one poller, or several `serve` workers behind a webhook") from None
        finally:
            await close_runtime(runtime)


async def _stop_when(lost: asyncio.Event, stop: asyncio.Event) -> None:
    await lost.wait()
    stop.set()
