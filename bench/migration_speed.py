"""Time of upgrading a revision-0002 library to the newest schema (0003 re-creates
`people` and writes `assignments` back), on a synthetic library of a given size.

    python bench/migration_speed.py [--faces 100000] [--people 5000] [--decisions 20000]

Prints the seconds of the upgrade (the .bak copy taken before it included) and checks
that every assignment and decision came through.
"""

from __future__ import annotations

import argparse
import sqlite3
import tempfile
import time
from pathlib import Path


def build(path: Path, faces: int, people: int, decisions: int) -> None:
    from photogroup.db.library import make_engine, upgrade

    engine = make_engine(path)
    upgrade(engine, "0002")
    engine.dispose()
    with sqlite3.connect(path) as conn:
        conn.executemany(
            "INSERT INTO photos (id, path, size, mtime_ns, status, first_seen_at) "
            "VALUES (?, ?, 1, 1, 'ok', '2020-01-01')",
            ((i, f"/p/{i}.jpg") for i in range(1, faces + 1)),
        )
        conn.executemany(
            "INSERT INTO faces (id, photo_id, x, y, w, h, landmarks, score, created_at) "
            "VALUES (?, ?, 0, 0, 50, 50, '[]', 0.99, '2020-01-01')",
            ((i, i) for i in range(1, faces + 1)),
        )
        conn.executemany(
            "INSERT INTO people (id, name, hidden, created_at, updated_at) "
            "VALUES (?, NULL, 0, '2020-01-01', '2020-01-01')",
            ((i,) for i in range(1, people + 1)),
        )
        conn.executemany(
            "INSERT INTO assignments (face_id, person_id, origin, assigned_at) "
            "VALUES (?, ?, 'auto', '2020-01-01')",
            ((i, 1 + i % people) for i in range(1, faces + 1)),
        )
        conn.executemany(
            "INSERT INTO decisions (kind, face_id, person_id, question, details, created_at) "
            "VALUES ('face_is_person', ?, ?, ?, '{\"previous\": null}', '2020-01-01')",
            ((i, 1 + i % people, f"face:{i}:{1 + i % people}") for i in range(1, decisions + 1)),
        )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--faces", type=int, default=100_000)
    ap.add_argument("--people", type=int, default=5_000)
    ap.add_argument("--decisions", type=int, default=20_000)
    args = ap.parse_args()
    from photogroup.db.library import open_library

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "library.db"
        build(path, args.faces, args.people, args.decisions)
        start = time.perf_counter()
        open_library(path).close()
        seconds = time.perf_counter() - start
        with sqlite3.connect(path) as conn:
            kept = conn.execute("SELECT count(*) FROM assignments").fetchone()[0]
            people = conn.execute("SELECT count(*) FROM decisions WHERE person_id IS NOT NULL")
            decided = people.fetchone()[0]
    print(
        f"upgrade 0002 -> head of {args.faces} faces, {args.people} people, "
        f"{args.decisions} decisions: {seconds:.2f} s (backup copy included); "
        f"assignments kept {kept}/{args.faces}, decisions with their person "
        f"{decided}/{args.decisions}"
    )


if __name__ == "__main__":
    main()
