"""SEALING: what makes a copy of the data (the SQLite file and its `-wal`, the evidence
files, a backup, a `pg_dump`) name nobody without the key. Every value that can identify a
reporter (and the free text of a case) is sealed with AES-256-GCM from `cryptography`
before it reaches the disk, and opened when it is read; an address that must be found is
stored as its keyed hash (HMAC-SHA-256) beside its sealed value. Nothing outside
`storage/` sees a key or a ciphertext: a repository marks its sealed columns once, where it
describes its table (`Table`), and seals and opens through that description.

Keys, outside in:
- the **data key** (`DATA_KEY`, or the key file `DATA_KEY_FILE`) never touches the database;
  it wraps the keys below, which the database keeps in `keyring` (`storage/at_rest.py`);
- a **values key** seals values and evidence files (each file has its own key, wrapped by
  the values key in the file's header); `python -m bot rotate-key` makes a new one and
  re-seals everything with it, while the service runs;
- the **lookup key** makes the keyed hashes of addresses (and, derived from it, the keyed
  names of evidence files); the **digest key** the hashes of processed messages
  (`storage/updates.py`). These two stay the same across a rotation (every hash would
  otherwise change while the service looks rows up by them): the rotation wraps them anew
  under the new data key.

A sealed value is `1 | values key id (4 bytes) | nonce (12) | ciphertext and tag`, with the
table and column as associated data (`cases.reporter_name`), so a value cannot be moved to
another column. An evidence file is a header (its own key, wrapped) and 64 KiB segments,
each sealed with its index and a final flag, so a truncated, cut or reordered file does not
open.
"""

from __future__ import annotations

import base64
import contextlib
import hmac
import os
import secrets
import struct
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM, AESSIV
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

if TYPE_CHECKING:
    from storage.database import Tx

T = TypeVar("T")

VERSION = 1
KEY_BYTES = 32
ID_BYTES = 4
NONCE_BYTES = 12
TAG_BYTES = 16
HEAD_BYTES = 1 + ID_BYTES + NONCE_BYTES
OVERHEAD = HEAD_BYTES + TAG_BYTES
"""What sealing adds to a value: 33 bytes."""

REFRESH_SECONDS = 1.0
"""A process reads the keyring again at the start of a transaction at most this often, so
that a rotation's new values key reaches every running process within about a second."""
STALE_SECONDS = 30.0
"""A process whose keyring is older than this seals nothing (it may not know the current
values key). A rotation waits longer than this before it re-seals (`SETTLE_SECONDS`), so no
value is sealed with the old key after it. Since a transaction reads the keyring again when
it begins (if a second has passed), only a transaction that lasts this long meets it: it
fails and is retried like any failed step. (5 s failed a 3,000-case transaction on a loaded
machine.) A migration, which no rotation can run beside, is exempt (`Keyring.pinned`)."""
SETTLE_SECONDS = STALE_SECONDS + REFRESH_SECONDS + 1.0

CACHE_ENTRIES = 20_000
"""Address hashes, and rows built by `Keyring.recall`, that a keyring remembers (each)."""

PURPOSES = ("values", "lookup", "digest")
ERASED = b"erased"
"""What a sealed column or an address column holds once its value is erased: neither a
hash nor a sealed value (the ciphertext itself is gone)."""


PROBLEMS = {
    "unreadable": "{setting} cannot be read ({detail})",
    "malformed": "{setting} is not a data key (url-safe base64 of 32 bytes, as `python -m bot keygen` prints)",
    "mismatch": "{setting} does not match this {what}",
    "unfinished": "{setting} does not match this database: a key rotation did not finish; run "
                  "`python -m bot rotate-key` again",
    "missing": "{setting} does not exist, and this {what} was sealed with a data key",
    "changed": "{setting} does not open this {what}'s keys (were they changed?)",
    "needed": "DATA_KEY (or DATA_KEY_FILE) is needed to open a PostgreSQL database",
    "unloaded": "no keys loaded ({detail})",
    "stale": "the keyring was not read for a while: a key rotation may have begun",
}
"""What can be wrong with a data key, as one line that names the setting and never the key
(the shell says the same in the operator's language)."""


