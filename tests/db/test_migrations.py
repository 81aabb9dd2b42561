"""Migrations: one head, an empty database upgrades to it, also from an installed wheel."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from sqlalchemy import inspect

from photogroup.core.errors import LibraryError
from photogroup.db.library import open_library
from photogroup.db.models import Base
from photogroup.db.revisions import script_heads

REPO = Path(__file__).resolve().parents[2]


def test_single_head_and_the_fast_reader_agrees_with_alembic():
    from alembic.config import Config as AlembicConfig
    from alembic.script import ScriptDirectory

    from photogroup.core.resources import resource

    heads, known = script_heads()
    assert len(heads) == 1, f"migrations have several heads: {heads}"
    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(resource("alembic")))
    cfg.set_main_option("version_locations", str(resource("migrations")))
    cfg.set_main_option("path_separator", "os")
    script = ScriptDirectory.from_config(cfg)
    assert heads == set(script.get_heads())
    assert known == {r.revision for r in script.walk_revisions()}


def test_empty_database_upgrades_to_head_with_every_table(tmp_path):
    lib = open_library(tmp_path / "new.db")
    try:
        tables = set(inspect(lib.engine).get_table_names())
        assert set(Base.metadata.tables) <= tables
        with lib.engine.connect() as conn:
            (version,) = conn.exec_driver_sql("SELECT version_num FROM alembic_version").one()
            assert {version} == script_heads()[0]
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
    finally:
        lib.close()
    assert lib.backup is None  # nothing to back up in a new library


def test_models_match_the_migrations(tmp_path):
    """Autogenerate finds nothing to add: every model change has its migration."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    lib = open_library(tmp_path / "m.db")
    try:
        with lib.engine.connect() as conn:
            diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    finally:
        lib.close()
    assert diff == []


def test_database_from_a_newer_photogroup_is_refused(tmp_path):
    path = tmp_path / "future.db"
    open_library(path).close()
    with sqlite3.connect(path) as conn:
        conn.execute("UPDATE alembic_version SET version_num = 'ffff_from_the_future'")
    with pytest.raises(LibraryError, match="newer photogroup"):
        open_library(path)


def test_not_a_database_is_a_clear_error(tmp_path):
    path = tmp_path / "notes.db"
    path.write_text("hello, I am a text file" * 100)
    with pytest.raises(LibraryError, match="notes.db"):
        open_library(path)


def test_older_library_with_data_is_backed_up_before_upgrade(tmp_path):
    """A library at revision 0001: the open makes a backup (at 0001, with its rows) and
    upgrades; the next open has nothing to do and makes none."""
    path = tmp_path / "old.db"
    make_0001_library(path)
    lib = open_library(path)
    lib.close()
    assert lib.backup is not None and lib.backup.name.startswith("old.db.0001-")
    with sqlite3.connect(lib.backup) as conn:
        assert conn.execute("SELECT version_num FROM alembic_version").fetchall() == [("0001",)]
        assert conn.execute("SELECT path FROM photos ORDER BY id").fetchall() == [
            ("/a.jpg",),
            ("/b.jpg",),
            ("/gone.jpg",),
        ]
    conn.close()
    again = open_library(path)
    again.close()
    assert again.backup is None
    assert list(tmp_path.glob("*.bak")) == [lib.backup]


def test_backups_do_not_pile_up(tmp_path):
    """A retried upgrade (the first one failed or was killed) replaces the backup of
    the same revision: one per revision, complete or absent (never a partial file)."""
    from photogroup.db.library import backup_database

    path = tmp_path / "old.db"
    make_0001_library(path)
    killed = tmp_path / "old.db.0001-20191231-000000.bak-partial"  # a backup killed midway
    killed.write_bytes(b"SQLite format 3\x00")
    first = backup_database(path, "0001-20200101-000000")
    assert not killed.exists()
    second = backup_database(path, "0001-20200102-000000")
    assert not first.exists() and second.exists()
    assert [p.name for p in tmp_path.iterdir() if ".bak" in p.name] == [second.name]


