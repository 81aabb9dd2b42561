"""XMP face regions: what was read from each photo's XMP, and what it added

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-29 21:00:00.000000

Two new tables, nothing else changes. `xmp_photos` remembers the state of a
photo's XMP when it was last read (a changed sidecar is read again) and what
`export xmp` last wrote for it (`[xmp] write` writes only what changed);
`xmp_regions` keeps each region with the face it lies on and the decision its
name made, so that a region removed from the file removes only what it added.
"""

from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0004"
down_revision: str | Sequence[str] | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "xmp_photos",
        sa.Column("photo_id", sa.Integer(), nullable=False),
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        sa.Column("read_at", sa.DateTime(), nullable=False),
        sa.Column("exported", sa.String(length=64), nullable=True),
        sa.ForeignKeyConstraint(
            ["photo_id"],
            ["photos.id"],
            name=op.f("fk_xmp_photos_photo_id_photos"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("photo_id", name=op.f("pk_xmp_photos")),
    )
    op.create_table(
        "xmp_regions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("photo_id", sa.Integer(), nullable=False),
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column("format", sa.String(length=8), nullable=False),
        sa.Column("name", sa.Text(), nullable=True),
        sa.Column("x", sa.Float(), nullable=False),
        sa.Column("y", sa.Float(), nullable=False),
        sa.Column("w", sa.Float(), nullable=False),
        sa.Column("h", sa.Float(), nullable=False),
        sa.Column("face_id", sa.Integer(), nullable=True),
        sa.Column("made_face", sa.Boolean(), nullable=False),
        sa.Column("decision_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["decision_id"],
            ["decisions.id"],
            name=op.f("fk_xmp_regions_decision_id_decisions"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["face_id"],
            ["faces.id"],
            name=op.f("fk_xmp_regions_face_id_faces"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["photo_id"],
            ["photos.id"],
            name=op.f("fk_xmp_regions_photo_id_photos"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_xmp_regions")),
    )
    op.create_index(op.f("ix_xmp_regions_face_id"), "xmp_regions", ["face_id"])
    op.create_index(op.f("ix_xmp_regions_photo_id"), "xmp_regions", ["photo_id"])


def downgrade() -> None:
    op.drop_index(op.f("ix_xmp_regions_photo_id"), table_name="xmp_regions")
    op.drop_index(op.f("ix_xmp_regions_face_id"), table_name="xmp_regions")
    op.drop_table("xmp_regions")
    op.drop_table("xmp_photos")