class KeyProblem(Exception):
    """The data key cannot be used here. `problem` is a key of `PROBLEMS`; the message is
    one line, safe to print."""

    def __init__(self, problem: str, setting: str = "DATA_KEY", detail: str = "", what: str = "database") -> None:
        super().__init__(PROBLEMS[problem].format(setting=setting, detail=detail, what=what))
        self.problem = problem
        self.setting = setting
        self.detail = detail
        self.what = what


class WrongKey(KeyProblem):
    """A data key that does not open this database (or this backup)."""


class Tampered(ValueError):
    """A sealed value or file that does not open: sealed with a key this process does not
    hold, moved from another column, or changed."""


# --- the data key --------------------------------------------------------------------------

def new_data_key() -> str:
    """A new data key, as `DATA_KEY` and the key file hold it: url-safe base64 of 32 random bytes."""
    return base64.urlsafe_b64encode(secrets.token_bytes(KEY_BYTES)).decode("ascii")


def parse_data_key(text: str) -> bytes:
    """The 32 bytes of a data key written as `new_data_key` writes it (padding optional)."""
    cleaned = text.strip()
    try:
        raw = base64.urlsafe_b64decode(cleaned + "=" * (-len(cleaned) % 4))
    except (ValueError, TypeError):
        raw = b""
    if len(raw) != KEY_BYTES or not cleaned:
        raise ValueError("not url-safe base64 of 32 bytes")
    return raw


def _derive(key: bytes, info: str, length: int = KEY_BYTES) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=length, salt=None, info=info.encode()).derive(key)


class DataKey:
    """The data key (the key-encryption key): it wraps the keyring's keys and nothing else.
    Its `id` (8 hex digits, derived from it, revealing nothing of it) says which data key
    wrapped a keyring row."""

    __slots__ = ("_aead", "id")

    def __init__(self, raw: bytes) -> None:
        if len(raw) != KEY_BYTES:
            raise ValueError("a data key has 32 bytes")
        self._aead = AESGCM(_derive(raw, "lapor-netral keyring"))
        self.id = _derive(raw, "lapor-netral data key id", ID_BYTES).hex()

    def __repr__(self) -> str:
        return f"DataKey(id={self.id})"

    def wrap(self, secret: bytes, key_id: str, purpose: str) -> bytes:
        nonce = os.urandom(NONCE_BYTES)
        return nonce + self._aead.encrypt(nonce, secret, _wrap_ad(key_id, purpose))

    def unwrap(self, wrapped: bytes, key_id: str, purpose: str) -> bytes:
        try:
            return self._aead.decrypt(wrapped[:NONCE_BYTES], wrapped[NONCE_BYTES:], _wrap_ad(key_id, purpose))
        except InvalidTag:
            raise Tampered(f"keyring row {key_id} ({purpose}) does not open with data key {self.id}") from None


def _wrap_ad(key_id: str, purpose: str) -> bytes:
    return f"keyring\x1f{key_id}\x1f{purpose}".encode()


@dataclass(frozen=True)
class KeySource:
    """Where the data key comes from: `DATA_KEY` itself when set, else the key file
    `DATA_KEY_FILE` (`data/lapor.key` beside the database), which the first start creates
    with mode 0600, so the README's set-up command needs no configuration and copying the
    database alone reveals nothing."""

    value: str | None
    file: Path

    @classmethod
    def beside(cls, database: Path) -> KeySource:
        """The key file next to a SQLite database (what a fresh installation uses)."""
        return cls(None, database.parent / "lapor.key")

    @property
    def setting(self) -> str:
        """How an error names it."""
        return "DATA_KEY" if self.value else f"DATA_KEY_FILE ({self.file})"

    def read(self) -> DataKey | None:
        """The key, or None when it comes from a file that does not exist (yet)."""
        if self.value:
            text = self.value
        else:
            try:
                text = self.file.read_text(encoding="ascii")
            except FileNotFoundError:
                return None
            except (OSError, UnicodeDecodeError) as exc:
                raise KeyProblem("unreadable", self.setting, type(exc).__name__) from None
        try:
            return DataKey(parse_data_key(text))
        except ValueError:
            raise KeyProblem("malformed", self.setting) from None

    def create(self) -> DataKey:
        """Write a new key file (mode 0600, never over an existing one) and return its key."""
        text = new_data_key()
        write_key_file(self.file, text)
        return DataKey(parse_data_key(text))


