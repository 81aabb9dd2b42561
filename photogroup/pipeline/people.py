"""People: grouping faces, keeping identities stable, and the user's edits.

Rules the grouping keeps, whatever the clustering algorithm says:
- a face the user confirmed (or enrolled) never moves;
- a face the user rejected for a person never returns to that person;
- two people with different names, or declared different, are never merged;
- a person keeps its id and name while its group continues (groups are matched
  to people by the faces they share);
- a named or hidden person is never deleted, even with no faces left.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from ..core.clock import now
from ..core.config import Config
from ..core.errors import UsageError
from ..core.names import check_name, name_key
from ..core.types import FloatArray
from ..core.vectors import vectors_from_bytes
from ..core.words import person_label, plural
from ..db.library import Library, sqlite_connection
from ..db.models import (
    Assignment,
    AssignmentOrigin,
    Decision,
    DecisionKind,
    Embedding,
    Face,
    Person,
    Photo,
    PhotoStatus,
)
from ..db.stats import refresh_people_stats
from . import thresholds
from .query import match_person

FIXED_ORIGINS = (AssignmentOrigin.CONFIRMED, AssignmentOrigin.ENROLLED)


# --- loading ---------------------------------------------------------------------


@dataclass
class FaceSet:
    """The embedded faces of present photos, with their current assignments."""

    face_ids: np.ndarray
    vectors: FloatArray
    person: np.ndarray
    """Current person id per face, -1 when unassigned."""
    fixed: np.ndarray
    """True where the user confirmed or enrolled the assignment."""
    eligible: np.ndarray | None = None
    """True where the face passes the quality gate (or is fixed); None: all do."""
    photo: np.ndarray | None = None
    """The photo id of every face (two faces of one photo are two people)."""

    def __len__(self) -> int:
        return len(self.face_ids)

    @property
    def gate(self) -> np.ndarray:
        """True where a face may start or join a person (`eligible`; all when None)."""
        return self.eligible if self.eligible is not None else np.ones(len(self), bool)


def _eligible(min_quality: float) -> Any:
    """Faces good enough to start or join a person automatically (quality gate)."""
    return Face.quality.is_(None) | (Face.quality >= min_quality)


def not_faces() -> Any:
    """Ids of the detections the user said are not faces (active decisions): they are
    never grouped, assigned, asked about or shown as a person's face."""
    return select(Decision.face_id).where(
        Decision.kind == DecisionKind.NOT_A_FACE,
        Decision.undone_at.is_(None),
        Decision.face_id.is_not(None),
    )


def load_faces(
    s: Session, embedder: str, min_quality: float = 0.0, gated_too: bool = False
) -> FaceSet:
    """Faces of present photos with a vector of `embedder` that pass the quality gate
    (faces the user assigned are always included). With `gated_too`, the faces under
    the gate are loaded as well, marked in `eligible`. Detections the user called
    "not a face" are never loaded."""
    query = (
        select(
            Face.id,
            Embedding.vector,
            Assignment.person_id,
            Assignment.origin,
            Face.quality,
            Face.photo_id,
        )
        .join(Embedding, (Embedding.face_id == Face.id) & (Embedding.embedder == embedder))
        .join(Photo, Photo.id == Face.photo_id)
        .outerjoin(Assignment, Assignment.face_id == Face.id)
        .where(Photo.status == PhotoStatus.OK, Face.id.not_in(not_faces()))
        .order_by(Face.id)
    )
    if not gated_too:
        query = query.where(_eligible(min_quality) | Assignment.origin.in_(FIXED_ORIGINS))
    rows = s.execute(query).all()
    if not rows:
        return FaceSet(
            np.zeros(0, np.int64),
            np.zeros((0, 0), np.float32),
            np.zeros(0, np.int64),
            np.zeros(0, bool),
            photo=np.zeros(0, np.int64),
        )
    face_ids = np.fromiter((r[0] for r in rows), np.int64, len(rows))
    matrix = vectors_from_bytes(r[1] for r in rows)
    person = np.fromiter((r[2] if r[2] is not None else -1 for r in rows), np.int64, len(rows))
    fixed = np.fromiter((r[3] in FIXED_ORIGINS for r in rows), bool, len(rows))
    eligible = fixed | np.fromiter(
        (r[4] is None or r[4] >= min_quality for r in rows), bool, len(rows)
    )
    photo = np.fromiter((r[5] for r in rows), np.int64, len(rows))
    return FaceSet(face_ids, matrix, person, fixed, eligible, photo)


