"""A library that grows over months groups as well as one grouped at once (issue 13).

five_celebs is scanned with the real models twice: in one go, and in three steps (a
third of every person's photos each time, each scan followed by the grouping a scan
runs: incremental assignment, and a regrouping when enough faces wait). BCubed
precision and F over the labelled faces (the face nearest each photo's centre,
labelled with its folder) must agree within 0.01.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from sqlalchemy import select

from photogroup.cli import main
from photogroup.core.metrics import bcubed
from photogroup.db.library import open_library
from photogroup.db.models import Assignment, Face, Photo

from ..conftest import DATA

pytestmark = pytest.mark.slow

FIVE = DATA / "five_celebs"


def _scan(db: Path, root: Path, base: Path) -> None:
    mp = pytest.MonkeyPatch()
    mp.setenv("XDG_CONFIG_HOME", str(base / "cfg"))
    try:
        assert main(["--library", str(db), "scan", "--no-progress", str(root)]) in (0, 7)
    finally:
        mp.undo()


def _score(db: Path) -> tuple[float, float]:
    truth, pred = [], []
    with open_library(db) as lib, lib.session() as s:
        person = dict(s.execute(select(Assignment.face_id, Assignment.person_id)).all())
        rows = s.execute(
            select(Face.id, Face.x, Face.y, Face.w, Face.h, Photo.path, Photo.width, Photo.height)
            .join(Photo, Photo.id == Face.photo_id)
            .order_by(Face.id)
        ).all()
    nearest: dict[str, tuple[float, int]] = {}
    for fid, x, y, w, h, path, width, height in rows:
        d = (x + w / 2 - width / 2) ** 2 + (y + h / 2 - height / 2) ** 2
        if path not in nearest or d < nearest[path][0]:
            nearest[path] = (d, fid)
    for path, (_d, fid) in sorted(nearest.items()):
        truth.append(Path(path).parent.name)
        pred.append(person.get(fid, -1))
    score = bcubed(truth, pred)
    return score.precision, score.f


@pytest.mark.skipif(not FIVE.is_dir(), reason="real photos not found (set PHOTOGROUP_DATA)")
def test_three_scans_group_as_well_as_one(tmp_path):
    steps = [tmp_path / f"step{k}" for k in range(3)]
    everything = tmp_path / "all"
    for person in sorted(p for p in FIVE.iterdir() if p.is_dir()):
        photos = sorted(person.glob("*.jp*g"))
        for i, photo in enumerate(photos):
            for root in (steps[i % 3], everything):
                (root / person.name).mkdir(parents=True, exist_ok=True)
                os.symlink(photo, root / person.name / photo.name)
    one_shot = tmp_path / "one.db"
    _scan(one_shot, everything, tmp_path)
    grown = tmp_path / "grown.db"
    library = tmp_path / "library"
    library.mkdir()
    for step in steps:  # the photos arrive in thirds, in one library folder
        for person in step.iterdir():
            (library / person.name).mkdir(exist_ok=True)
            for photo in person.iterdir():
                os.symlink(os.readlink(photo), library / person.name / photo.name)
        _scan(grown, library, tmp_path)
    p1, f1 = _score(one_shot)
    p3, f3 = _score(grown)
    assert p1 >= 0.99 and p3 >= 0.99, (p1, p3)
    assert abs(p3 - p1) <= 0.01 and abs(f3 - f1) <= 0.01, (p1, f1, p3, f3)
