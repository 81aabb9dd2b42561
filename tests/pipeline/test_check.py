"""`photogroup check`: integrity, consistency with the user's answers, repair."""

from __future__ import annotations

import json
import sqlite3

from photogroup.cli import main
from photogroup.pipeline.check import check
from photogroup.pipeline.people import regroup
from photogroup.pipeline.review import answer

from .test_people import EMB, add_faces, blob, people_of


def test_a_healthy_library_passes(library, config, capsys):
    db = str(config.database_path())
    assert check(library) == []
    assert main(["--library", db, "check"]) == 0
    assert "All is well" in capsys.readouterr().out


def test_contradictions_and_damage_are_reported_and_safely_repaired(library, config, capsys):
    import numpy as np

    rng = np.random.default_rng(3)
    c = rng.normal(size=32)
    faces = add_faces(library, blob(rng, c / np.linalg.norm(c), 6, spread=0.05), quality=0.9)
    regroup(library, config, EMB)
    pid = people_of(library, faces)[0]
    answer(library, config, EMB, f"face:{faces[0]}:{pid}", "no")
    db = config.database_path()
    with sqlite3.connect(db) as conn:  # what a bug or a hand edit could leave behind
        conn.execute(
            "INSERT INTO assignments (face_id, person_id, origin, assigned_at) "
            "VALUES (?, ?, 'auto', '2024-01-01')",
            (faces[0], pid),
        )
        conn.execute("UPDATE people SET face_count = 99 WHERE id = ?", (pid,))
        conn.execute("UPDATE embeddings SET vector = x'00' WHERE face_id = ?", (faces[1],))
    capsys.readouterr()
    assert main(["--library", str(db), "check", "--json"]) == 1
    found = {
        json.loads(line)["kind"]: json.loads(line) for line in capsys.readouterr().out.splitlines()
    }
    assert set(found) == {"assignment_against_rejection", "stale_person_figures", "bad_embedding"}
    assert found["assignment_against_rejection"]["examples"] == [faces[0]]
    # --repair fixes what is safe; the damaged embedding is still reported (exit 1)
    assert main(["--library", str(db), "check", "--repair"]) == 1
    assert people_of(library, [faces[0]]) == [None]
    assert [p.kind for p in check(library)] == ["bad_embedding"]
    with sqlite3.connect(db) as conn:
        assert conn.execute(
            "SELECT count(*) FROM decisions WHERE undone_at IS NULL"
        ).fetchone() == (1,)
        conn.execute("DELETE FROM embeddings WHERE face_id = ?", (faces[1],))
    assert check(library) == []


def test_a_damaged_file_is_a_clear_error(tmp_path, capsys):
    db = tmp_path / "broken.db"
    db.write_bytes(b"SQLite format 3\x00" + b"\xff" * 4096)
    assert main(["--library", str(db), "check"]) == 5
    assert "Cannot open the library" in capsys.readouterr().err