@dataclass
class Constraints:
    """The user's active decisions, as the grouping needs them."""

    rejected: dict[int, set[int]] = field(default_factory=lambda: defaultdict(set))
    """face id -> people it must never join."""
    different: set[frozenset[int]] = field(default_factory=set)
    """pairs of people declared different."""

    def allows(self, face_id: int, person_id: int) -> bool:
        return person_id not in self.rejected.get(face_id, ())

    def apart(self, a: int, b: int) -> bool:
        return frozenset((a, b)) in self.different


def load_constraints(s: Session) -> Constraints:
    """What the active decisions forbid: a face rejected for a person (an answer, or
    faces a move or a split took out of it) never returns to it; people declared
    different (or split apart) are never merged."""
    c = Constraints()
    rows = s.execute(
        select(
            Decision.kind,
            Decision.face_id,
            Decision.person_id,
            Decision.other_person_id,
            Decision.details,
        ).where(
            Decision.undone_at.is_(None),
            Decision.kind.in_(
                [
                    DecisionKind.FACE_NOT_PERSON,
                    DecisionKind.DIFFERENT_PEOPLE,
                    DecisionKind.MOVE_FACES,
                    DecisionKind.SPLIT,
                    DecisionKind.SAME_PERSON,
                ]
            ),
        )
    ).all()
    # A person merged into another lives on as that one: what was forbidden for the
    # first (faces moved out of it, held in a decision's details) holds for the second.
    merged_into = {
        int(d["other_id"]): int(pid)
        for kind, _f, pid, _o, d in rows
        if kind == DecisionKind.SAME_PERSON and pid is not None and (d or {}).get("other_id")
    }

    def now_called(pid: int) -> int:
        seen = set()
        while pid in merged_into and pid not in seen:
            seen.add(pid)
            pid = merged_into[pid]
        return pid

    for kind, face_id, person_id, other, details in rows:
        if kind == DecisionKind.FACE_NOT_PERSON and face_id is not None and person_id is not None:
            c.rejected[face_id].add(person_id)
        elif kind == DecisionKind.DIFFERENT_PEOPLE and person_id and other:
            c.different.add(frozenset((person_id, other)))
        elif kind == DecisionKind.MOVE_FACES:
            for f, p, _origin in (details or {}).get("previous", []):
                if p is not None and p != person_id:
                    c.rejected[int(f)] |= {int(p), now_called(int(p))}
        elif kind == DecisionKind.SPLIT and person_id is not None:
            for f in (details or {}).get("faces", []):
                c.rejected[int(f)].add(person_id)
            if other:
                c.different.add(frozenset((person_id, other)))
    return c


#: Decisions that make a person the user's own work: such a person keeps its id and
#: every cluster that is mostly its own. Other people follow the grouping.
_USER_SHAPED = (DecisionKind.SAME_PERSON, DecisionKind.SPLIT, DecisionKind.MOVE_FACES)


def touched_people(s: Session, faces: FaceSet) -> set[int]:
    """People a user action shaped: named, hidden, holding a confirmed or enrolled face,
    or made by a merge, split or move of the user's."""
    out = {int(p) for p in faces.person[faces.fixed]}
    out |= set(s.scalars(select(Person.id).where(Person.name.is_not(None) | Person.hidden)))
    for pid, other in s.execute(
        select(Decision.person_id, Decision.other_person_id).where(
            Decision.undone_at.is_(None), Decision.kind.in_(_USER_SHAPED)
        )
    ):
        out |= {p for p in (pid, other) if p is not None}
    return out


def share_a_photo(s: Session, a: int, b: int) -> bool:
    """Whether people `a` and `b` both have a face in some photo (then they are two
    people: nothing automatic merges them; the user still may)."""
    fa, fb = Face.__table__.alias("fa"), Face.__table__.alias("fb")
    aa, ab = Assignment.__table__.alias("aa"), Assignment.__table__.alias("ab")
    query = (
        select(fa.c.photo_id)
        .join(aa, aa.c.face_id == fa.c.id)
        .join(fb, fb.c.photo_id == fa.c.photo_id)
        .join(ab, ab.c.face_id == fb.c.id)
        .where(aa.c.person_id == a, ab.c.person_id == b)
        .limit(1)
    )
    return s.execute(query).first() is not None


