"""Signed, expiring, single-file URLs for the files officers get on WhatsApp. Twilio sends
media by fetching a public URL, so each cleaned evidence copy (and each case file PDF) is
served under `PUBLIC_BASE_URL` at a URL that names one file and carries an HMAC over the
file, its name and an expiry (`MEDIA_URL_SECONDS`, one hour by default). The URL is not
secret by obscurity: without the installation's key (`storage/keys.py`) nobody can make
one, and a copied one stops working when it expires.

`/media/<kind>/<sha256>/<expires>/<signature>/<name>`, kind `e` (a cleaned copy) or `f`
(a case file); the name is the case's (`LN-26-7K3Q9-bukti-3.jpg`, `berkas-LN-26-7K3Q9.pdf`),
never the reporter's. Serving (`bot/web.py`) checks the signature and the expiry first,
then that the file is a cleaned copy or a recorded case file: an original is never served,
whatever is signed.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import time
from dataclasses import dataclass

PATH = "/media"
EVIDENCE, CASE_FILE = "e", "f"
_NAME = re.compile(r"^(?:(LN-\d{2}-[0-9A-Z]{5})-bukti-(\d+)|berkas-(LN-\d{2}-[0-9A-Z]{5}))\.[a-z0-9]{1,5}$")
_SHA = re.compile(r"^[0-9a-f]{64}$")


@dataclass(frozen=True, slots=True)
class Fetch:
    """A verified request: which file, and what the log may say of it (the case number)."""

    kind: str
    sha256: str
    name: str

    @property
    def number(self) -> str:
        found = _NAME.match(self.name)
        assert found is not None
        return found.group(1) or found.group(3)

    @property
    def label(self) -> str:
        found = _NAME.match(self.name)
        assert found is not None
        return f"evidence {found.group(2)}" if found.group(2) else "case file"


def _signature(key: bytes, kind: str, sha256: str, expires: int, name: str) -> str:
    message = f"{kind}\n{sha256}\n{expires}\n{name}".encode()
    return hmac.new(key, message, hashlib.sha256).hexdigest()


class MediaLinks:
    def __init__(self, base_url: str, seconds: float = 3600.0) -> None:
        self.base = base_url.rstrip("/")
        self.seconds = seconds

    def url(self, key: bytes, kind: str, sha256: str, name: str, now: float | None = None) -> str:
        """A URL that serves this one file until it expires."""
        if not _NAME.match(name) or not _SHA.match(sha256) or kind not in (EVIDENCE, CASE_FILE):
            raise ValueError("not a file we serve")
        expires = int((time.time() if now is None else now) + self.seconds)
        return f"{self.base}{PATH}/{kind}/{sha256}/{expires}/{_signature(key, kind, sha256, expires, name)}/{name}"


def verify(key: bytes, kind: str, sha256: str, expires: str, signature: str, name: str,
           now: float | None = None) -> Fetch | None:
    """The file a request may have, or None: a wrong or expired signature, or a malformed URL."""
    if kind not in (EVIDENCE, CASE_FILE) or not _SHA.match(sha256) or not _NAME.match(name) \
            or not (expires.isascii() and expires.isdigit()) or len(expires) > 12:  # "²" is a digit, not a number
        return None
    expected = _signature(key, kind, sha256, int(expires), name)
    if not hmac.compare_digest(expected.encode(), signature.encode()):
        return None
    if int(expires) < (time.time() if now is None else now):
        return None
    return Fetch(kind, sha256, name)
