"""Alembic environment for the photogroup library.

photogroup runs migrations itself when it opens a library (photogroup.db.library),
passing its open connection in ``config.attributes["connection"]``. Developers
can also run ``alembic -x db=PATH upgrade head`` or ``alembic revision
--autogenerate -m "..."`` from the repository root (alembic.ini).
SQLite cannot ALTER most things, so migrations run in batch mode.

Both ways run every revision inside one real ``BEGIN IMMEDIATE ... COMMIT``
(photogroup.db.library.write_transaction): SQLite has transactional DDL, but
Python's sqlite3 does not begin a transaction before DDL by itself, so without it
a killed upgrade kept half of a revision. The connection arrives inside that
transaction; Alembic sees it as external and leaves beginning and committing to it.
A revision therefore must not need a COMMIT of its own (nor ``PRAGMA foreign_keys``,
which SQLite ignores inside a transaction).
"""

from __future__ import annotations

from pathlib import Path

from alembic import context
from photogroup.db.library import make_engine, write_transaction
from photogroup.db.models import Base

config = context.config
target_metadata = Base.metadata


def _run(connection) -> None:  # type: ignore[no-untyped-def]
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=True,
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_offline() -> None:
    context.configure(
        url=config.get_main_option("sqlalchemy.url"),
        target_metadata=target_metadata,
        literal_binds=True,
        render_as_batch=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    db = context.get_x_argument(as_dictionary=True).get("db")
    url = config.get_main_option("sqlalchemy.url") or ""
    engine = make_engine(Path(db or url.removeprefix("sqlite:///")))
    try:
        with write_transaction(engine) as conn:
            _run(conn)
    finally:
        engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