def library_watermark(s: Session) -> tuple[Any, ...]:
    """A fingerprint of everything a user can change (decisions, assignments, people).

    Automatic work that read the library compares it again inside its write
    transaction: when it differs, a user acted in between and the work is redone,
    so an answer is never overwritten by a grouping computed before it."""
    conn = sqlite_connection(s)
    return (
        *conn.execute("SELECT coalesce(max(id), 0), count(undone_at) FROM decisions").fetchone(),
        *conn.execute(
            "SELECT count(*), total((face_id % 1000003) * (person_id + 7)), "
            "total(origin = 'confirmed' OR origin = 'enrolled') FROM assignments"
        ).fetchone(),
        *conn.execute(
            "SELECT count(*), coalesce(max(id), 0), total(length(name)), total(hidden) FROM people"
        ).fetchone(),
        *conn.execute("SELECT count(*), coalesce(max(id), 0) FROM faces").fetchone(),
        *conn.execute("SELECT count(*), total(status = 'ok') FROM photos").fetchone(),
    )


# --- grouping ----------------------------------------------------------------------


@dataclass
class GroupingSummary:
    faces: int = 0
    clusters: int = 0
    people_kept: int = 0
    groups_continued: int = 0
    """Groups that continue a person (a person may continue in more than one)."""
    people_new: int = 0
    people_removed: int = 0
    assigned: int = 0
    unassigned: int = 0
    moved: int = 0
    seconds: float = 0.0
    attempts: int = 0
    """Groupings computed: more than one when a user answered while one was computed."""


def _match_clusters(
    labels: np.ndarray, faces: FaceSet, touched: set[int] | None = None
) -> dict[int, int]:
    """New cluster label -> existing person id, by shared faces.

    A person continues in the cluster holding most of its faces (the largest piece
    keeps the id). Only a person a user shaped (`touched`: a name, a confirmed
    face, a merge of the user's) may take more clusters, each of which must be
    mostly its own; a person made only by an earlier grouping follows the new one,
    and its other pieces become new people. A cluster is never matched to two people.
    """
    touched = touched or set()
    grouped = labels >= 0
    if not grouped.any():
        return {}
    sizes = np.bincount(labels[grouped])
    known = grouped & (faces.person >= 0)
    pair, counts = np.unique(
        np.column_stack([labels[known], faces.person[known]]), axis=0, return_counts=True
    )
    pairs = [
        (int(n), int(n) / int(sizes[label]), int(label), int(pid))
        for (label, pid), n in zip(pair.tolist(), counts.tolist(), strict=True)
    ]
    pairs.sort(key=lambda t: (-t[0], -t[1], t[2], t[3]))
    mapping: dict[int, int] = {}
    taken: set[int] = set()
    for _n, share, label, pid in pairs:
        if label in mapping:
            continue
        if pid in taken and (pid not in touched or share <= 0.5):
            continue
        mapping[label] = pid
        taken.add(pid)
    return mapping


@dataclass
class _GroupingState:
    """What a grouping reads: faces, decisions, people, the assign threshold."""

    faces: FaceSet
    constraints: Constraints
    names: dict[int, str | None]
    touched: set[int]
    threshold: float
    watermark: tuple[Any, ...]


def _read_state(s: Session, config: Config, embedder: str) -> _GroupingState:
    # Faces under the quality gate are grouped too (they shape the densities
    # HDBSCAN sees; leaving them out lowered BCubed F on lfw_devtrain from 0.9365 to
    # 0.9313), then taken out of every group: they never start or join a person.
    from ..db.library import begin_read

    begin_read(s)  # every read below sees one snapshot, the watermark's
    watermark = library_watermark(s)
    faces = load_faces(s, embedder, config.quality.min_quality, gated_too=True)
    return _GroupingState(
        faces=faces,
        constraints=load_constraints(s),
        names={p.id: p.name for p in s.scalars(select(Person))},
        touched=touched_people(s, faces),
        threshold=thresholds.current(s, config, embedder, "assign"),
        watermark=watermark,
    )


#: Person ids below this in a plan stand for people the write will create.
_NEW = -2


def _fit_labels(make: Callable[[], Any], faces: FaceSet) -> np.ndarray:
    import inspect

    clusterer = make()
    if faces.photo is not None and "groups" in inspect.signature(clusterer.fit).parameters:
        clusterer.fit(faces.vectors, groups=faces.photo)
    else:
        clusterer.fit(faces.vectors)
    return np.asarray(clusterer.labels_, dtype=np.int64)


