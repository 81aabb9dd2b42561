"""Per-person figures kept on the `people` row (faces, photos, cover face, quality).

`photogroup people` reads these instead of aggregating every assignment, so that
listing people costs the same on 100 and on 1M faces. Every write that moves faces
between people, or changes which photos are present, calls `refresh_people_stats`
(for the people it touched, or for everyone); `photogroup check` and the tests
compare them with a fresh computation.

Plain SQL through the sqlite3 connection, so the read path and the SQLAlchemy
write path share it.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

# Faces of present photos assigned to the person being updated (correlated on people.id).
_OF_PERSON = (
    "FROM assignments a JOIN faces f ON f.id = a.face_id JOIN photos ph ON ph.id = f.photo_id "
    "WHERE a.person_id = people.id AND ph.status = 'ok'"
)

# The cover: a face the user confirmed first, then the largest confident one. Photos
# counts the library's photos only (not enroll's reference photos, as `photos` does).
_STATS = f"""
UPDATE people SET
  face_count = (SELECT count(*) {_OF_PERSON}),
  photo_count = (SELECT count(DISTINCT f.photo_id) {_OF_PERSON} AND NOT ph.reference),
  cover_face_id = (SELECT f.id {_OF_PERSON}
                   ORDER BY a.origin != 'auto' DESC, f.score * f.w DESC, f.id LIMIT 1)
"""

# Quality of the face in the middle (index n // 2 of the ascending order): the person
# is "mostly low quality" (more than half its faces under a bar) exactly when this
# value is under that bar, whatever bar the configuration sets later.
_MIDDLE = f"""
UPDATE people SET
  quality_mid = (SELECT q FROM (
      SELECT coalesce(f.quality, 1.0) AS q,
             row_number() OVER (ORDER BY coalesce(f.quality, 1.0)) - 1 AS i
      {_OF_PERSON})
    WHERE i = people.face_count / 2)
"""

STATS_COLUMNS = ("face_count", "photo_count", "cover_face_id", "quality_mid")


def _where(ids: list[int] | None) -> tuple[str, list[Any]]:
    if ids is None:
        return "", []
    return f" WHERE id IN ({', '.join('?' * len(ids))})", list(ids)


def refresh_people_stats(conn: Any, person_ids: Iterable[int] | None = None) -> None:
    """Recompute the figures of `person_ids` (None: everyone) in the caller's transaction.

    `conn` is a sqlite3 connection (`photogroup.db.library.sqlite_connection(session)`
    gives a SQLAlchemy session's own).
    """
    ids = None if person_ids is None else sorted({int(i) for i in person_ids})
    if ids is not None and not ids:
        return
    chunks = [None] if ids is None else [ids[i : i + 500] for i in range(0, len(ids), 500)]
    for chunk in chunks:
        where, params = _where(chunk)
        conn.execute(_STATS + where, params)
        conn.execute(_MIDDLE + where, params)


def stale_people_stats(conn: Any) -> list[int]:
    """Ids of people whose stored figures differ from a fresh computation (for checks)."""
    conn.execute("SAVEPOINT stats_check")
    try:
        before = {
            r[0]: r[1:] for r in conn.execute(f"SELECT id, {', '.join(STATS_COLUMNS)} FROM people")
        }
        refresh_people_stats(conn)
        after = {
            r[0]: r[1:] for r in conn.execute(f"SELECT id, {', '.join(STATS_COLUMNS)} FROM people")
        }
    finally:
        conn.execute("ROLLBACK TO stats_check")
        conn.execute("RELEASE stats_check")
    return sorted(pid for pid in after if before.get(pid) != after[pid])
