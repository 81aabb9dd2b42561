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

from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import numpy as np
from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from ..core.config import Config
from ..core.errors import UsageError
from ..core.types import FloatArray
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


def _now() -> datetime:
    return datetime.now()


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

    def __len__(self) -> int:
        return len(self.face_ids)


def _eligible(min_quality: float) -> Any:
    """Faces good enough to start or join a person automatically (quality gate)."""
    return Face.quality.is_(None) | (Face.quality >= min_quality)


def load_faces(
    s: Session, embedder: str, min_quality: float = 0.0, gated_too: bool = False
) -> FaceSet:
    """Faces of present photos with a vector of `embedder` that pass the quality gate
    (faces the user assigned are always included). With `gated_too`, the faces under
    the gate are loaded as well, marked in `eligible`."""
    query = (
        select(Face.id, Embedding.vector, Assignment.person_id, Assignment.origin, Face.quality)
        .join(Embedding, (Embedding.face_id == Face.id) & (Embedding.embedder == embedder))
        .join(Photo, Photo.id == Face.photo_id)
        .outerjoin(Assignment, Assignment.face_id == Face.id)
        .where(Photo.status == PhotoStatus.OK)
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
        )
    face_ids = np.fromiter((r[0] for r in rows), np.int64, len(rows))
    vectors = np.frombuffer(b"".join(r[1] for r in rows), dtype="<f4").reshape(len(rows), -1)
    person = np.fromiter((r[2] if r[2] is not None else -1 for r in rows), np.int64, len(rows))
    fixed = np.fromiter((r[3] in FIXED_ORIGINS for r in rows), bool, len(rows))
    eligible = fixed | np.fromiter(
        (r[4] is None or r[4] >= min_quality for r in rows), bool, len(rows)
    )
    return FaceSet(face_ids, vectors.astype(np.float32), person, fixed, eligible)


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
    c = Constraints()
    rows = s.execute(
        select(Decision.kind, Decision.face_id, Decision.person_id, Decision.other_person_id).where(
            Decision.undone_at.is_(None),
            Decision.kind.in_([DecisionKind.FACE_NOT_PERSON, DecisionKind.DIFFERENT_PEOPLE]),
        )
    ).all()
    for kind, face_id, person_id, other in rows:
        if kind == DecisionKind.FACE_NOT_PERSON and face_id is not None and person_id is not None:
            c.rejected[face_id].add(person_id)
        elif kind == DecisionKind.DIFFERENT_PEOPLE and person_id and other:
            c.different.add(frozenset((person_id, other)))
    return c


# --- grouping ----------------------------------------------------------------------


@dataclass
class GroupingSummary:
    faces: int = 0
    clusters: int = 0
    people_kept: int = 0
    people_new: int = 0
    people_removed: int = 0
    assigned: int = 0
    unassigned: int = 0
    moved: int = 0
    seconds: float = 0.0


def _centroid(vectors: FloatArray) -> FloatArray:
    c = vectors.mean(axis=0)
    n = float(np.linalg.norm(c))
    return (c / n if n > 0 else c).astype(np.float32)


def _match_clusters(
    labels: np.ndarray,
    faces: FaceSet,
    named: dict[int, str | None],
    constraints: Constraints,
) -> dict[int, int]:
    """New cluster label -> existing person id, by shared faces.

    Greedy on the share of the cluster's faces that were the person's: a person
    continues in the cluster holding most of its faces. A person may take more
    than one cluster only when each is mostly its own (a merge the user made, or
    a group HDBSCAN split). Clusters are never matched to two people.
    """
    pairs: list[tuple[float, int, int, int]] = []
    for label in np.unique(labels):
        if label < 0:
            continue
        members = faces.person[labels == label]
        counts = Counter(int(p) for p in members if p >= 0)
        for pid, n in counts.items():
            pairs.append((n / len(members), n, int(label), pid))
    pairs.sort(reverse=True)
    mapping: dict[int, int] = {}
    taken: set[int] = set()
    for share, _n, label, pid in pairs:
        if label in mapping:
            continue
        if pid in taken and share <= 0.5:
            continue
        mapping[label] = pid
        taken.add(pid)
    return mapping