def _plan(
    state: _GroupingState, make: Callable[[], Any], config: Config, summary: GroupingSummary
) -> np.ndarray:
    """The person of every face after grouping: existing ids, -1 for none, and
    _NEW - label for a cluster that becomes a new person."""
    faces = state.faces
    eligible = faces.gate
    free = ~faces.fixed & eligible
    labels = np.full(len(faces), -1, dtype=np.int64)
    if len(faces) >= 2:
        labels = _fit_labels(make, faces)
    labels[~eligible] = -1
    # a group needs min_cluster_size eligible faces to stay a group
    ids, counts = np.unique(labels[labels >= 0], return_counts=True)
    labels[np.isin(labels, ids[counts < config.people.min_cluster_size])] = -1
    summary.clusters = int(len(set(labels.tolist()) - {-1}))
    mapping = _match_clusters(labels, faces, state.touched)
    summary.people_kept = len(set(mapping.values()))
    summary.groups_continued = len(mapping)

    new_person = np.full(len(faces), -1, dtype=np.int64)
    new_person[faces.fixed] = faces.person[faces.fixed]
    if (labels >= 0).any():
        target = _NEW - np.arange(int(labels.max()) + 1, dtype=np.int64)
        for label, pid in mapping.items():
            target[label] = pid
        grouped = free & (labels >= 0)
        new_person[grouped] = target[labels[grouped]]

    # Noise: a face stays with its person while it is close to the person's group.
    protos = _prototypes(faces.vectors, new_person)
    for i in np.nonzero((labels == -1) & free & (faces.person >= 0))[0]:
        pid = int(faces.person[i])
        if pid in protos and float(1.0 - (protos[pid] @ faces.vectors[i]).max()) <= state.threshold:
            new_person[i] = pid

    _enforce_constraints(faces, new_person, state.constraints, state.names, state.touched)
    one_face_per_photo(faces, new_person)
    return new_person


def one_face_per_photo(faces: FaceSet, new_person: np.ndarray) -> int:
    """Two faces of one photo are two people: where a person holds several faces of
    a photo, the faces the user confirmed stay and of the others only the one
    nearest the person's mean stays (none when a confirmed one is there); the rest
    become unassigned. Returns how many faces left. (A photo of a photo or a mirror:
    the user confirms both faces, and confirmed faces are never moved.)"""
    if faces.photo is None or len(faces) == 0:
        return 0
    assigned = np.flatnonzero(new_person != -1)
    if len(assigned) < 2:
        return 0
    key_p, key_q = faces.photo[assigned], new_person[assigned]
    order = np.lexsort((key_q, key_p))
    kp, kq = key_p[order], key_q[order]
    same = (kp[1:] == kp[:-1]) & (kq[1:] == kq[:-1])
    if not same.any():
        return 0
    starts = np.flatnonzero(np.r_[True, ~same])
    ends = np.r_[starts[1:], len(order)]
    dropped = 0
    means: dict[int, FloatArray] = {}
    for a, b in zip(starts, ends, strict=True):
        if b - a < 2:
            continue
        idx = assigned[order[a:b]]
        pid = int(new_person[idx[0]])
        keep = idx[faces.fixed[idx]]
        if len(keep) == 0:
            if pid not in means:
                members = faces.vectors[new_person == pid]
                m = members.mean(axis=0)
                means[pid] = m / max(float(np.linalg.norm(m)), 1e-12)
            keep = idx[[int(np.argmax(faces.vectors[idx] @ means[pid]))]]
        drop = np.setdiff1d(idx, keep)
        drop = drop[~faces.fixed[drop]]
        new_person[drop] = -1
        dropped += len(drop)
    return dropped


def regroup(
    library: Library,
    config: Config,
    embedder: str,
    clusterer_factory: Callable[[], Any] | None = None,
    *,
    after_read: Callable[[], None] | None = None,
    attempts: int = 3,
) -> GroupingSummary:
    """Group every eligible face again, keeping people stable and obeying decisions.

    The grouping is computed outside any write transaction (seconds on a large
    library), then written inside one that starts with BEGIN IMMEDIATE and first
    checks that nobody changed decisions, assignments or people since the read
    (`library_watermark`). If someone did (an answer given on the page while a scan
    groups), the grouping is computed again from the new state; the last attempt
    reads, computes and writes under the write lock. So a user's answer always wins.
    `after_read` is called between the read and the write (tests use it).
    """
    import time

    from ..db.library import begin_write

    start = time.monotonic()
    make = clusterer_factory or (lambda: make_clusterer(config))
    for attempt in range(attempts):
        summary = GroupingSummary(attempts=attempt + 1)
        locked = attempt == attempts - 1
        with library.session() as s:
            if locked:
                begin_write(s)
            state = _read_state(s, config, embedder)
            if locked and state.faces.gate.any():
                _write(s, state, _plan(state, make, config, summary), config, summary)
            if locked or not state.faces.gate.any():
                break
        new_person = _plan(state, make, config, summary)
        if after_read is not None:
            after_read()
        with library.session() as s:
            begin_write(s)
            if library_watermark(s) != state.watermark:
                continue  # a user acted meanwhile: group again from what is there now
            _write(s, state, new_person, config, summary)
            break
    summary.seconds = time.monotonic() - start
    return summary


