"""Who is in this photo: identify, enroll, compare, draw.

Faces are found, aligned and embedded by the scan's own code (pipeline.faces), and
named against the library's people by the rule incremental assignment uses: the
nearest person by distance to its prototype faces, accepted when within the
assign threshold in force (learned from review answers, else configured). The
confidence is the calibrated P(same | distance) of those answers.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from ..core.calibration import Calibration
from ..core.config import Config
from ..core.errors import ImageError, NotFoundError, UsageError
from ..core.names import check_name
from ..core.types import FloatArray
from ..core.vectors import vectors_from_bytes
from ..core.words import person_label
from ..db.library import Library, sqlite_connection
from ..db.models import (
    Assignment,
    AssignmentOrigin,
    DecisionKind,
    Embedding,
    Face,
    Person,
    Photo,
    PhotoStatus,
    ScanRun,
)
from ..db.stats import refresh_people_stats
from . import thresholds
from .faces import FaceAnalyser, FaceData, vectors_of


@dataclass
class Gallery:
    """Prototype faces of the people a face can be named as."""

    protos: FloatArray
    owners: np.ndarray
    names: dict[int, str | None]
    threshold: float
    calibration: Calibration

    @classmethod
    def from_vectors(
        cls,
        vectors: FloatArray,
        people: np.ndarray,
        names: dict[int, str | None],
        threshold: float,
        calibration: Calibration,
    ) -> Gallery:
        """A gallery of up to 5 prototype faces per person; `people[i]` owns `vectors[i]`."""
        from ..core.cluster import person_prototypes

        if len(vectors):
            protos, owners = person_prototypes(vectors, people, k=5)
        else:
            protos, owners = np.zeros((0, 1), np.float32), np.zeros(0, np.int64)
        return cls(protos, owners, names, threshold, calibration)

    @classmethod
    def of_library(cls, library: Library, config: Config, embedder: str) -> Gallery:
        """Every visible person of the library (named or not) with their faces."""
        with library.new_session() as s:
            rows = s.execute(
                select(Assignment.person_id, Embedding.vector)
                .join(Embedding, Embedding.face_id == Assignment.face_id)
                .join(Face, Face.id == Assignment.face_id)
                .join(Photo, Photo.id == Face.photo_id)
                .join(Person, Person.id == Assignment.person_id)
                .where(
                    Embedding.embedder == embedder,
                    Photo.status == PhotoStatus.OK,
                    Person.hidden.is_(False),
                )
            ).all()
            names = {p.id: p.name for p in s.scalars(select(Person))}
            threshold = thresholds.current(s, config, embedder, "assign")
            calibration = thresholds.calibration(s, config, embedder, "assign")
        vectors = vectors_from_bytes(r[1] for r in rows) if rows else np.zeros((0, 1), np.float32)
        people = np.array([r[0] for r in rows], dtype=np.int64)
        return cls.from_vectors(vectors, people, names, threshold, calibration)

    def name(self, vectors: FloatArray) -> list[Match]:
        """The best person of each face, or unknown (person_id None)."""
        if len(vectors) == 0:
            return []
        if len(self.protos) == 0:
            return [Match(None, None, None, None, None) for _ in vectors]
        from ..core.cluster import nearest_prototypes

        best, dist = nearest_prototypes(
            vectors, self.protos, self.owners, prototypes_normalised=True
        )
        out = []
        for pid, d in zip(best.tolist(), dist.tolist(), strict=True):
            p = float(self.calibration.p_same(d))
            label = person_label(pid, self.names.get(pid))
            if d <= self.threshold:
                out.append(Match(pid, label, d, p, pid))
            else:
                out.append(Match(None, None, d, p, pid))
        return out


@dataclass
class Match:
    """The person a face is named as (or none), with the distance and calibrated confidence."""

    person_id: int | None
    """The person named, None when unknown."""
    person: str | None
    distance: float | None
    confidence: float | None
    nearest_id: int | None
    """The nearest person even when too far to be named."""


@dataclass
class FoundFace:
    """A face found in a photo: box and landmarks in pixels, detector score, quality, and match."""

    index: int
    box: list[float]
    landmarks: list[list[float]]
    score: float
    quality: float
    match: Match

    @property
    def label(self) -> str:
        """The matched person's name, or 'unknown'."""
        return self.match.person or "unknown"

    def as_json(self) -> dict[str, Any]:
        """The face as a JSON object (box and landmarks rounded to 0.1 pixel)."""
        m = self.match
        return {
            "face": self.index,
            "box": [round(v, 1) for v in self.box],
            "landmarks": [[round(x, 1), round(y, 1)] for x, y in self.landmarks],
            "score": round(self.score, 4),
            "quality": round(self.quality, 3),
            "person_id": m.person_id,
            "person": m.person,
            "distance": None if m.distance is None else round(m.distance, 4),
            "confidence": None if m.confidence is None else round(m.confidence, 4),
        }


