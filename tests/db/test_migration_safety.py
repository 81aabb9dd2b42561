"""Creating and upgrading a library is atomic: killed (SIGKILL) before any one of its
SQL statements, or stopped by a full disk, it leaves a library that the next open
opens and finishes, with every row of the old one. A library left half-upgraded by
an older photogroup (whose migrations were not atomic) is repaired on the next open.

The kills are real: a forked child counts the SQL statements that reach SQLite
(sqlite3's trace callback, which runs before each statement) and SIGKILLs itself
before statement N, for N = 1, 2, ... until the open completes."""

from __future__ import annotations

import os
import shutil
import signal
import sqlite3
import sqlite3.dbapi2
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import inspect

from photogroup.core.errors import LibraryError
from photogroup.db.library import open_library
from photogroup.db.models import Base
from photogroup.db.revisions import script_heads

from .test_migrations import assert_0001_data_upgraded, make_0001_library

_REAL_CONNECT = sqlite3.connect


@contextmanager
def _every_connection(setup: Callable[[sqlite3.Connection], None]) -> Iterator[None]:
    """Calls `setup` on every new sqlite3 connection (SQLAlchemy's pysqlite dialect
    connects through sqlite3.dbapi2.connect, the reader through sqlite3.connect)."""

    def connect(*args, **kwargs):  # type: ignore[no-untyped-def]
        conn = _REAL_CONNECT(*args, **kwargs)
        setup(conn)
        return conn

    sqlite3.connect = sqlite3.dbapi2.connect = connect  # type: ignore[misc]
    try:
        yield
    finally:
        sqlite3.connect = sqlite3.dbapi2.connect = _REAL_CONNECT  # type: ignore[misc]


def killed_before_statement(n: int, action: Callable[[], object]) -> bool:
    """Runs `action` in a forked child that SIGKILLs itself just before its n-th SQL
    statement. True if it was killed; False if `action` finished first."""
    pid = os.fork()
    if pid == 0:  # the child: never returns into pytest
        code = 1
        try:
            count = 0

            def trace(_sql: str) -> None:
                nonlocal count
                count += 1
                if count == n:
                    os.kill(os.getpid(), signal.SIGKILL)

            with _every_connection(lambda c: c.set_trace_callback(trace)):
                action()
            code = 0
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    if os.WIFSIGNALED(status):
        assert os.WTERMSIG(status) == signal.SIGKILL
        return True
    assert os.WEXITSTATUS(status) == 0, f"the open failed (not killed) at statement {n}"
    return False


#: Every statement (slow: a minute in all), or every 7th in the quick test run.
STRIDES = [pytest.param(1, marks=pytest.mark.slow, id="every"), pytest.param(7, id="every-7th")]


def _kill_at_every_statement(
    make: Callable[[Path], None], check: Callable[[Path], None], tmp_path: Path, stride: int
) -> int:
    """For N = 1, 1 + stride, ...: a fresh library from `make`, opened by a child killed
    before statement N, then opened here and checked. Returns the last N (no kill)."""
    template = tmp_path / "template.db"
    make(template)
    n = 1 - stride
    while True:
        n += stride
        work = tmp_path / f"kill-{n}"
        work.mkdir()
        path = work / "library.db"
        if template.exists():
            shutil.copy(template, path)
        killed = killed_before_statement(n, lambda p=path: open_library(p).close())
        lib = open_library(path)  # the next command
        try:
            assert set(Base.metadata.tables) <= set(inspect(lib.engine).get_table_names())
        finally:
            lib.close()
        check(path)
        assert len(list(work.glob("*.bak"))) <= 1, f"backups piled up after kill {n}"
        assert not list(work.glob("*.bak-partial")), f"a partial backup left after kill {n}"
        if not killed:
            return n
        assert n < 500, "the open never completed"


def _version(path: Path) -> set[str]:
    with sqlite3.connect(path) as conn:
        found = {v for (v,) in conn.execute("SELECT version_num FROM alembic_version")}
    conn.close()
    return found


@pytest.mark.parametrize("stride", STRIDES)
def test_creation_killed_at_every_statement_leaves_no_library_or_a_whole_one(tmp_path, stride):
    def check(path: Path) -> None:
        assert _version(path) == script_heads()[0]

    last = _kill_at_every_statement(lambda p: None, check, tmp_path, stride)
    assert last > 30  # every CREATE of both revisions was a kill point