def write_key_file(path: Path, text: str, replace: bool = False) -> None:
    """A key file with mode 0600, written whole or not at all (a temporary file, flushed,
    renamed); without `replace` an existing file is never overwritten."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="ascii") as handle:
            handle.write(text + "\n")
            handle.flush()
            os.fsync(handle.fileno())
        if replace:
            os.replace(tmp, path)
        else:
            os.link(tmp, path)  # fails if the file appeared meanwhile: never two keys
            os.unlink(tmp)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


# --- the keyring ---------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class KeyRow:
    """A row of the `keyring` table: a key wrapped by one data key."""

    id: str
    kek: str
    purpose: str
    wrapped: bytes
    active: bool
    """The current values key (lookup and digest keys: always)."""
    created_at: str


class DigestKey:
    """The key of the processed-message digests, held for `storage/updates.py` (a caller
    passes it on and never reads it)."""

    __slots__ = ("_key",)

    def __init__(self, key: bytes) -> None:
        self._key = key

    def __repr__(self) -> str:
        return "DigestKey(…)"

    def digest(self, message: bytes) -> bytes:
        return hmac.digest(self._key, message, "sha256")


class Keyring:
    """The keys a process seals and opens with, unwrapped from the database's `keyring` rows
    by its data key, and read again every `REFRESH_SECONDS` (at the start of a transaction)
    so a rotation's new values key reaches it."""

    sealed: ClassVar[bool] = True

    def __init__(self, data_key: DataKey) -> None:
        self.data_key = data_key
        self._values: dict[bytes, AESGCM] = {}
        self._current: bytes | None = None
        self._lookup: bytes | None = None
        self._media: bytes | None = None
        self._names: AESSIV | None = None
        self._digest: DigestKey | None = None
        self._seen: frozenset[tuple[str, str, bool]] = frozenset()
        self.refreshed = 0.0
        self._pinned = 0
        self.foreign = False
        """True once this database's keys are no longer wrapped by our data key (a rotation
        finished): the keys in memory still work until the process restarts."""
        self._lock = threading.Lock()
        self._hashes: dict[str, bytes] = {}
        self._rows: dict[tuple[Any, ...], Any] = {}

    # what the database says ----------------------------------------------------------------

    def load(self, rows: Iterable[KeyRow]) -> None:
        """Take the keyring's rows. Raises `WrongKey` when the database has keys and none is
        wrapped by this data key, `Tampered` when one of ours does not unwrap."""
        rows = list(rows)
        ours = [r for r in rows if r.kek == self.data_key.id]
        if rows and not ours:
            raise WrongKey("mismatch")
        self._take(ours)

    def refresh(self, rows: Iterable[KeyRow]) -> None:
        """The rows read again: a new values key, a rotation's end. Never raises for a
        rotation that left this process's data key behind (it keeps what it holds)."""
        rows = list(rows)
        ours = [r for r in rows if r.kek == self.data_key.id]
        if rows and not ours:
            self.foreign = True
            self.refreshed = time.monotonic()
            return
        self._take(ours)

    def _take(self, ours: list[KeyRow]) -> None:
        seen = frozenset((r.id, r.purpose, r.active) for r in ours)
        with self._lock:
            if seen != self._seen:
                for row in ours:
                    raw_id = bytes.fromhex(row.id)
                    if row.purpose == "values" and raw_id not in self._values:
                        self._values[raw_id] = AESGCM(self.data_key.unwrap(row.wrapped, row.id, row.purpose))
                    elif row.purpose == "lookup" and self._lookup is None:
                        secret = self.data_key.unwrap(row.wrapped, row.id, row.purpose)
                        self._lookup = _derive(secret, "lapor-netral address lookup")
                        self._media = _derive(secret, "lapor-netral media urls")
                        self._names = AESSIV(_derive(secret, "lapor-netral file names", 2 * KEY_BYTES))
                    elif row.purpose == "digest" and self._digest is None:
                        self._digest = DigestKey(self.data_key.unwrap(row.wrapped, row.id, row.purpose))
                current = [bytes.fromhex(r.id) for r in ours if r.purpose == "values" and r.active]
                if current:
                    self._current = current[-1]
                self._seen = seen
            self.refreshed = time.monotonic()

    @contextlib.contextmanager
    def pinned(self) -> Iterator[None]:
        """While inside, sealing never counts as stale: for the work of opening a database
        (an old one sealed in place, its files sealed), which can take minutes and which no
        rotation can run beside (a rotation opens the database first, and waits for it)."""
        self._pinned += 1
        try:
            yield
        finally:
            self._pinned -= 1

    def _check_fresh(self) -> None:
        if not self._pinned and time.monotonic() - self.refreshed > STALE_SECONDS:
            raise KeyProblem("stale")

    @property
    def ready(self) -> bool:
        """Whether it holds a values key, a lookup key and a digest key."""
        return self._current is not None and self._lookup is not None and self._digest is not None

    def due(self) -> bool:
        """Time to read the keyring again."""
        return time.monotonic() - self.refreshed >= REFRESH_SECONDS

    @property
    def current_id(self) -> str | None:
        return self._current.hex() if self._current is not None else None

    def holds(self, key_id: str) -> bool:
        return bytes.fromhex(key_id) in self._values

    # values --------------------------------------------------------------------------------

    def seal(self, data: bytes, where: bytes) -> bytes:
        """`data` sealed with the current values key, `where` (table and column) bound to it."""
        current = self._current
        if current is None:
            raise KeyProblem("unloaded", detail="values")
        self._check_fresh()
        return self._seal_with(current, data, where)

    def _seal_with(self, key_id: bytes, data: bytes, where: bytes) -> bytes:
        nonce = os.urandom(NONCE_BYTES)
        return b"\x01" + key_id + nonce + self._values[key_id].encrypt(nonce, data, where)

    def open(self, blob: bytes, where: bytes) -> bytes:
        if len(blob) < OVERHEAD or blob[0] != VERSION:
            raise Tampered(f"{where.decode()}: not a sealed value")
        aead = self._values.get(bytes(blob[1:1 + ID_BYTES]))
        if aead is None:
            raise Tampered(f"{where.decode()}: sealed with a key this process does not hold")
        try:
            return aead.decrypt(bytes(blob[1 + ID_BYTES:HEAD_BYTES]), bytes(blob[HEAD_BYTES:]), where)
        except InvalidTag:
            raise Tampered(f"{where.decode()}: does not open (changed, or moved from another column)") from None

    def recall(self, stored: tuple[Any, ...], make: Callable[[], T]) -> T:
        """What `make` built from a row as it is stored (sealed values included), built once
        while it is among the last `CACHE_ENTRIES`: for the related-reports search, which
        reads the same few hundred earlier cases for every new one. The stored row is the
        key, so a row changed (or sealed again) is built anew."""
        found = self._rows.get(stored)
        if found is None:
            found = make()
            if len(self._rows) >= CACHE_ENTRIES:
                self._rows.pop(next(iter(self._rows)))
            self._rows[stored] = found
        return found

    def key_of(self, blob: bytes) -> str:
        """The id of the values key a sealed value (or a file's header) was sealed with."""
        start = len(FILE_MAGIC) if blob[:len(FILE_MAGIC)] == FILE_MAGIC else 1
        return bytes(blob[start:start + ID_BYTES]).hex()

    def reseal(self, blob: bytes, where: bytes, key_id: str) -> bytes:
        """The same value sealed again with the values key `key_id` (a rotation)."""
        return self._seal_with(bytes.fromhex(key_id), self.open(blob, where), where)

    # look-ups ------------------------------------------------------------------------------

    def lookup(self, value: str) -> bytes:
        """The keyed hash an address is found by (HMAC-SHA-256): the same in every table, so
        rows still join, and nothing without the key."""
        found = self._hashes.get(value)
        if found is not None:
            return found
        if self._lookup is None:
            raise KeyProblem("unloaded", detail="lookup")
        found = hmac.digest(self._lookup, value.encode(), "sha256")
        if len(self._hashes) >= CACHE_ENTRIES:  # the addresses at work now: a step looks its own up six times
            self._hashes.pop(next(iter(self._hashes)))
        self._hashes[value] = found
        return found

    @property
    def digest_key(self) -> DigestKey:
        if self._digest is None:
            raise KeyProblem("unloaded", detail="digest")
        return self._digest

    @property
    def media_url_key(self) -> bytes:
        """What signs the media URLs officers' files are fetched from (`storage/keys.py`):
        derived from the lookup key, so a rotation keeps it."""
        if self._media is None:
            raise KeyProblem("unloaded", detail="lookup")
        return self._media

    # evidence files ------------------------------------------------------------------------

    def file_name(self, sha256: str) -> str:
        """An evidence file's name in the store: its SHA-256 encrypted deterministically
        (AES-SIV), so the store's names reveal no file's hash without the key, and the
        service can still tell which file a name holds (`sha_of_name`)."""
        if self._names is None:
            raise KeyProblem("unloaded", detail="lookup")
        return base64.b32encode(self._names.encrypt(bytes.fromhex(sha256), None)).decode("ascii").lower().rstrip("=")

    def sha_of_name(self, name: str) -> str | None:
        """The SHA-256 a stored file's name stands for; None for a name this key did not make."""
        if self._names is None or len(name) != FILE_NAME_CHARS:
            return None
        try:
            return self._names.decrypt(base64.b32decode(name.upper() + "===="[:(-len(name)) % 8]), None).hex()
        except (InvalidTag, ValueError):
            return None

    def file_writer(self) -> FileSealer:
        current = self._current
        if current is None:
            raise KeyProblem("unloaded", detail="values")
        self._check_fresh()
        return FileSealer(self, current)

    def file_reader(self) -> FileOpener:
        return FileOpener(self)

    def file_key(self, header: bytes) -> bytes:
        """The key of a sealed file, from its header."""
        if len(header) < FILE_HEADER or header[:len(FILE_MAGIC)] != FILE_MAGIC:
            raise Tampered("not a sealed evidence file")
        key_id = bytes(header[4:8])
        aead = self._values.get(key_id)
        if aead is None:
            raise Tampered("evidence file sealed with a key this process does not hold")
        try:
            return aead.decrypt(bytes(header[8:20]), bytes(header[20:FILE_HEADER]), FILE_MAGIC)
        except InvalidTag:
            raise Tampered("evidence file header does not open") from None

    def file_header(self, file_key: bytes, key_id: bytes) -> bytes:
        nonce = os.urandom(NONCE_BYTES)
        return FILE_MAGIC + key_id + nonce + self._values[key_id].encrypt(nonce, file_key, FILE_MAGIC)

    def rewrap_header(self, header: bytes, key_id: str) -> bytes:
        """The same file's header with its key wrapped by the values key `key_id` (a rotation
        rewrites only the header: the file's own key, and its bytes, stay)."""
        return self.file_header(self.file_key(header), bytes.fromhex(key_id))