def _write(
    s: Session,
    state: _GroupingState,
    new_person: np.ndarray,
    config: Config,
    summary: GroupingSummary,
) -> None:
    """Write the difference between the faces' people as read and as planned."""
    faces = state.faces
    eligible = faces.gate
    free = ~faces.fixed & eligible
    summary.faces = int(eligible.sum())
    created: dict[int, int] = {}
    # new people numbered in the clusters' order (largest first)
    for placeholder in sorted({int(p) for p in new_person[free] if p <= _NEW}, reverse=True):
        person = Person()
        s.add(person)
        s.flush()
        created[placeholder] = person.id
    summary.people_new = len(created)
    if created:
        for i in np.flatnonzero(new_person <= _NEW):
            new_person[i] = created.get(int(new_person[i]), -1)
    to_delete: list[int] = []
    for i in np.nonzero(free)[0]:
        fid, old, new = int(faces.face_ids[i]), int(faces.person[i]), int(new_person[i])
        if old == new:
            continue
        if old >= 0 and new < 0:
            to_delete.append(fid)
        elif old < 0:
            s.add(Assignment(face_id=fid, person_id=new, origin=AssignmentOrigin.AUTO))
        else:
            s.execute(
                update(Assignment)
                .where(Assignment.face_id == fid)
                .values(person_id=new, origin=AssignmentOrigin.AUTO, assigned_at=now())
            )
            summary.moved += 1
    for chunk in range(0, len(to_delete), 500):
        s.execute(delete(Assignment).where(Assignment.face_id.in_(to_delete[chunk : chunk + 500])))
    # Auto assignments of faces that are no longer eligible (missing photos, under the
    # quality bar, or not a face).
    eligible_ids = (
        select(Face.id)
        .join(Photo)
        .where(
            Photo.status == PhotoStatus.OK,
            _eligible(config.quality.min_quality),
            Face.id.not_in(not_faces()),
        )
    )
    s.execute(
        delete(Assignment).where(
            Assignment.origin == AssignmentOrigin.AUTO, Assignment.face_id.not_in(eligible_ids)
        )
    )
    # Faces joined one by one (they carry the distance-based probability) count
    # towards the next regrouping until a grouping has seen them.
    s.execute(
        update(Assignment)
        .where(Assignment.origin == AssignmentOrigin.AUTO, Assignment.probability.is_not(None))
        .values(probability=None)
    )
    summary.people_removed = _drop_empty_people(s)
    refresh_people_stats(sqlite_connection(s))
    summary.assigned = int((new_person >= 0).sum())
    summary.unassigned = int(((new_person < 0) & eligible).sum())


def _prototypes(vectors: FloatArray, person: np.ndarray, k: int = 5) -> dict[int, FloatArray]:
    from ..core.cluster import person_prototypes

    mask = person >= 0
    if not mask.any():
        return {}
    protos, owners = person_prototypes(vectors[mask], person[mask], k=k)
    out: dict[int, list[FloatArray]] = defaultdict(list)
    for vec, pid in zip(protos, owners, strict=True):
        out[int(pid)].append(vec)
    return {pid: np.stack(v) for pid, v in out.items()}


