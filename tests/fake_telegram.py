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

from tests.telegram_entities import auto_entities, utf16_units, visible_text

TOKEN = "123456:TEST-TOKEN"
MAX_TEXT_UNITS = 4096
MAX_CAPTION_UNITS = 1024
"""The Bot API's limits, in UTF-16 code units of the text as shown (after HTML parsing)."""
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
    file_holds: dict[str, asyncio.Event] = field(default_factory=dict)
    """File paths whose download hangs until the event is set (or the fake stops)."""
    file_requests: list[str] = field(default_factory=list)
    fail_rate: float = 0.0
    """Share of send*/edit* calls answered with a 500 or a 429 (retry_after 1), at random."""
    fail_modes: tuple[str, ...] = ("500", "429")
    """With `fail_rate`: also "timeout" (answers after `slow_seconds`), "drop" (closes the
    connection unanswered), and "getUpdates" to fail polling too."""
    slow_seconds: float = 12.0
    injected: dict[str, int] = field(default_factory=dict)
    rng: random.Random = field(default_factory=lambda: random.Random(7))
    trickles: dict[str, float] = field(default_factory=dict)
    """File paths served one byte every so many seconds."""
    downloads: list[str] = field(default_factory=list)
    next_update_id: int = 1000
    next_message_id: int = 1
    base: str = ""
    menus: dict[tuple[str, str], list[dict[str, str]]] = field(default_factory=dict)
    """Command menus as `setMyCommands` left them: (scope key, language code) -> commands."""
    known_chats: set[int] = field(default_factory=set)
    """Chats that wrote to the bot: only those can have a menu of their own (else Telegram
    answers "chat not found")."""
    gone_chats: set[int] = field(default_factory=set)
    """Groups the bot was removed from: `getChat` and sends to them fail as Telegram's do."""
    webhook_url: str = ""
    webhook_error: tuple[int, str] | None = None
    """(unix time, message) of the last failed webhook delivery, as `getWebhookInfo` shows it."""
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
        for kind in ("message", "callback_query"):
            chat = (update.get(kind) or {}).get("chat") or ((update.get(kind) or {}).get("message") or {}).get("chat")
            if chat:
                self.known_chats.add(int(chat["id"]))
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

    def tappable(self, chat_id: int | None = None) -> list[dict[str, Any]]:
        """Every command, mention, hashtag and cashtag Telegram would have made of the texts
        the bot sent or edited (to `chat_id`), with the message's text."""
        found = []
        for call in self.calls:
            if call.method in ("sendMessage", "editMessageText") and isinstance(call.result, dict) \
                    and (chat_id is None or str(call.params.get("chat_id")) == str(chat_id)):
                found += [{**entity, "message": call.result.get("text", "")} for entity in call.result.get("entities", [])]
        return found

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
        too_long = _too_long(method, params)
        if too_long is not None:
            return web.json_response({"ok": False, "error_code": 400, "description": too_long}, status=400)
        if method.startswith("send") and params.get("chat_id") is not None \
                and str(params["chat_id"]).lstrip("-").isdigit() and int(params["chat_id"]) in self.gone_chats:
            return web.json_response({"ok": False, "error_code": 403,
                                      "description": "Forbidden: bot was kicked from the supergroup chat"}, status=403)
        handler = getattr(self, f"_m_{method}", None)
        try:
            call.result = handler(params) if handler else True
        except _ApiError as exc:
            return web.json_response({"ok": False, "error_code": exc.status, "description": exc.description},
                                     status=exc.status)
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

    async def _file(self, request: web.Request) -> web.StreamResponse:
        """A file in chunks, as a network delivers it; one byte every `trickles[path]`
        seconds for a stalled file server. A file in `file_holds` is served only once its
        event is set (or the fake stops)."""
        path = request.match_info["path"]
        self.file_requests.append(path)
        if path in self.file_holds:
            waits = {asyncio.ensure_future(self._closing.wait()), asyncio.ensure_future(self.file_holds[path].wait())}
            _done, pending = await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
            for task in pending:
                task.cancel()
        data = self.files.get(path)
        if data is None:
            return web.Response(status=404)
        self.downloads.append(path)
        response = web.StreamResponse()
        response.content_length = len(data)
        await response.prepare(request)
        step = 1 if path in self.trickles else 64 * 1024
        for start in range(0, len(data), step):
            await response.write(data[start:start + step])
            await asyncio.sleep(self.trickles.get(path, 0))
        await response.write_eof()
        return response

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

    # --- command menus, as the Bot API keeps and resolves them ---------------------------------

    def _scope_key(self, params: dict[str, Any]) -> str:
        scope = params.get("scope") or {"type": "default"}
        if isinstance(scope, str):
            scope = json.loads(scope)
        kind = scope.get("type", "default")
        if kind in ("chat", "chat_administrators", "chat_member"):
            chat_id = int(scope["chat_id"])
            if chat_id not in self.known_chats:
                raise _BadRequest("Bad Request: chat not found")
            return f"{kind}:{chat_id}" + (f":{scope['user_id']}" if kind == "chat_member" else "")
        if kind not in ("default", "all_private_chats", "all_group_chats", "all_chat_administrators"):
            raise _BadRequest("Bad Request: wrong scope type specified")
        return kind

    def _m_setMyCommands(self, params: dict[str, Any]) -> bool:
        commands = params.get("commands") or []
        if len(commands) > 100:
            raise _BadRequest("Bad Request: too many commands")
        for command in commands:
            name, description = str(command.get("command", "")), str(command.get("description", ""))
            if not (1 <= len(name) <= 32 and all(c.islower() or c.isdigit() or c == "_" for c in name)):
                raise _BadRequest("Bad Request: BOT_COMMAND_INVALID")
            if not 1 <= len(description) <= 256:
                raise _BadRequest("Bad Request: BOT_COMMAND_DESCRIPTION_INVALID")
        self.menus[(self._scope_key(params), str(params.get("language_code") or ""))] = list(commands)
        return True

    def _m_deleteMyCommands(self, params: dict[str, Any]) -> bool:
        self.menus.pop((self._scope_key(params), str(params.get("language_code") or "")), None)
        return True

    def _m_getMyCommands(self, params: dict[str, Any]) -> list[dict[str, str]]:
        return self.menus.get((self._scope_key(params), str(params.get("language_code") or "")), [])

    def menu_seen(self, chat_id: int, language: str = "id", user_id: int | None = None) -> list[str]:
        """The commands a user's client shows in this chat: the first scope that has a menu,
        in the order the Bot API documents (chat member, chat, all group chats or all private
        chats, default), each in the user's language before the one without a language."""
        private = chat_id > 0
        keys = ([f"chat_member:{chat_id}:{user_id}"] if user_id is not None and not private else []) + \
            [f"chat:{chat_id}", "all_private_chats" if private else "all_group_chats", "default"]
        for key in keys:
            for lang in (language, ""):
                if (key, lang) in self.menus:
                    return [c["command"] for c in self.menus[(key, lang)]]
        return []

    # --- webhook and chats ---------------------------------------------------------------------

    def _m_setWebhook(self, params: dict[str, Any]) -> bool:
        self.webhook_url = str(params.get("url") or "")
        return True

    def _m_deleteWebhook(self, params: dict[str, Any]) -> bool:
        self.webhook_url = ""
        return True

    def _m_getWebhookInfo(self, params: dict[str, Any]) -> dict[str, Any]:
        info: dict[str, Any] = {"url": self.webhook_url, "has_custom_certificate": False,
                                "pending_update_count": len(self.updates)}
        if self.webhook_url:
            info["max_connections"] = 40
        if self.webhook_error is not None:
            info["last_error_date"], info["last_error_message"] = self.webhook_error
        return info

    def _m_getChat(self, params: dict[str, Any]) -> dict[str, Any]:
        chat_id = int(params["chat_id"])
        if chat_id in self.gone_chats:
            raise _Forbidden("Forbidden: bot was kicked from the supergroup chat")
        if chat_id > 0 and chat_id not in self.known_chats:
            raise _BadRequest("Bad Request: chat not found")
        return {"id": chat_id, "type": "private" if chat_id > 0 else "supergroup", "accent_color_id": 0,
                "max_reaction_count": 11, **({"title": "Grup"} if chat_id < 0 else {"first_name": f"User{chat_id}"})}

    def _m_sendMessage(self, params: dict[str, Any]) -> dict[str, Any]:
        return self._message(params, **_shown(params))

    def _m_editMessageText(self, params: dict[str, Any]) -> dict[str, Any]:
        """The edited message keeps its id, as in the Bot API."""
        message = self._message(params, **_shown(params))
        self.next_message_id -= 1
        message["message_id"] = int(params.get("message_id") or message["message_id"])
        return message

    def _m_sendPhoto(self, params: dict[str, Any]) -> dict[str, Any]:
        return self._message(params, photo=[{"file_id": f"sent-{self.next_message_id}",
                                             "file_unique_id": "u", "width": 1, "height": 1}])

    def _m_sendDocument(self, params: dict[str, Any]) -> dict[str, Any]:
        return self._message(params, document={"file_id": f"sent-{self.next_message_id}", "file_unique_id": "u"})

    def _m_sendVideo(self, params: dict[str, Any]) -> dict[str, Any]:
        return self._message(params, video={"file_id": f"sent-{self.next_message_id}", "file_unique_id": "u",
                                            "width": 1, "height": 1, "duration": 1})

    def _m_sendVoice(self, params: dict[str, Any]) -> dict[str, Any]:
        """As the Bot API: a voice message only from Opus in Ogg (or MP3, M4A); anything
        else arrives as a document."""
        data = _upload(params.get("voice"))
        if (data.startswith(b"OggS") and b"OpusHead" in data[:200]) or _mp3_or_m4a(data):
            return self._message(params, voice={"file_id": f"sent-{self.next_message_id}", "file_unique_id": "u",
                                                "duration": 1, "mime_type": "audio/ogg"})
        return self._message(params, document={"file_id": f"sent-{self.next_message_id}", "file_unique_id": "u"})

    def _m_sendAudio(self, params: dict[str, Any]) -> dict[str, Any]:
        """As the Bot API: played as music only from MP3 or M4A; anything else is a document."""
        if _mp3_or_m4a(_upload(params.get("audio"))):
            return self._message(params, audio={"file_id": f"sent-{self.next_message_id}", "file_unique_id": "u",
                                                "duration": 1})
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


