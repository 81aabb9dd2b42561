"""The one clock of the library: local wall time without a zone, as every timestamp
in it is stored (scan runs, decisions, faces, thresholds)."""

from __future__ import annotations

from datetime import datetime


def now() -> datetime:
    """Local time now, naive (the library's timestamps are local and zone-less)."""
    return datetime.now()
