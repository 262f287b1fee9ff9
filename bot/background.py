"""A background loop that does rounds of work: at once when woken (after a commit that
may have queued something), otherwise every `poll_seconds`. Subclasses say what a round
is and what to give back when they are stopped."""

from __future__ import annotations

import asyncio
import logging

log = logging.getLogger(__name__)


class BackgroundLoop:
    name = "background"

    def __init__(self, poll_seconds: float) -> None:
        self.poll_seconds = poll_seconds
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def wake(self) -> None:
        self._wake.set()

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name=self.name)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
            self._task = None
        await self.stopped()

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
            try:
                await asyncio.wait_for(self._wake.wait(), self.poll_seconds)
            except TimeoutError:
                pass
