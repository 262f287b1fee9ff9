"""Twilio media downloads: whole, bounded, and with the credentials only where they belong.

- The file is streamed into the evidence store in chunks, hashed as it comes; the cap is
  enforced while reading (a Content-Length over it is refused before reading), and the file
  is renamed into place only when complete.
- Each file has a deadline, a minimum rate and a bounded number of tries (`bot/downloads.py`).
- The account's credentials go only over https, and only to the configured API host
  (`api.twilio.com`). Redirects are followed by hand and never carry them.
- Every hop's address is checked: loopback, private, link-local, multicast and reserved
  addresses are refused, whether the URL names them or a host name resolves to them (the
  check is in the resolver, so what is checked is what is connected to); an IPv6 address
  that carries an IPv4 one (mapped, 6to4, Teredo, NAT64) is judged by that one too
  (`cleaning.public_address`, the one rule the share-link resolver follows too).
"""

from __future__ import annotations

import asyncio
import base64
import ipaddress
import logging
import socket
import ssl
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urljoin

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import DefaultResolver
from yarl import URL

from bot.downloads import DownloadLimits, Stalled, stream
from cleaning.public_address import public_address
from storage.evidence_files import EvidenceStore, StoredFile, TooLarge

log = logging.getLogger(__name__)
MAX_DOWNLOAD_BYTES = 20 * 1024 * 1024
MAX_REDIRECTS = 5
Network = ipaddress.IPv4Network | ipaddress.IPv6Network


class DownloadFailed(Exception):
    """Worth trying again later (a 404 right after the message, a 5xx, a network error)."""


class Refused(Exception):
    """Never worth trying again: a forbidden address or scheme, a 4xx, too many redirects."""


class FileTooLarge(Refused):
    pass


@dataclass(frozen=True, slots=True)
class MediaRules:
    auth_hosts: frozenset[str] = frozenset({"api.twilio.com"})
    allow_networks: tuple[Network, ...] = ()
    """Addresses exempt from the refusal of non-public ones (the tests' loopback hosts)."""
    ca_file: Path | None = None

    @classmethod
    def from_settings(cls, auth_hosts: Iterable[str], allow_networks: Iterable[str],
                      ca_file: Path | None) -> MediaRules:
        return cls(frozenset(h.lower() for h in auth_hosts),
                   tuple(ipaddress.ip_network(n, strict=False) for n in allow_networks), ca_file)

    def address_allowed(self, address: str) -> bool:
        ip = ipaddress.ip_address(address.split("%")[0])
        plain = ip.ipv4_mapped if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped else ip
        if any(plain.version == network.version and plain in network for network in self.allow_networks):
            return True
        return public_address(ip)


class _CheckedResolver(AbstractResolver):
    """Resolves as usual, then refuses a host with any address that is not allowed."""

    def __init__(self, rules: MediaRules) -> None:
        self.rules = rules
        self._inner = DefaultResolver()

    async def resolve(self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
                      ) -> list[ResolveResult]:
        found = await self._inner.resolve(host, port, family)
        if not found or not all(self.rules.address_allowed(r["host"]) for r in found):
            raise Refused("host resolves to a non-public address")
        return found

    async def close(self) -> None:
        await self._inner.close()


class MediaFetcher:
    def __init__(self, store: EvidenceStore, account_sid: str, auth_token: str, rules: MediaRules, *,
                 limits: DownloadLimits | None = None, retry_pause: float = 0.5,
                 max_bytes: int = MAX_DOWNLOAD_BYTES) -> None:
        self.store = store
        self.rules = rules
        credentials = base64.b64encode(f"{account_sid}:{auth_token}".encode()).decode()
        self._auth = {"Authorization": f"Basic {credentials}"}
        self.limits = limits or DownloadLimits()
        self.retry_pause = retry_pause
        self.max_bytes = max_bytes
        self._session: aiohttp.ClientSession | None = None

    def _http(self) -> aiohttp.ClientSession:
        if self._session is None:
            tls: Any = True
            if self.rules.ca_file is not None:
                tls = ssl.create_default_context()
                tls.load_verify_locations(str(self.rules.ca_file))
            connector = aiohttp.TCPConnector(resolver=_CheckedResolver(self.rules), ssl=tls, limit=64)
            self._session = aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(
                total=None, sock_connect=min(15.0, self.limits.window), sock_read=self.limits.window))
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def fetch(self, url: str) -> StoredFile:
        """The file, stored whole, within the limits' deadline (every try included). A 404
        right after the message is Twilio not having the file ready yet, so it is retried
        like a 5xx or a stall; `Refused` is never retried."""
        last = ""
        started = time.monotonic()
        for attempt in range(self.limits.tries):
            remaining = self.limits.remaining(started)
            if remaining <= 0:
                break
            try:
                async with asyncio.timeout(remaining):
                    return await self._once(url, started)
            except (DownloadFailed, aiohttp.ClientError, TimeoutError, Stalled) as exc:
                last = str(exc) if isinstance(exc, DownloadFailed) else type(exc).__name__
            pause = min(self.retry_pause * 2 ** attempt, self.limits.remaining(started))
            if pause > 0 and attempt + 1 < self.limits.tries:
                await asyncio.sleep(pause)
        raise DownloadFailed(last or "deadline")

    async def _once(self, url: str, started: float) -> StoredFile:
        for _hop in range(MAX_REDIRECTS + 1):
            target = self._checked(url)
            headers = self._auth if self._gets_credentials(target) else {}
            # A host name is checked by the resolver (`_CheckedResolver` raises `Refused`).
            async with self._http().get(target, headers=headers, allow_redirects=False) as response:
                if response.status in (301, 302, 303, 307, 308):
                    location = response.headers.get("Location")
                    if not location:
                        raise Refused("redirect without a location")
                    url = urljoin(str(target), location)
                    continue
                if response.status != 200:
                    if response.status in (404, 408, 429) or response.status >= 500:
                        raise DownloadFailed(f"HTTP {response.status}")
                    raise Refused(f"HTTP {response.status}")
                return await self._store(response, started)
        raise Refused("too many redirects")

    def _checked(self, url: str) -> URL:
        target = URL(url)
        if target.scheme not in ("http", "https") or not target.host:
            raise Refused("not an http(s) URL")
        host = target.host.strip("[]")
        try:
            literal = ipaddress.ip_address(host.split("%")[0])
        except ValueError:
            literal = None
        if literal is not None and not self.rules.address_allowed(host):
            raise Refused("non-public address")
        return target

    def _gets_credentials(self, target: URL) -> bool:
        return target.scheme == "https" and (target.host or "").lower() in self.rules.auth_hosts

    async def _store(self, response: aiohttp.ClientResponse, started: float) -> StoredFile:
        if (response.content_length or 0) > self.max_bytes:
            raise FileTooLarge("file too large")
        try:
            async with self.store.receive(self.max_bytes) as incoming:
                await stream(response.content, incoming, self.limits, started)
                return await incoming.finish()
        except TooLarge as exc:
            raise FileTooLarge("file too large") from exc
