"""The key of the digests that remember every processed message (`storage/updates.py`).

It is one of the keys the database keeps in its keyring, wrapped by the data key
(`storage/sealing.py`, `storage/at_rest.py`): a copy of the database alone cannot even
check whether a given message id was seen. An installation from before sealing keeps the
key it had (now wrapped), so its digests still match; a rotation of the data key wraps it
anew and keeps it, so 400 days of digests stay valid. Callers pass the key on to
`updates.digest` and never read it.
"""

from __future__ import annotations

from storage.database import Database
from storage.sealing import DigestKey

__all__ = ["DigestKey", "media_url_key", "message_digest_key"]


async def message_digest_key(db: Database) -> DigestKey:
    """The key, unwrapped when the database was opened."""
    return db.keys.digest_key


async def media_url_key(db: Database) -> bytes:
    """The key that signs the media URLs Twilio fetches officers' files from
    (`bot/whatsapp/media_links.py`): the same for every worker, so any of them serves a URL
    another signed, and derived from a keyring key, so a copy of the database cannot sign one."""
    return db.keys.media_url_key