@pytest.mark.parametrize("stride", STRIDES)
def test_upgrade_killed_at_every_statement_keeps_every_row(tmp_path, stride):
    last = _kill_at_every_statement(make_0001_library, assert_0001_data_upgraded, tmp_path, stride)
    assert last > 8  # the four ALTER TABLEs, the UPDATEs and the version stamp


def test_a_command_after_a_killed_creation_says_there_is_no_library(tmp_path):
    """Killed after the file was made but before the schema was committed: a command
    that only reads says there is no library yet (not "table people already exists")."""
    path = tmp_path / "library.db"
    assert killed_before_statement(12, lambda: open_library(path).close())
    assert path.exists()
    with pytest.raises(LibraryError, match="No library at"):
        open_library(path, create=False)
    open_library(path).close()
    assert _version(path) == script_heads()[0]


def _old_upgrade(path: Path, revision: str = "head") -> None:
    """How photogroup upgraded before migrations were atomic: each DDL statement
    committed on its own (sqlite3's legacy mode opens no transaction before DDL)."""
    from alembic import command
    from photogroup.db.library import _alembic_config, make_engine

    engine = make_engine(path)
    with engine.begin() as conn:
        command.upgrade(_alembic_config(conn), revision)
    engine.dispose()


def _half_done_by_old_photogroup(
    make: Callable[[Path], None], tmp_path: Path, stride: int = 1
) -> Iterator[tuple[int, Path]]:
    """Libraries that the old, non-atomic upgrade left half done: killed before
    statement N (N = 1, 1 + stride, ...). Yields (N, path) for each one."""
    template = tmp_path / "template.db"
    make(template)
    n = 1 - stride
    while True:
        n += stride
        path = tmp_path / f"old-{n}" / "library.db"
        path.parent.mkdir()
        if template.exists():
            shutil.copy(template, path)
        if not killed_before_statement(n, lambda p=path: _old_upgrade(p)):
            return
        yield n, path


def test_libraries_left_half_upgraded_by_an_older_photogroup_are_repaired(tmp_path):
    """The reported failure ("duplicate column name: face_count" on every command, one
    more .bak per try): the next open removes the unfinished part, upgrades and says so."""
    repaired = 0
    for n, path in _half_done_by_old_photogroup(make_0001_library, tmp_path):
        notes: list[str] = []
        lib = open_library(path, on_note=notes.append)
        lib.close()
        assert lib.notes == notes
        assert_0001_data_upgraded(path)
        if notes:
            repaired += 1
            (note,) = notes
            assert "half-upgraded" in note and "column people." in note and str(path) in note
            assert "\n" not in note
        again = open_library(path)  # nothing more to do, no new backup
        again.close()
        assert again.notes == [] and again.backup is None
        assert len(list(path.parent.glob("*.bak"))) <= 1, f"kill {n}"
    assert repaired >= 4  # after 1, 2, 3 and 4 of the ALTER TABLEs


@pytest.mark.parametrize("stride", STRIDES)
def test_libraries_whose_creation_an_older_photogroup_left_half_done_are_repaired(tmp_path, stride):
    """The reported "table people already exists": tables made, version not stamped."""
    repaired = 0
    for _, path in _half_done_by_old_photogroup(lambda p: None, tmp_path, stride):
        notes: list[str] = []
        open_library(path, on_note=notes.append).close()
        assert _version(path) == script_heads()[0]
        repaired += bool(notes)
    assert repaired > 10 // stride


def test_a_half_done_table_with_rows_is_not_dropped(tmp_path):
    """Nothing is dropped that holds data: an unknown table with rows is refused."""
    path = tmp_path / "library.db"
    make_0001_library(path)
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE notes (id INTEGER PRIMARY KEY, text TEXT)")
        conn.execute("INSERT INTO notes (text) VALUES ('keep me')")
    conn.close()
    with pytest.raises(LibraryError, match="'notes' with rows"):
        open_library(path)
    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT text FROM notes").fetchall() == [("keep me",)]
    conn.close()


