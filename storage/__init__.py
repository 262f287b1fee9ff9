"""Persistence: the database (the SQLite file, or PostgreSQL for several workers), its
migrations, and typed repository functions.

All SQL of the project lives in this package. `storage/database.py` is the contract both
backends keep (`storage/sqlite.py`, `storage/postgres.py`); what differs between the two
dialects lives in `storage/dialect.py`.
"""

from storage import cases, conversations, reporters, updates
from storage.database import Database, Tx

__all__ = ["Database", "Tx", "cases", "conversations", "reporters", "updates"]
