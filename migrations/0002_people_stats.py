"""people stats: face and photo counts, cover face and middle quality on each person

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23 13:24:32.224084

Plain ALTER TABLE ADD/DROP COLUMN, not batch mode: a batch migration re-creates
the table, and dropping `people` with foreign keys on would cascade to assignments.
`cover_face_id` has no foreign key for the same reason (readers join it with LEFT
JOIN; the next refresh replaces a cover whose face is gone).
The figures are filled here with the SQL of this revision (a migration must not
change meaning when photogroup.db.stats changes later).
"""

from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_OF_PERSON = (
    "FROM assignments a JOIN faces f ON f.id = a.face_id JOIN photos ph ON ph.id = f.photo_id "
    "WHERE a.person_id = people.id AND ph.status = 'ok'"
)


def upgrade() -> None:
    op.add_column(
        "people", sa.Column("face_count", sa.Integer(), server_default="0", nullable=False)
    )
    op.add_column(
        "people", sa.Column("photo_count", sa.Integer(), server_default="0", nullable=False)
    )
    op.add_column("people", sa.Column("cover_face_id", sa.Integer(), nullable=True))
    op.add_column("people", sa.Column("quality_mid", sa.Float(), nullable=True))
    op.execute(
        f"""UPDATE people SET
          face_count = (SELECT count(*) {_OF_PERSON}),
          photo_count = (SELECT count(DISTINCT f.photo_id) {_OF_PERSON}),
          cover_face_id = (SELECT f.id {_OF_PERSON}
                           ORDER BY a.origin != 'auto' DESC, f.score * f.w DESC, f.id LIMIT 1)"""
    )
    op.execute(
        f"""UPDATE people SET
          quality_mid = (SELECT q FROM (
              SELECT coalesce(f.quality, 1.0) AS q,
                     row_number() OVER (ORDER BY coalesce(f.quality, 1.0)) - 1 AS i
              {_OF_PERSON})
            WHERE i = people.face_count / 2)"""
    )


def downgrade() -> None:
    for column in ("quality_mid", "cover_face_id", "photo_count", "face_count"):
        op.execute(f"ALTER TABLE people DROP COLUMN {column}")
