"""Persistence: the database (the SQLite file, or PostgreSQL for several workers), its
migrations, and typed repository functions.

All SQL of the project lives in this package; what differs between the two dialects lives
in `storage/dialect.py`.
"""

from storage import cases, conversations, reporters, updates
from storage.database import Tx
from storage.sqlite import Database

__all__ = ["Database", "Tx", "cases", "conversations", "reporters", "updates"]
