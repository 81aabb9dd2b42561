"""Alembic environment for the photogroup library.

photogroup runs migrations itself when it opens a library (photogroup.db.library),
passing its open connection in ``config.attributes["connection"]``. Developers
can also run ``alembic -x db=PATH upgrade head`` or ``alembic revision
--autogenerate -m "..."`` from the repository root (alembic.ini).
SQLite cannot ALTER most things, so migrations run in batch mode.
"""

from __future__ import annotations

from sqlalchemy import create_engine

from alembic import context
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
    url = f"sqlite:///{db}" if db else config.get_main_option("sqlalchemy.url")
    engine = create_engine(url)
    with engine.begin() as conn:
        _run(conn)


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
