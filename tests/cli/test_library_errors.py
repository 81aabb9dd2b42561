"""A library that cannot be written (read-only file or folder, full disk) and ids too
large for SQLite end in one line and the documented exit code, never a traceback.
Through the command line's own entry point, on real SQLite files."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from photogroup.cli import main
from photogroup.core.errors import LibraryError
from photogroup.db import MAX_ID

from ..conftest import marker_people
from ..db.test_migration_safety import _every_connection, _page_limit
from ..db.test_migrations import make_0001_library

EXIT_LIBRARY = LibraryError.exit_code
HUGE = str(MAX_ID + 1)  # 2**63: one more than SQLite's largest INTEGER


@pytest.fixture
def old_library(tmp_path: Path) -> Path:
    folder = tmp_path / "lib"
    folder.mkdir()
    path = folder / "library.db"
    make_0001_library(path)
    return path


def _one_error_line(err: str, progress: bool = False) -> str:
    """The one line of the error; with `progress`, after the command's progress lines."""
    lines = [line for line in err.splitlines() if line.strip()]
    assert "Traceback" not in err and (progress or len(lines) == 1), err
    assert lines[-1].startswith("Error: ") and sum("Error" in x for x in lines) == 1, err
    return lines[-1]


@contextmanager
def _not_writable(path: Path) -> Iterator[None]:
    """`path` (a file or a folder) made read-only for real: by its mode bits, or for
    root (whom mode bits do not stop) by the immutable attribute."""
    if os.geteuid() != 0:
        mode = path.stat().st_mode
        path.chmod(mode & ~(stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH))
        try:
            yield
        finally:
            path.chmod(mode)
        return
    chattr = shutil.which("chattr")
    if chattr is None or subprocess.run([chattr, "+i", str(path)]).returncode != 0:
        pytest.skip("running as root where chattr +i does not work")
    try:
        yield
    finally:
        subprocess.run([chattr, "-i", str(path)], check=True)


@pytest.mark.parametrize("what", ["file", "folder"])
@pytest.mark.parametrize("command", [["name", "1", "Bea"], ["hide", "Ann"], ["people"]])
def test_read_only_library_is_exit_5_naming_file_and_reason(old_library, capsys, what, command):
    """Upgrading (first open of an older library) and writing both need to write."""
    lib = ["--library", str(old_library)]
    target = old_library if what == "file" else old_library.parent
    with _not_writable(target):
        assert main([*lib, *command]) == EXIT_LIBRARY
    line = _one_error_line(capsys.readouterr().err)
    assert str(old_library) in line
    assert ("file is not writable" if what == "file" else "folder") in line
    assert main([*lib, *command]) == 0  # writable again: it works
    capsys.readouterr()


def test_read_only_library_at_the_newest_schema_refuses_a_write(old_library, capsys):
    """No upgrade pending: the failure comes from the write itself (a session commit)."""
    lib = ["--library", str(old_library)]
    assert main([*lib, "people"]) == 0
    capsys.readouterr()
    with _not_writable(old_library):
        assert main([*lib, "people"]) == 0  # reading still works
        assert "Ann" in capsys.readouterr().out
        assert main([*lib, "name", "Ann", "Bea"]) == EXIT_LIBRARY
    line = _one_error_line(capsys.readouterr().err)
    assert str(old_library) in line and "not writable" in line


@pytest.mark.parametrize("command", [["people"], ["name", "1", "Bea"]])
def test_full_disk_is_one_line_and_exit_5_then_works_when_space_is_freed(
    old_library, capsys, command
):
    lib = ["--library", str(old_library)]
    with _every_connection(_page_limit(4)):  # the backup before the upgrade cannot grow
        assert main([*lib, *command]) == EXIT_LIBRARY
    line = _one_error_line(capsys.readouterr().err)
    assert "disk is full" in line and str(old_library) in line
    assert main([*lib, *command]) == 0
    assert main([*lib, "people"]) == 0
    assert "Ann" in capsys.readouterr().out or command[0] == "name"


def test_repair_of_a_half_upgraded_library_is_one_line_on_stderr(old_library, capsys):
    with __import__("sqlite3").connect(old_library) as conn:  # as an old, killed upgrade left it
        conn.execute("ALTER TABLE people ADD COLUMN face_count INTEGER DEFAULT '0' NOT NULL")
    assert main(["--library", str(old_library), "people"]) == 0
    out = capsys.readouterr()
    assert "Ann" in out.out
    (note,) = out.err.splitlines()
    assert "half-upgraded" in note and "people.face_count" in note


@pytest.fixture
def lib_args(library, config, detector, embedder, tmp_path):
    cfg = tmp_path / "config.toml"
    cfg.write_text("[quality]\nmin_quality = 0.0\n")
    marker_people(library, config, detector, embedder, tmp_path / "photos")
    return ["--config", str(cfg), "--library", str(config.database_path())]


ID_COMMANDS = [
    ["name", HUGE, "X"],
    ["name", f"Person {HUGE}", "X"],
    ["name", "99999999999999999999", "X"],
    ["hide", HUGE],
    ["hide", "2**70"],
    ["merge", "1", HUGE],
    ["merge", HUGE, "1"],
    ["undo", HUGE],
    ["undo", "1e30"],
    ["undo", "0"],
    ["errors", "--run", HUGE],
    ["photos", "--person", HUGE],
    ["photos", "--without", HUGE],
    ["review", "--answer", f"who:{HUGE}", "skip"],
    ["review", "--answer", f"same:1:{HUGE}", "no"],
    ["review", "--answer", f"face:{HUGE}:1", "yes"],
    ["review", "--port", HUGE, "--no-browser"],
    ["serve", "--port", HUGE],
    ["enroll", "X", __file__, "--face", "0"],
]
"""Every command that takes an id (of a person, decision, scan run, face, port)."""


