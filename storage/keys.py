"""Keys the database keeps for itself.

`message_digest_key` is the key of the digests that remember every processed message
(`storage/updates.py`). For now it is a random key of this installation, made on first use
and kept in the database (table `installation_keys`), so a copy of the database alone lets
someone check whether a given message id was seen, not read any. When the data key of
issue 24 exists, this one function derives the key from it instead; nothing else changes.
"""

from __future__ import annotations

import secrets
import weakref
from datetime import UTC, datetime

from storage.database import Database, fetch_one

MESSAGE_DIGEST = "message_digest"
MEDIA_URL = "media_url"
"""The key that signs the media URLs Twilio fetches officers' files from (`bot/whatsapp/media_links.py`):
the same for every worker, so any of them serves a URL another signed."""
_known: weakref.WeakKeyDictionary[Database, dict[str, bytes]] = weakref.WeakKeyDictionary()


async def message_digest_key(db: Database) -> bytes:
    """The key, read (or made) once per open database and then kept in memory."""
    return await _key(db, MESSAGE_DIGEST)


async def media_url_key(db: Database) -> bytes:
    return await _key(db, MEDIA_URL)


async def _key(db: Database, name: str) -> bytes:
    known = _known.setdefault(db, {})
    if name in known:
        return known[name]
    async with db.transaction() as tx:
        await tx.execute("INSERT INTO installation_keys (name, key, created_at) VALUES (?, ?, ?)"
                         " ON CONFLICT (name) DO NOTHING",
                         (name, secrets.token_bytes(32), datetime.now(UTC).isoformat()))
        row = await fetch_one(tx, "SELECT key FROM installation_keys WHERE name = ?", (name,))
    assert row is not None
    known[name] = bytes(row[0])
    return known[name]
