"""`photogroup check`: SQLite's own integrity checks and photogroup's consistency rules."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..db.library import Library, sqlite_connection
from ..db.stats import refresh_people_stats, stale_people_stats


@dataclass
class Problem:
    """One kind of problem `check` found: how many, some examples, and whether --repair fixes it."""

    kind: str
    message: str
    count: int
    examples: list[Any] = field(default_factory=list)
    repairable: bool = False

    def as_json(self) -> dict[str, Any]:
        """The problem as a JSON object (at most 10 examples)."""
        return {
            "kind": self.kind,
            "message": self.message,
            "count": self.count,
            "examples": self.examples[:10],
            "repairable": self.repairable,
        }


# (kind, message, SQL returning offending rows, repair SQL or None)
_RULES: list[tuple[str, str, str, str | None]] = [
    (
        "face_without_photo",
        "faces whose photo is gone",
        "SELECT f.id FROM faces f LEFT JOIN photos p ON p.id = f.photo_id WHERE p.id IS NULL",
        None,
    ),
    (
        "bad_embedding",
        "embeddings whose stored size does not match their dimension",
        "SELECT id FROM embeddings WHERE length(vector) != dim * 4",
        None,
    ),
    (
        "assignment_against_rejection",
        "faces assigned to a person the user said they are not",
        "SELECT a.face_id FROM assignments a JOIN decisions d ON d.face_id = a.face_id "
        "AND d.person_id = a.person_id WHERE d.kind = 'face_not_person' AND d.undone_at IS NULL",
        "DELETE FROM assignments WHERE origin = 'auto' AND face_id IN (SELECT a.face_id "
        "FROM assignments a JOIN decisions d ON d.face_id = a.face_id AND d.person_id = "
        "a.person_id WHERE d.kind = 'face_not_person' AND d.undone_at IS NULL)",
    ),
    (
        "confirmation_not_applied",
        "faces the user confirmed (or enrolled, or named in XMP) that are not with that person",
        "SELECT d.face_id FROM decisions d LEFT JOIN assignments a ON a.face_id = d.face_id "
        "WHERE d.kind = 'face_is_person' AND d.undone_at IS NULL AND d.person_id IS NOT NULL "
        "AND d.id = (SELECT max(d2.id) FROM decisions d2 WHERE d2.face_id = d.face_id "
        "AND d2.kind IN ('face_is_person', 'face_not_person') AND d2.undone_at IS NULL) "
        "AND (a.person_id IS NULL OR a.person_id != d.person_id) "
        # a newer move, split or "not a face" of the face replaced the confirmation
        "AND NOT EXISTS (SELECT 1 FROM decisions e WHERE e.id > d.id AND e.undone_at IS NULL "
        "AND ((e.kind = 'not_a_face' AND e.face_id = d.face_id) "
        "OR (e.kind = 'move_faces' AND EXISTS (SELECT 1 FROM json_each(e.details, '$.previous') j "
        "WHERE json_extract(j.value, '$[0]') = d.face_id)) "
        "OR (e.kind = 'split' AND EXISTS (SELECT 1 FROM json_each(e.details, '$.faces') k "
        "WHERE k.value = d.face_id))))",
        None,
    ),
    (
        "different_people_merged",
        "two people declared different that are now one",
        "SELECT id FROM decisions WHERE kind = 'different_people' AND undone_at IS NULL "
        "AND person_id = other_person_id",
        None,
    ),
    (
        "not_a_face_assigned",
        "detections the user said are not faces that belong to a person",
        "SELECT a.face_id FROM assignments a JOIN decisions d ON d.face_id = a.face_id "
        "WHERE d.kind = 'not_a_face' AND d.undone_at IS NULL",
        "DELETE FROM assignments WHERE origin = 'auto' AND face_id IN (SELECT face_id FROM "
        "decisions WHERE kind = 'not_a_face' AND undone_at IS NULL)",
    ),
    (
        "split_face_returned",
        "faces the user split out of a person that are back with it",
        "SELECT a.face_id FROM decisions d, json_each(d.details, '$.faces') j "
        "JOIN assignments a ON a.face_id = j.value WHERE d.kind = 'split' "
        "AND d.undone_at IS NULL AND a.person_id = d.person_id AND a.origin = 'auto'",
        "DELETE FROM assignments WHERE origin = 'auto' AND face_id IN (SELECT a.face_id "
        "FROM decisions d, json_each(d.details, '$.faces') j JOIN assignments a ON "
        "a.face_id = j.value WHERE d.kind = 'split' AND d.undone_at IS NULL "
        "AND a.person_id = d.person_id)",
    ),
    (
        "two_faces_of_a_photo_in_a_person",
        "people holding two faces of one photo that the user did not both confirm",
        "SELECT a.person_id FROM assignments a JOIN faces f ON f.id = a.face_id "
        "GROUP BY a.person_id, f.photo_id HAVING count(*) > 1 AND sum(a.origin = 'auto') > 0",
        None,
    ),
    (
        "duplicate_name",
        "names used by more than one person (case aside)",
        "SELECT lower(name) FROM people WHERE name IS NOT NULL GROUP BY lower(name) "
        "HAVING count(*) > 1",
        None,
    ),
]


def check(library: Library, repair: bool = False) -> list[Problem]:
    """Every problem found (an empty list: all is well). With `repair`, the safe fixes
    are applied: stale person figures are recomputed, automatic assignments that
    contradict an answer are removed. User decisions are never changed."""
    problems: list[Problem] = []
    with library.session() as s:
        conn = sqlite_connection(s)
        integrity = [r[0] for r in conn.execute("PRAGMA integrity_check")]
        if integrity != ["ok"]:
            problems.append(
                Problem(
                    "sqlite_integrity",
                    "SQLite integrity check failed: restore a backup (*.bak next to the library)",
                    len(integrity),
                    integrity,
                )
            )
        fk = conn.execute("PRAGMA foreign_key_check").fetchall()
        if fk:
            problems.append(
                Problem("foreign_keys", "rows pointing at rows that do not exist", len(fk), fk)
            )
        for kind, message, sql, fix in _RULES:
            rows = [r[0] for r in conn.execute(sql)]
            if rows:
                problems.append(Problem(kind, message, len(rows), rows, fix is not None))
                if repair and fix:
                    conn.execute(fix)
        stale = stale_people_stats(conn)
        if stale:
            problems.append(
                Problem(
                    "stale_person_figures",
                    "people whose face/photo counts or cover are out of date",
                    len(stale),
                    stale,
                    True,
                )
            )
        if repair and problems:
            refresh_people_stats(conn)
    return problems