@dataclass
class PhotoFaces:
    """The faces found in one photo, or the error that stopped it."""

    path: str
    width: int
    height: int
    faces: list[FoundFace] = field(default_factory=list)
    error: str | None = None

    def as_json(self) -> dict[str, Any]:
        """The photo and its faces as a JSON object (`error` only when there is one)."""
        out: dict[str, Any] = {
            "photo": self.path,
            "width": self.width,
            "height": self.height,
            "faces": [f.as_json() for f in self.faces],
        }
        if self.error:
            out["error"] = self.error
        return out


def _found(analyser: FaceAnalyser, faces: list[FaceData], matches: list[Match]) -> list[FoundFace]:
    return [
        FoundFace(
            i + 1,
            [float(v) for v in f.detection.box],
            [[float(x), float(y)] for x, y in f.detection.landmarks],
            float(f.detection.score),
            analyser.quality(f.signals),
            m,
        )
        for i, (f, m) in enumerate(zip(faces, matches, strict=True))
    ]


def identify(analyser: FaceAnalyser, gallery: Gallery, paths: list[str]) -> list[PhotoFaces]:
    """Every face of every photo, named against `gallery`; nothing is stored. A photo
    that cannot be read gets an `error` and the others go on."""
    out = []
    for path in paths:
        try:
            decoded, faces = analyser.analyse(path)
        except ImageError as exc:
            out.append(PhotoFaces(path, 0, 0, error=exc.reason))
            continue
        matches = gallery.name(vectors_of(faces))
        out.append(
            PhotoFaces(path, decoded.width, decoded.height, _found(analyser, faces, matches))
        )
    return out


# --- compare ---------------------------------------------------------------------------


@dataclass
class Pair:
    """Two faces of compared photos and their embedding distance."""

    a: FoundFace
    b: FoundFace
    distance: float
    same: bool = True
    """Judged the same person: within the threshold and chosen by the one-to-one
    matching (a face within the threshold of two faces is paired with one)."""

    def as_json(self) -> dict[str, Any]:
        """The pair as a JSON object (face indexes, distance, verdict and boxes)."""
        return {
            "a": self.a.index,
            "b": self.b.index,
            "distance": round(self.distance, 4),
            "same": self.same,
            "box_a": self.a.box,
            "box_b": self.b.box,
        }


def compare(
    analyser: FaceAnalyser, path_a: str, path_b: str, threshold: float
) -> tuple[PhotoFaces, PhotoFaces, list[Pair]]:
    """Every face of A against every face of B, nearest first: each pair with its
    cosine distance and `same` for the pairs judged the same person (within
    `threshold`, each face in at most one such pair: optimal one-to-one matching)."""
    sides = []
    for path in (path_a, path_b):
        try:
            decoded, faces = analyser.analyse(path)
        except ImageError as exc:
            raise UsageError(f"Cannot read {path!r}: {exc.reason}") from exc
        unknown = [Match(None, None, None, None, None)] * len(faces)
        pf = PhotoFaces(path, decoded.width, decoded.height, _found(analyser, faces, unknown))
        sides.append((pf, vectors_of(faces)))
    (pa, A), (pb, B) = sides
    pairs: list[Pair] = []
    if len(pa.faces) and len(pb.faces):
        from scipy.optimize import linear_sum_assignment

        A = A / np.linalg.norm(A, axis=1, keepdims=True)
        B = B / np.linalg.norm(B, axis=1, keepdims=True)
        D = 1.0 - A @ B.T
        rows, cols = linear_sum_assignment(D)
        same = {(i, j) for i, j in zip(rows.tolist(), cols.tolist(), strict=True)}
        for i in range(len(pa.faces)):
            for j in range(len(pb.faces)):
                d = float(D[i, j])
                pairs.append(
                    Pair(pa.faces[i], pb.faces[j], d, same=(i, j) in same and d <= threshold)
                )
        pairs.sort(key=lambda p: (p.distance, p.a.index, p.b.index))
    return pa, pb, pairs


