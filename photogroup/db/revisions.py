"""Which schema revision a library is at, and which one this photogroup ships.

Standard library only: every command that opens a library asks this first, and
the query commands must not pay for importing SQLAlchemy or Alembic.
"""

from __future__ import annotations

import re
import sqlite3
from pathlib import Path

from ..core.errors import LibraryError
from ..core.resources import resource

_REVISION = re.compile(r"^revision(?:: str)? = ['\"]([^'\"]+)['\"]", re.M)
_DOWN = re.compile(r"^down_revision(?:: [^=]+)? = (.+)$", re.M)


def script_heads() -> tuple[set[str], set[str]]:
    """(heads, all known revisions) of the shipped migrations.

    Read from the revision scripts with a regular expression rather than through
    Alembic; tests check it against Alembic's own answer.
    """
    known: set[str] = set()
    parents: set[str] = set()
    for script in resource("migrations").glob("*.py"):
        text = script.read_text(encoding="utf-8")
        rev, down = _REVISION.search(text), _DOWN.search(text)
        if rev is None:
            continue
        known.add(rev.group(1))
        if down is not None:
            parents.update(re.findall(r"['\"]([^'\"]+)['\"]", down.group(1)))
    return known - parents, known


def current_revisions(conn: sqlite3.Connection) -> set[str]:
    """The revisions stamped in an open library (empty for a new file)."""
    has_table = conn.execute(
        "SELECT 1 FROM sqlite_master WHERE type='table' AND name='alembic_version'"
    ).fetchone()
    if not has_table:
        return set()
    return {row[0] for row in conn.execute("SELECT version_num FROM alembic_version")}


def no_library(path: Path) -> LibraryError:
    """The LibraryError (returned, not raised) for no library at `path`: how to make one."""
    return LibraryError(
        f'No library at {str(path)!r}. Run "photogroup scan DIR" to create one, '
        "or pass --library PATH."
    )


def check_not_newer(path: Path, current: set[str], known: set[str]) -> None:
    """Raise LibraryError if the library has schema revisions this photogroup does not know."""
    unknown = current - known
    if unknown:
        raise LibraryError(
            f"The library {str(path)!r} was written by a newer photogroup (schema "
            f"{', '.join(sorted(unknown))}). Upgrade photogroup to open it."
        )
