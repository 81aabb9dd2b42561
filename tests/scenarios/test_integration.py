"""End to end with the real MTCNN and FaceNet on real photos (five_celebs).

One scan of the 118 photos is shared by the tests of this module (session-scoped);
the weights are provisioned by photogroup itself if the cache lacks them.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import func, select

from photogroup.cli import main
from photogroup.db.library import open_library
from photogroup.db.models import Face, Photo, ScanRun

from ..conftest import DATA

pytestmark = pytest.mark.slow

FIVE = DATA / "five_celebs"


@pytest.fixture(scope="module")
def scanned(tmp_path_factory) -> tuple[Path, Path]:
    if not FIVE.is_dir():
        pytest.skip(f"real photos not found at {FIVE} (set PHOTOGROUP_DATA)")
    base = tmp_path_factory.mktemp("five")
    photos = base / "photos"
    shutil.copytree(FIVE, photos, ignore=shutil.ignore_patterns("*.csv", "*.txt", "*.md"))
    db = base / "library.db"
    mp = pytest.MonkeyPatch()
    mp.setenv("XDG_CONFIG_HOME", str(base / "cfg"))
    try:
        code = main(["--library", str(db), "scan", "--no-progress", str(photos)])
    finally:
        mp.undo()
    assert code == 0
    return db, photos


def _photo_count(db: Path) -> tuple[int, int]:
    with open_library(db) as lib, lib.session() as s:
        total = s.scalar(select(func.count(Photo.id)))
        with_face = s.scalar(select(func.count(func.distinct(Face.photo_id))))
    return total, with_face


def test_nearly_every_photo_gets_a_face(scanned):
    db, _ = scanned
    total, with_face = _photo_count(db)
    assert total == 118
    assert with_face >= 112, f"only {with_face} of 118 photos got a face"


def test_embeddings_separate_people(scanned, capsys):
    """Faces nearest the centre of each photo: same-person pairs are closer than others."""
    db, photos = scanned
    assert main(["--library", str(db), "export", "faces", "--embeddings"]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    by_photo: dict[str, dict] = {}
    with open_library(db) as lib, lib.session() as s:
        sizes = {p: (w, h) for p, w, h in s.execute(select(Photo.path, Photo.width, Photo.height))}
    for r in rows:
        w, h = sizes[r["photo"]]
        cx, cy = r["box"][0] + r["box"][2] / 2, r["box"][1] + r["box"][3] / 2
        d = (cx - w / 2) ** 2 + (cy - h / 2) ** 2
        if r["photo"] not in by_photo or d < by_photo[r["photo"]]["d"]:
            by_photo[r["photo"]] = {
                "d": d,
                "e": np.array(r["embedding"]),
                "who": Path(r["photo"]).parent.name,
            }
    vecs = np.stack([v["e"] for v in by_photo.values()])
    who = np.array([v["who"] for v in by_photo.values()])
    assert np.allclose(np.linalg.norm(vecs, axis=1), 1.0, atol=1e-4)
    dist = 1.0 - vecs @ vecs.T
    same = who[:, None] == who[None, :]
    off = ~np.eye(len(who), dtype=bool)
    assert np.median(dist[same & off]) < 0.45
    assert np.median(dist[~same]) > 0.7


def test_second_scan_finds_nothing_new_and_decodes_nothing(scanned):
    db, photos = scanned
    assert main(["--library", str(db), "scan", "--no-progress", str(photos)]) == 0
    with open_library(db) as lib, lib.session() as s:
        run = s.scalars(select(ScanRun).order_by(ScanRun.id.desc())).first()
        assert (run.n_new, run.n_changed, run.n_decoded, run.n_unchanged) == (0, 0, 0, 118)


def test_moved_file_keeps_its_face_ids(scanned):
    db, photos = scanned
    person = sorted(p for p in photos.iterdir() if p.is_dir())[0]
    src = sorted(person.iterdir())[0]
    with open_library(db) as lib, lib.session() as s:
        before = sorted(s.scalars(select(Face.id).join(Photo).where(Photo.path == str(src))))
    assert before
    dst = photos / "moved" / ("renamed-" + src.name)
    dst.parent.mkdir()
    os.rename(src, dst)
    assert main(["--library", str(db), "scan", "--no-progress", str(photos)]) == 0
    with open_library(db) as lib, lib.session() as s:
        after = sorted(s.scalars(select(Face.id).join(Photo).where(Photo.path == str(dst))))
        run = s.scalars(select(ScanRun).order_by(ScanRun.id.desc())).first()
        assert s.scalar(select(func.count()).where(Photo.path == str(src))) == 0
    assert after == before
    assert (run.n_moved, run.n_new, run.n_missing, run.n_decoded) == (1, 0, 0, 0)
