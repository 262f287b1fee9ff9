"""Telegram's flood limits, kept on our side: about 30 messages a second for the bot and
`TELEGRAM_GROUP_MAX_PER_MINUTE` a minute per group (leaky buckets from aiolimiter, as PTB's
`AIORateLimiter` keeps them).

PTB's `AIORateLimiter` waits for a group's slot inside the call, and a RetryAfter pauses
every request of the bot. Both hold a delivery's lease, and the worker's lane, while they
wait. Here a call made by a delivery (`bot.delivery.SENDING`) is never held:

- a group with no free slot raises `Throttled` with the time to its next slot, and the
  worker gives the delivery's lease back until then (its parts already sent stay sent);
- a RetryAfter is raised at once, and the worker keeps it as a floor for that chat.

Calls outside a delivery (a staff command answered in its chat, a notice) wait for their
slot and try again after a RetryAfter, as before; only that call waits.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Coroutine
from typing import Any

from aiolimiter import AsyncLimiter
from telegram.error import RetryAfter
from telegram.ext import BaseRateLimiter

from bot.delivery import SENDING, Throttled

MAX_GROUP_LIMITERS = 512
Result = bool | dict[str, Any] | list[dict[str, Any]]


class DeliveryRateLimiter(BaseRateLimiter[int]):
    def __init__(self, overall_per_second: float = 30.0, group_per_minute: float = 20.0, max_retries: int = 3) -> None:
        """A rate of 0 means no limit. `max_retries`: tries after a RetryAfter, outside deliveries."""
        self.overall = AsyncLimiter(overall_per_second, 1) if overall_per_second else None
        self.group_per_minute = group_per_minute
        self.max_retries = max_retries
        self._groups: dict[int | str, AsyncLimiter] = {}

    async def initialize(self) -> None:
        """Nothing to set up."""

    async def shutdown(self) -> None:
        """Nothing to close."""

    def _group(self, chat_id: int | str) -> AsyncLimiter:
        if len(self._groups) > MAX_GROUP_LIMITERS:  # groups with a full allowance again need no bucket
            for key, limiter in list(self._groups.items()):
                if key != chat_id and limiter.has_capacity(limiter.max_rate):
                    del self._groups[key]
        if chat_id not in self._groups:
            self._groups[chat_id] = AsyncLimiter(self.group_per_minute, 60)
        return self._groups[chat_id]

    @property
    def slot_seconds(self) -> float:
        """How long a full group waits for its next slot."""
        return 60 / self.group_per_minute if self.group_per_minute else 0.0

    def ensure_room(self, chat_id: int, calls: int) -> None:
        """For a delivery about to make `calls` calls to a group as one part (an album and the
        note after it): `Throttled` now unless the group has a slot for each, so that the part
        is not cut in two and its first calls sent again when the delivery comes back."""
        if not SENDING.get() or chat_id >= 0 or not self.group_per_minute or calls <= 1:
            return
        if not self._group(chat_id).has_capacity(min(calls, self.group_per_minute)):
            raise Throttled(self.slot_seconds)

    async def process_request(self, callback: Callable[..., Coroutine[Any, Any, Result]], args: Any,
                              kwargs: dict[str, Any], endpoint: str, data: dict[str, Any],
                              rate_limit_args: int | None) -> Result:
        chat_id = data.get("chat_id")
        with contextlib.suppress(ValueError, TypeError):
            chat_id = int(chat_id)  # type: ignore[arg-type]
        group = chat_id if (isinstance(chat_id, int) and chat_id < 0) or isinstance(chat_id, str) else None
        delivery = SENDING.get()
        retries = 0 if delivery else (rate_limit_args if rate_limit_args is not None else self.max_retries)
        for attempt in range(retries + 1):
            slot = self._group(group) if group is not None and self.group_per_minute else None
            if slot is not None and delivery and not slot.has_capacity():
                raise Throttled(self.slot_seconds)
            try:
                async with slot or contextlib.nullcontext(), \
                        (self.overall if chat_id is not None and self.overall else contextlib.nullcontext()):
                    return await callback(*args, **kwargs)
            except RetryAfter as exc:
                if attempt >= retries:
                    raise
                after = exc.retry_after
                await asyncio.sleep((after if isinstance(after, (int, float)) else after.total_seconds()) + 0.1)
        raise AssertionError("unreachable")