def _upload(value: Any) -> bytes:
    return value["data"] if isinstance(value, dict) and "data" in value else b""


def _mp3_or_m4a(data: bytes) -> bool:
    return data.startswith(b"ID3") or data[:2] in (b"\xff\xfb", b"\xff\xf3", b"\xff\xf2") \
        or (data[4:8] == b"ftyp" and data[8:11] == b"M4A")


def _shown(params: dict[str, Any]) -> dict[str, Any]:
    """`text` as the chat has it (`params["text"]` stays what was sent), with the entities
    Telegram adds by itself."""
    text = str(params.get("text", ""))
    shown = visible_text(text, params.get("parse_mode"))
    entities = auto_entities(shown)
    return {"text": text, "entities": entities} if entities else {"text": text}


def _too_long(method: str, params: dict[str, Any]) -> str | None:
    """The Bot API's answer to a text or caption over its limit (in UTF-16 code units)."""
    if method in ("sendMessage", "editMessageText"):
        if utf16_units(visible_text(str(params.get("text", "")), params.get("parse_mode"))) > MAX_TEXT_UNITS:
            return "Bad Request: message is too long"
        return None
    captions = [params.get("caption")]
    if method == "sendMediaGroup":
        captions = [m.get("caption") for m in params.get("media") or [] if isinstance(m, dict)]
    for caption in captions:
        if caption and utf16_units(visible_text(str(caption), params.get("parse_mode"))) > MAX_CAPTION_UNITS:
            return "Bad Request: message caption is too long"
    return None