def _enforce_constraints(
    faces: FaceSet,
    new_person: np.ndarray,
    constraints: Constraints,
    names: dict[int, str | None],
    touched: set[int] | None = None,
) -> None:
    """People with different names (or declared different, or split apart by the user)
    that ended in one group stay apart: a free face goes back to its old person. Then
    a face rejected for the person it would join (an answer, a move, a split) leaves."""
    for i in np.nonzero(~faces.fixed & (new_person >= 0) & (faces.person >= 0))[0]:
        old, new = int(faces.person[i]), int(new_person[i])
        if old == new or old not in names or new not in names:
            continue
        a, b = names[old], names[new]
        if (a and b and a != b) or constraints.apart(old, new):
            new_person[i] = old
    # A person a user shaped (named, confirmed, merged...) never loses its faces to one
    # only a grouping made: a named person's group taken over by an unnamed one that
    # held more of its faces would leave the name on an empty person.
    if touched:
        for i in np.nonzero(~faces.fixed & (new_person != -1) & (faces.person >= 0))[0]:
            old, new = int(faces.person[i]), int(new_person[i])
            if old != new and old in touched and new not in touched:
                new_person[i] = old
    # A new person made of parts of people that must stay apart: each part goes back.
    fresh = ~faces.fixed & (new_person <= _NEW) & (faces.person >= 0)
    for placeholder in np.unique(new_person[fresh]):
        idx = np.flatnonzero(fresh & (new_person == placeholder))
        olds = sorted({int(p) for p in faces.person[idx]})
        clash = any(
            constraints.apart(a, b) or (names.get(a) and names.get(b) and names[a] != names[b])
            for k, a in enumerate(olds)
            for b in olds[k + 1 :]
        )
        if clash:
            new_person[idx] = faces.person[idx]
    for i in np.nonzero(~faces.fixed & (new_person >= 0))[0]:
        if not constraints.allows(int(faces.face_ids[i]), int(new_person[i])):
            new_person[i] = -1


