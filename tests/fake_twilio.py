"""A local fake of the parts of Twilio we use: the Messages REST resource (records what
is sent, can fail for a while, can answer 429 with Retry-After), a media host over https
that wants the account's basic auth (and can answer 404 once, as Twilio does right after a
message) and redirects to a separate file host that serves the bytes in small chunks, and
webhook requests signed the way Twilio signs them.

The media host is `https://localhost:PORT` with a certificate from a test CA (trustme);
the file host is `https://127.0.0.1:PORT`, another host, as Twilio's CDN is. `settings()`
gives the bot what it needs to trust the CA and to reach these loopback addresses."""

from __future__ import annotations

import asyncio
import base64
import itertools
import random
import ssl
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import trustme
from aiohttp import web
from twilio.request_validator import RequestValidator

from tests.quiet import until_quiet

ACCOUNT_SID = "AC" + "0" * 32
AUTH_TOKEN = "fake-auth-token-0123456789abcdef"
BOT_NUMBER = "whatsapp:+14155238886"


@dataclass(frozen=True)
class Fetched:
    url: str
    status: int
    content_type: str
    data: bytes


@dataclass
class FakeTwilio:
    messages: list[dict[str, str]] = field(default_factory=list)
    attempts: int = 0
    failures: list[int] = field(default_factory=list)
    media: dict[str, tuple[bytes, str]] = field(default_factory=dict)
    missing_once: set[str] = field(default_factory=set)
    media_requests: list[tuple[str, bool]] = field(default_factory=list)
    requests: list[tuple[str, str, bytes]] = field(default_factory=list)
    """Every request that reached the fake (method, path and query, body), failed ones too."""
    base: str = ""
    fail_rate: float = 0.0
    """Share of message creations that fail at random: 500, 429, a slow answer or a dropped connection."""
    slow_seconds: float = 20.0
    injected: dict[str, int] = field(default_factory=dict)
    rng: random.Random = field(default_factory=lambda: random.Random(11))
    retry_after: list[int] = field(default_factory=list)
    """The next message creations answer 429 with these `Retry-After` seconds."""
    retry_after_to: dict[str, list[int]] = field(default_factory=dict)
    """The same for the next messages to one number (`whatsapp:+62...`)."""
    refused_to: dict[str, list[float]] = field(default_factory=dict)
    """When each 429 given to a number by `retry_after_to` was answered (`time.monotonic`)."""
    chunk_size: int = 16 * 1024
    no_length: set[str] = field(default_factory=set)
    """Files served without Content-Length (chunked transfer), so only reading finds the size."""
    delays: dict[str, float] = field(default_factory=dict)
    """Seconds the file host waits before answering for a file (a slow download)."""
    holds: dict[str, asyncio.Event] = field(default_factory=dict)
    """Files the file host sends only once the event is set (a download that hangs)."""
    redirects: dict[str, str] = field(default_factory=dict)
    """Media names that redirect somewhere else than the file host (an attack)."""
    cdn_requests: list[tuple[str, str | None]] = field(default_factory=list)
    trickles: dict[str, float] = field(default_factory=dict)
    media_base: str = ""
    cdn_base: str = ""
    ca_file: Path | None = None
    account_status: str = "active"
    fetch_map: dict[str, str] = field(default_factory=dict)
    """Public base URL -> where it is reached from here: Twilio fetches outbound media
    (`MediaUrl`) from the sender's public address, the service under test."""
    fetched: list[Fetched] = field(default_factory=list)
    """Every outbound media fetch, as Twilio makes it after accepting a message."""
    errors: dict[str, list[int]] = field(default_factory=dict)
    """Per recipient (`whatsapp:+62…`): the next creations to it fail with these Twilio error
    codes (HTTP 400), as 63016 (outside the 24-hour window) or 21610 (opted out) do."""
    _fetches: set[asyncio.Task[None]] = field(default_factory=set)
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    _runners: list[web.AppRunner] = field(default_factory=list)
    _tmp: Any = None

    async def start(self) -> None:
        api = web.Application()
        api.router.add_post("/2010-04-01/Accounts/{sid}/Messages.json", self._create)
        api.router.add_get("/2010-04-01/Accounts/{sid}.json", self._account)
        self.base = await self._serve(api, "127.0.0.1", None)
        ca = trustme.CA()
        cert = ca.issue_cert("localhost", "127.0.0.1", "::1")
        server_ssl = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        cert.configure_cert(server_ssl)
        self._tmp = tempfile.TemporaryDirectory()
        self.ca_file = Path(self._tmp.name) / "ca.pem"
        ca.cert_pem.write_to_path(str(self.ca_file))
        files = web.Application()
        files.router.add_get("/media/{name}", self._media)
        files.router.add_get("/cdn/{name}", self._cdn)
        base = await self._serve(files, "127.0.0.1", server_ssl)
        port = base.rsplit(":", 1)[1]
        self.media_base, self.cdn_base = f"https://localhost:{port}", f"https://127.0.0.1:{port}"

    async def _serve(self, app: web.Application, host: str, tls: ssl.SSLContext | None) -> str:
        runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(runner, host, 0, ssl_context=tls)
        await site.start()
        self._runners.append(runner)
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        return f"{'https' if tls else 'http'}://{host}:{port}"

    async def stop(self) -> None:
        for task in list(self._fetches):
            task.cancel()
        for runner in self._runners:
            await runner.cleanup()
        self._runners.clear()
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    def settings(self) -> dict[str, Any]:
        """What the bot needs to use this fake: the REST base URL, the media host that gets
        the credentials, the CA to trust, and the loopback addresses it may download from."""
        return {"twilio_api_base_url": self.base, "twilio_media_auth_hosts": ["localhost"],
                "twilio_media_ca_file": self.ca_file, "twilio_media_allow_networks": ["127.0.0.1/32", "::1/128"]}

    def fail(self, *statuses: int) -> None:
        """The next message creations answer these statuses, in order."""
        self.failures.extend(statuses)

    def host(self, name: str, data: bytes, content_type: str = "image/jpeg", missing_once: bool = False,
             chunked: bool = False, delay: float = 0.0, trickle: float = 0.0) -> str:
        """`trickle`: the file host sends one byte every `trickle` seconds (a stalled server)."""
        self.media[name] = (data, content_type)
        if trickle:
            self.trickles[name] = trickle
        if missing_once:
            self.missing_once.add(name)
        if chunked:
            self.no_length.add(name)
        if delay:
            self.delays[name] = delay
        return f"{self.media_base}/media/{name}"

    def to(self, number: str) -> list[str]:
        return [m["Body"] for m in self.messages if m["To"] == f"whatsapp:{number}" and "Body" in m]

    def sent_to(self, number: str) -> list[dict[str, str]]:
        """Every message created for this number (templates and media included)."""
        return [m for m in self.messages if m["To"] == f"whatsapp:{number}"]

    def media_for(self, number: str) -> list[Fetched]:
        """What Twilio fetched for each media message to this number (in order; once each)."""
        found = []
        for url in (m["MediaUrl"] for m in self.sent_to(number) if m.get("MediaUrl")):
            fetched = next((f for f in self.fetched if f.url == url), None)
            if fetched is not None:
                found.append(fetched)
        return found

    async def wait_for(self, condition: Callable[[], bool], timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        while not condition():
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out; last messages: {self.messages[-3:]}")
            await asyncio.sleep(0.02)

    def _authorised(self, request: web.Request) -> bool:
        expected = "Basic " + base64.b64encode(f"{ACCOUNT_SID}:{AUTH_TOKEN}".encode()).decode()
        return request.headers.get("Authorization") == expected

    async def _create(self, request: web.Request) -> web.Response:
        self.attempts += 1
        self.requests.append((request.method, request.path_qs, await request.read()))
        if not self._authorised(request) or request.match_info["sid"] != ACCOUNT_SID:
            return web.json_response({"code": 20003, "message": "Authenticate", "status": 401}, status=401)
        if self.fail_rate and self.rng.random() < self.fail_rate:
            mode = self.rng.choice(["500", "429", "timeout", "drop"])
            self.injected[mode] = self.injected.get(mode, 0) + 1
            if mode == "timeout":
                await asyncio.sleep(self.slow_seconds)
            if mode == "drop" and request.transport is not None:
                request.transport.close()
                return web.Response(status=500)
            self.failures.insert(0, 429 if mode == "429" else 500)
        to = (await request.post()).get("To")
        if isinstance(to, str) and self.retry_after_to.get(to):
            self.refused_to.setdefault(to, []).append(time.monotonic())
            return web.json_response({"code": 20429, "message": "Too Many Requests", "status": 429}, status=429,
                                     headers={"Retry-After": str(self.retry_after_to[to].pop(0))})
        if self.retry_after:
            return web.json_response({"code": 20429, "message": "Too Many Requests", "status": 429}, status=429,
                                     headers={"Retry-After": str(self.retry_after.pop(0))})
        if self.failures:
            status = self.failures.pop(0)
            return web.json_response({"code": 20429 if status == 429 else 20500, "message": "try later",
                                      "status": status}, status=status)
        form = {k: v for k, v in (await request.post()).items() if isinstance(v, str)}
        codes = self.errors.get(form.get("To", ""))
        if codes:
            code = codes.pop(0)
            return web.json_response({"code": code, "message": f"error {code}", "status": 400,
                                      "more_info": f"https://www.twilio.com/docs/errors/{code}"}, status=400)
        self.messages.append(form)
        if form.get("MediaUrl"):  # Twilio fetches the media after it has accepted the message
            task = asyncio.create_task(self._fetch(form["MediaUrl"]))
            self._fetches.add(task)
            task.add_done_callback(self._fetches.discard)
        sid = f"SM{next(self._ids):032d}"
        return web.json_response({"sid": sid, "account_sid": ACCOUNT_SID, "status": "queued", "to": form.get("To"),
                                  "from": form.get("From"), "body": form.get("Body"), "num_media": "0"}, status=201)

    def idle(self) -> bool:
        """No media fetch is under way (Twilio fetches after it has answered the creation)."""
        return not self._fetches

    async def _fetch(self, url: str) -> None:
        local = url
        for public, reached in self.fetch_map.items():
            if url.startswith(public):
                local = reached + url[len(public):]
        async with aiohttp.ClientSession() as http, http.get(local, allow_redirects=False) as response:
            data = await response.read()
            self.fetched.append(Fetched(url, response.status, response.headers.get("Content-Type", ""), data))

    async def _account(self, request: web.Request) -> web.Response:
        """The account itself: what `check` fetches to see that the credentials work."""
        self.requests.append((request.method, request.path_qs, b""))
        if not self._authorised(request):
            return web.json_response({"code": 20003, "message": "Authenticate", "more_info":
                                      "https://www.twilio.com/docs/errors/20003", "status": 401}, status=401)
        if request.match_info["sid"] != ACCOUNT_SID:
            return web.json_response({"code": 20404, "message": "The requested resource was not found",
                                      "status": 404}, status=404)
        return web.json_response({"sid": ACCOUNT_SID, "friendly_name": "Lapor Netral", "status": self.account_status,
                                  "type": "Full", "auth_token": AUTH_TOKEN, "owner_account_sid": ACCOUNT_SID})

    async def _media(self, request: web.Request) -> web.Response:
        """Twilio's media URL: credentials required, then a redirect to the file's host."""
        name = request.match_info["name"]
        self.media_requests.append((name, self._authorised(request)))
        self.requests.append((request.method, request.path_qs, await request.read()))
        if not self._authorised(request):
            return web.Response(status=401)
        if name in self.missing_once:
            self.missing_once.discard(name)
            return web.Response(status=404)
        if name in self.redirects:
            raise web.HTTPTemporaryRedirect(self.redirects[name])
        if name not in self.media:
            return web.Response(status=404)
        raise web.HTTPTemporaryRedirect(f"{self.cdn_base}/cdn/{name}")

    async def _cdn(self, request: web.Request) -> web.StreamResponse:
        """The file host (another host than the media URL's, as Twilio's CDN is): the bytes in
        small chunks, as a network delivers them."""
        name = request.match_info["name"]
        self.cdn_requests.append((name, request.headers.get("Authorization")))
        self.requests.append((request.method, request.path_qs, await request.read()))
        if name not in self.media:
            return web.Response(status=404)
        if name in self.delays:
            await asyncio.sleep(self.delays[name])
        if name in self.holds:
            await self.holds[name].wait()
        data, content_type = self.media[name]
        response = web.StreamResponse(headers={"Content-Type": content_type})
        if name not in self.no_length:
            response.content_length = len(data)
        await response.prepare(request)
        step = 1 if name in self.trickles else self.chunk_size
        for start in range(0, len(data), step):
            await response.write(data[start:start + step])
            await asyncio.sleep(self.trickles.get(name, 0))
        await response.write_eof()
        return response


class WhatsAppUser:
    """One person writing to the bot: each message is a webhook POST signed like Twilio's."""

    _sids = itertools.count(1)

    def __init__(self, twilio: FakeTwilio, webhook_url: str, public_url: str, number: str, service: Any) -> None:
        """`service`: the settings of the bot behind the webhook, to see when it is done."""
        self.twilio = twilio
        self.webhook_url = webhook_url
        self.public_url = public_url
        self.number = number
        self.service = service

    def form(self, body: str = "", **extra: str) -> dict[str, str]:
        return {"MessageSid": f"SM{next(self._sids):032x}", "AccountSid": ACCOUNT_SID, "From": f"whatsapp:{self.number}",
                "To": BOT_NUMBER, "Body": body, "NumMedia": "0", "ProfileName": "Siti Rahasia", "WaId": self.number[1:],
                **extra}

    async def post(self, form: dict[str, str], signature: str | None = None,
                   headers: dict[str, str] | None = None) -> aiohttp.ClientResponse:
        if signature is None:
            signature = sign(self.public_url, form)
        async with aiohttp.ClientSession() as http:
            async with http.post(self.webhook_url, data=form,
                                 headers={"X-Twilio-Signature": signature, **(headers or {})}) as response:
                await response.read()
                return response

    async def send(self, form: dict[str, str], replies: int = 1, timeout: float = 10.0) -> list[str]:
        """Post and wait for the bot's answer, then until the bot has nothing left to do for this number."""
        before = len(self.twilio.to(self.number))
        response = await self.post(form)
        assert response.status == 200, response.status
        await self.twilio.wait_for(lambda: len(self.twilio.to(self.number)) >= before + replies, timeout)
        await until_quiet(self.service, timeout=timeout, chat=("whatsapp", self.number))
        return self.twilio.to(self.number)[before:]

    async def say(self, body: str, replies: int = 1) -> list[str]:
        return await self.send(self.form(body), replies)

    async def photos(self, *urls: str, content_type: str = "image/jpeg") -> list[str]:
        extra = {"NumMedia": str(len(urls))}
        for n, url in enumerate(urls):
            extra[f"MediaUrl{n}"] = url
            extra[f"MediaContentType{n}"] = content_type
        return await self.send(self.form("", **extra))

    async def location(self, lat: float, lon: float) -> list[str]:
        return await self.send(self.form("", Latitude=str(lat), Longitude=str(lon), Address="Jl. Gatot Subroto"))


def sign(url: str, params: dict[str, str]) -> str:
    """Exactly what Twilio sends in X-Twilio-Signature."""
    return str(RequestValidator(AUTH_TOKEN).compute_signature(url, params))