def regroup(
    library: Library,
    config: Config,
    embedder: str,
    clusterer_factory: Callable[[], Any] | None = None,
) -> GroupingSummary:
    """Group every eligible face again, keeping people stable and obeying decisions."""
    import time

    start = time.monotonic()
    summary = GroupingSummary()
    make = clusterer_factory or (lambda: make_clusterer(config))
    with library.session() as s:
        # Faces under the quality gate are grouped too (they shape the densities
        # HDBSCAN sees; leaving them out lowered BCubed F on lfw_devtrain from 0.9365 to
        # 0.9313), then taken out of every group: they never start or join a person.
        faces = load_faces(s, embedder, config.quality.min_quality, gated_too=True)
        constraints = load_constraints(s)
        people = {p.id: p for p in s.scalars(select(Person))}
        eligible = faces.eligible if faces.eligible is not None else np.ones(len(faces), bool)
        summary.faces = int(eligible.sum())
        if not eligible.any():
            return summary
        free = ~faces.fixed & eligible
        labels = np.full(len(faces), -1, dtype=np.int64)
        if len(faces) >= 2:
            labels = np.asarray(make().fit(faces.vectors).labels_, dtype=np.int64)
        labels[~eligible] = -1
        # a group needs min_cluster_size eligible faces to stay a group
        ids, counts = np.unique(labels[labels >= 0], return_counts=True)
        labels[np.isin(labels, ids[counts < config.people.min_cluster_size])] = -1
        summary.clusters = int(len(set(labels.tolist()) - {-1}))
        mapping = _match_clusters(
            labels, faces, {p.id: p.name for p in people.values()}, constraints
        )

        new_person = np.full(len(faces), -1, dtype=np.int64)
        new_person[faces.fixed] = faces.person[faces.fixed]
        created: dict[int, Person] = {}
        for label in sorted(set(labels.tolist()) - {-1}):
            idx = np.nonzero((labels == label) & free)[0]
            if label in mapping:
                pid = mapping[label]
            else:
                if len(idx) == 0:
                    continue
                person = Person()
                s.add(person)
                s.flush()
                created[label] = person
                people[person.id] = person
                pid = person.id
            new_person[idx] = pid
        summary.people_new = len(created)

        # Noise: a face stays with its person while it is close to the person's group.
        threshold = thresholds.current(s, config, embedder, "assign")
        protos = _prototypes(faces.vectors, new_person)
        for i in np.nonzero((labels == -1) & free & (faces.person >= 0))[0]:
            pid = int(faces.person[i])
            if pid in protos and float(1.0 - (protos[pid] @ faces.vectors[i]).max()) <= threshold:
                new_person[i] = pid

        _enforce_constraints(faces, new_person, constraints, people)

        # Write the difference.
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
                    .values(person_id=new, origin=AssignmentOrigin.AUTO, assigned_at=_now())
                )
                summary.moved += 1
        for chunk in range(0, len(to_delete), 500):
            s.execute(
                delete(Assignment).where(Assignment.face_id.in_(to_delete[chunk : chunk + 500]))
            )
        # Auto assignments of faces that are no longer eligible (missing photos, or
        # under the quality bar).
        eligible_ids = (
            select(Face.id)
            .join(Photo)
            .where(Photo.status == PhotoStatus.OK, _eligible(config.quality.min_quality))
        )
        s.execute(
            delete(Assignment).where(
                Assignment.origin == AssignmentOrigin.AUTO, Assignment.face_id.not_in(eligible_ids)
            )
        )
        summary.people_removed = _drop_empty_people(s)
        refresh_people_stats(sqlite_connection(s))
        summary.assigned = int((new_person >= 0).sum())
        summary.unassigned = int(((new_person < 0) & eligible).sum())
        summary.people_kept = len(set(mapping.values()))
    summary.seconds = time.monotonic() - start
    return summary


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
    faces: FaceSet, new_person: np.ndarray, constraints: Constraints, people: dict[int, Person]
) -> None:
    """Rejected faces leave the person; people with different names (or declared
    different) that ended in one group are split by nearest confirmed faces."""
    for i in np.nonzero(~faces.fixed & (new_person >= 0))[0]:
        if not constraints.allows(int(faces.face_ids[i]), int(new_person[i])):
            new_person[i] = -1
    # A free face whose old person is named differently from (or declared different
    # to) its new person is a merge of two people: the face goes back to its old person.
    for i in np.nonzero(~faces.fixed & (new_person >= 0) & (faces.person >= 0))[0]:
        old, new = int(faces.person[i]), int(new_person[i])
        if old == new or old not in people:
            continue
        a, b = people[old], people[new]
        if (a.name and b.name and a.name != b.name) or constraints.apart(old, new):
            new_person[i] = old if constraints.allows(int(faces.face_ids[i]), old) else -1


