"""Read-only access to a library with the standard library's sqlite3.

`photogroup people`, `photogroup photos` and the other listings answer from here,
so they start in a fraction of a second: no SQLAlchemy, no Alembic, no numpy.
A library that needs a migration is reported (SchemaOutOfDate), or upgraded by
the `upgrade` its caller gives (the CLI gives db.library.open_library: the only
case that imports them). This module imports nothing of db.library.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from ..core.errors import LibraryError, SchemaOutOfDate
from .errors import storage_error
from .revisions import check_not_newer, current_revisions, no_library, script_heads

BUSY_TIMEOUT_S = 30.0


class Reader:
    """An open, read-only connection (PRAGMA query_only) to a library at the newest schema."""

    def __init__(self, path: Path, conn: sqlite3.Connection) -> None:
        self.path = path
        self.conn = conn

    def rows(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """All rows of a query, as tuples."""
        return self.conn.execute(sql, params).fetchall()

    def one(self, sql: str, params: Sequence[Any] = ()) -> tuple[Any, ...] | None:
        """The first row of a query, None when there is none."""
        row: tuple[Any, ...] | None = self.conn.execute(sql, params).fetchone()
        return row

    def close(self) -> None:
        """Close the connection."""
        self.conn.close()

    def __enter__(self) -> Reader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _connect(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(path, timeout=BUSY_TIMEOUT_S)
    conn.execute("PRAGMA query_only=ON")
    return conn


def open_reader(path: Path | str, upgrade: Callable[[Path], None] | None = None) -> Reader:
    """Open the library at `path` for reading; it must exist. A library at an older
    schema is upgraded by `upgrade(path)` when given (the caller, one floor up, knows
    how: db.library.open_library), else SchemaOutOfDate is raised."""
    path = Path(path).expanduser().resolve()
    if not path.exists():
        raise no_library(path)
    try:
        conn = _connect(path)
        current = current_revisions(conn)
    except sqlite3.DatabaseError as exc:  # not a database, locked past the timeout, ...
        raise storage_error(exc, path) or LibraryError(
            f"Cannot open the library {str(path)!r}: {exc}"
        ) from exc
    heads, known = script_heads()
    try:
        check_not_newer(path, current, known)
    except LibraryError:
        conn.close()
        raise
    if current != heads:
        conn.close()
        if upgrade is None:
            raise SchemaOutOfDate(
                f"The library {str(path)!r} is at an older schema; opening it to write "
                "upgrades it (with a backup first)."
            )
        upgrade(path)
        conn = _connect(path)
    return Reader(path, conn)
