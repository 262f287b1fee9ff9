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
_known: weakref.WeakKeyDictionary[Database, bytes] = weakref.WeakKeyDictionary()


async def message_digest_key(db: Database) -> bytes:
    """The key, read (or made) once per open database and then kept in memory."""
    known = _known.get(db)
    if known is not None:
        return known
    async with db.transaction() as tx:
        await tx.execute("INSERT INTO installation_keys (name, key, created_at) VALUES (?, ?, ?)"
                         " ON CONFLICT (name) DO NOTHING",
                         (MESSAGE_DIGEST, secrets.token_bytes(32), datetime.now(UTC).isoformat()))
        row = await fetch_one(tx, "SELECT key FROM installation_keys WHERE name = ?", (MESSAGE_DIGEST,))
    assert row is not None
    key = bytes(row[0])
    _known[db] = key
    return key