def _drop_empty_people(s: Session) -> int:
    """Unnamed, visible people with no faces left are removed."""
    has_faces = select(Assignment.person_id).distinct()
    referenced = select(Decision.person_id).where(Decision.person_id.is_not(None))
    result = s.execute(
        delete(Person).where(
            Person.name.is_(None),
            Person.hidden.is_(False),
            Person.id.not_in(has_faces),
            Person.id.not_in(referenced),
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
    left waiting (`[people] regroup_after`), everything is grouped again. A library
    never grouped (no person yet, or only the few faces of answers, enroll or XMP
    names) is grouped rather than assigned."""
    summary = AssignSummary()
    with library.session() as s:
        faces = load_faces(s, embedder, config.quality.min_quality)
        constraints = load_constraints(s)
        hidden_or_not = {p.id for p in s.scalars(select(Person))}
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
            for j, i in enumerate(waiting):
                pid, d = int(best[j]), float(dist[j])
                fid = int(faces.face_ids[i])
                if pid in hidden_or_not and d <= threshold and constraints.allows(fid, pid):
                    s.add(
                        Assignment(
                            face_id=fid,
                            person_id=pid,
                            origin=AssignmentOrigin.AUTO,
                            probability=max(0.0, 1.0 - d / max(threshold, 1e-6) / 2),
                        )
                    )
                    summary.assigned += 1
                    joined.add(pid)
        summary.waiting = summary.candidates - summary.assigned
        refresh_people_stats(sqlite_connection(s), joined)
    if group_all or (regroup_if_needed and summary.waiting >= config.people.regroup_after):
        summary.regrouped = regroup(library, config, embedder)
    return summary


# --- resolving and editing people --------------------------------------------------


def display_name(person: Person) -> str:
    return person.name or f"Person {person.id}"


def find_person(s: Session, ref: str | int) -> Person:
    """A person by id ("17"), by default name ("Person 17") or by name (case-insensitive)."""
    pid, _ = match_person(sqlite_connection(s), ref)
    person = s.get(Person, pid)
    assert person is not None
    return person


def record(s: Session, kind: DecisionKind, **values: Any) -> Decision:
    decision = Decision(kind=kind, **values)
    s.add(decision)
    return decision


def name_person(library: Library, ref: str | int, name: str | None, **answer: Any) -> Person:
    """Give a person a name (None: remove the name; the person stays)."""
    if name is not None:
        name = name.strip()
        if not name:
            raise UsageError("A name cannot be empty.")
        if name.lower().startswith("person ") and name[7:].strip().isdigit():
            raise UsageError(f'"{name}" looks like a default name; choose another.')
    with library.session() as s:
        person = find_person(s, ref)
        if name is not None:
            other = s.scalar(select(Person).where(func.lower(Person.name) == name.lower()))
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
            raise UsageError(f"{display_name(keep)} and {display_name(other)} are the same person.")
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
    line = f"{a.assigned} of {a.candidates} waiting faces joined a person."
    if a.regrouped is not None:
        line += " " + _grouping_line(a.regrouped)
    return line


def _grouping_line(g: GroupingSummary) -> str:
    return (
        f"Grouped {g.faces} faces into {g.clusters} groups in {g.seconds:.1f} s: "
        f"{g.people_kept} people continued, {g.people_new} new, {g.people_removed} removed; "
        f"{g.assigned} faces assigned, {g.unassigned} unassigned."
    )
