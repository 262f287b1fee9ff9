"""Links a reporter types or forwards, made safe before anything stores them.

A link copied with an app's Share button names the person who pressed it: Instagram's
`igsh`, YouTube's `si`, X's `s` and `t`, Facebook's `mibextid`, TikTok's `_t` and
`u_code`; public tools turn them back into a username. So every link is cleaned as soon as
it arrives, wherever it was typed, and only the cleaned form is ever stored.

- The rules are data, in `rules/`: the ClearURLs rule set (`clearurls.json`, LGPL-3.0, its
  licence beside it) and ours for the platforms reporters use (`lapor.json`, same format),
  applied by `url-unwrap` (the ClearURLs extension's semantics: provider patterns and
  exceptions, redirect unwrapping, raw rules, parameter rules) until nothing changes.
- Share links whose path is the identifier (`vm.tiktok.com/…`, `facebook.com/share/…`,
  `t.co/…`) cannot be cleaned by rules: `needs_resolving` says so, and
  `cleaning.short_links` follows them (network I/O, so never in a flow step). A step keeps
  any link that still needs resolving for the moderators only.

Everything here is pure and fast (a fraction of a millisecond per link).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import quote, unquote, unquote_plus, urlsplit, urlunsplit

import idna

if TYPE_CHECKING:
    from url_unwrap import Providers

RULES_DIR = Path(__file__).parent / "rules"
MAX_LINK = 2048
"""Longer links keep their scheme, host and path only: rules are not run on them."""
MAX_PASSES = 64
"""Unwrapping a redirect is one pass; a link wrapped more often than this keeps no query."""

PLATFORMS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("Instagram", ("instagram.com", "instagr.am")),
    ("Facebook", ("facebook.com", "fb.com", "fb.me", "fb.watch", "fb.gg")),
    ("TikTok", ("tiktok.com",)),
    ("X", ("x.com", "twitter.com", "t.co")),
    ("YouTube", ("youtube.com", "youtu.be", "youtube-nocookie.com")),
    ("Threads", ("threads.net", "threads.com")),
    ("WhatsApp", ("whatsapp.com", "wa.me")),
    ("Telegram", ("t.me", "telegram.me")),
)
"""Platform names as officers read them, by the domains (and their subdomains) they use."""

SHORT_LINKS: tuple[tuple[str, str], ...] = (
    ("vm.tiktok.com", ""), ("vt.tiktok.com", ""), ("tiktok.com", "/t/"),
    ("facebook.com", "/share/"), ("fb.me", ""), ("fb.watch", ""),
    ("instagram.com", "/share/"),
    ("t.co", ""),
    # The share sheets of other apps Indonesians post on, and the shorteners they use: the
    # resolver does not follow these, so a link on them is held for the moderators.
    ("sck.io", ""), ("kwai.app", ""), ("likee.video", ""), ("lemon8-app.com", ""), ("vt.tokopedia.com", ""),
    ("tokopedia.link", ""), ("shope.ee", ""), ("shp.ee", ""), ("s.id", ""), ("bit.ly", ""), ("tinyurl.com", ""),
    ("cutt.ly", ""), ("shorturl.at", ""), ("lnkd.in", ""),
)
"""(domain, path prefix): links whose path is a share identifier tied to the sharer, or an
opaque code; only the platform knows where they lead. Paths are compared decoded, without
repeated slashes and case-folded, as the platforms read them."""

_BARE_DOMAINS = sorted({d for _name, domains in PLATFORMS for d in domains} | {d for d, _p in SHORT_LINKS},
                       key=len, reverse=True)
_BARE_HOSTS = r"(?:[a-z0-9-]+\.)*(?:" + "|".join(re.escape(d) for d in _BARE_DOMAINS) + ")"
_LINK = re.compile(r"(?i)https?://[^\s<>\"'`]+|(?<![\w.@/-])" + _BARE_HOSTS + r"/[^\s<>\"'`]*")
"""A link with its scheme, even glued to the word before it (`Linknyahttps://…`), or a
platform's or shortener's host typed bare."""
_TRAILING = ".,;:!?'\")]}»…"


@dataclass(frozen=True, slots=True)
class Found:
    start: int
    end: int
    url: str
    """As typed (a bare `vm.tiktok.com/…` without its scheme)."""


def find(text: str) -> list[Found]:
    """The web links in a text, without the punctuation that ends a sentence."""
    found = []
    for match in _LINK.finditer(text):
        url = match.group(0)
        while url and url[-1] in _TRAILING and not (url[-1] == ")" and url.count("(") >= url.count(")")):
            url = url[:-1]
        if urlsplit_safe(_with_scheme(url)) is not None:
            found.append(Found(match.start(), match.start() + len(url), url))
    return found


def urlsplit_safe(url: str) -> tuple[str, str, str, str, str] | None:
    """scheme, host, path, query, fragment of an http(s) link with a host; None otherwise."""
    try:
        parts = urlsplit(url)
        host = parts.hostname
        parts.port  # noqa: B018 - a bad port raises here
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or not host or any(c.isspace() for c in url):
        return None
    return parts.scheme.lower(), _host(host), parts.path, parts.query, parts.fragment


def _host(host: str) -> str:
    """The host a browser would go to: full-width letters, an ideographic full stop or a
    zero-width space mapped away (UTS-46), in its ASCII form."""
    host = host.lower().rstrip(".")
    if host.isascii():
        return host
    try:
        return idna.encode(host, uts46=True).decode("ascii").rstrip(".")
    except idna.IDNAError:
        return host


def _normal_query(query: str) -> str:
    """Parameter names as the site reads them (`%69gsh`, `+igsh`, `igsh[]`, `;igsh`, an
    encoded `=`), so the rules see the name they know."""
    out = []
    for part in re.split(r"[&;]", query):
        if not part:
            continue
        name, eq, value = part.partition("=")
        name = unquote_plus(name)
        if not eq and "=" in name:
            name, eq, value = name.partition("=")
            value = quote(value, safe="")
        name = name.strip().removesuffix("[]")
        out.append(quote(name, safe="[]") + eq + value)
    return "&".join(out)


def _with_scheme(url: str) -> str:
    return url if re.match(r"(?i)https?://", url) else "https://" + url


def _join(scheme: str, host: str, path: str, query: str = "", fragment: str = "") -> str:
    query = "&".join(p for p in query.split("&") if p)
    return urlunsplit((scheme, host, path, query, fragment))


def _bare(parts: tuple[str, str, str, str, str]) -> str:
    scheme, host, path, _query, _fragment = parts
    return _join(scheme, host, path)


@cache
def _providers() -> Providers:
    from url_unwrap import Provider, Providers

    merged: dict[str, Provider] = {}
    for name in ("clearurls.json", "lapor.json"):
        merged.update(Providers.from_file(RULES_DIR / name).providers)
    return Providers(providers=merged)


def warm() -> None:
    """Load the rules now (about 0.1 s) rather than at the first link a reporter sends."""
    _providers()


def clean(url: str) -> str:
    """The link without tracking and share parameters, with its scheme and a lowercase
    host, and never with credentials. Idempotent: `clean(clean(u)) == clean(u)`."""
    parts = urlsplit_safe(_with_scheme(url.strip()))
    if parts is None:
        return url
    scheme, host, path, query, fragment = parts
    port = urlsplit(_with_scheme(url.strip())).port
    netloc = f"{host}:{port}" if port and port not in (80, 443) else host
    if platform(host) is not None:
        fragment = ""  # a platform's page needs none, and `#/?igsh=…` would carry the sharer
    normal = _join(scheme, netloc, path, _normal_query(query), fragment)
    if len(normal) > MAX_LINK:
        return _bare((scheme, netloc, path, "", ""))
    try:
        current = _apply_rules(normal)
    except ValueError:  # a target the parser refuses (`https://[::1]@…]x`): only where it was
        return _bare((scheme, netloc, path, "", ""))
    checked = urlsplit_safe(current) if current is not None else None
    if current is None or checked is None or len(current) > MAX_LINK:  # a redirect rule that led nowhere: keep only where it was
        return _bare((scheme, netloc, path, "", ""))
    c_scheme, c_host, c_path, c_query, c_fragment = checked
    c_port = urlsplit(current).port
    c_netloc = f"{c_host}:{c_port}" if c_port and c_port not in (80, 443) else c_host
    return _join(c_scheme, c_netloc, c_path, c_query, c_fragment)


def _apply_rules(url: str) -> str | None:
    """The rules run until nothing changes; None if they do not settle (wrapped too often)."""
    providers = _providers()
    current = url
    for _pass in range(MAX_PASSES):
        result: str = providers.apply(current)
        if result == current:
            return current
        parts = urlsplit_safe(result)
        if parts is None:
            return result
        scheme, host, path, query, fragment = parts
        if platform(host) is not None:
            fragment = ""
        current = urlunsplit((scheme, urlsplit(result).netloc.lower(), path, _normal_query(query), fragment))
    return None


def clean_text(text: str) -> str:
    """Every link in the text cleaned by the rules (no network: short links stay short)."""
    out, last = [], 0
    for link in find(text):
        out += [text[last:link.start], clean(link.url)]
        last = link.end
    return "".join(out) + text[last:]


def _on(host: str, domain: str) -> bool:
    return host == domain or host.endswith("." + domain)


def domain_of(url: str) -> str | None:
    parts = urlsplit_safe(_with_scheme(url))
    return parts[1] if parts else None


def platform(url: str) -> str | None:
    """"Instagram", "TikTok", …; None for any other site."""
    host = domain_of(url)
    if host is None:
        return None
    return next((name for name, domains in PLATFORMS if any(_on(host, d) for d in domains)), None)


def label(url: str) -> str:
    """The platform's name, or the site's host: what a list of links names each by."""
    return platform(url) or (domain_of(url) or "").removeprefix("www.") or "-"


def needs_resolving(url: str) -> bool:
    """A share link whose path is the identifier: no rule can clean it."""
    parts = urlsplit_safe(_with_scheme(url))
    if parts is None:
        return False
    _scheme, host, path, _query, _fragment = parts
    path = re.sub(r"/{2,}", "/", unquote(path)).casefold()
    if path.strip("/") == "":
        return False
    return any(_on(host, domain) and path.startswith(prefix or "/") for domain, prefix in SHORT_LINKS)
