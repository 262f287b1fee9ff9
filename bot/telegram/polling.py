"""Long polling that confirms an update only after it has been handled.

One poller per database: a second `run` on the same database refuses to start (it holds
`Database.exclusive`), instead of competing for the same updates.

PTB's own Updater confirms a batch (by asking for the next offset) as soon as it has
fetched it, before the handlers ran; a crash in between loses those updates. Here an update
is confirmed only once it has been handled (chats concurrently, each chat in order: the
channel holds a lock per chat). A crash means the unconfirmed updates are fetched again, and
the engine recognises what it had already stored. An update that takes long (a file still
downloading, within its deadline) does not hold up the others: after `HOLD_SECONDS` the
poller asks for newer updates beside it, confirming only what comes before it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal

from telegram.error import InvalidToken, TelegramError

from bot.config import Settings
from bot.telegram import TelegramApp
from storage.database import LockHeld

log = logging.getLogger(__name__)


HOLD_SECONDS = 0.5
"""How long the poller waits for a batch before it asks for newer updates beside the ones
still being handled (a file downloading)."""


async def poll(application: TelegramApp, stop: asyncio.Event, allowed_updates: list[str],
               timeout: int = 10, retry_pause: float = 1.0) -> None:
    bot = application.bot
    await bot.delete_webhook()  # getUpdates refuses to work while a webhook is set
    offset: int | None = None
    running: dict[int, asyncio.Task[None]] = {}
    finished: set[int] = set()
    """Handled, but not confirmed yet: an older update is still running."""
    try:
        while not stop.is_set():
            fetch = asyncio.ensure_future(bot.get_updates(offset=offset, timeout=timeout,
                                                          allowed_updates=allowed_updates, read_timeout=timeout + 10))
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
            fresh = [u for u in updates if u.update_id not in running and u.update_id not in finished]
            for update in fresh:  # in order: a chat's later update waits on its lock behind the earlier one
                running[update.update_id] = asyncio.create_task(application.process_update(update))
            if not running:
                if updates:
                    offset = updates[-1].update_id + 1
                continue
            await asyncio.wait(running.values(), timeout=HOLD_SECONDS)
            for update_id, task in list(running.items()):
                if task.done():
                    del running[update_id]
                    finished.add(update_id)
                    if not task.cancelled() and task.exception() is not None:
                        log.error("update %s failed: %s", update_id, type(task.exception()).__name__)
            highest = max([*finished, *(u.update_id for u in updates)], default=None)
            if running:  # confirm only what is before the oldest update still running
                offset = min(running)
                finished = {i for i in finished if i > offset}
            elif highest is not None:
                offset = highest + 1
                finished.clear()
    finally:
        if running:
            await asyncio.gather(*running.values(), return_exceptions=True)


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