class _ApiError(Exception):
    status = 400

    def __init__(self, description: str) -> None:
        super().__init__(description)
        self.description = description


class _BadRequest(_ApiError):
    status = 400


class _Forbidden(_ApiError):
    status = 403


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


def voice(fake: FakeTelegram, chat_id: int, name: str, data: bytes, duration: int = 2) -> dict[str, Any]:
    """A voice note as Telegram delivers it: Opus in Ogg."""
    fake.files[f"files/{name}"] = data
    return message(chat_id, voice={"file_id": name, "file_unique_id": f"u-{name}", "duration": duration,
                                   "mime_type": "audio/ogg", "file_size": len(data)})


def audio(fake: FakeTelegram, chat_id: int, name: str, data: bytes, mime: str = "audio/mp4") -> dict[str, Any]:
    """An audio file (a recorder's M4A, an MP3), with the title and performer Telegram reads from its tags."""
    fake.files[f"files/{name}"] = data
    return message(chat_id, audio={"file_id": name, "file_unique_id": f"u-{name}", "duration": 2, "mime_type": mime,
                                   "file_name": name, "title": "Rekaman", "performer": "Siti",
                                   "file_size": len(data)})


def forwarded(chat_id: int, body: str, origin: dict[str, Any], **kw: Any) -> dict[str, Any]:
    """A message the user forwarded, with its `forward_origin` as the Bot API gives it."""
    return message(chat_id, text=body, forward_origin=origin, **kw)


def channel_origin(title: str, username: str | None, date: int, chat_id: int = -1001555000111) -> dict[str, Any]:
    chat: dict[str, Any] = {"id": chat_id, "type": "channel", "title": title}
    if username:
        chat["username"] = username
    return {"type": "channel", "chat": chat, "message_id": 77, "date": date}


def user_origin(user_id: int, first_name: str, date: int, username: str | None = None) -> dict[str, Any]:
    sender: dict[str, Any] = {"id": user_id, "is_bot": False, "first_name": first_name}
    if username:
        sender["username"] = username
    return {"type": "user", "sender_user": sender, "date": date}


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