# --- enroll ----------------------------------------------------------------------------


@dataclass
class FarFace:
    """A reference face farther from its person than the assign threshold in force."""

    face_id: int
    path: str
    distance: float
    threshold: float


@dataclass
class EnrollResult:
    """What an enroll did: the person, reference faces, people merged in, faces assigned."""

    person_id: int
    name: str
    created: bool
    faces: list[int]
    merged: list[int]
    assigned: int
    far: list[FarFace] = field(default_factory=list)
    """Reference faces enrolled with `force` although far from the person."""


def choose_face(path: str, faces: list[Face], face_number: int | None) -> Face:
    """The reference face of a photo: its only face, or number `face_number` (1 = the
    leftmost)."""
    ordered = sorted(faces, key=lambda f: (f.x, f.y))
    if not ordered:
        raise NotFoundError(f"No face found in {path!r}: choose a photo where the face is clear.")
    if face_number is not None:
        if not 1 <= face_number <= len(ordered):
            raise UsageError(
                f"{path!r} has {len(ordered)} face(s); --face must be 1 to {len(ordered)}."
            )
        return ordered[face_number - 1]
    if len(ordered) > 1:
        boxes = "; ".join(
            f"{i + 1}: at x={round(f.x)}, y={round(f.y)} ({round(f.w)} px)"
            for i, f in enumerate(ordered)
        )
        raise UsageError(
            f"{path!r} has {len(ordered)} faces ({boxes}). Say which with --face N "
            "(1 = leftmost), or run photogroup draw on it to see them numbered."
        )
    return ordered[0]


def enroll_faces(
    library: Library,
    config: Config,
    embedder: str,
    name: str,
    chosen: list[int],
    force: bool = False,
) -> EnrollResult:
    """`chosen` faces (already stored) become confirmed faces of the person `name`
    (created if needed; "mindy" extends Mindy). Then unnamed people within the merge
    threshold of them join the person, and waiting faces near them are assigned.

    A reference face farther from the person's other faces (those it extends and the
    other references) than the assign threshold in force is probably someone else:
    refused with the distance unless `force`."""
    from .people import (
        assign_new_faces,
        load_constraints,
        merge_people,
        named,
        record,
        share_a_photo,
    )
    from .review import face_distance, people_distance

    name = check_name(name)
    with library.session() as s:
        person = named(s, name)
        created = person is None
        if person is None:
            person = Person(name=name)
            s.add(person)
            s.flush()
        pid, name = person.id, person.name or name
        touched = {pid}
        for fid in chosen:
            current = s.get(Assignment, fid)
            previous = (
                None if current is None else {"person": current.person_id, "origin": current.origin}
            )
            if current is not None:
                touched.add(current.person_id)
            if current is None:
                s.add(Assignment(face_id=fid, person_id=pid, origin=AssignmentOrigin.ENROLLED))
            else:
                current.person_id, current.origin = pid, AssignmentOrigin.ENROLLED
            record(
                s,
                DecisionKind.FACE_IS_PERSON,
                face_id=fid,
                person_id=pid,
                value="enrolled",
                details={"previous": previous},
            )
        s.flush()
        threshold = thresholds.current(s, config, embedder, "assign")
        far = []
        for fid in chosen:
            d = face_distance(s, embedder, fid, pid)
            if d is not None and d > threshold:
                path = s.scalar(select(Photo.path).join(Face).where(Face.id == fid)) or "?"
                far.append(FarFace(fid, path, d, threshold))
        if far and not force:
            raise UsageError(
                "; ".join(
                    f"The face in {f.path} is at distance {f.distance:.2f} from {name}'s other "
                    f"faces, farther than the assign threshold {f.threshold:.2f}"
                    for f in far
                )
                + ": it is probably someone else. Check the photo (photogroup identify PHOTO), "
                "or add --force to enroll it anyway."
            )
        refresh_people_stats(sqlite_connection(s), touched)
        merge_t = thresholds.current(s, config, embedder, "merge")
        unnamed = [
            p.id
            for p in s.scalars(
                select(Person).where(Person.name.is_(None), Person.hidden.is_(False))
            )
        ]
        apart = load_constraints(s)
        close = [
            other
            for other in unnamed
            if (d := people_distance(s, embedder, pid, other)) is not None
            and d <= merge_t
            and not share_a_photo(s, pid, other)  # two faces of one photo: two people
            and not apart.apart(pid, other)  # the user said (or split) they are two
        ]
    for other in close:
        merge_people(library, pid, other, value="enrolled")
    assigned = assign_new_faces(library, config, embedder, regroup_if_needed=False).assigned
    return EnrollResult(pid, name, created, chosen, close, assigned, far)


