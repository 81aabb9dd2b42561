"""The library schema (SQLAlchemy 2 declarative models).

Changing anything here needs a new revision in migrations/ (never edit a released one).

Design notes
- A photo is identified by its content hash as well as its path, so a moved or
  renamed file keeps its record, faces and everything said about them.
- Scans never delete: a file that disappeared is marked ``missing``.
- Faces keep their geometry in upright-image pixels; embeddings are stored per
  embedder id, so switching models re-embeds without detecting again.
- People, assignments (with their origin), user decisions (must-link /
  cannot-link and friends, never deleted, undone by timestamp), learned
  thresholds with history, and scan runs with per-file errors.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from ..core.clock import now

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    """Declarative base of every table, with the constraint naming convention."""

    metadata = MetaData(naming_convention=NAMING)


class PhotoStatus(StrEnum):
    """State after the last scan: ok, missing (file gone), or error (a scan failed on it)."""

    OK = "ok"
    MISSING = "missing"
    ERROR = "error"


class AssignmentOrigin(StrEnum):
    """How a face came to belong to a person."""

    AUTO = "auto"  # grouping or incremental assignment; may move on re-grouping
    CONFIRMED = "confirmed"  # the user said "yes, this is X": never moved automatically
    ENROLLED = "enrolled"  # a reference photo given by the user


class DecisionKind(StrEnum):
    """What a user decision says."""

    FACE_IS_PERSON = "face_is_person"  # must-link face -> person
    FACE_NOT_PERSON = "face_not_person"  # cannot-link face -> person
    SAME_PERSON = "same_person"  # must-link person <-> person (a merge)
    DIFFERENT_PEOPLE = "different_people"  # cannot-link person <-> person
    NAME = "name"
    HIDE = "hide"
    SKIP = "skip"  # a review question the user skipped (not asked again until undone)
    NOT_A_FACE = "not_a_face"  # a false detection: never grouped, asked about or shown
    SPLIT = "split"  # "Is this one person?" no: one side became a person of its own
    MOVE_FACES = "move_faces"  # the user moved faces to another (or a new) person


class ScanStatus(StrEnum):
    """How a scan run ended (running while it runs)."""

    RUNNING = "running"
    OK = "ok"
    PARTIAL = "partial"  # finished, some files failed
    FAILED = "failed"
    INTERRUPTED = "interrupted"


class Photo(Base):
    """A photo file: path, content hash, size and times, and the state of its last scan."""

    __tablename__ = "photos"

    id: Mapped[int] = mapped_column(primary_key=True)
    path: Mapped[str] = mapped_column(Text, unique=True)
    """Absolute path as a string (undecodable bytes kept with surrogateescape, see crawl)."""
    root: Mapped[str | None] = mapped_column(Text)
    content_hash: Mapped[str | None] = mapped_column(String(64), index=True)
    size: Mapped[int] = mapped_column(Integer)
    mtime_ns: Mapped[int] = mapped_column(Integer)
    width: Mapped[int | None] = mapped_column(Integer)
    """Upright (EXIF-rotated) width in pixels."""
    height: Mapped[int | None] = mapped_column(Integer)
    taken_at: Mapped[datetime | None] = mapped_column(DateTime, index=True)
    """EXIF capture time (DateTimeOriginal, local time as the camera wrote it)."""
    file_time: Mapped[datetime | None] = mapped_column(DateTime)
    status: Mapped[str] = mapped_column(String(16), default=PhotoStatus.OK, index=True)
    error: Mapped[str | None] = mapped_column(Text)
    detector: Mapped[str | None] = mapped_column(String(64))
    """Detector id and settings the faces were found with (None: not yet detected)."""
    first_seen_at: Mapped[datetime] = mapped_column(DateTime, default=now)
    indexed_at: Mapped[datetime | None] = mapped_column(DateTime)
    missing_since: Mapped[datetime | None] = mapped_column(DateTime)
    reference: Mapped[bool] = mapped_column(Boolean, default=False, server_default="0")
    """Indexed only as an `enroll` reference photo, outside every scanned root: left
    out of photo queries (see pipeline.query)."""

    faces: Mapped[list[Face]] = relationship(
        back_populates="photo", cascade="all, delete-orphan", passive_deletes=True
    )


class Face(Base):
    """A detected face: box (x, y, w, h) in upright full-size pixels, landmarks, score, quality."""

    __tablename__ = "faces"

    id: Mapped[int] = mapped_column(primary_key=True)
    photo_id: Mapped[int] = mapped_column(ForeignKey("photos.id", ondelete="CASCADE"), index=True)
    x: Mapped[float] = mapped_column(Float)
    y: Mapped[float] = mapped_column(Float)
    w: Mapped[float] = mapped_column(Float)
    h: Mapped[float] = mapped_column(Float)
    landmarks: Mapped[list[list[float]]] = mapped_column(JSON)
    """Five [x, y] points: left eye, right eye, nose, mouth left, mouth right."""
    score: Mapped[float] = mapped_column(Float)
    quality: Mapped[float | None] = mapped_column(Float)
    quality_signals: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=now)

    photo: Mapped[Photo] = relationship(back_populates="faces")
    embeddings: Mapped[list[Embedding]] = relationship(
        back_populates="face", cascade="all, delete-orphan", passive_deletes=True
    )
    assignment: Mapped[Assignment | None] = relationship(
        back_populates="face", cascade="all, delete-orphan", passive_deletes=True
    )


class Embedding(Base):
    """A face's embedding vector from one embedder."""

    __tablename__ = "embeddings"
    __table_args__ = (UniqueConstraint("face_id", "embedder"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    face_id: Mapped[int] = mapped_column(ForeignKey("faces.id", ondelete="CASCADE"))
    embedder: Mapped[str] = mapped_column(String(64), index=True)
    dim: Mapped[int] = mapped_column(Integer)
    vector: Mapped[bytes] = mapped_column(LargeBinary)
    """float32 little-endian, L2-normalised."""
    created_at: Mapped[datetime] = mapped_column(DateTime, default=now)

    face: Mapped[Face] = relationship(back_populates="embeddings")


class Person(Base):
    """A person: a named or unnamed group of faces, with counts kept for the listings."""

    __tablename__ = "people"
    __table_args__ = {"sqlite_autoincrement": True}
    """An id is never given twice (migration 0003): old answers never attach to a new
    person, and "Person 5" always means the same one."""

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str | None] = mapped_column(Text, unique=True)
    hidden: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=now)
    updated_at: Mapped[datetime] = mapped_column(DateTime, default=now, onupdate=now)
    # Kept up to date by photogroup.db.stats (read by `photogroup people`).
    face_count: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    photo_count: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    cover_face_id: Mapped[int | None] = mapped_column(Integer)
    """A face id without a foreign key (see migration 0002); readers LEFT JOIN it."""
    quality_mid: Mapped[float | None] = mapped_column(Float)


