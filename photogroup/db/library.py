"""Opening a library: engine, SQLite pragmas, migrations, backups, sessions."""

from __future__ import annotations

import functools
import os
import sqlite3
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.orm import Session, sessionmaker

from ..core.errors import LibraryError
from ..core.resources import resource
from .errors import storage_error
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


def _has_tables(engine: Engine) -> bool:
    with engine.connect() as conn:
        return (
            conn.execute(text("SELECT 1 FROM sqlite_master WHERE type='table'")).first() is not None
        )


def backup_database(path: Path, suffix: str) -> Path:
    """A consistent copy of the library next to it (SQLite online backup).

    Written under a temporary name and renamed, so a backup that exists is complete
    (the caller holds the library's write lock, so no other backup is being written);
    older backups taken at the same revision (of an upgrade that was interrupted
    and is now retried) are then removed: one backup per revision, the newest.
    """
    revision = suffix.rsplit("-", 2)[0]
    target = path.with_name(f"{path.name}.{suffix}.bak")
    partial = path.with_name(f"{path.name}.{suffix}.bak-partial")
    for stale in path.parent.glob(f"{path.name}.*.bak-partial"):  # of a killed backup
        stale.unlink(missing_ok=True)
    try:
        src = sqlite3.connect(path)
        try:
            dst = sqlite3.connect(partial)
            try:
                src.backup(dst)
            finally:
                dst.close()
        finally:
            src.close()
        os.replace(partial, target)
    finally:
        partial.unlink(missing_ok=True)
    for older in path.parent.glob(f"{path.name}.{revision}-*.bak"):
        if older != target:
            older.unlink(missing_ok=True)
    return target


@contextmanager
def write_transaction(engine: Engine) -> Iterator[Any]:
    """A connection inside a real ``BEGIN IMMEDIATE ... COMMIT`` that also covers DDL.

    Python 3.11's sqlite3 (in its default, legacy mode) opens a transaction only
    before INSERT/UPDATE/DELETE, and SQLAlchemy's pysqlite dialect emits no BEGIN:
    CREATE TABLE and ALTER TABLE would each commit at once. Here the driver is put
    in autocommit mode and the transaction is begun explicitly, so everything up to
    the commit is one unit: all of it is in the library, or none of it (SIGKILL,
    power cut, full disk). SQLAlchemy's own transaction wraps it, so Alembic treats
    it as external and neither begins nor commits one of its own; its commit and
    rollback call the driver's, which end the explicit transaction.
    """
    with engine.connect() as conn:
        raw = conn.connection.driver_connection
        level = raw.isolation_level  # type: ignore[union-attr]
        raw.isolation_level = None  # type: ignore[union-attr]
        try:
            with conn.begin():
                raw.execute("BEGIN IMMEDIATE")  # type: ignore[union-attr]
                yield conn
        finally:
            raw.isolation_level = level  # type: ignore[union-attr]


@dataclass
class _Schema:
    tables: dict[str, set[str]]
    """Table name -> column names."""
    indexes: dict[str, str]
    """Index name -> its table (indexes SQLite makes for constraints left out)."""


def _schema(conn: sqlite3.Connection) -> _Schema:
    tables: dict[str, set[str]] = {}
    indexes: dict[str, str] = {}
    for kind, name, table in conn.execute(
        "SELECT type, name, tbl_name FROM sqlite_master WHERE type IN ('table', 'index') "
        "AND name NOT LIKE 'sqlite_%' AND name != 'alembic_version' ORDER BY rowid"
    ).fetchall():
        if kind == "table":
            tables[name] = {row[1] for row in conn.execute(f'PRAGMA table_info("{name}")')}
        else:
            indexes[name] = table
    return _Schema(tables, indexes)


