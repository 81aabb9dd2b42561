"""SQLite failures that say the library cannot be used (disk full, read-only, ...) as
one-line LibraryErrors that name the file and the reason.

Standard library only: the CLI maps every error through here (photogroup.cli.main),
also for commands that never import SQLAlchemy. SQLAlchemy's DBAPIError keeps the
driver's exception in ``.orig``.
"""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

from ..core.errors import LibraryError

NEARLY_FULL_BYTES = 1 << 20
"""Less free space than this, and an I/O error of the library counts as a full disk."""

# SQLite's primary result codes (https://sqlite.org/rescode.html).
_BUSY, _LOCKED, _READONLY, _IOERR, _CORRUPT, _FULL, _CANTOPEN, _NOTADB, _PERM = (
    5,
    6,
    8,
    10,
    11,
    13,
    14,
    26,
    3,
)


def _why_not_writable(path: Path) -> str | None:
    """Why `path` (a library file, maybe not created yet) cannot be written, or None."""
    folder = path.parent
    try:
        if os.statvfs(folder).f_flag & os.ST_RDONLY:
            return f"the file system of {str(folder)!r} is mounted read-only"
    except OSError:
        pass
    if path.exists() and not os.access(path, os.W_OK):
        return "the file is not writable (read-only)"
    if not os.access(folder, os.W_OK):
        return (
            f"the folder {str(folder)!r} is not writable (SQLite writes {path.name}-wal "
            "and -shm next to the library)"
        )
    for side in ("-wal", "-shm"):
        extra = path.with_name(path.name + side)
        if extra.exists() and not os.access(extra, os.W_OK):
            return f"{str(extra)!r} is not writable"
    return None


def _nearly_full(path: Path | None) -> bool:
    """Whether the file system of `path` is (all but) full: SQLite then often reports
    an I/O error (growing its -shm or -wal file) rather than SQLITE_FULL."""
    if path is None:
        return False
    try:
        st = os.statvfs(path.parent)
    except OSError:
        return False
    return st.f_bavail * st.f_frsize < NEARLY_FULL_BYTES


def storage_error(exc: BaseException, path: Path | str | None) -> LibraryError | None:
    """The LibraryError (exit 5) for a database failure of the library at `path`,
    or None when `exc` is not one (a bug is not turned into a message here)."""
    orig = getattr(exc, "orig", None) or exc  # sqlalchemy.exc.DBAPIError wraps sqlite3's
    if not isinstance(orig, sqlite3.Error):
        return None
    code = getattr(orig, "sqlite_errorcode", None)
    primary = code & 0xFF if isinstance(code, int) else None
    text = str(orig)
    where = f"the library {str(path)!r}" if path is not None else "the library"
    file = Path(path) if path is not None else None
    if primary == _FULL or "disk is full" in text or (primary == _IOERR and _nearly_full(file)):
        return LibraryError(
            f"Cannot write {where}: the disk is full. Nothing of the unfinished change "
            "was saved; free some space and run the command again."
        )
    if file is not None and file.is_dir():
        return LibraryError(f"Cannot open {where}: it is a folder. Pass --library FILE.")
    if primary in (_READONLY, _CANTOPEN, _PERM) or "readonly" in text:
        reason = (_why_not_writable(file) if file is not None else None) or text
        return LibraryError(
            f"Cannot write {where}: {reason}. Make it writable, or pass --library PATH."
        )
    if primary in (_BUSY, _LOCKED):
        return LibraryError(
            f"{where[0].upper()}{where[1:]} is busy: another photogroup process kept it "
            f"locked too long ({text}). Run the command again when it has finished."
        )
    if primary in (_CORRUPT, _NOTADB):
        return LibraryError(
            f"Cannot open {where}: {text}. Restore the newest backup (the *.bak files "
            "next to it), or pass --library PATH."
        )
    if primary == _IOERR:
        return LibraryError(f"Cannot read or write {where}: input/output error ({text}).")
    return None
