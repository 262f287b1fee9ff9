"""Deadlines for downloading a reporter's file, the same for WhatsApp media (Twilio) and
Telegram files: a total deadline per file (every try included), a minimum rate, and a bounded
number of tries. A server that answers one byte every two seconds is given up after one
rate window, not after the attack round's 300 s × 4 tries, so a stalled download frees what
it holds (a reporter's turn, the poller's batch) within the deadline.

The bytes go straight into the evidence store as they come (never whole in memory), hashed
on the way, and are named only when complete.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

import aiohttp

from storage.evidence_files import EvidenceStore, Incoming, StoredFile, TooLarge

CHUNK = 64 * 1024


class Stalled(Exception):
    """Slower than the minimum rate, or past the deadline."""


@dataclass(frozen=True, slots=True)
class DownloadLimits:
    deadline: float = 60.0
    """Seconds for one file, every try and pause included."""
    min_rate: int = 16 * 1024
    """Bytes per second, over each rate window."""
    tries: int = 3

    @property
    def window(self) -> float:
        """How long the rate is measured over (and the longest silence allowed)."""
        return min(10.0, self.deadline / 4)

    def remaining(self, started: float) -> float:
        return self.deadline - (time.monotonic() - started)


async def stream(content: aiohttp.StreamReader, incoming: Incoming, limits: DownloadLimits, started: float) -> None:
    """Copy a response body into `incoming`, or raise `Stalled` when it comes too slowly or
    the file's deadline passes."""
    window_start, window_bytes = time.monotonic(), 0
    while True:
        remaining = limits.remaining(started)
        if remaining <= 0:
            raise Stalled("deadline")
        try:
            chunk = await asyncio.wait_for(content.readany(), timeout=min(limits.window, remaining))
        except TimeoutError as exc:
            raise Stalled("silent") from exc
        if not chunk:
            return
        await incoming.write(chunk)
        window_bytes += len(chunk)
        now = time.monotonic()
        if now - window_start >= limits.window:
            if window_bytes < limits.min_rate * (now - window_start):
                raise Stalled("too slow")
            window_start, window_bytes = now, 0


class NotReceived(Exception):
    """The file did not arrive whole within the limits (worth asking the sender again)."""


class TooLargeFile(Exception):
    """Over the cap for this channel."""


class Downloads:
    """Plain GET downloads (Telegram's file server) under the limits, on a session of their
    own. The URL can carry a secret (the bot token): it is never put in a message or a log."""

    def __init__(self, limits: DownloadLimits | None = None, retry_pause: float = 0.5) -> None:
        self.limits = limits or DownloadLimits()
        self.retry_pause = retry_pause
        self._session: aiohttp.ClientSession | None = None

    def _http(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(
                total=None, sock_connect=min(15.0, self.limits.window), sock_read=self.limits.window))
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def fetch(self, url: str, store: EvidenceStore, max_bytes: int) -> StoredFile:
        started = time.monotonic()
        last = "deadline"
        for attempt in range(self.limits.tries):
            remaining = self.limits.remaining(started)
            if remaining <= 0:
                break
            try:
                async with asyncio.timeout(remaining), self._http().get(url, allow_redirects=False) as response:
                    if response.status != 200:
                        raise NotReceived(f"HTTP {response.status}")
                    if (response.content_length or 0) > max_bytes:
                        raise TooLargeFile()
                    async with store.receive(max_bytes) as incoming:
                        await stream(response.content, incoming, self.limits, started)
                        return await incoming.finish()
            except TooLarge as exc:
                raise TooLargeFile() from exc
            except (NotReceived, aiohttp.ClientError, TimeoutError, Stalled) as exc:
                last = str(exc) if isinstance(exc, NotReceived) else type(exc).__name__
            pause = min(self.retry_pause * 2 ** attempt, self.limits.remaining(started))
            if pause > 0 and attempt + 1 < self.limits.tries:
                await asyncio.sleep(pause)
        raise NotReceived(last)
