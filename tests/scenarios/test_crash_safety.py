"""SIGKILL a scan at several points, scan again: the library ends exactly as after an
uninterrupted scan (photos, faces, people, names, decisions), with no duplicated
face and nothing half-written."""

from __future__ import annotations

import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from photogroup.db.library import open_library
from photogroup.pipeline.people import find_person, name_person
from photogroup.pipeline.review import answer

from ..conftest import make_photo
from .killable_scan import scan

REPO = Path(__file__).resolve().parents[1]
COLOURS = ["red", "green", "blue"]
KILL_POINTS = 6
DELAY = 0.06


def album(root: Path, start: int, n: int) -> None:
    for i in range(start, start + n):
        faces = [(COLOURS[i % 3], 10 + (i * 7) % 120, 20 + (i * 5) % 90, 60)]
        if i % 4 == 0:
            faces.append((COLOURS[(i + 1) % 3], 200, 140, 50))
        make_photo(root / f"{i // 10:02d}" / f"p{i:03d}.png", faces, size=(320, 240))


def snapshot(db: Path) -> dict[str, object]:
    """What a user would see: photos, faces, people (as sets of faces), names, decisions."""
    conn = sqlite3.connect(db)
    try:
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        assert conn.execute("PRAGMA foreign_key_check").fetchall() == []
        faces = conn.execute(
            "SELECT p.path, round(f.x), round(f.y), round(f.w), round(f.h), a.person_id "
            "FROM faces f JOIN photos p ON p.id = f.photo_id "
            "LEFT JOIN assignments a ON a.face_id = f.id"
        ).fetchall()
        keys = [f[:5] for f in faces]
        assert len(keys) == len(set(keys)), "a face was stored twice"
        groups: dict[int, set[tuple]] = {}
        for f in faces:
            if f[5] is not None:
                groups.setdefault(f[5], set()).add(f[:5])
        names = dict(conn.execute("SELECT id, name FROM people"))
        people = sorted((names.get(pid) or "", sorted(g)) for pid, g in groups.items())
        decisions = sorted(
            (kind, question or "", value or "")
            for kind, question, value in conn.execute(
                "SELECT kind, question, value FROM decisions WHERE undone_at IS NULL"
            )
        )
        photos = sorted(conn.execute("SELECT path, status FROM photos").fetchall())
        embeddings = conn.execute("SELECT count(*) FROM embeddings").fetchone()[0]
        return {
            "photos": photos,
            "faces": sorted(keys),
            "embeddings": embeddings,
            "people": people,
            "decisions": decisions,
        }
    finally:
        conn.close()


@pytest.fixture(scope="module")
def base(tmp_path_factory) -> tuple[Path, Path, Path, float]:
    """A library that knows the first photos, with a name and an answer in it; the
    album has grown since. Returns (base db, root, reference db, scan seconds)."""
    tmp = tmp_path_factory.mktemp("crash")
    root = tmp / "album"
    album(root, 0, 12)
    db = tmp / "base.db"
    scan(db, root)
    lib = open_library(db)
    try:
        from .killable_scan import config

        cfg = config()
        with lib.session() as s:
            pid = find_person(s, "1").id
        name_person(lib, pid, "Rosa")
        with lib.session() as s:
            from sqlalchemy import select

            from photogroup.db.models import Assignment

            face = s.scalar(select(Assignment.face_id).where(Assignment.person_id == pid))
        answer(lib, cfg, "fake-embedder-v1", f"face:{face}:{pid}", "no")
    finally:
        lib.close()
    album(root, 12, 48)  # new photos to scan
    ref = tmp / "reference.db"
    shutil.copy(db, ref)
    t = time.monotonic()
    subprocess.run(
        [sys.executable, "-m", "tests.scenarios.killable_scan", str(ref), str(root), str(DELAY)],
        cwd=REPO,
        check=True,
    )
    return db, root, ref, time.monotonic() - t


def test_sigkill_at_any_point_then_rescan_equals_an_uninterrupted_scan(base, tmp_path):
    db, root, ref, seconds = base
    want = snapshot(ref)
    assert len(want["photos"]) == 60 and want["decisions"]
    assert any(name == "Rosa" for name, _ in want["people"])
    stored: list[int] = []
    for k in range(KILL_POINTS):
        victim = tmp_path / f"killed{k}.db"
        shutil.copy(db, victim)
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "tests.scenarios.killable_scan",
                str(victim),
                str(root),
                str(DELAY),
            ],
            cwd=REPO,
        )
        # kill points spread from start-up (imports, opening) to grouping at the end
        time.sleep(seconds * (k + 0.5) / KILL_POINTS)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        # the library is consistent as it was left ...
        stored.append(len(snapshot(victim)["photos"]))
        # ... and a new scan finishes the job (its lock file is stale, not held)
        scan(victim, root)
        assert snapshot(victim) == want, (
            f"kill point {k} ({seconds * (k + 0.5) / KILL_POINTS:.1f} s)"
        )
    # the kills landed at different stages, some in the middle of the photos
    print("photos stored at the kill points:", stored)
    assert any(12 < n < 60 for n in stored), stored
