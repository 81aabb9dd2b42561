"""Opening a library: engine, SQLite pragmas, migrations, backups, sessions."""

from __future__ import annotations

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
from .reader import Reader, open_reader
from .revisions import check_not_newer, current_revisions, no_library, script_heads

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


def _current_revisions(engine: Engine) -> set[str]:
    with engine.connect() as conn:
        return current_revisions(conn.connection.driver_connection)  # type: ignore[arg-type]


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

    def reader(self) -> Reader:
        """A read-only standard-library connection to the same file (see db.reader)."""
        return open_reader(self.path)

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
            raise no_library(path)
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
    heads, known = script_heads()
    try:
        check_not_newer(path, current, known)
    except LibraryError:
        engine.dispose()
        raise
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


def begin_write(session: Session) -> None:
    """Start `session`'s transaction with BEGIN IMMEDIATE, before it reads anything.

    The write lock is taken now (waiting up to the busy timeout), so nothing the
    session reads can change before it commits: read-check-write units of work
    (grouping, assignment, answers) cannot overwrite a change made in between.
    Python's sqlite3 would otherwise begin only at the first write."""
    raw = session.connection().connection.driver_connection
    if not raw.in_transaction:  # type: ignore[union-attr]
        raw.execute("BEGIN IMMEDIATE")  # type: ignore[union-attr]


def sqlite_connection(session: Session) -> Any:
    """The session's own DB-API (sqlite3) connection, in its current transaction, for
    standard-library SQL shared with the read path (pending ORM changes are flushed)."""
    session.flush()
    return session.connection().connection.driver_connection