FILE_NAME_CHARS = 77
"""base32 of AES-SIV's 48 bytes (a 32-byte hash and its 16-byte tag), unpadded."""
FILE_MAGIC = b"LNF\x01"
FILE_HEADER = len(FILE_MAGIC) + ID_BYTES + NONCE_BYTES + KEY_BYTES + TAG_BYTES
"""68 bytes: the magic, the values key's id, a nonce, the file's own key wrapped."""
SEGMENT_BYTES = 64 * 1024
"""Plain text per segment; each sealed segment is 16 bytes longer."""


def _segment_nonce(index: int, final: bool) -> bytes:
    return struct.pack(">QxxxB", index, 1 if final else 0)


class FileSealer:
    """An evidence file sealed as it streams in: `feed` what arrives, then `finish`; what
    they return is what to store. A file never sits whole in memory."""

    def __init__(self, keyring: Keyring, key_id: bytes) -> None:
        self._key = secrets.token_bytes(KEY_BYTES)
        self._aead = AESGCM(self._key)
        self._pending = bytearray()
        self._index = 0
        self._head: bytes | None = keyring.file_header(self._key, key_id)

    def _segment(self, data: bytes, final: bool) -> bytes:
        nonce = _segment_nonce(self._index, final)
        self._index += 1
        return self._aead.encrypt(nonce, data, FILE_MAGIC + nonce)

    def feed(self, data: bytes) -> bytes:
        self._pending += data
        out = bytearray(self._head or b"")
        self._head = None
        while len(self._pending) > SEGMENT_BYTES:  # keep at least one byte for the final segment
            out += self._segment(bytes(self._pending[:SEGMENT_BYTES]), False)
            del self._pending[:SEGMENT_BYTES]
        return bytes(out)

    def finish(self) -> bytes:
        out = bytearray(self._head or b"")
        self._head = None
        out += self._segment(bytes(self._pending), True)
        self._pending.clear()
        return bytes(out)


