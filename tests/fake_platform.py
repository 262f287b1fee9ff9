"""A local fake of the platforms' short-link services (TikTok, Facebook, X), over https with
certificates for their real host names (trustme), served on 127.0.0.2: only that address is
allowed in the tests, so a redirect to 127.0.0.1 is refused like any other non-public one.

Each short code answers as the real services do: a 301/302 to the post with the sharer's
parameters, HEAD refused (405) where they refuse it, a GET whose body would never end, a
cookie set on every answer. A second listener on 127.0.0.1 records anything that reaches it
(nothing should)."""

from __future__ import annotations

import asyncio
import ssl
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import trustme
from aiohttp import web

from cleaning.short_links import ResolveRules

ADDRESS = "127.0.0.2"
HOSTS = ("vm.tiktok.com", "vt.tiktok.com", "www.tiktok.com", "t.co", "www.facebook.com", "fb.me", "fb.watch",
         "www.instagram.com")


@dataclass
class Route:
    status: int = 301
    location: str | None = None
    head: bool = True
    """False: HEAD gets 405, only GET redirects."""
    endless_body: bool = False


@dataclass
class FakePlatform:
    routes: dict[tuple[str, str], Route] = field(default_factory=dict)
    requests: list[tuple[str, str, str, dict[str, str]]] = field(default_factory=list)
    """(method, host, path, headers) of every request that reached the platform."""
    loopback_requests: list[str] = field(default_factory=list)
    body_bytes_sent: int = 0
    port: int = 0
    ca_file: Path | None = None
    _runners: list[web.AppRunner] = field(default_factory=list)
    _tmp: Any = None

    async def start(self) -> None:
        ca = trustme.CA()
        cert = ca.issue_cert(*HOSTS)
        server_ssl = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        cert.configure_cert(server_ssl)
        self._tmp = tempfile.TemporaryDirectory()
        self.ca_file = Path(self._tmp.name) / "ca.pem"
        ca.cert_pem.write_to_path(str(self.ca_file))
        app = web.Application()
        app.router.add_route("*", "/{path:.*}", self._serve)
        runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(runner, ADDRESS, 0, ssl_context=server_ssl)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self._runners.append(runner)
        witness = web.Application()
        witness.router.add_route("*", "/{path:.*}", self._witness)
        runner = web.AppRunner(witness)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", self.port, ssl_context=server_ssl).start()
        self._runners.append(runner)

    async def stop(self) -> None:
        for runner in self._runners:
            await runner.cleanup()
        if self._tmp is not None:
            self._tmp.cleanup()

    def rules(self, **mapping: str) -> ResolveRules:
        """The bot's rules for this fake: its hosts on 127.0.0.2 unless mapped elsewhere
        (`www_tiktok_com="127.0.0.1"`), only 127.0.0.2 allowed, its CA trusted."""
        addresses = {host: (ADDRESS, self.port) for host in HOSTS}
        for key, address in mapping.items():
            addresses[key.replace("_", ".")] = (address, self.port)
        import ipaddress

        return ResolveRules(allow_networks=(ipaddress.ip_network(f"{ADDRESS}/32"),), addresses=addresses,
                            ca_file=self.ca_file, timeout=3.0)

    def settings(self) -> dict[str, Any]:
        """The same, as the bot's settings (for the end-to-end tests)."""
        return {"link_allow_networks": [f"{ADDRESS}/32"],
                "link_addresses": {host: f"{ADDRESS}:{self.port}" for host in HOSTS},
                "link_ca_file": self.ca_file}

    def short(self, host: str, path: str, location: str | None, **kw: Any) -> str:
        self.routes[(host, path)] = Route(location=location, **kw)
        return f"https://{host}{path}"

    async def _serve(self, request: web.Request) -> web.StreamResponse:
        host = (request.host or "").split(":")[0]
        self.requests.append((request.method, host, request.path_qs, dict(request.headers)))
        route = self.routes.get((host, request.path))
        cookie = {"Set-Cookie": "ttwid=1%7Ctracking; Path=/; Domain=.tiktok.com"}
        if route is None:
            return web.Response(status=404, headers=cookie)
        if request.method == "HEAD" and not route.head:
            return web.Response(status=405, headers=cookie)
        if route.endless_body and request.method == "GET":
            response = web.StreamResponse(status=route.status, headers={**cookie, **(
                {"Location": route.location} if route.location else {})})
            await response.prepare(request)
            try:
                for _ in range(10_000):  # about 640 MB: a client that reads it never finishes in time
                    await response.write(b"x" * 65536)
                    self.body_bytes_sent += 65536
                    await asyncio.sleep(0.001)
            except (ConnectionResetError, RuntimeError):
                pass
            return response
        headers = dict(cookie)
        if route.location:
            headers["Location"] = route.location
        return web.Response(status=route.status, headers=headers, text="<html>moved</html>")

    async def _witness(self, request: web.Request) -> web.Response:
        self.loopback_requests.append(request.path_qs)
        return web.Response(status=200)
