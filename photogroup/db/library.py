"""Opening a library: engine, SQLite pragmas, migrations, backups, sessions."""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.orm import Session, sessionmaker

from ..core.errors import LibraryError
from ..core.resources import resource

BUSY_TIMEOUT_MS = 30_000


def _on_connect(dbapi_connection: Any, _record: Any) -> None:
    cur = dbapi_connection.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
    cur.close()


def _alembic_config(connection: Any) -> Any:
    from alembic.config import Config as AlembicConfig

    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(resource("alembic")))
    cfg.set_main_option("version_locations", str(resource("migrations")))
    cfg.set_main_option("path_separator", "os")
    cfg.attributes["connection"] = connection
    return cfg


_REVISION = re.compile(r"^revision(?:: str)? = ['\"]([^'\"]+)['\"]", re.M)
_DOWN = re.compile(r"^down_revision(?:: [^=]+)? = (.+)$", re.M)


def _script_heads() -> tuple[set[str], set[str]]:
    """(heads, all known revisions) of the shipped migrations.

    Read from the revision scripts with a regular expression rather than through
    Alembic, so that opening an up-to-date library (every query command) does not
    import Alembic; tests check it against Alembic's own answer.
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


def _current_revisions(engine: Engine) -> set[str]:
    with engine.connect() as conn:
        has_table = conn.execute(
            text("SELECT 1 FROM sqlite_master WHERE type='table' AND name='alembic_version'")
        ).first()
        if not has_table:
            return set()
        return {row[0] for row in conn.execute(text("SELECT version_num FROM alembic_version"))}


def _has_user_tables(engine: Engine) -> bool:
    with engine.connect() as conn:
        return (
            conn.execute(
                text("SELECT 1 FROM sqlite_master WHERE type='table' AND name='photos'")
            ).first()
            is not None
        )


def backup_database(path: Path, suffix: str) -> Path:
    """A consistent copy of the library next to it (SQLite online backup)."""
    target = path.with_name(f"{path.name}.{suffix}.bak")
    src = sqlite3.connect(path)
    try:
        dst = sqlite3.connect(target)
        try:
            src.backup(dst)
        finally:
            dst.close()
    finally:
        src.close()
    return target


@dataclass
class Library:
    """An open library database. Use `session()` for a unit of work."""

    path: Path
    engine: Engine
    backup: Path | None = None
    """The copy made before this open upgraded the schema, if it did."""

    def __post_init__(self) -> None:
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A session whose transaction commits on success and rolls back on error."""
        with self._sessions() as session, session.begin():
            yield session

    def new_session(self) -> Session:
        return self._sessions()

    def close(self) -> None:
        self.engine.dispose()

    def __enter__(self) -> Library:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def make_engine(path: Path) -> Engine:
    engine = create_engine(f"sqlite:///{path}", connect_args={"timeout": BUSY_TIMEOUT_MS / 1000})
    event.listen(engine, "connect", _on_connect)
    return engine


def open_library(path: Path | str, *, create: bool = True) -> Library:
    """Open (and create, and upgrade to the newest schema) the library at `path`.

    Before upgrading a library that holds data, a backup copy is written next to
    it. A library written by a newer photogroup is refused.
    """
    path = Path(path).expanduser().resolve()
    if not path.exists():
        if not create:
            raise LibraryError(
                f'No library at {str(path)!r}. Run "photogroup scan DIR" to create one, '
                "or pass --library PATH."
            )
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise LibraryError(
                f"Cannot create the library folder {str(path.parent)!r}: {exc.strerror}."
            ) from exc
    engine = make_engine(path)
    try:
        current = _current_revisions(engine)
    except Exception as exc:  # sqlite3.DatabaseError: not a database, locked, ...
        engine.dispose()
        raise LibraryError(f"Cannot open the library {str(path)!r}: {exc}") from exc
    heads, known = _script_heads()
    unknown = current - known
    if unknown:
        engine.dispose()
        raise LibraryError(
            f"The library {str(path)!r} was written by a newer photogroup (schema "
            f"{', '.join(sorted(unknown))}). Upgrade photogroup to open it."
        )
    backup = None
    if current != heads:
        if current and _has_user_tables(engine):
            stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
            backup = backup_database(path, f"{'-'.join(sorted(current))}-{stamp}")
        upgrade(engine)
    return Library(path=path, engine=engine, backup=backup)


def upgrade(engine: Engine, revision: str = "head") -> None:
    from alembic import command

    with engine.begin() as conn:
        command.upgrade(_alembic_config(conn), revision)
