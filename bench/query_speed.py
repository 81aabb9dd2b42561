"""Wall time of `photogroup photos --person X` and `photogroup people` on a generated
library of 100k photos (no models: rows are generated straight into SQLite).

    python bench/query_speed.py                 # 100k photos
    python bench/query_speed.py --photos 20000

Each command runs as a fresh process (what a user waits for, Python start-up
included), best of 3.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from photogroup.db.library import open_library
from photogroup.db.stats import refresh_people_stats


def generate(db: Path, photos: int, people: int, seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    lib = open_library(db)
    lib.close()
    import sqlite3

    conn = sqlite3.connect(db)
    with conn:
        conn.executemany(
            "INSERT INTO people (id, name, hidden, created_at, updated_at) "
            "VALUES (?, ?, 0, '2024-01-01', '2024-01-01')",
            [(i + 1, f"Name {i + 1}" if i < 50 else None) for i in range(people)],
        )
        conn.executemany(
            "INSERT INTO photos (id, path, size, mtime_ns, width, height, taken_at, file_time, "
            "status, first_seen_at, detector) VALUES (?, ?, 1, 1, 4000, 3000, ?, ?, 'ok', "
            "'2024-01-01', 'mtcnn')",
            [
                (
                    i + 1,
                    f"/photos/{i // 1000:03d}/IMG_{i:06d}.jpg",
                    f"20{10 + i * 14 // photos:02d}-06-01 12:00:00",
                    "2024-01-01 00:00:00",
                )
                for i in range(photos)
            ],
        )
        # 1.5 faces a photo; people drawn with Zipf-like popularity; 20 % unassigned.
        n_faces = int(photos * 1.5)
        photo_of = rng.integers(1, photos + 1, n_faces)
        weights = 1.0 / np.arange(1, people + 1)
        person_of = rng.choice(np.arange(1, people + 1), n_faces, p=weights / weights.sum())
        conn.executemany(
            "INSERT INTO faces (id, photo_id, x, y, w, h, landmarks, score, created_at) "
            "VALUES (?, ?, 10, 10, 100, 100, '[]', 0.99, '2024-01-01')",
            [(i + 1, int(photo_of[i])) for i in range(n_faces)],
        )
        conn.executemany(
            "INSERT INTO assignments (face_id, person_id, origin, assigned_at) "
            "VALUES (?, ?, 'auto', '2024-01-01')",
            [(i + 1, int(person_of[i])) for i in range(n_faces) if rng.random() > 0.2],
        )
        refresh_people_stats(conn)  # what grouping does after writing assignments
    conn.close()


def best_of(cmd: list[str], runs: int = 3) -> tuple[float, int]:
    times, lines = [], 0
    for _ in range(runs):
        t = time.perf_counter()
        out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
        times.append(time.perf_counter() - t)
        lines = len(out.splitlines())
    return min(times), lines


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--photos", type=int, default=100_000)
    ap.add_argument("--people", type=int, default=2_000)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "big.db"
        t = time.perf_counter()
        generate(db, args.photos, args.people)
        print(
            f"generated {args.photos} photos, {int(args.photos * 1.5)} faces, "
            f"{args.people} people in {time.perf_counter() - t:.1f} s"
        )
        pg = [sys.executable, "-m", "photogroup", "--library", str(db)]
        for label, extra in [
            ("photos --person 'Name 1'", ["photos", "--person", "Name 1"]),
            (
                "photos --person 'Name 1' --person 'Name 2' --without 'Name 3' --from 2015",
                [
                    "photos",
                    "--person",
                    "Name 1",
                    "--person",
                    "Name 2",
                    "--without",
                    "Name 3",
                    "--from",
                    "2015",
                ],
            ),
            ("photos --person 'Name 40' --json", ["photos", "--person", "Name 40", "--json"]),
            ("people", ["people"]),
            ("--help (imports every command)", ["--help"]),
        ]:
            seconds, lines = best_of(pg + extra)
            print(f"{seconds:6.2f} s  {lines:6d} lines  photogroup {label}")


if __name__ == "__main__":
    main()