class FileOpener:
    """A sealed evidence file opened as it streams out: `feed` the stored bytes, then
    `finish`. A segment missing, cut, out of order or changed raises `Tampered`."""

    def __init__(self, keyring: Keyring) -> None:
        self._keyring = keyring
        self._aead: AESGCM | None = None
        self._pending = bytearray()
        self._index = 0

    def _segment(self, data: bytes, final: bool) -> bytes:
        assert self._aead is not None
        nonce = _segment_nonce(self._index, final)
        self._index += 1
        try:
            return self._aead.decrypt(nonce, data, FILE_MAGIC + nonce)
        except InvalidTag:
            raise Tampered("evidence file does not open (cut, reordered or changed)") from None

    def feed(self, data: bytes) -> bytes:
        self._pending += data
        if self._aead is None:
            if len(self._pending) < FILE_HEADER:
                return b""
            self._aead = AESGCM(self._keyring.file_key(bytes(self._pending[:FILE_HEADER])))
            del self._pending[:FILE_HEADER]
        out = bytearray()
        sealed = SEGMENT_BYTES + TAG_BYTES
        while len(self._pending) > sealed:  # the last one may be the final segment: kept for `finish`
            out += self._segment(bytes(self._pending[:sealed]), False)
            del self._pending[:sealed]
        return bytes(out)

    def finish(self) -> bytes:
        if self._aead is None:
            raise Tampered("evidence file is cut short (no header)")
        data = self._segment(bytes(self._pending), True)
        self._pending.clear()
        return data


