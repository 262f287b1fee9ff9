"""The fake Bot API (tests/fake_telegram.py) in a process of its own, with a closed-loop
driver: N reporters each send their next line only once the bot has answered the last
one, as people do. Run by bench/telegram_throughput.py, one process per measured bot, so
that the bot, not the fake, is what the figures measure.

Polling bots fetch the updates with getUpdates; if the bot calls setWebhook, the updates
are POSTed to that URL instead, and a method in the webhook's response (the answer to a
press) is carried out by the fake without being counted as a call.

Protocol on stdout, one JSON object a line: {"port": P} when listening, {"started": true}
when the first update is pushed, then the result when every reporter is done.

Usage: python bench/fake_bot_api.py --reporters 50 [--answer question|any]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import time
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests import fake_telegram as tg  # noqa: E402
from tests.fake_telegram import FakeTelegram  # noqa: E402

TODAY = datetime.now(ZoneInfo("Asia/Jakarta")).strftime("%d/%m/%Y")  # a recent date: no lateness note
SCRIPT = [
    "/start", "@agree", "denpasar", "@pemda", "@sekolah", "SMPN 1 Denpasar", "Budi Santoso", "@skip", "@pns",
    "@media_sosial", TODAY, "@same", "Ruang guru", "Lewati",
    "Kepala sekolah mengunggah ajakan memilih paslon 2 di grup WhatsApp guru.", "@skip", "@done", "@none",
    "@anonim", "@send",
]
"""A complete report without files: 12 button presses and 8 typed answers ("Lewati" is
the label of the skip button on the location keyboard, which sends it as text). Each
answer of the bot is one message, except the first (a welcome, then the consent
question), so the driver takes a message with a keyboard, or an edit, as the answer."""
STARTUP_METHODS = {"getMe", "getUpdates", "deleteWebhook", "setWebhook", "setMyCommands", "getMyCommands", "close",
                   "logOut"}
SECRET = "bench-secret"


class Driver:
    def __init__(self, fake: FakeTelegram, reporters: int, answer: str) -> None:
        self.fake = fake
        self.answer = answer
        self.position = {chat: 0 for chat in range(1, reporters + 1)}
        self.pushed_at: dict[int, float] = {}
        self.keyboards: dict[int, dict[str, Any]] = {}
        self.latencies: list[float] = []
        self.updates = 0
        self.remaining = reporters
        self.finished = asyncio.Event()
        self.started_at = 0.0
        self.webhook: str | None = None
        self.http: aiohttp.ClientSession | None = None
        self.in_response = 0
        for method in ("sendMessage", "editMessageText"):
            original = getattr(fake, f"_m_{method}")
            setattr(fake, f"_m_{method}", self._watch(method, original))
        original_set = fake._m_setWebhook if hasattr(fake, "_m_setWebhook") else None

        def set_webhook(params: dict[str, Any]) -> bool:
            # `serve` wants an https address (Telegram calls webhooks only over https); here a
            # TLS-terminating balancer in front of it is played by calling it over plain http
            self.webhook = str(params["url"]).replace("https://", "http://", 1)
            return True if original_set is None else bool(original_set(params))

        fake._m_setWebhook = set_webhook  # type: ignore[attr-defined]

    def _watch(self, method: str, original: Any) -> Any:
        def handler(params: dict[str, Any]) -> dict[str, Any]:
            result = original(params)
            chat = int(params["chat_id"])
            if chat not in self.position:
                return result
            markup = params.get("reply_markup")
            if isinstance(markup, dict) and "inline_keyboard" in markup:
                self.keyboards[chat] = {"message_id": result["message_id"], "text": params.get("text", ""),
                                        "markup": markup}
            answered = method == "editMessageText" or markup is not None or self.answer == "any" \
                or self.position[chat] == len(SCRIPT)
            if answered and self.position[chat] >= 0:
                asyncio.get_running_loop().call_soon(self.next, chat)
            return result
        return handler

    def next(self, chat: int) -> None:
        step = self.position[chat]
        if step < 0 or (step and chat not in self.pushed_at):
            return
        if chat in self.pushed_at:
            self.latencies.append(time.perf_counter() - self.pushed_at.pop(chat))
        if step == len(SCRIPT):
            self.position[chat] = -1
            self.remaining -= 1
            if self.remaining == 0:
                self.finished.set()
            return
        self.position[chat] = step + 1
        self.pushed_at[chat] = time.perf_counter()
        self.updates += 1
        self.push(self.update_for(chat, SCRIPT[step]))

    def update_for(self, chat: int, line: str) -> dict[str, Any]:
        if not line.startswith("@"):
            return tg.text(chat, line)
        option = line[1:]
        keyboard = self.keyboards.get(chat)
        if keyboard is None:  # the null bot shows no buttons: press one all the same
            return tg.press(chat, f"0:{option}", 1, "ok")
        found = [b["callback_data"] for row in keyboard["markup"]["inline_keyboard"] for b in row
                 if b.get("callback_data", "").split(":", 1)[-1] == option]
        if not found:
            raise SystemExit(f"no button {option!r} under {keyboard['text'][:80]!r}: {keyboard['markup']}")
        data = found[0]
        return tg.press(chat, data, keyboard["message_id"], keyboard["text"], keyboard["markup"]["inline_keyboard"])

    def push(self, update: dict[str, Any]) -> None:
        if self.webhook is None:
            self.fake.push(update)
            return
        update["update_id"] = self.fake.next_update_id
        self.fake.next_update_id += 1
        asyncio.get_running_loop().create_task(self._post(update))

    async def _post(self, update: dict[str, Any]) -> None:
        assert self.http is not None and self.webhook is not None
        try:
            async with self.http.post(self.webhook, json=update,
                                      headers={"X-Telegram-Bot-Api-Secret-Token": SECRET}) as response:
                body = await response.read()
        except aiohttp.ClientError:
            if self.finished.is_set():  # the bot is being stopped: nothing is waiting for this answer
                return
            raise
        if response.content_type == "application/json" and body:
            method = json.loads(body).get("method")
            if method:  # carried out by Telegram as part of the webhook's answer
                self.in_response += 1

    async def run(self) -> None:
        self.started_at = time.perf_counter()
        for chat in self.position:
            self.next(chat)
        await self.finished.wait()


async def main(reporters: int, answer: str) -> None:
    fake = FakeTelegram()
    await fake.start()
    driver = Driver(fake, reporters, answer)
    driver.http = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0))
    print(json.dumps({"port": int(fake.base.rsplit(":", 1)[1])}), flush=True)
    # the bot is ready when it polls, or when it has set its webhook
    while not driver.webhook and not any(c.method == "getUpdates" for c in fake.calls):
        await asyncio.sleep(0.05)
    await asyncio.sleep(0.5)
    fake.calls.clear()
    print(json.dumps({"started": True}), flush=True)
    await driver.run()
    elapsed = time.perf_counter() - driver.started_at
    calls: dict[str, int] = {}
    for call in fake.calls:
        if call.method not in STARTUP_METHODS:
            calls[call.method] = calls.get(call.method, 0) + 1
    latencies = sorted(driver.latencies)
    print(json.dumps({
        "updates": driver.updates, "seconds": elapsed, "calls": calls, "in_response": driver.in_response,
        "mode": "webhook" if driver.webhook else "polling",
        "p50_ms": statistics.median(latencies) * 1000,
        "p99_ms": latencies[max(0, int(len(latencies) * 0.99) - 1)] * 1000,
    }), flush=True)
    await driver.http.close()
    await fake.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--reporters", type=int, default=50)
    parser.add_argument("--answer", choices=("question", "any"), default="question",
                        help="what counts as the bot's answer: a message with a keyboard (or an edit), or any")
    args = parser.parse_args()
    asyncio.run(main(args.reporters, args.answer))
