"""The keys callers outside `storage/` pass on without reading: the key of the digests that
remember every processed message (`storage/updates.py`) and the key that signs the media
URLs Twilio fetches officers' files from (`bot/whatsapp/media_links.py`).

Both come from the keyring, wrapped by the data key (`storage/sealing.py`,
`storage/at_rest.py`): a copy of the database alone can neither check whether a given
message id was seen nor sign a URL. The digest key of an installation from before sealing is
kept (now wrapped), so its digests still match; a rotation of the data key wraps it anew and
keeps it, so 400 days of digests stay valid. The media-URL key is derived from the lookup
key, which a rotation keeps too, so every worker signs and checks with the same key (URLs an
installation signed before it was sealed, valid for an hour, no longer open).
"""

from __future__ import annotations

from storage.database import Database
from storage.sealing import DigestKey

__all__ = ["DigestKey", "media_url_key", "message_digest_key"]


async def message_digest_key(db: Database) -> DigestKey:
    """The key, unwrapped when the database was opened."""
    return db.keys.digest_key


async def media_url_key(db: Database) -> bytes:
    """The same for every worker, so any of them serves a URL another signed."""
    return db.keys.media_url_key
