"""Ids as the library stores them (pure Python: listing commands import it)."""

from __future__ import annotations

#: The largest id a library stores (SQLite's INTEGER); a larger number names nothing.
MAX_ID = 2**63 - 1