@functools.lru_cache(maxsize=4)
def _reference_schema(revisions: frozenset[str]) -> _Schema:
    """The schema that the migrations up to `revisions` make (in a database in memory)."""
    if not revisions:
        return _Schema({}, {})
    from sqlalchemy.pool import StaticPool

    from alembic import command

    engine = create_engine("sqlite://", poolclass=StaticPool)
    try:
        with engine.begin() as conn:
            for revision in sorted(revisions):
                command.upgrade(_alembic_config(conn), revision)
            return _schema(conn.connection.driver_connection)  # type: ignore[arg-type]
    finally:
        engine.dispose()


def _undo_partial_upgrade(raw: sqlite3.Connection, current: set[str], path: Path) -> str | None:
    """Take out what an interrupted, non-atomic upgrade by an older photogroup left
    behind: tables, columns and indexes that the library's stamped revision does not
    have (the next revision's, or the first revision's in a library whose creation was
    interrupted). Only what holds no data is dropped: empty tables, columns that hold
    their default in every row (the upgrade adds and fills them again); anything else is
    refused. Returns the one-line message, None if nothing was there.
    Runs in the caller's transaction (the upgrade's), so it is undone with it.
    """
    have, want = _schema(raw), _reference_schema(frozenset(current))
    at = f"schema {', '.join(sorted(current))}" if current else "no schema yet"
    missing = [t for t in want.tables if t not in have.tables] + [
        f"{t}.{c}" for t, cols in want.tables.items() for c in cols - have.tables.get(t, cols)
    ]
    if missing:
        raise LibraryError(
            f"The library {str(path)!r} ({at}) lacks {', '.join(sorted(missing))}: it is "
            "damaged. Restore the newest backup (the *.bak files next to it)."
        )
    tables = [t for t in have.tables if t not in want.tables]
    columns = [(t, c) for t, cols in want.tables.items() for c in sorted(have.tables[t] - cols)]
    indexes = [i for i, t in have.indexes.items() if i not in want.indexes and t not in tables]
    if not (tables or columns or indexes):
        return None
    for table in tables:
        if raw.execute(f'SELECT 1 FROM "{table}" LIMIT 1').fetchone() is not None:
            raise LibraryError(
                f"The library {str(path)!r} ({at}) holds a table {table!r} with rows "
                "that its schema does not have. Restore the newest backup (the *.bak "
                "files next to it)."
            )
    for table, column in columns:  # an upgrade's UPDATEs commit with its version stamp
        default = next(
            row[4] for row in raw.execute(f'PRAGMA table_info("{table}")') if row[1] == column
        )
        if raw.execute(
            f'SELECT 1 FROM "{table}" WHERE "{column}" IS NOT ({default or "NULL"}) LIMIT 1'
        ).fetchone():
            raise LibraryError(
                f"The library {str(path)!r} ({at}) holds values in a column {table}.{column} "
                "that its schema does not have. Restore the newest backup (the *.bak files "
                "next to it)."
            )
    for index in indexes:
        raw.execute(f'DROP INDEX "{index}"')
    for table, column in columns:
        raw.execute(f'ALTER TABLE "{table}" DROP COLUMN "{column}"')
    for table in reversed(tables):  # made after the tables they refer to
        raw.execute(f'DROP TABLE "{table}"')
    removed = [*(f"table {t}" for t in tables), *(f"column {t}.{c}" for t, c in columns)]
    removed += [f"index {i}" for i in indexes]
    return (
        f"The library {str(path)!r} was left half-upgraded by an interrupted upgrade "
        f"({at}); removed its unfinished part ({', '.join(removed)}) and upgraded it again."
    )