class Assignment(Base):
    """Which person a face belongs to (at most one), and who said so."""

    __tablename__ = "assignments"

    face_id: Mapped[int] = mapped_column(
        ForeignKey("faces.id", ondelete="CASCADE"), primary_key=True
    )
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id", ondelete="CASCADE"), index=True)
    origin: Mapped[str] = mapped_column(String(16), default=AssignmentOrigin.AUTO)
    probability: Mapped[float | None] = mapped_column(Float)
    assigned_at: Mapped[datetime] = mapped_column(DateTime, default=now)

    face: Mapped[Face] = relationship(back_populates="assignment")


class Decision(Base):
    """One answer of the user. Kept forever; `undone_at` marks an undone one."""

    __tablename__ = "decisions"
    __table_args__ = (Index("ix_decisions_kind_active", "kind", "undone_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))
    face_id: Mapped[int | None] = mapped_column(
        ForeignKey("faces.id", ondelete="CASCADE"), index=True
    )
    person_id: Mapped[int | None] = mapped_column(
        ForeignKey("people.id", ondelete="SET NULL"), index=True
    )
    other_person_id: Mapped[int | None] = mapped_column(
        ForeignKey("people.id", ondelete="SET NULL")
    )
    value: Mapped[str | None] = mapped_column(Text)
    """A name for NAME decisions; free text otherwise."""
    distance: Mapped[float | None] = mapped_column(Float)
    """Embedding distance behind the question, for learning thresholds."""
    embedder: Mapped[str | None] = mapped_column(String(64))
    question: Mapped[str | None] = mapped_column(String(128))
    """The question id it answered, so no question is asked twice."""
    details: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    """What the decision changed, so it can be undone."""
    created_at: Mapped[datetime] = mapped_column(DateTime, default=now)
    undone_at: Mapped[datetime | None] = mapped_column(DateTime)


class Threshold(Base):
    """A distance threshold of one embedder; every change is a new row (history)."""

    __tablename__ = "thresholds"
    __table_args__ = (Index("ix_thresholds_embedder_kind", "embedder", "kind", "created_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    embedder: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(32))
    """'assign' (face joins person) or 'merge' (two people are one)."""
    value: Mapped[float] = mapped_column(Float)
    source: Mapped[str] = mapped_column(String(16))
    """'config' or 'learned'."""
    n_answers: Mapped[int] = mapped_column(Integer, default=0)
    precision: Mapped[float | None] = mapped_column(Float)
    recall: Mapped[float | None] = mapped_column(Float)
    details: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=now)


class ScanRun(Base):
    """One scan (or enroll) run: when, over which roots, with which models, and its counts."""

    __tablename__ = "scan_runs"

    id: Mapped[int] = mapped_column(primary_key=True)
    started_at: Mapped[datetime] = mapped_column(DateTime, default=now)
    kind: Mapped[str] = mapped_column(String(16), default="scan", server_default="scan")
    """'scan', or 'enroll' (the reference photos of an enroll; not a "last scan")."""
    finished_at: Mapped[datetime | None] = mapped_column(DateTime)
    status: Mapped[str] = mapped_column(String(16), default=ScanStatus.RUNNING)
    roots: Mapped[list[str]] = mapped_column(JSON)
    embedder: Mapped[str | None] = mapped_column(String(64))
    detector: Mapped[str | None] = mapped_column(String(64))
    n_seen: Mapped[int] = mapped_column(Integer, default=0)
    n_new: Mapped[int] = mapped_column(Integer, default=0)
    n_changed: Mapped[int] = mapped_column(Integer, default=0)
    n_moved: Mapped[int] = mapped_column(Integer, default=0)
    n_unchanged: Mapped[int] = mapped_column(Integer, default=0)
    n_missing: Mapped[int] = mapped_column(Integer, default=0)
    n_failed: Mapped[int] = mapped_column(Integer, default=0)
    n_decoded: Mapped[int] = mapped_column(Integer, default=0)
    n_faces: Mapped[int] = mapped_column(Integer, default=0)
    n_embedded: Mapped[int] = mapped_column(Integer, default=0)
    message: Mapped[str | None] = mapped_column(Text)
    pid: Mapped[int | None] = mapped_column(Integer)

    errors: Mapped[list[ScanError]] = relationship(
        back_populates="run", cascade="all, delete-orphan", passive_deletes=True
    )


class ScanError(Base):
    """A file that a scan run could not process, with the kind of error and its message."""

    __tablename__ = "scan_errors"

    id: Mapped[int] = mapped_column(primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("scan_runs.id", ondelete="CASCADE"), index=True)
    path: Mapped[str] = mapped_column(Text)
    kind: Mapped[str] = mapped_column(String(32))
    message: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=now)

    run: Mapped[ScanRun] = relationship(back_populates="errors")


class XmpPhoto(Base):
    """When a photo's XMP (embedded and sidecars) was last read, and in what state."""

    __tablename__ = "xmp_photos"

    photo_id: Mapped[int] = mapped_column(
        ForeignKey("photos.id", ondelete="CASCADE"), primary_key=True
    )
    fingerprint: Mapped[str] = mapped_column(String(64))
    """sha256 of the photo's content hash and its sidecars' names, sizes and times
    when its XMP was last read ("" when never read)."""
    read_at: Mapped[datetime] = mapped_column(DateTime, default=now)
    exported: Mapped[str | None] = mapped_column(String(64))
    """sha256 of the faces and names `export xmp` last wrote for the photo."""


class XmpRegion(Base):
    """A face region read from XMP, and what it added to the library (so that a
    region removed from the file removes only that)."""

    __tablename__ = "xmp_regions"

    id: Mapped[int] = mapped_column(primary_key=True)
    photo_id: Mapped[int] = mapped_column(ForeignKey("photos.id", ondelete="CASCADE"), index=True)
    source: Mapped[str] = mapped_column(Text)
    """The file it was read from: the photo itself or a sidecar."""
    format: Mapped[str] = mapped_column(String(8))
    """"mwg" (Metadata Working Group) or "mp" (Microsoft)."""
    name: Mapped[str | None] = mapped_column(Text)
    x: Mapped[float] = mapped_column(Float)
    y: Mapped[float] = mapped_column(Float)
    w: Mapped[float] = mapped_column(Float)
    h: Mapped[float] = mapped_column(Float)
    """The region in pixels of the upright, full-size photo."""
    face_id: Mapped[int | None] = mapped_column(
        ForeignKey("faces.id", ondelete="SET NULL"), index=True
    )
    """The face it lies on: a detected one, or one made from the region."""
    made_face: Mapped[bool] = mapped_column(Boolean, default=False)
    """True when no detector found the face and it was made from the region."""
    decision_id: Mapped[int | None] = mapped_column(ForeignKey("decisions.id", ondelete="SET NULL"))
    """The face_is_person decision the region's name made (origin "xmp")."""
    created_at: Mapped[datetime] = mapped_column(DateTime, default=now)
