"""Persistence: the SQLite database, its migrations, and typed repository functions.

All SQL of the project lives in this package.
"""

from storage import cases, conversations, reporters, updates
from storage.database import Database, Tx

__all__ = ["Database", "Tx", "cases", "conversations", "reporters", "updates"]
