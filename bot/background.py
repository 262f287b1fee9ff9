"""A background loop that does rounds of work: at once when woken (after a commit that
may have queued something), otherwise every `poll_seconds`. Subclasses say what a round
is and what to give back when they are stopped."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable
from typing import Any, TypeVar

log = logging.getLogger(__name__)
T = TypeVar("T")


class BackgroundLoop:
    name = "background"

    def __init__(self, poll_seconds: float) -> None:
        self.poll_seconds = poll_seconds
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._holding: set[asyncio.Future[Any]] = set()

    def wake(self) -> None:
        self._wake.set()

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name=self.name)

    async def stop(self) -> None:
        if self._task is not None:
            task, self._task = self._task, None
            task.cancel()
            await asyncio.wait({task})  # a cancellation of `stop` itself still propagates
            if not task.cancelled():
                task.result()  # the loop's own error, if it ended with one
        if self._holding:  # a lease being taken when we were cancelled: let it land, then give it back
            await asyncio.gather(*self._holding, return_exceptions=True)
        await self.stopped()

    async def taking(self, work: Awaitable[T]) -> T:
        """Run `work` (taking leases and noting them as in flight) to its end even if this
        loop is cancelled meanwhile, so that `stopped` sees and releases what it took: a
        cancellation that hit after the COMMIT would otherwise leave leases held."""
        task = asyncio.ensure_future(work)
        self._holding.add(task)
        task.add_done_callback(self._holding.discard)
        return await asyncio.shield(task)

    async def run_once(self) -> int:
        """One round; returns how much it did (0: nothing was due)."""
        raise NotImplementedError

    async def before_round(self) -> None:
        """Periodic work besides the rounds (deadlines, for the delivery worker)."""

    async def stopped(self) -> None:
        """Give back what an interrupted round held."""

    async def _run(self) -> None:
        while True:
            try:
                await self.before_round()
                self._wake.clear()
                if await self.run_once():
                    continue  # more may be due at once
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("%s round failed; trying again", self.name)
            try:  # not `wait_for`: on 3.11 it swallows a cancellation that meets a wake-up
                async with asyncio.timeout(self.poll_seconds):
                    await self._wake.wait()
            except TimeoutError:
                pass
