"""A library that grows in three steps against one grouped at once (issue 13).

    python bench/growing.py                 # lfw20 and five_celebs
    python bench/growing.py lfw_devtrain

The set's cached library (bench/_common.py, scanned with the product's pipeline) is
copied and its answers and people removed. "One shot": every photo present, then
the grouping a scan runs at its end (`group_library`). "Three steps": a third of
every person's photos arrives at a time (the others marked missing, as photos not
yet copied to the library), each step followed by that same grouping: incremental
assignment, regrouping when enough faces wait or the library grew by
`[people] regroup_growth`. BCubed P / R / F over the labelled faces (the face
nearest each photo's centre, labelled with its folder; unassigned: a group of its
own), and the regroupings each run did.
"""

from __future__ import annotations

import argparse
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

from _common import fresh_copy, load_set, scan, set_library

from photogroup.core.config import load_config
from photogroup.core.metrics import bcubed
from photogroup.db.library import open_library
from photogroup.pipeline.people import embedder_id, group_library


def _truth(db: Path) -> tuple[dict[int, int], dict[int, str]]:
    """(photo -> labelled face, labelled face -> person) from the folders."""
    conn = sqlite3.connect(db)
    photos = {
        p: (path, w, h)
        for p, path, w, h in conn.execute("SELECT id, path, width, height FROM photos")
    }
    best: dict[int, tuple[float, int]] = {}
    for fid, pid, x, y, w, h in conn.execute("SELECT id, photo_id, x, y, w, h FROM faces"):
        _path, width, height = photos[pid]
        d = (x + w / 2 - (width or 0) / 2) ** 2 + (y + h / 2 - (height or 0) / 2) ** 2
        if pid not in best or d < best[pid][0]:
            best[pid] = (d, fid)
    conn.close()
    central = {pid: fid for pid, (_d, fid) in best.items()}
    return central, {fid: Path(photos[pid][0]).parent.name for pid, fid in central.items()}


def _score(db: Path, labels: dict[int, str]) -> tuple[float, float, float]:
    conn = sqlite3.connect(db)
    person = dict(conn.execute("SELECT face_id, person_id FROM assignments"))
    conn.close()
    faces = sorted(labels)
    b3 = bcubed([labels[f] for f in faces], [person.get(f, -1) for f in faces])
    return b3.precision, b3.recall, b3.f


def _group(db: Path) -> str:
    config = load_config()
    library = open_library(db)
    try:
        eid = embedder_id(library)
        assert eid is not None
        return group_library(library, config, eid)
    finally:
        library.close()


def run(name: str) -> None:
    root, cached = set_library(name)
    scan(cached, root)
    keep = sorted({int(p) for p in load_set(name, scan_first=False).photo})
    with tempfile.TemporaryDirectory() as tmp:
        one, grown = Path(tmp) / "one.db", Path(tmp) / "grown.db"
        fresh_copy(cached, one, keep)
        central, labels = _truth(one)
        t = time.perf_counter()
        lines = [_group(one)]
        one_s = time.perf_counter() - t
        p1 = _score(one, labels)
        # thirds of every person's photos, in path order
        by_person: dict[str, list[int]] = {}
        for pid in sorted(central):
            by_person.setdefault(labels[central[pid]], []).append(pid)
        step = {pid: i % 3 for pids in by_person.values() for i, pid in enumerate(pids)}
        fresh_copy(cached, grown, keep)
        regroups, t = 0, time.perf_counter()
        for k in range(3):
            conn = sqlite3.connect(grown)
            with conn:
                conn.executemany(
                    "UPDATE photos SET status = ? WHERE id = ?",
                    [("ok" if s <= k else "missing", pid) for pid, s in step.items()],
                )
            conn.close()
            line = _group(grown)
            regroups += "Grouped" in line
        grown_s = time.perf_counter() - t
        p3 = _score(grown, labels)
    print(f"{name}: {len(labels)} labelled faces, {len(keep)} photos")
    print(f"  one shot     P {p1[0]:.3f}  R {p1[1]:.3f}  F {p1[2]:.3f}  ({one_s:.1f} s)")
    print(
        f"  three steps  P {p3[0]:.3f}  R {p3[1]:.3f}  F {p3[2]:.3f}  ({grown_s:.1f} s, "
        f"{regroups} of 3 steps regrouped)"
    )
    print(f"  difference   P {p3[0] - p1[0]:+.3f}  F {p3[2] - p1[2]:+.3f}")
    del lines


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("sets", nargs="*", default=["lfw20", "five_celebs"])
    for name in ap.parse_args().sets:
        run(name)
    sys.stdout.flush()


if __name__ == "__main__":
    main()
