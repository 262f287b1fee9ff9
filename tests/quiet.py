"""Waiting until the service under test has nothing left to do: for that event, not for a
moment in which nothing happened to move (which costs its length every time, and is wrong
whenever the machine is slower than the moment).

The service has nothing left to do (for one chat, or at all) when
- every update the fake Bot API served has been handled: our poller asks for the next
  offset only once a batch is done, replies sent right after their steps included;
- no WhatsApp message waits in the inbound queue (the webhook stores it before it answers);
- nothing waits in the outbox: every reply, card, file and piece of news has been sent and
  recorded as sent (a step's outcomes are queued in its own transaction, so nothing is
  caused that is not there yet);
  what is held for the world outside (a WhatsApp message waiting for the person to write
  within 24 hours, or for a template) is not work the service can do, unless it is being sent;
- (at all) no new case waits for the related-reports search (the delivery worker's, before
  its card goes).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

from tests.backends import inspect_db

POLL_SECONDS = 0.01
"""How often the condition is looked at: a check, not a wait for time to pass."""
HELD = " AND (held_for IS NULL OR leased_until IS NOT NULL)"
WORK_LEFT = ("SELECT (SELECT count(*) FROM outbox WHERE status = 'pending'" + HELD + ")"
             " + (SELECT count(*) FROM inbound_queue WHERE status = 'pending')"
             " + (SELECT count(*) FROM cases WHERE linked_at IS NULL)")
WORK_LEFT_FOR_CHAT = ("SELECT (SELECT count(*) FROM outbox WHERE status = 'pending' AND channel = ? AND address = ?"
                      + HELD + ")"
                      " + (SELECT count(*) FROM inbound_queue WHERE status = 'pending' AND channel = ? AND address = ?)")


async def until_quiet(settings: Any, condition: Callable[[], bool] = lambda: True, fake: Any = None,
                      timeout: float = 20.0, chat: tuple[str, str] | None = None) -> None:
    """Until `condition` holds and the service on `settings` (with `fake`, the fake Bot API
    it polls, if any) has nothing left to do, or nothing left for `chat` (channel, address):
    a group whose card keeps failing does not hold up its reporter."""
    deadline = time.monotonic() + timeout
    left: int | str = "?"
    with inspect_db(settings) as db:
        if chat is None:
            sql, params = WORK_LEFT, ()
        else:  # an address is stored as its keyed hash
            keyed = (chat[0], db.lookup(chat[1]))
            sql, params = WORK_LEFT_FOR_CHAT, (*keyed, *keyed)
        while True:
            if condition() and (fake is None or fake.all_handled()):
                left = int(db.execute(sql, params).fetchone()[0])
                if not left:
                    return
            if time.monotonic() > deadline:
                last = [c.method for c in fake.calls[-5:]] if fake is not None else []
                raise AssertionError(f"not quiet after {timeout:.0f} s: condition {condition()}, updates handled "
                                     f"{fake is None or fake.all_handled()}, work left {left}; last calls {last}")
            await asyncio.sleep(POLL_SECONDS)