def sealed_size(plain: int) -> int:
    """What a file of `plain` bytes takes once sealed."""
    return FILE_HEADER + plain + TAG_BYTES * (max(0, plain - 1) // SEGMENT_BYTES + 1)


# --- off, for one test -----------------------------------------------------------------------

class UnsealedKeyring(Keyring):
    """Values stored as they are (UTF-8 bytes), addresses as themselves, files unchanged.
    Only for the test that shows the raw-bytes scan finds what an unsealed copy would show
    (`tests/test_at_rest.py`); nothing in the service makes one (`unsealed_for_tests`)."""

    sealed: ClassVar[bool] = False

    def __init__(self) -> None:
        super().__init__(DataKey(bytes(KEY_BYTES)))
        self.refreshed = float("inf")

    def load(self, rows: Iterable[KeyRow]) -> None:
        return None

    def refresh(self, rows: Iterable[KeyRow]) -> None:
        return None

    @property
    def ready(self) -> bool:
        return True

    def due(self) -> bool:
        return False

    def seal(self, data: bytes, where: bytes) -> bytes:
        return data

    def open(self, blob: bytes, where: bytes) -> bytes:
        return bytes(blob)

    def lookup(self, value: str) -> bytes:
        return value.encode()

    @property
    def digest_key(self) -> DigestKey:
        return DigestKey(b"unsealed")

    @property
    def media_url_key(self) -> bytes:
        return b"unsealed media url key"

    def file_name(self, sha256: str) -> str:
        return sha256

    def sha_of_name(self, name: str) -> str | None:
        return name if len(name) == 64 else None

    def file_writer(self) -> FileSealer:
        return _Passthrough()  # type: ignore[return-value]

    def file_reader(self) -> FileOpener:
        return _Passthrough()  # type: ignore[return-value]


class _Passthrough:
    def feed(self, data: bytes) -> bytes:
        return data

    def finish(self) -> bytes:
        return b""


_unsealed = False


class unsealed_for_tests:  # noqa: N801 - used as a context manager, like contextlib's
    """While inside, every database opened stores values as they are. Tests only: it exists
    so that the raw-bytes scan can be shown to find the plain text when nothing is sealed."""

    def __enter__(self) -> None:
        global _unsealed
        _unsealed = True

    def __exit__(self, *exc: object) -> None:
        global _unsealed
        _unsealed = False


def unsealed() -> bool:
    return _unsealed


# --- tables: where a column is marked sealed, once ------------------------------------------

Kind = type[str] | type[float] | type[bytes]


class Table:
    """A table as its repository describes it: which columns hold sealed values (and of
    what kind), which column holds an address's keyed hash (and which its sealed value),
    and its key, so the at-rest jobs (`storage/at_rest.py`: an old database sealed in place,
    a rotation) reach every sealed value without a list of their own."""

    registry: ClassVar[dict[str, Table]] = {}

    def __init__(self, name: str, *, key: tuple[str, ...] = ("id",),
                 sealed: Mapping[str, Kind] | Sequence[str] = (),
                 hashed: Mapping[str, str | None] | None = None, only: str | None = None) -> None:
        self.name = name
        self.key = key
        self.only = only
        """The one dialect that has this table (PostgreSQL's flood windows), or None."""
        kinds: dict[str, Kind] = dict(sealed) if isinstance(sealed, Mapping) else {c: str for c in sealed}
        self.hashed: dict[str, str | None] = dict(hashed or {})
        for plain in self.hashed.values():
            if plain is not None:
                kinds.setdefault(plain, str)
        self.kinds = kinds
        self._where = {column: f"{name}.{column}".encode() for column in kinds}
        self._positions: dict[tuple[str, ...], list[tuple[int, bytes, Kind]]] = {}
        Table.registry[name] = self

    def where(self, column: str) -> bytes:
        """The associated data of a column's values."""
        return self._where[column]

    def seal(self, tx: Tx, column: str, value: Any) -> bytes | None:
        """A value for `column` as it is stored (None stays None)."""
        if value is None:
            return None
        kind = self.kinds[column]
        data = value if kind is bytes else (repr(float(value)) if kind is float else str(value)).encode()
        return tx.keys.seal(data, self._where[column])

    def open(self, tx: Tx, column: str, blob: Any) -> Any:
        """A stored value of `column` as the rest of the service knows it."""
        if blob is None:
            return None
        data = tx.keys.open(blob, self._where[column])
        kind = self.kinds[column]
        if kind is bytes:
            return data
        text = data.decode()
        return float(text) if kind is float else text

    def opened(self, tx: Tx, columns: Sequence[str], row: Sequence[Any]) -> list[Any]:
        """A row read with `columns` (names, in order), its sealed ones opened. (The hot path
        of every list and search: one plan per column list, no call per value but the
        opening itself.)"""
        key = tuple(columns)
        plan = self._positions.get(key)
        if plan is None:
            plan = self._positions[key] = [(i, self._where[c], self.kinds[c]) for i, c in enumerate(key)
                                           if c in self.kinds]
        values = list(row)
        keys = tx.keys
        for i, where, kind in plan:
            blob = values[i]
            if blob is None:
                continue
            data = keys.open(blob, where)
            values[i] = data if kind is bytes else float(data.decode()) if kind is float else data.decode()
        return values

    def lookup(self, tx: Tx, value: str) -> bytes:
        """The keyed hash an address column holds for `value`."""
        return tx.keys.lookup(value)


def columns_of(names: str) -> tuple[str, ...]:
    """`"id, channel, address"` (a query's column list) as names."""
    return tuple(part.strip().split(".")[-1].split(" ")[-1] for part in names.split(","))