def test_two_opens_at_once_upgrade_once(tmp_path):
    """Two processes open an older library together: one upgrades (and backs up), the
    other waits for its write lock, then finds the library upgraded."""
    import multiprocessing

    path = tmp_path / "old.db"
    make_0001_library(path)
    ctx = multiprocessing.get_context("fork")
    procs = [ctx.Process(target=lambda: open_library(path).close()) for _ in range(2)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    assert_0001_data_upgraded(path)
    assert len(list(tmp_path.glob("*.bak"))) == 1


@pytest.mark.slow
def test_installed_wheel_upgrades_a_library(tmp_path):
    """The wheel carries alembic/ and migrations/: an installed photogroup (not an
    editable checkout) creates and upgrades a library."""
    build = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-w",
            str(tmp_path / "dist"),
            str(REPO),
        ],
        capture_output=True,
        text=True,
    )
    assert build.returncode == 0, build.stderr[-2000:]
    (wheel,) = (tmp_path / "dist").glob("photogroup-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert "photogroup/_alembic/env.py" in names
    assert any(n.startswith("photogroup/_migrations/0001_") for n in names)
    assert "photogroup/default_config.toml" in names
    site = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(site)
    code = (
        "import photogroup, sys; from pathlib import Path\n"
        "assert Path(photogroup.__file__).is_relative_to(Path(sys.argv[1])), photogroup.__file__\n"
        "from photogroup.db.library import open_library\n"
        "from photogroup.core.config import load_config\n"
        "lib = open_library(Path(sys.argv[1]) / 'w.db')\n"
        "v = lib.engine.connect().exec_driver_sql('SELECT version_num FROM alembic_version').scalar()\n"
        "print(v, load_config().embedding.model)\n"
    )
    run = subprocess.run(
        [sys.executable, "-c", code, str(site)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env={"PYTHONPATH": str(site), "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)},
    )
    assert run.returncode == 0, run.stderr[-2000:]
    assert run.stdout.split() == [sorted(script_heads()[0])[0], "facenet"]


def make_0001_library(path: Path) -> None:
    """A library made by revision 0001 with photos, faces, a person and assignments."""
    from photogroup.db.library import make_engine, upgrade

    engine = make_engine(path)
    upgrade(engine, "0001")
    engine.dispose()
    with sqlite3.connect(path) as conn:
        conn.execute("PRAGMA foreign_keys=ON")
        conn.executemany(
            "INSERT INTO photos (id, path, size, mtime_ns, status, first_seen_at) "
            "VALUES (?, ?, 1, 1, ?, '2020-01-01')",
            [(1, "/a.jpg", "ok"), (2, "/b.jpg", "ok"), (3, "/gone.jpg", "missing")],
        )
        conn.executemany(
            "INSERT INTO faces (id, photo_id, x, y, w, h, landmarks, score, quality, created_at) "
            "VALUES (?, ?, 0, 0, ?, ?, '[]', 0.99, ?, '2020-01-01')",
            [(1, 1, 50, 50, 0.9), (2, 1, 80, 80, 0.2), (3, 2, 60, 60, 0.3), (4, 3, 99, 99, 0.9)],
        )
        conn.execute(
            "INSERT INTO people (id, name, hidden, created_at, updated_at) "
            "VALUES (1, 'Ann', 0, '2020-01-01', '2020-01-01')"
        )
        conn.executemany(
            "INSERT INTO assignments (face_id, person_id, origin, assigned_at) "
            "VALUES (?, 1, 'auto', '2020-01-01')",
            [(1,), (2,), (3,), (4,)],
        )
    conn.close()


def assert_0001_data_upgraded(path: Path) -> None:
    """The data of make_0001_library, at the newest schema with the 0002 figures."""
    from photogroup.db.stats import stale_people_stats

    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT count(*) FROM assignments").fetchone() == (4,)
        assert conn.execute("SELECT count(*) FROM faces").fetchone() == (4,)
        assert conn.execute("SELECT id, path FROM photos ORDER BY id").fetchall() == [
            (1, "/a.jpg"),
            (2, "/b.jpg"),
            (3, "/gone.jpg"),
        ]
        row = conn.execute(
            "SELECT name, face_count, photo_count, cover_face_id, quality_mid FROM people"
        ).fetchone()
        # The missing photo's face does not count; the cover is the widest face; two of
        # three faces are under 0.5, so the middle quality is under it too.
        assert row == ("Ann", 3, 2, 2, 0.3)
        assert stale_people_stats(conn) == []
        assert {v for (v,) in conn.execute("SELECT version_num FROM alembic_version")} == (
            script_heads()[0]
        )
    conn.close()


def test_0002_fills_people_figures_and_keeps_every_assignment(tmp_path):
    """A library made by revision 0001 with people in it: upgrading adds the per-person
    figures, computed from its assignments, and loses nothing (no table re-created)."""
    path = tmp_path / "v1.db"
    make_0001_library(path)
    open_library(path).close()
    assert_0001_data_upgraded(path)


def test_0003_people_ids_are_never_reused_and_nothing_is_lost(tmp_path):
    """A library made by revision 0002 with people, assignments and decisions (one of
    them about person 9, merged away; one a skipped "who:12"): upgrading re-creates
    `people` with AUTOINCREMENT and keeps every person, assignment and decision; the
    next new person gets an id above every id the library ever mentioned."""
    from photogroup.db.library import make_engine, upgrade
    from photogroup.db.models import Person

    path = tmp_path / "v2.db"
    engine = make_engine(path)
    upgrade(engine, "0002")
    engine.dispose()
    with sqlite3.connect(path) as conn:
        conn.execute("PRAGMA foreign_keys=ON")
        conn.executemany(
            "INSERT INTO photos (id, path, size, mtime_ns, status, first_seen_at) "
            "VALUES (?, ?, 1, 1, 'ok', '2020-01-01')",
            [(1, "/a.jpg"), (2, "/b.jpg")],
        )
        conn.executemany(
            "INSERT INTO faces (id, photo_id, x, y, w, h, landmarks, score, created_at) "
            "VALUES (?, ?, 0, 0, 50, 50, '[]', 0.99, '2020-01-01')",
            [(1, 1), (2, 1), (3, 2)],
        )
        conn.executemany(
            "INSERT INTO people (id, name, hidden, created_at, updated_at, face_count, "
            "photo_count, cover_face_id) VALUES (?, ?, ?, '2020-01-01', '2020-01-02', ?, ?, ?)",
            [(1, "Ann", 0, 2, 1, 1), (4, None, 1, 1, 1, 3)],
        )
        conn.executemany(
            "INSERT INTO assignments (face_id, person_id, origin, assigned_at) "
            "VALUES (?, ?, ?, '2020-01-01')",
            [(1, 1, "confirmed"), (2, 1, "auto"), (3, 4, "auto")],
        )
        conn.executemany(
            "INSERT INTO decisions (id, kind, face_id, person_id, other_person_id, value, "
            "question, details, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, '2020-01-01')",
            [
                (1, "face_is_person", 1, 1, None, None, "face:1:1", '{"previous": null}'),
                (2, "same_person", None, 1, None, None, None, '{"other_id": 9, "faces": [2]}'),
                (3, "skip", None, None, None, "skip", "who:12", None),
                (4, "different_people", None, 1, 4, None, "same:1:4", None),
                (5, "name", None, 1, None, "Ann", None, '{"previous": null}'),
            ],
        )
        before = {
            t: conn.execute(f"SELECT * FROM {t} ORDER BY 1").fetchall()
            for t in ("people", "assignments", "decisions")
        }
    lib = open_library(path)
    try:
        assert lib.backup is not None
        with lib.session() as s:
            fresh = Person()
            s.add(fresh)
            s.flush()
            assert fresh.id == 13  # not 5 (max id + 1), nor 9 or 12 (ids answers speak of)
            s.delete(fresh)
    finally:
        lib.close()
    with sqlite3.connect(path) as conn:
        after = {
            t: conn.execute(f"SELECT * FROM {t} ORDER BY 1").fetchall()
            for t in ("assignments", "decisions")
        }
        people = conn.execute(
            "SELECT id, name, hidden, created_at, updated_at, face_count, photo_count, "
            "cover_face_id, quality_mid FROM people ORDER BY id"
        ).fetchall()
        assert people == before["people"]
        assert after == {t: before[t] for t in after}
        assert (
            "AUTOINCREMENT"
            in conn.execute("SELECT sql FROM sqlite_master WHERE name = 'people'").fetchone()[0]
        )
        # The children's foreign keys name the new table, and they hold.
        assert conn.execute("PRAGMA foreign_key_check").fetchall() == []
        for child in ("assignments", "decisions"):
            sql = conn.execute("SELECT sql FROM sqlite_master WHERE name = ?", (child,)).fetchone()
            assert "people_new" not in sql[0]
        assert conn.execute("SELECT reference FROM photos").fetchall() == [(0,), (0,)]
        conn.execute("PRAGMA foreign_keys=ON")
        conn.execute("DELETE FROM people WHERE id = 4")  # the cascade still works
        assert conn.execute("SELECT count(*) FROM assignments").fetchone() == (2,)
        assert conn.execute("SELECT other_person_id FROM decisions WHERE id = 4").fetchone() == (
            None,
        )


_KILLED_MIGRATION = """
import os, sys
from alembic.operations import Operations
stop, calls, real = sys.argv[2], [0], Operations.execute
def execute(self, sql, *a, **k):
    calls[0] += 1
    if str(calls[0]) == stop or (not stop.isdigit() and stop in str(sql)):
        os._exit(9)  # as SIGKILL: no commit, no clean-up
    return real(self, sql, *a, **k)
Operations.execute = execute
from photogroup.db.library import open_library
open_library(sys.argv[1]).close()
print(calls[0])
"""


def _library_0002_with_data(path):
    from photogroup.db.library import make_engine, upgrade

    engine = make_engine(path)
    upgrade(engine, "0002")
    engine.dispose()
    with sqlite3.connect(path) as conn:
        conn.execute(
            "INSERT INTO photos (id, path, size, mtime_ns, status, first_seen_at) "
            "VALUES (1, '/a.jpg', 1, 1, 'ok', '2020-01-01')"
        )
        conn.executemany(
            "INSERT INTO faces (id, photo_id, x, y, w, h, landmarks, score, created_at) "
            "VALUES (?, 1, 0, 0, 50, 50, '[]', 0.99, '2020-01-01')",
            [(1,), (2,)],
        )
        conn.executemany(
            "INSERT INTO people (id, name, hidden, created_at, updated_at) "
            "VALUES (?, ?, 0, '2020-01-01', '2020-01-01')",
            [(1, "Ann"), (2, None)],
        )
        conn.executemany(
            "INSERT INTO assignments (face_id, person_id, origin, assigned_at) "
            "VALUES (?, ?, 'confirmed', '2020-01-01')",
            [(1, 1), (2, 2)],
        )
        conn.execute(
            "INSERT INTO decisions (kind, person_id, other_person_id, created_at) "
            "VALUES ('different_people', 1, 2, '2020-01-01')"
        )


def _state(path):
    with sqlite3.connect(path) as conn:
        return [
            conn.execute("SELECT id, name FROM people ORDER BY id").fetchall(),
            conn.execute("SELECT face_id, person_id FROM assignments ORDER BY 1").fetchall(),
            conn.execute("SELECT person_id, other_person_id FROM decisions").fetchall(),
        ]


def _kill_0003_at(tmp_path, n):
    """Upgrade a 0002 library, killed at the n-th statement of the upgrade (0003's), or
    at the statement holding the text n; then a normal open finishes it. Returns how
    many statements the upgrade runs when it is not killed (0 when it was)."""
    path = tmp_path / f"k{n}.db"
    _library_0002_with_data(path)
    before = _state(path)
    run = subprocess.run(
        [sys.executable, "-c", _KILLED_MIGRATION, str(path), str(n)],
        capture_output=True,
        text=True,
        cwd=REPO,
    )
    assert run.returncode in (0, 9), run.stderr[-2000:]
    lib = open_library(path)  # the next command
    lib.close()
    with sqlite3.connect(path) as conn:
        heads = [(h,) for h in script_heads()[0]]  # 0003 and whatever follows it
        assert conn.execute("SELECT version_num FROM alembic_version").fetchall() == heads
        assert conn.execute("PRAGMA foreign_key_check").fetchall() == []
    assert _state(path) == before, f"killed at statement {n}"
    return int(run.stdout) if run.returncode == 0 else 0


def test_0003_killed_where_people_is_dropped_loses_nothing(tmp_path):
    """Killed after `people` was dropped and the assignments emptied (before the copies
    are written back): the upgrade is one transaction, so nothing of it stayed."""
    assert _kill_0003_at(tmp_path, "INSERT INTO assignments SELECT") == 0  # it was killed


@pytest.mark.slow
def test_0003_killed_at_every_statement_loses_nothing(tmp_path):
    total = _kill_0003_at(tmp_path, "10000")  # not killed: counts the statements
    assert total and total > 10
    for n in range(1, total + 1):
        assert _kill_0003_at(tmp_path, str(n)) == 0