def test_a_half_done_column_with_values_is_not_dropped(tmp_path):
    path = tmp_path / "library.db"
    make_0001_library(path)
    with sqlite3.connect(path) as conn:
        conn.execute("ALTER TABLE people ADD COLUMN face_count INTEGER DEFAULT '0' NOT NULL")
        conn.execute("ALTER TABLE people ADD COLUMN nickname TEXT")
        conn.execute("UPDATE people SET nickname = 'Annie'")
    conn.close()
    with pytest.raises(LibraryError, match=r"values in a column people\.nickname"):
        open_library(path)
    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT nickname FROM people").fetchall() == [("Annie",)]
    conn.close()


def _page_limit(pages: int) -> Callable[[sqlite3.Connection], None]:
    """A real SQLITE_FULL once the database would grow past `pages` pages."""
    return lambda conn: conn.execute(f"PRAGMA max_page_count={pages}").close()


def test_full_disk_while_creating_then_space_freed(tmp_path):
    path = tmp_path / "library.db"
    with _every_connection(_page_limit(8)), pytest.raises(LibraryError) as err:
        open_library(path)
    assert "disk is full" in str(err.value) and str(path) in str(err.value)
    assert "\n" not in str(err.value)
    open_library(path).close()  # space freed
    assert _version(path) == script_heads()[0]


def test_full_disk_while_upgrading_then_space_freed(tmp_path):
    """The disk fills while the backup is written, then during the upgrade (0002's
    UPDATEs widen every row of `people`): each time one clear error, the library
    unchanged at 0001, no partial backup; with space freed the upgrade completes."""
    path = tmp_path / "library.db"
    make_0001_library(path)
    with sqlite3.connect(path) as conn:
        conn.executemany(
            "INSERT INTO people (id, hidden, created_at, updated_at) "
            "VALUES (?, 0, '2020-01-01', '2020-01-01')",
            [(i,) for i in range(100, 2100)],
        )
    with sqlite3.connect(path) as conn:
        (pages,) = conn.execute("PRAGMA page_count").fetchone()
    conn.close()
    for limit in (pages - 1, pages):  # the backup does not fit; then the upgrade does not
        with _every_connection(_page_limit(limit)), pytest.raises(LibraryError) as err:
            open_library(path)
        assert "disk is full" in str(err.value) and str(path) in str(err.value)
        assert _version(path) == {"0001"}
        with sqlite3.connect(path) as conn:
            columns = {row[1] for row in conn.execute("PRAGMA table_info(people)")}
        conn.close()
        assert "face_count" not in columns
        assert not list(tmp_path.glob("*.bak-partial"))
    open_library(path).close()
    assert_0001_data_upgraded(path)
    assert len(list(tmp_path.glob("*.bak"))) == 1


def test_the_upgrade_is_one_explicit_transaction(tmp_path):
    """What reaches SQLite: BEGIN IMMEDIATE, every DDL statement and version stamp of
    every revision, COMMIT; no COMMIT in between (as Python's sqlite3 would do by
    default, committing each DDL statement on its own)."""
    traced: list[tuple[int, str]] = []

    def trace(conn: sqlite3.Connection) -> None:
        conn.set_trace_callback(lambda sql: traced.append((id(conn), sql)))

    path = tmp_path / "library.db"
    make_0001_library(path)
    with _every_connection(trace):
        open_library(path).close()
    # The library's connection that upgraded (others: the schema of 0001 in memory).
    (library,) = {c for c, sql in traced if sql.startswith("ALTER TABLE")}
    words = [" ".join(sql.split()).upper() for c, sql in traced if c == library]
    first_ddl = next(i for i, s in enumerate(words) if s.startswith("ALTER TABLE"))
    stamp = next(i for i, s in enumerate(words) if s.startswith("UPDATE ALEMBIC_VERSION"))
    begin = max(i for i, s in enumerate(words[:first_ddl]) if s.startswith("BEGIN"))
    assert words[begin] == "BEGIN IMMEDIATE"
    commit = next(i for i, s in enumerate(words) if i > stamp and s.startswith("COMMIT"))
    between = words[begin + 1 : commit]
    assert not [s for s in between if s.startswith(("COMMIT", "BEGIN", "END", "ROLLBACK"))]
    assert sum(s.startswith("ALTER TABLE PEOPLE ADD COLUMN") for s in between) == 4