def mark_references(library: Library, config: Config, run_id: int, paths: list[str]) -> None:
    """The scan run that indexed an enroll's photos is an "enroll" run (`status` shows
    the last real scan), and its photos that lie under no library root ([library]
    roots, or a root a scan was given) are reference photos: photo queries leave
    them out."""
    import json
    import os

    with library.session() as s:
        run = s.get(ScanRun, run_id)
        if run is not None:
            run.kind = "enroll"
            s.flush()
        roots = [os.path.abspath(os.path.expanduser(r)) for r in config.library.roots]
        for (listed,) in s.execute(select(ScanRun.roots).where(ScanRun.kind == "scan")).all():
            roots += [str(r) for r in (json.loads(listed) if isinstance(listed, str) else listed)]
        prefixes = [r.rstrip(os.sep) + os.sep for r in roots]
        changed = []
        for path in paths:
            photo = s.scalar(select(Photo).where(Photo.path == str(Path(path).resolve())))
            reference = photo is not None and not any(photo.path.startswith(p) for p in prefixes)
            if photo is not None and photo.reference != reference:
                photo.reference = reference
                changed.append(photo.id)
        if changed:
            s.flush()
            _refresh_people_in(s, changed)


def unmark_references(library: Library, walked: set[str]) -> None:
    """Reference photos that a scan found under its roots are library photos from now
    on (the scan calls this with the paths it walked; see mark_references)."""
    with library.session() as s:
        found = [
            pid
            for pid, path in s.execute(select(Photo.id, Photo.path).where(Photo.reference))
            if path in walked
        ]
        if not found:
            return
        s.execute(update(Photo).where(Photo.id.in_(found)).values(reference=False))
        _refresh_people_in(s, found)


def _refresh_people_in(s: Session, photo_ids: list[int]) -> None:
    """The figures (photo counts, covers) of the people with a face in these photos."""
    refresh_people_stats(
        sqlite_connection(s),
        s.scalars(
            select(Assignment.person_id)
            .join(Face, Face.id == Assignment.face_id)
            .where(Face.photo_id.in_(photo_ids))
        ),
    )


def reference_faces(library: Library, paths: list[str]) -> dict[str, list[Face]]:
    """The stored faces of each (scanned) reference photo, by path."""
    out: dict[str, list[Face]] = {}
    with library.new_session() as s:
        for path in paths:
            photo = s.scalar(select(Photo).where(Photo.path == str(Path(path).resolve())))
            out[path] = [] if photo is None else list(photo.faces)
    return out


# --- draw ------------------------------------------------------------------------------


def draw_faces(path: str, faces: list[FoundFace], out: Path) -> Path:
    """A copy of the upright photo with each face's box, landmarks and name."""
    from PIL import Image, ImageDraw

    from ..crawl.images import load_upright

    image = Image.fromarray(load_upright(path))
    pen = ImageDraw.Draw(image)
    width = max(2, round(max(image.size) / 500))
    for f in faces:
        x, y, w, h = f.box
        colour = (40, 200, 80) if f.match.person_id is not None else (230, 60, 60)
        pen.rectangle([x, y, x + w, y + h], outline=colour, width=width)
        r = max(2, width)
        for lx, ly in f.landmarks:
            pen.ellipse([lx - r, ly - r, lx + r, ly + r], fill=colour)
        label = f"{f.index}: {f.label}"
        tx, ty = x, y - 12 - width if y - 12 - width >= 0 else y + h + width
        left, top, right, bottom = pen.textbbox((tx, ty), label)
        pen.rectangle([left - 1, top - 1, right + 1, bottom + 1], fill=(0, 0, 0))
        pen.text((tx, ty), label, fill=colour)
    out.parent.mkdir(parents=True, exist_ok=True)
    if out.suffix.lower() in (".jpg", ".jpeg"):
        image.save(out, quality=95)
    else:
        image.save(out)
    return out