@dataclass
class Library:
    """An open library database. Use `session()` for a unit of work."""

    path: Path
    engine: Engine
    backup: Path | None = None
    """The copy made before this open upgraded the schema, if it did."""
    notes: list[str] = field(default_factory=list)
    """One-line messages for the user about what this open did (a repair)."""

    def __post_init__(self) -> None:
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A session whose transaction commits on success and rolls back on error."""
        with self._sessions() as session, session.begin():
            yield session

    def new_session(self) -> Session:
        """A new ORM session that the caller commits and closes (`session` does both)."""
        return self._sessions()

    def reader(self) -> Reader:
        """A read-only standard-library connection to the same file (see db.reader)."""
        return open_reader(self.path)

    def close(self) -> None:
        """Dispose of the engine and its pooled connections."""
        self.engine.dispose()

    def __enter__(self) -> Library:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def make_engine(path: Path) -> Engine:
    """An engine on the SQLite file `path`: WAL, foreign keys on, a 30 s busy timeout."""
    engine = create_engine(f"sqlite:///{path}", connect_args={"timeout": BUSY_TIMEOUT_MS / 1000})
    event.listen(engine, "connect", _on_connect)
    return engine


def open_library(
    path: Path | str, *, create: bool = True, on_note: Callable[[str], None] | None = None
) -> Library:
    """Open (and create, and upgrade to the newest schema) the library at `path`.

    Creating and upgrading are atomic (one transaction each: see write_transaction);
    what an interrupted upgrade of an older photogroup left half done is taken out
    first (_undo_partial_upgrade), with a message in `Library.notes` (also passed to
    `on_note`). Before upgrading a library that holds data, a backup copy is written
    next to it. A library written by a newer photogroup is refused. SQLite failures
    (disk full, read-only, ...) are LibraryErrors that say so.
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
        raise storage_error(exc, path) or LibraryError(
            f"Cannot open the library {str(path)!r}: {exc}"
        ) from exc
    heads, known = script_heads()
    backup, notes = None, []
    try:
        check_not_newer(path, current, known)
        if current != heads:
            if not create and not current and not _has_tables(engine):
                raise no_library(path)  # an empty file: a creation that was interrupted
            backup, note = _migrate(engine, path, heads)
            if note is not None:
                notes.append(note)
                if on_note is not None:
                    on_note(note)
    except BaseException as exc:
        engine.dispose()
        error = None if isinstance(exc, LibraryError) else storage_error(exc, path)
        if error is None:
            raise
        raise error from exc
    return Library(path=path, engine=engine, backup=backup, notes=notes)


def _migrate(engine: Engine, path: Path, heads: set[str]) -> tuple[Path | None, str | None]:
    """Upgrade to `heads` in one transaction, which holds the write lock from the first
    look at the revision to the commit: another process opening the library at the
    same time waits, then finds nothing to do. In it: what an older photogroup left half
    done is taken out, a library with data is backed up (the backup reads the last
    commit, which nobody else can change meanwhile) and the migrations run.
    Returns (the backup, the repair message)."""
    from alembic import command

    backup = note = None
    with write_transaction(engine) as conn:
        raw = conn.connection.driver_connection
        current = current_revisions(raw)
        if current == heads:
            return None, None
        note = _undo_partial_upgrade(raw, current, path)
        if (
            current
            and raw.execute(
                "SELECT 1 FROM sqlite_master WHERE type='table' AND name='photos'"
            ).fetchone()
        ):
            stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
            backup = backup_database(path, f"{'-'.join(sorted(current))}-{stamp}")
        command.upgrade(_alembic_config(conn), "head")
    return backup, note


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Run the migrations up to `revision` in one transaction: DDL and version stamps
    of every revision applied commit together, or not at all."""
    from alembic import command

    with write_transaction(engine) as conn:
        command.upgrade(_alembic_config(conn), revision)


def begin_read(session: Session) -> None:
    """Start `session`'s transaction with a (deferred) BEGIN before it reads anything:
    every read of the session then sees one snapshot of the library (SQLite WAL), where
    Python's sqlite3 would otherwise read each statement outside any transaction."""
    raw = session.connection().connection.driver_connection
    if not raw.in_transaction:  # type: ignore[union-attr]
        raw.execute("BEGIN")  # type: ignore[union-attr]


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
