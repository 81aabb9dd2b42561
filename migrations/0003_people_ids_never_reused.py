"""person ids are never reused; enroll's reference photos and runs are marked

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-29 20:50:00.000000

1. `people` is re-created with AUTOINCREMENT, so SQLite never hands out an id again
   once it was used (before, a new person took the highest free id: a person made
   after a merge or a removal could get the id of one an old answer speaks of, and
   a skipped `who:5` silenced the new person 5). The counter (sqlite_sequence) starts
   at the highest person id the library ever mentions: a person's, a decision's, one
   inside a question id ("who:5", "same:3:7", "face:12:4") or a merge's details.

   Foreign keys are on and cannot be switched off inside a transaction, and dropping
   `people` then deletes its assignments (ON DELETE CASCADE) and clears the people of
   decisions (SET NULL); renaming it rewrites the children's REFERENCES. So, as 0002
   avoided batch mode: the rows of `assignments` and the person columns of `decisions`
   are copied to temporary tables and cleared, the old `people` is dropped (nothing
   left to cascade to), the new one takes its name (the children's REFERENCES
   "people" then name it) and the copies are written back.
   Nothing else changes: every person keeps its id, name, figures and dates.
2. `photos.reference`: a photo that only `enroll` indexed (outside every scanned
   root); photo queries leave it out. `scan_runs.kind`: "scan" or "enroll", so
   `status` reports the last scan, not the last enroll.
"""

import json
import re
from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0003"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_PEOPLE_COLUMNS = (
    "id, name, hidden, created_at, updated_at, face_count, photo_count, cover_face_id, quality_mid"
)
_QUESTION_PEOPLE = {"who": (1,), "same": (1, 2), "face": (2,)}


def _highest_person_id(conn: sa.Connection) -> int:
    """The highest person id the library has ever mentioned."""
    top = conn.execute(
        sa.text(
            "SELECT max(coalesce((SELECT max(id) FROM people), 0), "
            "coalesce((SELECT max(person_id) FROM decisions), 0), "
            "coalesce((SELECT max(other_person_id) FROM decisions), 0))"
        )
    ).scalar()
    best = int(top or 0)
    for question, details in conn.execute(
        sa.text(
            "SELECT question, details FROM decisions WHERE question IS NOT NULL OR details IS NOT NULL"
        )
    ):
        if question:
            parts = str(question).split(":")
            for i in _QUESTION_PEOPLE.get(parts[0], ()):
                if i < len(parts) and re.fullmatch(r"\d{1,18}", parts[i]):
                    best = max(best, int(parts[i]))
        if details:
            try:
                other = json.loads(details).get("other_id")
            except (ValueError, AttributeError):
                other = None
            if isinstance(other, int):
                best = max(best, other)
    return best


def upgrade() -> None:
    conn = op.get_bind()
    highest = _highest_person_id(conn)
    op.execute("CREATE TEMP TABLE keep_assignments AS SELECT * FROM assignments")
    op.execute(
        "CREATE TEMP TABLE keep_decision_people "
        "(id INTEGER PRIMARY KEY, person_id INTEGER, other_person_id INTEGER)"
    )
    op.execute(
        "INSERT INTO temp.keep_decision_people SELECT id, person_id, other_person_id "
        "FROM decisions WHERE person_id IS NOT NULL OR other_person_id IS NOT NULL"
    )
    op.execute(
        """CREATE TABLE people_new (
            id INTEGER NOT NULL,
            name TEXT,
            hidden BOOLEAN NOT NULL,
            created_at DATETIME NOT NULL,
            updated_at DATETIME NOT NULL,
            face_count INTEGER DEFAULT '0' NOT NULL,
            photo_count INTEGER DEFAULT '0' NOT NULL,
            cover_face_id INTEGER,
            quality_mid FLOAT,
            CONSTRAINT pk_people PRIMARY KEY (id AUTOINCREMENT),
            CONSTRAINT uq_people_name UNIQUE (name)
        )"""
    )
    op.execute(f"INSERT INTO people_new ({_PEOPLE_COLUMNS}) SELECT {_PEOPLE_COLUMNS} FROM people")
    # Dropping `people` deletes its rows one by one, each looking up the children that
    # refer to it: emptied first, and decisions.other_person_id (no index of its own)
    # indexed for the while, or that costs people x decisions row reads.
    op.execute("DELETE FROM assignments")
    op.execute(
        "UPDATE decisions SET person_id = NULL, other_person_id = NULL "
        "WHERE person_id IS NOT NULL OR other_person_id IS NOT NULL"
    )
    op.execute("CREATE INDEX ix_0003_decisions_other ON decisions (other_person_id)")
    op.execute("DROP TABLE people")
    op.execute("DROP INDEX ix_0003_decisions_other")
    op.execute("ALTER TABLE people_new RENAME TO people")
    op.execute("INSERT INTO assignments SELECT * FROM temp.keep_assignments")
    op.execute(  # not UPDATE ... FROM: SQLite before 3.33 has none
        "UPDATE decisions SET "
        "person_id = (SELECT k.person_id FROM temp.keep_decision_people k "
        "WHERE k.id = decisions.id), "
        "other_person_id = (SELECT k.other_person_id FROM temp.keep_decision_people k "
        "WHERE k.id = decisions.id) "
        "WHERE id IN (SELECT id FROM temp.keep_decision_people)"
    )
    op.execute("DROP TABLE temp.keep_assignments")
    op.execute("DROP TABLE temp.keep_decision_people")
    op.execute("DELETE FROM sqlite_sequence WHERE name = 'people'")
    conn.execute(
        sa.text("INSERT INTO sqlite_sequence (name, seq) VALUES ('people', :seq)"), {"seq": highest}
    )

    op.add_column(
        "photos", sa.Column("reference", sa.Boolean(), server_default="0", nullable=False)
    )
    op.add_column(
        "scan_runs", sa.Column("kind", sa.String(length=16), server_default="scan", nullable=False)
    )


def downgrade() -> None:
    op.execute("ALTER TABLE scan_runs DROP COLUMN kind")
    op.execute("ALTER TABLE photos DROP COLUMN reference")
    # people keeps AUTOINCREMENT: ids that are never reused are valid in 0002 too.