def _drop_empty_people(s: Session) -> int:
    """Unnamed, visible people with no faces left are removed."""
    has_faces = select(Assignment.person_id).distinct()
    referenced = select(Decision.person_id).where(Decision.person_id.is_not(None))
    other = select(Decision.other_person_id).where(Decision.other_person_id.is_not(None))
    result = s.execute(
        delete(Person).where(
            Person.name.is_(None),
            Person.hidden.is_(False),
            Person.id.not_in(has_faces),
            Person.id.not_in(referenced),
            Person.id.not_in(other),
        )
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


def make_clusterer(config: Config) -> Any:
    from ..core.cluster import FaceClusterer

    return FaceClusterer(**config.people.clusterer_params())


# --- incremental assignment -----------------------------------------------------------


@dataclass
class AssignSummary:
    candidates: int = 0
    assigned: int = 0
    waiting: int = 0
    regrouped: GroupingSummary | None = None


def assign_new_faces(
    library: Library, config: Config, embedder: str, regroup_if_needed: bool = True
) -> AssignSummary:
    """Unassigned faces join the nearest person when close enough; when many are
    left waiting (`[people] regroup_after`), when the faces no grouping has seen reach
    `[people] regroup_growth` of the grouped ones, or when the library was never
    grouped (no person yet, or only the few faces of answers, enroll or XMP names),
    everything is grouped again.

    Runs in one transaction that holds the write lock from its first read, so no
    answer can slip in between what it reads and what it writes. A face never joins
    a person who already has a face in the same photo."""
    from ..db.library import begin_write

    summary = AssignSummary()
    with library.session() as s:
        begin_write(s)
        faces = load_faces(s, embedder, config.quality.min_quality)
        constraints = load_constraints(s)
        known = {p.id for p in s.scalars(select(Person))}
        waiting = np.nonzero(faces.person < 0)[0]
        summary.candidates = len(waiting)
        joined: set[int] = set()
        assigned_mask = faces.person >= 0
        # Never grouped: no face joined a person automatically yet. Assigning every
        # face to the few people answers or XMP names made (a face or two each) left a
        # third of five_celebs unassigned (bench/xmp_names.py); grouping keeps them.
        never_grouped = not (assigned_mask & ~faces.fixed).any()
        group_all = regroup_if_needed and never_grouped and len(waiting) > 1
        if len(waiting) and assigned_mask.any() and not group_all:
            from ..core.cluster import nearest_prototypes, person_prototypes

            protos, owners = person_prototypes(
                faces.vectors[assigned_mask], faces.person[assigned_mask], k=5
            )
            best, dist = nearest_prototypes(faces.vectors[waiting], protos, owners)
            threshold = thresholds.current(s, config, embedder, "assign")
            photo = faces.photo if faces.photo is not None else -1 - np.arange(len(faces))
            occupied = {
                (int(photo[i]), int(faces.person[i])) for i in np.flatnonzero(assigned_mask)
            }
            for j in np.argsort(dist, kind="stable"):  # the closest face of a photo first
                i = waiting[j]
                pid, d = int(best[j]), float(dist[j])
                fid = int(faces.face_ids[i])
                spot = (int(photo[i]), pid)
                if (
                    pid in known
                    and d <= threshold
                    and constraints.allows(fid, pid)
                    and spot not in occupied
                ):
                    s.add(
                        Assignment(
                            face_id=fid,
                            person_id=pid,
                            origin=AssignmentOrigin.AUTO,
                            probability=max(0.0, 1.0 - d / max(threshold, 1e-6) / 2),
                        )
                    )
                    occupied.add(spot)
                    summary.assigned += 1
                    joined.add(pid)
        summary.waiting = summary.candidates - summary.assigned
        refresh_people_stats(sqlite_connection(s), joined)
        # faces no grouping has seen yet: joined one by one, or waiting
        unseen = summary.waiting + int(
            s.scalar(
                select(func.count())
                .select_from(Assignment)
                .where(
                    Assignment.origin == AssignmentOrigin.AUTO,
                    Assignment.probability.is_not(None),
                )
            )
            or 0
        )
    grown = unseen >= config.people.regroup_growth * max(int((faces.person >= 0).sum()), 1)
    if group_all or (
        regroup_if_needed
        and (summary.waiting >= config.people.regroup_after or (summary.waiting > 0 and grown))
    ):
        summary.regrouped = regroup(library, config, embedder)
    return summary


# --- resolving and editing people --------------------------------------------------


def display_name(person: Person) -> str:
    return person_label(person.id, person.name)


def find_person(s: Session, ref: str | int) -> Person:
    """A person by id ("17"), by default name ("Person 17") or by name (case-insensitive)."""
    pid, _ = match_person(sqlite_connection(s), ref)
    person = s.get(Person, pid)
    assert person is not None
    return person


def named(s: Session, name: str) -> Person | None:
    """The person called `name`, case and Unicode spelling ignored (core.names.name_key):
    "mindy" is Mindy."""
    key = name_key(name)
    for person in s.scalars(select(Person).where(Person.name.is_not(None))):
        if name_key(person.name or "") == key:
            return person
    return None


def record(s: Session, kind: DecisionKind, **values: Any) -> Decision:
    decision = Decision(kind=kind, **values)
    s.add(decision)
    return decision


def name_person(library: Library, ref: str | int, name: str | None, **answer: Any) -> Person:
    """Give a person a name (None: remove the name; the person stays). The name is
    checked by core.names.check_name and must not be another person's."""
    if name is not None:
        name = check_name(name)
    with library.session() as s:
        person = find_person(s, ref)
        if name is not None:
            other = named(s, name)
            if other is not None and other.id != person.id:
                raise UsageError(
                    f'"{other.name}" is already the name of person {other.id}. If they are the '
                    f'same person, run "photogroup merge {other.id} {person.id}".'
                )
        record(
            s,
            DecisionKind.NAME,
            person_id=person.id,
            value=name,
            details={"previous": person.name},
            **answer,
        )
        person.name = name
        return person


def merge_people(
    library: Library, keep_ref: str | int, other_ref: str | int, **answer: Any
) -> Person:
    """All faces of `other` join `keep`; `other` is removed. Names are never lost:
    two different names are refused. `answer` (question, distance, embedder) is
    stored on the decision when a review answer asked for the merge."""
    with library.session() as s:
        keep = find_person(s, keep_ref)
        other = find_person(s, other_ref)
        if keep.id == other.id:
            raise UsageError(
                f'"{keep_ref}" and "{other_ref}" are the same person, {display_name(keep)} '
                f"(id {keep.id}): there is nothing to merge."
            )
        if keep.name and other.name and keep.name != other.name:
            raise UsageError(
                f'Both people have names ("{keep.name}", "{other.name}"), and a merge keeps one '
                f"name only. If they are one person, remove the wrong name first: "
                f"photogroup name {other.id} --clear"
            )
        constraints = load_constraints(s)
        if constraints.apart(keep.id, other.id):
            raise UsageError(
                f"{display_name(keep)} and {display_name(other)} were declared different people; "
                "undo that answer first (photogroup undo)."
            )
        moved = list(s.scalars(select(Assignment.face_id).where(Assignment.person_id == other.id)))
        s.execute(
            update(Assignment).where(Assignment.person_id == other.id).values(person_id=keep.id)
        )
        # Decisions about `other` now speak of `keep` (kept for undo).
        as_person = list(s.scalars(select(Decision.id).where(Decision.person_id == other.id)))
        as_other = list(
            s.scalars(
                select(Decision.id).where(
                    Decision.other_person_id == other.id,
                    Decision.kind != DecisionKind.SAME_PERSON,
                )
            )
        )
        s.execute(update(Decision).where(Decision.id.in_(as_person)).values(person_id=keep.id))
        s.execute(update(Decision).where(Decision.id.in_(as_other)).values(other_person_id=keep.id))
        name_moved = not keep.name and bool(other.name)
        record(
            s,
            DecisionKind.SAME_PERSON,
            person_id=keep.id,
            other_person_id=other.id,
            details={
                "faces": moved,
                "other_id": other.id,
                "other_name": other.name,
                "other_hidden": other.hidden,
                "name_moved": name_moved,
                "decisions_person": as_person,
                "decisions_other": as_other,
            },
            **answer,
        )
        if name_moved:
            name = other.name
            other.name = None
            s.flush()
            keep.name = name
        s.delete(other)
        refresh_people_stats(sqlite_connection(s), [keep.id])
        return keep


def hide_person(library: Library, ref: str | int, hidden: bool = True) -> Person:
    with library.session() as s:
        person = find_person(s, ref)
        record(
            s,
            DecisionKind.HIDE,
            person_id=person.id,
            value="hide" if hidden else "show",
            details={"previous": person.hidden},
        )
        person.hidden = hidden
        return person


# --- entry points ------------------------------------------------------------------


def embedder_id(library: Library) -> str | None:
    """The embedder of the newest scan: the vectors grouping uses (no model is loaded)."""
    from ..db.models import ScanRun

    with library.new_session() as s:
        return s.scalar(
            select(ScanRun.embedder)
            .where(ScanRun.embedder.is_not(None))
            .order_by(ScanRun.id.desc())
            .limit(1)
        )


def rescore_quality(library: Library, config: Config) -> int:
    """Recompute stored face qualities from their signals with the configured ramps
    (they change when [quality] is edited). Returns how many changed.

    Runs at every grouping, so it reads the signals with SQLite's json_extract and
    scores them as arrays (0.09 s for 10,794 faces, against 0.65 s face by face)."""
    from ..core.quality import SIGNALS, quality_scores

    fields = ", ".join(f"json_extract(quality_signals, '$.{k}')" for k in SIGNALS)
    with library.session() as s:
        conn = sqlite_connection(s)
        rows = [
            r
            for r in conn.execute(
                f"SELECT id, quality, {fields} FROM faces WHERE quality_signals IS NOT NULL"
            )
            if None not in r[2:]
        ]
        if not rows:
            return 0
        table = np.array([r[2:] for r in rows], dtype=np.float64)
        new = quality_scores(
            {k: table[:, i] for i, k in enumerate(SIGNALS)}, config.quality.ramps()
        )
        old = np.array([np.nan if r[1] is None else r[1] for r in rows], dtype=np.float64)
        changed = np.flatnonzero(np.isnan(old) | (np.abs(new - old) > 1e-9))
        if len(changed):
            conn.executemany(
                "UPDATE faces SET quality = ? WHERE id = ?",
                [(float(new[i]), rows[i][0]) for i in changed],
            )
            refresh_people_stats(conn)
    return len(changed)


def group_library(library: Library, config: Config, embedder: str, full: bool = False) -> str:
    """Assign new faces, or group everything again (`full`, or when enough wait).
    Returns a one-line summary."""
    rescore_quality(library, config)
    if full:
        g = regroup(library, config, embedder)
        return _grouping_line(g)
    a = assign_new_faces(library, config, embedder)
    line = f"{a.assigned} of {plural(a.candidates, 'waiting face')} joined a person."
    if a.regrouped is not None:
        line += " " + _grouping_line(a.regrouped)
    return line


def _grouping_line(g: GroupingSummary) -> str:
    # The groups add up: continuing a person, a new person, or only confirmed faces
    # (whose people stay as they are).
    confirmed_only = g.clusters - g.groups_continued - g.people_new
    parts = [
        f"{g.groups_continued} continue {plural(g.people_kept, 'person', 'people')}",
        f"{g.people_new} new",
    ]
    if confirmed_only:
        parts.append(f"{confirmed_only} of confirmed faces only")
    return (
        f"Grouped {plural(g.faces, 'face')} into {plural(g.clusters, 'group')} in "
        f"{g.seconds:.1f} s: {', '.join(parts)}; {g.people_removed} empty people removed; "
        f"{g.assigned} faces assigned, {g.unassigned} unassigned."
    )
