"""Share links whose path is the identifier (`vm.tiktok.com/ZM…`, `facebook.com/share/p/…`,
`t.co/…`), followed to the post they stand for, then cleaned like any link.

This is network I/O on behalf of a stranger's text, so it is held tight:
- only the short link's own platform is asked, and only while the address is still a short
  link: the post's page itself is never requested;
- every hop (the first one included) must be on the platforms' allowlist, and every address
  a host name resolves to must be a public one (the check is in the resolver, so what is
  checked is what is connected to; a literal address is never on the allowlist);
- redirects are followed by hand (at most `max_hops`), with no cookies, no referrer, no
  proxy from the environment, a short timeout, HEAD first and a GET whose body is never read;
- whatever goes wrong, the answer is None: the link is then held for the moderators, never
  forwarded as it was typed. Nothing is logged about the link.

Every channel (Telegram, WhatsApp, the console) calls `resolve_text` on what a reporter
typed before the flow sees it; the flow itself never does I/O.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import ssl
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urljoin

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import DefaultResolver

from cleaning import links
from cleaning.public_address import public_address

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
ALLOWED_DOMAINS = ("tiktok.com", "facebook.com", "fb.com", "fb.me", "fb.watch", "instagram.com", "t.co",
                   "x.com", "twitter.com")
"""Where a short link may lead, hop by hop (each domain with its subdomains)."""
REDIRECTS = frozenset({301, 302, 303, 307, 308})
MAX_LINKS_PER_MESSAGE = 10
USER_AGENT = "Mozilla/5.0 (compatible; LaporNetral/1.0)"
LOGIN_PATHS = ("/login", "/checkpoint", "/accounts/login", "/signup", "/i/flow/login")


class Refused(Exception):
    """A hop that may not be made (a host off the allowlist, an address that is not public)."""


@dataclass(frozen=True, slots=True)
class ResolveRules:
    domains: tuple[str, ...] = ALLOWED_DOMAINS
    allow_networks: tuple[Network, ...] = ()
    """Addresses exempt from the refusal of non-public ones (the tests' fake platform)."""
    addresses: Mapping[str, tuple[str, int]] = field(default_factory=dict)
    """Host name -> (address, port), instead of DNS (the tests' fake platform)."""
    ca_file: Path | None = None
    timeout: float = 6.0
    max_hops: int = 5

    @classmethod
    def from_settings(cls, allow_networks: Iterable[str], addresses: Mapping[str, str], ca_file: Path | None,
                      timeout: float) -> ResolveRules:
        fixed = {}
        for host, target in addresses.items():
            address, _, port = target.rpartition(":")
            fixed[host.lower()] = (address.strip("[]"), int(port))
        return cls(allow_networks=tuple(ipaddress.ip_network(n, strict=False) for n in allow_networks),
                   addresses=fixed, ca_file=ca_file, timeout=timeout)

    def host_allowed(self, host: str) -> bool:
        host = host.lower().rstrip(".")
        return any(host == d or host.endswith("." + d) for d in self.domains)

    def address_allowed(self, address: str) -> bool:
        ip = ipaddress.ip_address(address.split("%")[0])
        if any(ip in network for network in self.allow_networks):
            return True
        return public_address(ip)


class _CheckedResolver(AbstractResolver):
    """Resolves (or takes the fixed address), then refuses a host with any address that is not allowed."""

    def __init__(self, rules: ResolveRules) -> None:
        self.rules = rules
        self._inner: AbstractResolver | None = None

    async def resolve(self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
                      ) -> list[ResolveResult]:
        fixed = self.rules.addresses.get(host.lower())
        if fixed is not None:
            ip = ipaddress.ip_address(fixed[0])
            found: list[ResolveResult] = [ResolveResult(
                hostname=host, host=fixed[0], port=fixed[1],
                family=socket.AF_INET6 if ip.version == 6 else socket.AF_INET, proto=0, flags=socket.AI_NUMERICHOST)]
        else:
            if self._inner is None:
                self._inner = DefaultResolver()
            found = await self._inner.resolve(host, port, family)
        if not found or not all(self.rules.address_allowed(r["host"]) for r in found):
            raise Refused("host resolves to a non-public address")
        return found

    async def close(self) -> None:
        if self._inner is not None:
            await self._inner.close()


class LinkResolver:
    """One per process; `close` at shutdown."""

    def __init__(self, rules: ResolveRules | None = None) -> None:
        self.rules = rules or ResolveRules()
        self._session: aiohttp.ClientSession | None = None

    def _http(self) -> aiohttp.ClientSession:
        if self._session is None:
            tls: Any = True
            if self.rules.ca_file is not None:
                tls = ssl.create_default_context()
                tls.load_verify_locations(str(self.rules.ca_file))
            connector = aiohttp.TCPConnector(resolver=_CheckedResolver(self.rules), ssl=tls, limit=16,
                                             force_close=True)
            self._session = aiohttp.ClientSession(
                connector=connector, cookie_jar=aiohttp.DummyCookieJar(), trust_env=False,
                headers={"User-Agent": USER_AGENT, "Accept": "*/*"},
                timeout=aiohttp.ClientTimeout(total=self.rules.timeout, sock_connect=self.rules.timeout / 2))
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def resolve(self, url: str) -> str | None:
        """The clean address a share link leads to, or None if it cannot be found safely."""
        start = links.clean(url)
        current = start
        try:
            async with asyncio.timeout(self.rules.timeout):
                for _hop in range(self.rules.max_hops + 1):
                    parts = links.urlsplit_safe(current)
                    if parts is None or not self.rules.host_allowed(parts[1]):
                        return None
                    if not links.needs_resolving(current):
                        return current if _arrived(start, current) else None
                    location = await self._location(current)
                    if location is None:
                        return None
                    current = links.clean(urljoin(current, location))
        except (Refused, aiohttp.ClientError, TimeoutError, ValueError, OSError):
            return None
        return None

    async def _location(self, url: str) -> str | None:
        """Where the platform sends this short link: HEAD, else a GET whose body is not read."""
        http = self._http()
        async with http.head(url, allow_redirects=False) as response:
            status, location = response.status, response.headers.get("Location")
        if status in REDIRECTS and location:
            return location
        async with http.get(url, allow_redirects=False) as response:
            status, location = response.status, response.headers.get("Location")
            response.close()  # the connection goes, the body is never read
        return location if status in REDIRECTS and location else None

    async def resolve_text(self, text: str) -> str:
        """The text with every link cleaned, and every share link replaced by the clean
        address it leads to; one that cannot be resolved stays as a short link (cleaned of
        its parameters), which the flow holds for the moderators."""
        found = links.find(text)
        if not found:
            return text
        short = list(dict.fromkeys(f.url for f in found if links.needs_resolving(f.url)))[:MAX_LINKS_PER_MESSAGE]
        resolved = dict(zip(short, await asyncio.gather(*(self.resolve(u) for u in short)), strict=True))
        out, last = [], 0
        for link in found:
            target = resolved.get(link.url)
            out += [text[last:link.start], target or links.clean(link.url)]
            last = link.end
        return "".join(out) + text[last:]


def _arrived(start: str, final: str) -> bool:
    """A real destination, not a login wall that carries the share link along (`?next=…`)."""
    parts = links.urlsplit_safe(final)
    if parts is None or parts[2].rstrip("/").lower().startswith(LOGIN_PATHS):
        return False
    first = links.urlsplit_safe(start)
    identifier = first[2].strip("/") if first else ""
    decoded = unquote(unquote(final))
    return not (len(identifier) >= 4 and identifier in decoded) or final == start