def test_huge_and_bad_ids_are_not_found_or_usage_errors(lib_args, capsys):
    for command in ID_COMMANDS:
        assert main([*lib_args, *command]) in (2, 3), command
        err = capsys.readouterr().err
        assert "Error" in err and "Overflow" not in err and "Traceback" not in err, command


def test_no_traceback_for_a_huge_id_in_a_real_process(tmp_path):
    """The installed entry point, not only main(): exit 3 and one line."""
    db = tmp_path / "library.db"
    make_0001_library(db)
    run = subprocess.run(
        [sys.executable, "-m", "photogroup", "--library", str(db), "name", HUGE, "X"],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])},
    )
    assert run.returncode == 3, run.stderr
    assert _one_error_line(run.stderr).startswith(f'Error: No person named "{HUGE}"')


def test_disk_full_during_a_scan_is_exit_5_and_the_next_scan_finishes(
    tmp_path, capsys, monkeypatch
):
    """The disk fills while a scan writes photos and faces (a real SQLITE_FULL in the
    middle of a transaction): one line, exit 5, no traceback; after space is freed the
    next scan indexes every photo."""
    import sqlite3

    import photogroup.pipeline.models as models

    from ..conftest import FakeDetector, FakeEmbedder, make_photo

    root = tmp_path / "photos"
    for i in range(40):
        make_photo(root / f"p{i:02}.png", [("red", 20 + i, 30, 60)], size=(320, 240))
    monkeypatch.setattr(models, "load_models", lambda config, say: (FakeDetector(), FakeEmbedder()))
    monkeypatch.setattr(
        models,
        "LazyModels",
        lambda config, say=None: models.ReadyModels(FakeDetector(), FakeEmbedder()),
    )
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "cfg"))
    db = tmp_path / "library.db"
    lib = ["--library", str(db)]
    open_library_pages = _pages_of_new_library(db)
    with _every_connection(_page_limit(open_library_pages + 3)):
        assert main([*lib, "scan", "--no-progress", str(root)]) == EXIT_LIBRARY
    line = _one_error_line(capsys.readouterr().err, progress=True)
    assert "disk is full" in line and str(db) in line
    assert main([*lib, "scan", "--no-progress", str(root)]) == 0
    assert main([*lib, "check"]) == 0, capsys.readouterr()
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT count(*) FROM photos WHERE status = 'ok'").fetchone() == (40,)
        assert conn.execute("SELECT count(*) FROM faces").fetchone() == (40,)
    conn.close()


def _pages_of_new_library(path: Path) -> int:
    import sqlite3

    from photogroup.db.library import open_library

    open_library(path).close()
    with sqlite3.connect(path) as conn:
        (pages,) = conn.execute("PRAGMA page_count").fetchone()
    conn.close()
    return int(pages)


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A real 2 MiB file system (tmpfs): needs root and a kernel that lets it mount."""
    mount = tmp_path / "disk"
    mount.mkdir()
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("mounting a tmpfs needs root")
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(mount)], capture_output=True
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode().strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", str(mount)], check=True)


def _fill(disk: Path, leave_kib: int) -> Path:
    """A file that takes all the free space of `disk` but `leave_kib` KiB."""
    st = os.statvfs(disk)
    filler = disk / "filler"
    size = max(0, st.f_bavail * st.f_frsize - leave_kib * 1024)
    with filler.open("wb") as fh:
        try:
            fh.write(b"\0" * size)
        except OSError:
            pass
    return filler


@pytest.mark.parametrize("leave_kib", [0, 24, 160])
def test_a_really_full_disk_is_exit_5_then_works_when_space_is_freed(small_disk, capsys, leave_kib):
    """On a real, full file system SQLite fails as it grows the -wal or -shm file
    (an I/O error) or a page (SQLITE_FULL), or the backup does: every time one line
    that says the disk is full."""
    import sqlite3

    path = small_disk / "library.db"
    make_0001_library(path)
    with sqlite3.connect(path) as conn:  # enough rows that the upgrade grows the file
        conn.executemany(
            "INSERT INTO people (id, hidden, created_at, updated_at) "
            "VALUES (?, 0, '2020-01-01', '2020-01-01')",
            [(i,) for i in range(100, 1100)],
        )
    conn.close()
    lib = ["--library", str(path)]
    filler = _fill(small_disk, leave_kib)
    assert main([*lib, "people"]) == EXIT_LIBRARY
    line = _one_error_line(capsys.readouterr().err)
    assert "disk is full" in line and str(path) in line
    filler.unlink()
    assert main([*lib, "people"]) == 0
    assert "Ann" in capsys.readouterr().out
    assert len(list(small_disk.glob("*.bak"))) == 1
    assert not list(small_disk.glob("*.bak-partial"))


@pytest.mark.parametrize("command", [["people"], ["name", "1", "X"], ["scan", "."]])
def test_a_folder_as_library_is_one_line(tmp_path, capsys, command, monkeypatch):
    folder = tmp_path / "library.db"
    folder.mkdir()
    cfg = tmp_path / "c.toml"
    cfg.write_text(f'[library]\ndatabase = "{folder}"\n')
    monkeypatch.chdir(tmp_path)
    assert main(["--config", str(cfg), *command]) == EXIT_LIBRARY
    line = _one_error_line(capsys.readouterr().err, progress=True)
    assert "is a folder" in line and str(folder) in line
