"""A local fake of the Telegram Bot API (aiohttp), enough for the real PTB `Bot` to talk to.

It serves queued updates to getUpdates, records every request it receives (method and
decoded parameters), answers like the Bot API, serves files for getFile downloads, and
can be told to fail the next calls of a method.
"""

from __future__ import annotations

import asyncio
import contextlib
import email.policy
import json
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from email.parser import BytesParser
from typing import Any
from urllib.parse import parse_qs

from aiohttp import web

TOKEN = "123456:TEST-TOKEN"
BOT_USER = {"id": 123456, "is_bot": True, "first_name": "Lapor Netral", "username": "lapor_netral_bot",
            "can_join_groups": True, "can_read_all_group_messages": False, "supports_inline_queries": False}


@dataclass
class Call:
    method: str
    params: dict[str, Any]
    result: Any = None
    raw: bytes = b""
    """The request body exactly as it arrived (JSON, a form, or multipart with the files)."""


@dataclass
class Failure:
    status: int
    body: dict[str, Any]
    delay: float = 0.0
    chat_id: int | None = None


@dataclass
class FakeTelegram:
    calls: list[Call] = field(default_factory=list)
    updates: list[dict[str, Any]] = field(default_factory=list)
    files: dict[str, bytes] = field(default_factory=dict)
    failures: dict[str, list[Failure]] = field(default_factory=dict)
    forced: list[dict[str, Any]] = field(default_factory=list)
    holds: list[tuple[str, int, float]] = field(default_factory=list)
    fail_rate: float = 0.0
    """Share of send*/edit* calls answered with a 500 or a 429 (retry_after 1), at random."""
    fail_modes: tuple[str, ...] = ("500", "429")
    """With `fail_rate`: also "timeout" (answers after `slow_seconds`), "drop" (closes the
    connection unanswered), and "getUpdates" to fail polling too."""
    slow_seconds: float = 12.0
    injected: dict[str, int] = field(default_factory=dict)
    rng: random.Random = field(default_factory=lambda: random.Random(7))
    next_update_id: int = 1000
    next_message_id: int = 1
    base: str = ""
    service: Any = None
    """The settings of the service talking to this fake (`settings_for` sets them): where
    `tests.quiet` looks for work the service has still to do."""
    highest_pushed: int = 0
    confirmed: int = 0
    """The highest offset a getUpdates asked for: every update below it has been handled
    (our poller asks for the next offset only once a batch is done)."""
    _in_hand: bool = False
    """Updates were served and the poller has not yet come back for more."""
    _closing: asyncio.Event = field(default_factory=asyncio.Event)
    _new_update: asyncio.Event = field(default_factory=asyncio.Event)
    _runner: web.AppRunner | None = None

    async def start(self) -> None:
        app = web.Application(client_max_size=50 * 1024 * 1024)
        app.router.add_route("*", "/bot{token}/{method}", self._api)
        app.router.add_get("/file/bot{token}/{path:.*}", self._file)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.base = f"http://127.0.0.1:{port}"

    async def stop(self) -> None:
        self._closing.set()  # a long poll, a held or slow answer still open ends now, not when its time runs out
        self._new_update.set()
        if self._runner:
            await self._runner.cleanup()

    @property
    def api_url(self) -> str:
        return f"{self.base}/bot"

    @property
    def file_url(self) -> str:
        return f"{self.base}/file/bot"

    # --- driving --------------------------------------------------------------------

    def push(self, update: dict[str, Any]) -> int:
        if "update_id" not in update:
            update["update_id"] = self.next_update_id
            self.next_update_id += 1
        self.highest_pushed = max(self.highest_pushed, int(update["update_id"]))
        self.updates.append(update)
        self._new_update.set()
        return int(update["update_id"])

    def redeliver(self, update: dict[str, Any]) -> None:
        """Serve an update again although its offset was confirmed, as Telegram does when
        a bot died before confirming it."""
        self.forced.append(update)
        self._new_update.set()

    def fail(self, method: str, status: int, description: str = "fail", times: int = 1,
             retry_after: int | None = None, delay: float = 0.0, chat_id: int | None = None,
             migrate_to: int | None = None) -> None:
        """The next `times` calls of `method` (to `chat_id` only, if given) fail like this."""
        body: dict[str, Any] = {"ok": False, "error_code": status, "description": description}
        if retry_after is not None:
            body["parameters"] = {"retry_after": retry_after}
        if migrate_to is not None:
            body["parameters"] = {"migrate_to_chat_id": migrate_to}
        self.failures.setdefault(method, []).extend(Failure(status, body, delay, chat_id) for _ in range(times))

    def hold(self, method: str, chat_id: int, seconds: float) -> None:
        """The next successful `method` call to `chat_id` is carried out at once but
        answered only after `seconds`: a client that dies meanwhile never learns of it."""
        self.holds.append((method, chat_id, seconds))

    def all_handled(self) -> bool:
        """Every update pushed (or redelivered) so far has been served and handled: the poller
        has asked for updates after it, which it does only once a batch is done."""
        return not self.forced and not self._in_hand and self.highest_pushed < max(self.confirmed, 1)

    def sent(self, method: str = "sendMessage", chat_id: int | None = None) -> list[dict[str, Any]]:
        return [c.params for c in self.calls if c.method == method
                and (chat_id is None or str(c.params.get("chat_id")) == str(chat_id))]

    def texts(self, chat_id: int) -> list[str]:
        return [p.get("text", "") for p in self.sent("sendMessage", chat_id)]

    def shown(self, chat_id: int) -> list[str]:
        """What the bot put in front of the chat, in order: new messages and messages it
        edited (a press is answered by editing the pressed question into the next one)."""
        return [c.params.get("text", "") for c in self.calls if c.method in ("sendMessage", "editMessageText")
                and str(c.params.get("chat_id")) == str(chat_id)]

    async def wait_for(self, condition: Callable[[], bool], timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        while not condition():
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out; last calls: {[(c.method, c.params) for c in self.calls[-5:]]}")
            await asyncio.sleep(0.01)

    async def wait_messages(self, chat_id: int, count: int, timeout: float = 10.0) -> list[str]:
        await self.wait_for(lambda: len(self.texts(chat_id)) >= count, timeout)
        return self.texts(chat_id)

    # --- the API ----------------------------------------------------------------------

    async def _api(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        raw = await request.read()
        params = await _params(request, raw)
        call = Call(method, params, raw=raw)
        self.calls.append(call)
        failing = method.startswith(("send", "edit")) or (method == "getUpdates" and "getUpdates" in self.fail_modes)
        if self.fail_rate and failing and self.rng.random() < self.fail_rate:
            mode = self.rng.choice([m for m in self.fail_modes if m != "getUpdates"])
            self.injected[mode] = self.injected.get(mode, 0) + 1
            if mode == "timeout":
                await self._pause(self.slow_seconds)
            if mode == "drop" and request.transport is not None:
                request.transport.close()
                return web.Response(status=500)
            if mode == "429":
                return web.json_response({"ok": False, "error_code": 429, "description": "Too Many Requests",
                                          "parameters": {"retry_after": 1}}, status=429)
            return web.json_response({"ok": False, "error_code": 500, "description": "Internal Server Error"},
                                     status=500)
        queue = self.failures.get(method) or []
        failure = next((f for f in queue if f.chat_id is None or str(f.chat_id) == str(params.get("chat_id"))), None)
        if failure is not None:
            queue.remove(failure)
            if failure.delay:
                await self._pause(failure.delay)
            return web.json_response(failure.body, status=failure.status)
        if method == "getUpdates":
            return web.json_response({"ok": True, "result": await self._get_updates(params)})
        handler = getattr(self, f"_m_{method}", None)
        call.result = handler(params) if handler else True
        held = next((h for h in self.holds if h[0] == method and str(h[1]) == str(params.get("chat_id"))), None)
        if held is not None:
            self.holds.remove(held)
            await self._pause(held[2])
        return web.json_response({"ok": True, "result": call.result})

    async def _pause(self, seconds: float) -> None:
        """A slow answer: `seconds`, or until the fake stops."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._closing.wait(), seconds)

    async def _get_updates(self, params: dict[str, Any]) -> list[dict[str, Any]]:
        offset = int(params.get("offset") or 0)
        self.confirmed = max(self.confirmed, offset)
        self._in_hand = False
        if self.forced:
            forced, self.forced = self.forced, []
            self._in_hand = True
            return forced
        self.updates = [u for u in self.updates if u["update_id"] >= offset]
        if not self.updates:
            self._new_update.clear()
            try:
                await asyncio.wait_for(self._new_update.wait(), min(float(params.get("timeout") or 0), 1.0))
            except TimeoutError:
                return []
            if self._closing.is_set():
                return []
        served = [u for u in self.updates if u["update_id"] >= offset][:100]
        self._in_hand = bool(served)
        return served

    async def _file(self, request: web.Request) -> web.Response:
        data = self.files.get(request.match_info["path"])
        if data is None:
            return web.Response(status=404)
        return web.Response(body=data)

    def _message(self, params: dict[str, Any], **extra: Any) -> dict[str, Any]:
        message_id = self.next_message_id
        self.next_message_id += 1
        chat_id = int(params["chat_id"])
        message = {"message_id": message_id, "date": int(time.time()),
                   "chat": {"id": chat_id, "type": "private" if chat_id > 0 else "supergroup"},
                   "from": BOT_USER, **extra}
        if isinstance(params.get("reply_markup"), dict) and "inline_keyboard" in params["reply_markup"]:
            message["reply_markup"] = params["reply_markup"]
        return message

    def _m_getMe(self, params: dict[str, Any]) -> dict[str, Any]:
        return BOT_USER

    def _m_sendMessage(self, params: dict[str, Any]) -> dict[str, Any]:
        return self._message(params, text=params.get("text", ""))

    def _m_editMessageText(self, params: dict[str, Any]) -> dict[str, Any]:
        """The edited message keeps its id, as in the Bot API."""
        message = self._message(params, text=params.get("text", ""))
        self.next_message_id -= 1
        message["message_id"] = int(params.get("message_id") or message["message_id"])
        return message

    def _m_sendPhoto(self, params: dict[str, Any]) -> dict[str, Any]:
        return self._message(params, photo=[{"file_id": f"sent-{self.next_message_id}",
                                             "file_unique_id": "u", "width": 1, "height": 1}])

    def _m_sendDocument(self, params: dict[str, Any]) -> dict[str, Any]:
        return self._message(params, document={"file_id": f"sent-{self.next_message_id}", "file_unique_id": "u"})

    def _m_sendMediaGroup(self, params: dict[str, Any]) -> list[dict[str, Any]]:
        media = params.get("media") or []
        return [self._message(params, photo=[{"file_id": f"sent-{i}", "file_unique_id": "u",
                                              "width": 1, "height": 1}]) for i, _ in enumerate(media)]

    def _m_getFile(self, params: dict[str, Any]) -> dict[str, Any]:
        file_id = params["file_id"]
        path = f"files/{file_id}"
        return {"file_id": file_id, "file_unique_id": f"u-{file_id}",
                "file_size": len(self.files.get(path, b"")), "file_path": path}


async def _params(request: web.Request, raw: bytes) -> dict[str, Any]:
    """The parameters of a Bot API call, parsed from the body as it arrived (`raw`)."""
    if request.content_type == "application/json":
        return dict(json.loads(raw or b"{}"))
    fields: list[tuple[str, Any]] = []
    if request.content_type == "multipart/form-data":
        message = BytesParser(policy=email.policy.default).parsebytes(
            b"Content-Type: " + request.headers["Content-Type"].encode() + b"\r\n\r\n" + raw)
        for part in message.iter_parts():
            name = part.get_param("name", header="content-disposition")
            payload = part.get_payload(decode=True) or b""
            if part.get_filename() is not None:
                fields.append((name, {"filename": part.get_filename(), "size": len(payload), "data": payload}))
            else:
                fields.append((name, payload.decode("utf-8")))
    else:
        fields = [(k, v) for k, values in parse_qs(raw.decode("utf-8"), keep_blank_values=True).items() for v in values]
    params: dict[str, Any] = {}
    for key, value in fields:
        if isinstance(value, str):
            try:
                params[key] = json.loads(value) if value[:1] in "[{" or value in ("true", "false") else value
            except ValueError:
                params[key] = value
        else:
            params[key] = value
    return params


# --- updates as Telegram sends them ------------------------------------------------------

def user(user_id: int, language: str = "id", **extra: Any) -> dict[str, Any]:
    return {"id": user_id, "is_bot": False, "first_name": f"User{user_id}", "username": f"user{user_id}",
            "language_code": language, **extra}


def message(chat_id: int, *, language: str = "id", chat_type: str = "private", **content: Any) -> dict[str, Any]:
    chat = {"id": chat_id, "type": chat_type}
    if chat_type != "private":
        chat["title"] = "Grup"
    sender = user(chat_id if chat_type == "private" else 777, language)
    return {"message": {"message_id": int(time.monotonic() * 1000) % 10**9, "date": int(time.time()),
                        "chat": chat, "from": sender, **content}}


def text(chat_id: int, body: str, **kw: Any) -> dict[str, Any]:
    extra: dict[str, Any] = {}
    if body.startswith("/"):
        command = body.split()[0]
        extra["entities"] = [{"type": "bot_command", "offset": 0, "length": len(command)}]
    return message(chat_id, text=body, **extra, **kw)


def photo(fake: FakeTelegram, chat_id: int, name: str, data: bytes, group: str | None = None) -> dict[str, Any]:
    fake.files[f"files/{name}"] = data
    sizes = [{"file_id": f"{name}-small", "file_unique_id": f"us-{name}", "width": 90, "height": 90, "file_size": 10},
             {"file_id": name, "file_unique_id": f"u-{name}", "width": 1280, "height": 960, "file_size": len(data)}]
    extra = {"media_group_id": group} if group else {}
    return message(chat_id, photo=sizes, **extra)


def document(fake: FakeTelegram, chat_id: int, name: str, data: bytes, mime: str = "application/pdf",
             size: int | None = None) -> dict[str, Any]:
    fake.files[f"files/{name}"] = data
    return message(chat_id, document={"file_id": name, "file_unique_id": f"u-{name}", "file_name": name,
                                      "mime_type": mime, "file_size": size if size is not None else len(data)})


def location(chat_id: int, lat: float, lon: float) -> dict[str, Any]:
    return message(chat_id, location={"latitude": lat, "longitude": lon})


def contact(chat_id: int, phone: str) -> dict[str, Any]:
    return message(chat_id, contact={"phone_number": phone, "first_name": "Me", "user_id": chat_id})


def sticker(chat_id: int) -> dict[str, Any]:
    return message(chat_id, sticker={"file_id": "stk", "file_unique_id": "ustk", "width": 512, "height": 512,
                                     "is_animated": False, "is_video": False, "type": "regular"})


def group_text(chat_id: int, body: str, user_id: int, reply_to: dict[str, Any] | None = None) -> dict[str, Any]:
    """A message in a group from `user_id`, optionally a reply to one of the bot's messages."""
    update = text(chat_id, body, chat_type="supergroup")
    update["message"]["from"] = user(user_id)
    if reply_to is not None:
        update["message"]["reply_to_message"] = reply_to
    return update


def group_press(chat_id: int, data: str, message: dict[str, Any], user_id: int) -> dict[str, Any]:
    """A press on a button of `message` (a bot message in a group, as the fake returned it)."""
    return {"callback_query": {"id": f"cq{time.monotonic_ns()}", "from": user(user_id), "chat_instance": "ci",
                               "data": data, "message": message}}


def press(chat_id: int, data: str, message_id: int, text_shown: str = "",
          keyboard: list[list[dict[str, str]]] | None = None) -> dict[str, Any]:
    msg: dict[str, Any] = {"message_id": message_id, "date": int(time.time()),
                           "chat": {"id": chat_id, "type": "private"}, "from": BOT_USER, "text": text_shown}
    if keyboard:
        msg["reply_markup"] = {"inline_keyboard": keyboard}
    return {"callback_query": {"id": f"cq{time.monotonic_ns()}", "from": user(chat_id), "chat_instance": "ci",
                               "data": data, "message": msg}}
