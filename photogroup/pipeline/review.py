"""Review: the questions photogroup asks, the answers it keeps, and undo.

One engine for every front end (the web page, the terminal, `--json`/`--answer`):

- "Same person?" for two people whose closest prototype faces lie near the merge
  threshold (`same:A:B`);
- "Is this X?" for a face of X far from X's other faces, and for an unassigned
  face near X (`face:F:X`);
- "Who is this?" for a large unnamed person (`who:X`).

Questions are ranked by how much an answer is worth: the uncertainty of the
calibrated P(same | distance) (1 at 0.5, 0 at 0 or 1) times log2(1 + the faces
concerned: the person's for "Is this X?", the smaller person's for "Same
person?", whom a merge would move), so the closest calls on the largest people
come first. An answered
(or skipped) question is never asked again: every answer is a decision carrying
its question id, kept forever, obeyed by grouping and assignment, and undone
only by `undo`. Answers with a distance also teach the thresholds
(pipeline.thresholds).
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from ..core.calibration import Calibration
from ..core.clock import now
from ..core.config import Config
from ..core.errors import NotFoundError, UsageError
from ..core.ids import MAX_ID
from ..core.names import check_name
from ..core.types import FloatArray
from ..core.vectors import vector_from_bytes, vectors_from_bytes
from ..core.words import person_label, plural
from ..db.library import Library, begin_write, sqlite_connection
from ..db.models import (
    Assignment,
    AssignmentOrigin,
    Decision,
    DecisionKind,
    Embedding,
    Face,
    Person,
    Photo,
)
from ..db.stats import refresh_people_stats
from . import thresholds
from .people import (
    FaceSet,
    load_constraints,
    load_faces,
    merge_people,
    name_person,
    named,
    record,
)

SAME, IS_THIS, WHO, SPLIT = "same_person", "is_this", "who", "one_person"
ANSWERS = ("yes", "no", "skip", "notface")
_MIN_P, _MAX_P = 0.02, 0.98
"""Questions whose P(same) lies outside these are not worth asking... except a
member face that is probably not its person, which is always worth a look."""
FACES_SHOWN = 4
#: "Is this one person?" is considered for this many of the largest people.
SPLIT_PEOPLE = 300


@dataclass
class FaceRef:
    face_id: int
    photo_id: int
    photo: str
    box: list[float]

    def as_json(self) -> dict[str, Any]:
        return {
            "face_id": self.face_id,
            "photo_id": self.photo_id,
            "photo": self.photo,
            "box": self.box,
        }


@dataclass
class Side:
    person_id: int | None
    label: str | None
    faces: list[FaceRef] = field(default_factory=list)
    size: int = 0

    def as_json(self) -> dict[str, Any]:
        return {
            "person_id": self.person_id,
            "label": self.label,
            "size": self.size,
            "faces": [f.as_json() for f in self.faces],
        }


@dataclass
class Question:
    id: str
    kind: str
    text: str
    priority: float
    distance: float | None = None
    p_same: float | None = None
    sides: list[Side] = field(default_factory=list)
    face_person: int | None = None
    """For "Is this X?": the face's person when asked (None: unassigned)."""
    split_faces: list[list[int]] | None = None
    """For "Is this one person?": the face ids of the two sides."""

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "kind": self.kind,
            "text": self.text,
            "distance": None if self.distance is None else round(self.distance, 4),
            "p_same": None if self.p_same is None else round(self.p_same, 4),
            "priority": round(self.priority, 4),
            "sides": [side.as_json() for side in self.sides],
        }


def _uncertainty(p: float) -> float:
    return 1.0 - abs(2.0 * p - 1.0)


def _label(person: Person | None, pid: int) -> str:
    return person_label(pid, None if person is None else person.name)


def parse_question_id(qid: str) -> tuple[str, list[int]]:
    """(kind, ids) of a question id: same:A:B (two different people), face:F:P or
    who:P; anything else is a UsageError saying what a question id is."""
    parts = qid.strip().split(":")
    kinds = {"same": (SAME, 2), "face": (IS_THIS, 2), "who": (WHO, 1), "split": (SPLIT, 1)}
    if parts[0] not in kinds or len(parts) != kinds[parts[0]][1] + 1:
        raise UsageError(
            f"{qid[:80]!r} is not a question id (same:A:B, face:F:P, who:P or split:P); "
            'get one with "photogroup review --json".'
        )
    if not all(
        p.isascii() and p.isdigit() and len(p) <= 19 and 0 < int(p) <= MAX_ID for p in parts[1:]
    ):
        raise UsageError(
            f"{qid[:80]!r} is not a question id: the parts after the kind are ids "
            "(whole numbers from 1)."
        )
    ids = [int(p) for p in parts[1:]]
    if parts[0] == "same" and ids[0] == ids[1]:
        raise UsageError(
            f"{qid!r} is not a question: same:A:B asks about two different people, "
            f"and both are {ids[0]}."
        )
    return kinds[parts[0]][0], ids


# --- distances -------------------------------------------------------------------------


@dataclass
class _People:
    """Prototype faces per person, and distances measured the way assignment does."""

    faces: FaceSet
    protos: FloatArray
    owners: np.ndarray
    sizes: Counter[int]

    @classmethod
    def build(cls, faces: FaceSet) -> _People:
        from ..core.cluster import person_prototypes

        mask = faces.person >= 0
        if mask.any():
            protos, owners = person_prototypes(faces.vectors[mask], faces.person[mask], k=5)
        else:
            protos, owners = np.zeros((0, 1), np.float32), np.zeros(0, np.int64)
        return cls(faces, protos, owners, Counter(int(p) for p in faces.person[mask]))

    def face_to_person(self, vector: FloatArray, pid: int) -> float | None:
        """Distance from a face to the person's prototypes, the face itself excluded."""
        sims = self.protos[self.owners == pid] @ vector
        sims = sims[sims < 1.0 - 1e-6]
        return None if len(sims) == 0 else float(1.0 - sims.max())

    def person_pairs(self, block: int = 2048, per_row: int = 8) -> dict[tuple[int, int], float]:
        """(a, b) with a < b -> distance between their closest prototypes, for each
        person's nearest other people."""
        out: dict[tuple[int, int], float] = {}
        P, owners = self.protos, self.owners
        if len(P) < 2:
            return out
        k = min(per_row, len(P) - 1)
        for start in range(0, len(P), block):
            sims = P[start : start + block] @ P.T
            rows = np.arange(start, min(start + block, len(P)))
            sims[owners[rows][:, None] == owners[None, :]] = -np.inf
            top = np.argpartition(-sims, k - 1, axis=1)[:, :k]
            for r, cols in zip(rows, top, strict=True):
                for c in cols:
                    s = float(sims[r - start, c])
                    if not math.isfinite(s):
                        continue
                    a, b = sorted((int(owners[r]), int(owners[c])))
                    d = 1.0 - s
                    if d < out.get((a, b), math.inf):
                        out[(a, b)] = d
        return out

    def representatives(
        self, pid: int, n: int = FACES_SHOWN, among: list[int] | None = None
    ) -> list[int]:
        """Face ids of the person's faces nearest its mean (of `among` only, if given)."""
        mask = self.faces.person == pid
        if among is not None:
            mask &= np.isin(self.faces.face_ids, among)
        idx = np.flatnonzero(mask)
        if len(idx) == 0:
            return []
        V = self.faces.vectors[idx]
        centre = V.mean(axis=0)
        order = np.argsort(-(V @ centre), kind="stable")[:n]
        return [int(self.faces.face_ids[idx[i]]) for i in order]


def _vectors(s: Session, embedder: str, face_ids: list[int]) -> dict[int, FloatArray]:
    rows = s.execute(
        select(Embedding.face_id, Embedding.vector).where(
            Embedding.embedder == embedder, Embedding.face_id.in_(face_ids)
        )
    ).all()
    return {int(f): vector_from_bytes(v) for f, v in rows}


# --- questions -------------------------------------------------------------------------


def _answered(s: Session) -> set[str]:
    return set(
        s.scalars(
            select(Decision.question).where(
                Decision.question.is_not(None), Decision.undone_at.is_(None)
            )
        )
    )


def questions(
    library: Library, config: Config, embedder: str, limit: int | None = None
) -> list[Question]:
    """Open questions, most informative first."""
    with library.new_session() as s:
        faces = load_faces(s, embedder, config.quality.min_quality)
        if len(faces) == 0:
            return []
        constraints = load_constraints(s)
        answered = _answered(s)
        people = {p.id: p for p in s.scalars(select(Person))}
        visible = {pid for pid, p in people.items() if not p.hidden}
        cal_assign = thresholds.calibration(s, config, embedder, "assign")
        cal_merge = thresholds.calibration(s, config, embedder, "merge")
        model = _People.build(faces)
        found: list[Question] = []
        found += _face_questions(model, constraints, visible, answered, cal_assign)
        found += _same_questions(model, constraints, people, visible, answered, cal_merge)
        splits = _split_questions(model, visible, answered, cal_merge)
        found += splits
        # a person that may be two is not named before that is settled
        doubtful = {parse_question_id(q.id)[1][0] for q in splits if (q.p_same or 0) < 0.5}
        for pid in visible - doubtful:
            p, n = people[pid], model.sizes.get(pid, 0)
            qid = f"who:{pid}"
            if p.name is None and n >= config.review.who_min_faces and qid not in answered:
                # a name fixes nothing in the grouping by itself, but an existing name
                # given here merges the two: worth about half the person's faces
                found.append(Question(qid, WHO, "Who is this?", 0.5 * n))
        found.sort(key=lambda q: (-q.priority, q.id))
        if limit is not None:
            found = found[:limit]
        _describe(s, found, model, people)
        return found


def _face_questions(
    model: _People,
    constraints: Any,
    visible: set[int],
    answered: set[str],
    cal: Calibration,
) -> list[Question]:
    faces = model.faces
    out: list[Question] = []
    # Members whose place in their person is uncertain.
    for i in np.flatnonzero((faces.person >= 0) & ~faces.fixed):
        pid, fid = int(faces.person[i]), int(faces.face_ids[i])
        qid = f"face:{fid}:{pid}"
        if pid not in visible or qid in answered or model.sizes[pid] < 2:
            continue
        d = model.face_to_person(faces.vectors[i], pid)
        if d is None:
            continue
        p = float(cal.p_same(d))
        if p >= _MAX_P:
            continue
        # A face that is probably not its person is worth asking even when sure; an
        # answer fixes one face at most.
        worth = max(_uncertainty(p), 1.0 - p)
        out.append(Question(qid, IS_THIS, "", worth, d, p, face_person=pid))
    # Unassigned faces near a person.
    waiting = np.flatnonzero(faces.person < 0)
    if len(waiting) and len(model.protos):
        from ..core.cluster import nearest_prototypes

        best, dist = nearest_prototypes(
            faces.vectors[waiting], model.protos, model.owners, prototypes_normalised=True
        )
        for j, i in enumerate(waiting):
            pid, d, fid = int(best[j]), float(dist[j]), int(faces.face_ids[i])
            qid = f"face:{fid}:{pid}"
            if pid not in visible or qid in answered or not constraints.allows(fid, pid):
                continue
            p = float(cal.p_same(d))
            if p <= _MIN_P:
                continue
            out.append(Question(qid, IS_THIS, "", _uncertainty(p), d, p))
    return out


def people_in_one_photo(faces: FaceSet) -> set[tuple[int, int]]:
    """Pairs (a, b), a < b, of people who both have a face in some photo: two faces
    of one photo are two people, so they are never proposed as one."""
    if faces.photo is None:
        return set()
    mask = faces.person >= 0
    by_photo: dict[int, set[int]] = {}
    for photo, pid in zip(faces.photo[mask].tolist(), faces.person[mask].tolist(), strict=True):
        by_photo.setdefault(photo, set()).add(pid)
    out: set[tuple[int, int]] = set()
    for pids in by_photo.values():
        if len(pids) > 1:
            ordered = sorted(pids)
            out |= {(a, b) for i, a in enumerate(ordered) for b in ordered[i + 1 :]}
    return out


def _same_questions(
    model: _People,
    constraints: Any,
    people: dict[int, Person],
    visible: set[int],
    answered: set[str],
    cal: Calibration,
) -> list[Question]:
    out = []
    together = people_in_one_photo(model.faces)
    for (a, b), d in model.person_pairs().items():
        qid = f"same:{a}:{b}"
        if a not in visible or b not in visible or qid in answered or constraints.apart(a, b):
            continue
        if (a, b) in together:  # two faces of one photo are two people
            continue
        na, nb = people[a].name, people[b].name
        if na and nb and na != nb:
            continue
        p = float(cal.p_same(d))
        if p <= _MIN_P:
            continue
        # the faces a "yes" would bring together: the smaller side's, times how
        # likely the answer is yes
        size = min(model.sizes[a], model.sizes[b])
        out.append(Question(qid, SAME, "Same person?", p * size, d, p))
    return out


def _split_questions(
    model: _People, visible: set[int], answered: set[str], cal: Calibration
) -> list[Question]:
    """ "Is this one person?" for people whose faces fall into two sub-groups that may
    be two people: worth the faces a "no" would put right (the smaller side's, times
    how likely the answer is no)."""
    from ..core.split import two_sides

    out = []
    faces = model.faces
    # the SPLIT_PEOPLE largest people (a split's worth grows with its smaller side);
    # each person's faces found once, by one sort
    order = np.argsort(faces.person, kind="stable")
    persons = faces.person[order]
    starts = np.searchsorted(persons, list(model.sizes), side="left")
    where = dict(zip(model.sizes, starts.tolist(), strict=True))
    for pid, n in model.sizes.most_common(SPLIT_PEOPLE):
        qid = f"split:{pid}"
        if pid not in visible or n < 4 or qid in answered:
            continue
        idx = order[where[pid] : where[pid] + n]
        side, d = two_sides(faces.vectors[idx])
        smaller = int(min((side == 0).sum(), (side == 1).sum()))
        if smaller < 2:
            continue
        p = float(cal.p_same(d))
        if p >= _MAX_P:
            continue
        q = Question(qid, SPLIT, "Is this one person?", (1.0 - p) * smaller, d, p)
        q.split_faces = [[int(f) for f in faces.face_ids[idx[side == k]]] for k in (0, 1)]
        out.append(q)
    return out


def _describe(s: Session, found: list[Question], model: _People, people: dict[int, Person]) -> None:
    """Fill in the sides (people, sizes and face thumbnails) of the questions shown."""
    want: dict[str, list[tuple[int | None, list[int]]]] = {}
    for q in found:
        kind, ids = parse_question_id(q.id)
        if kind == SAME:
            want[q.id] = [(pid, model.representatives(pid)) for pid in ids]
        elif kind == IS_THIS:
            want[q.id] = [(None, [ids[0]]), (ids[1], model.representatives(ids[1]))]
        elif kind == SPLIT and q.split_faces is not None:
            want[q.id] = [
                (ids[0], model.representatives(ids[0], FACES_SHOWN, among=side))
                for side in q.split_faces
            ]
        else:
            want[q.id] = [(ids[0], model.representatives(ids[0], 2 * FACES_SHOWN))]
    refs = _face_refs(s, [f for sides in want.values() for _, fs in sides for f in fs])
    for q in found:
        for k, (pid, fids) in enumerate(want[q.id]):
            label = None if pid is None else _label(people.get(pid), pid)
            size = 0 if pid is None else model.sizes.get(pid, 0)
            if q.split_faces is not None:
                size = len(q.split_faces[k])
            q.sides.append(Side(pid, label, [refs[f] for f in fids if f in refs], size))
        if q.kind == IS_THIS:
            q.text = f"Is this {q.sides[1].label}?"


def _face_refs(s: Session, face_ids: list[int]) -> dict[int, FaceRef]:
    out: dict[int, FaceRef] = {}
    ids = sorted(set(face_ids))
    for start in range(0, len(ids), 500):
        for fid, pid, path, x, y, w, h in s.execute(
            select(Face.id, Photo.id, Photo.path, Face.x, Face.y, Face.w, Face.h)
            .join(Photo, Photo.id == Face.photo_id)
            .where(Face.id.in_(ids[start : start + 500]))
        ):
            out[fid] = FaceRef(fid, pid, path, [x, y, w, h])
    return out


def still_open(library: Library, q: Question) -> bool:
    """Whether a question computed earlier still makes sense (not answered, its people
    and face as they were)."""
    kind, ids = parse_question_id(q.id)
    with library.new_session() as s:
        if q.id in _answered(s):
            return False
        if kind == IS_THIS:
            current = s.get(Assignment, ids[0])
            person = s.get(Person, ids[1])
            holder = None if current is None else current.person_id
            return person is not None and not person.hidden and holder == q.face_person
        people = [s.get(Person, pid) for pid in ids]
        if any(p is None or p.hidden for p in people):
            return False
        if kind == WHO:
            return people[0] is not None and people[0].name is None
        if kind == SPLIT:
            return True
        return not load_constraints(s).apart(ids[0], ids[1])


def next_question(library: Library, config: Config, embedder: str) -> Question | None:
    found = questions(library, config, embedder, limit=1)
    return found[0] if found else None


# --- answers ---------------------------------------------------------------------------


@dataclass
class AnswerResult:
    message: str
    decision_ids: list[int] = field(default_factory=list)
    thresholds: list[thresholds.ThresholdState] = field(default_factory=list)


def face_distance(s: Session, embedder: str, face_id: int, person_id: int) -> float | None:
    member_ids = list(
        s.scalars(select(Assignment.face_id).where(Assignment.person_id == person_id))
    )
    vecs = _vectors(s, embedder, [*member_ids, face_id])
    if face_id not in vecs:
        return None
    others = [f for f in member_ids if f != face_id and f in vecs]
    if not others:
        return None
    from ..core.cluster import person_prototypes

    protos, _ = person_prototypes(np.stack([vecs[f] for f in others]), np.zeros(len(others), int))
    v = vecs[face_id] / max(float(np.linalg.norm(vecs[face_id])), 1e-12)
    sims = protos @ v
    return float(1.0 - sims.max())


def people_distance(s: Session, embedder: str, a: int, b: int) -> float | None:
    from ..core.cluster import person_prototypes

    rows = s.execute(
        select(Assignment.person_id, Embedding.vector)
        .join(Embedding, Embedding.face_id == Assignment.face_id)
        .where(Embedding.embedder == embedder, Assignment.person_id.in_([a, b]))
    ).all()
    if not rows:
        return None
    labels = np.array([r[0] for r in rows])
    if not ((labels == a).any() and (labels == b).any()):
        return None
    V = vectors_from_bytes(r[1] for r in rows)
    protos, owners = person_prototypes(V, labels, k=5)
    sims = protos[owners == a] @ protos[owners == b].T
    return float(1.0 - sims.max())


def check_answer(
    qid: str, reply: str, name: object = None
) -> tuple[str, str, list[int], str | None]:
    """The one check of an answer, wherever it comes from (the CLI, the page, the
    terminal): (question id as stored, reply, ids, checked name) or a UsageError.

    The reply is yes, no or skip (y, n, s). A name answers only a "Who is this?",
    and only with yes: "no" there means "leave them unnamed"; a name goes through
    core.names.check_name."""
    if not isinstance(reply, str):
        raise UsageError(f"{reply!r} is not an answer: use yes, no, skip or notface.")
    reply = reply.strip().lower()
    reply = {"y": "yes", "n": "no", "s": "skip"}.get(reply, reply)
    if reply not in ANSWERS:
        raise UsageError(f"{reply[:40]!r} is not an answer: use yes, no, skip or notface.")
    if not isinstance(qid, str):
        raise UsageError(f'{qid!r} is not a question id; get one with "photogroup review --json".')
    kind, ids = parse_question_id(qid)
    if kind == SAME:
        ids = sorted(ids)
    stored = {SAME: "same", IS_THIS: "face", WHO: "who", SPLIT: "split"}[kind] + "".join(
        f":{i}" for i in ids
    )
    if name is not None and kind != WHO:
        raise UsageError(
            f'A name answers only "Who is this?" (who:N); {stored} is answered with yes, no '
            "or skip alone. To name the person, answer their who: question or run "
            '"photogroup name PERSON NAME".'
        )
    if kind == WHO:
        if name is not None and reply != "yes":
            raise UsageError(
                f'"{reply}" to "Who is this?" takes no name ("no" leaves the person unnamed, '
                f'"skip" asks later). To name them: --answer {stored} yes --name NAME.'
            )
        if reply == "yes":
            if name is None:
                raise UsageError(
                    f'Question {stored} ("Who is this?") is answered with --name NAME.'
                )
            name = check_name(name)
    return stored, reply, ids, name if isinstance(name, str) else None


def answer(
    library: Library,
    config: Config,
    embedder: str,
    qid: str,
    reply: str,
    name: str | None = None,
    face_id: int | None = None,
) -> AnswerResult:
    """Record the user's answer to question `qid`: 'yes', 'no' or 'skip' (a "Who is
    this?" is answered yes with a name), or 'notface': the question's face (`face_id`,
    one of the faces shown, for the questions that show several) is a false detection.
    Checked by `check_answer`; applied at once;
    thresholds re-learnt. A skipped question may be answered later (the skip then
    stops counting: see `superseded_by`)."""
    qid, reply, ids, name = check_answer(qid, reply, name)
    kind = parse_question_id(qid)[0]
    with library.session() as s:
        earlier = s.scalars(
            select(Decision).where(Decision.question == qid, Decision.undone_at.is_(None))
        ).all()
        if earlier and (reply == "skip" or any(d.kind != DecisionKind.SKIP for d in earlier)):
            raise UsageError(
                f"Question {qid} was answered already ({describe(s, earlier[-1])}, answer "
                f'{earlier[-1].id}); "photogroup undo {earlier[-1].id}" takes it back.'
            )
        for pid in ids[1:] if kind == IS_THIS else ids:
            if s.get(Person, pid) is None:
                raise NotFoundError(
                    f"Question {qid} is out of date: person {pid} no longer exists "
                    '(merged or removed). Ask for the next one with "photogroup review --json".'
                )
        if kind == IS_THIS and s.get(Face, ids[0]) is None:
            raise NotFoundError(f"Question {qid} is out of date: face {ids[0]} no longer exists.")
    if reply == "notface":
        return _answer_not_a_face(library, qid, kind, ids, face_id)
    if reply == "skip":
        with library.session() as s:
            d = record(s, DecisionKind.SKIP, question=qid, value="skip")
            s.flush()
            return AnswerResult("Skipped.", [d.id])
    if kind == IS_THIS:
        result = _answer_face(library, embedder, qid, ids[0], ids[1], reply == "yes")
    elif kind == SAME:
        result = _answer_same(library, embedder, qid, ids[0], ids[1], reply == "yes")
    elif kind == SPLIT:
        result = _answer_split(library, embedder, qid, ids[0], reply == "yes")
    else:
        result = _answer_who(library, qid, ids[0], name)
    with library.session() as s:
        result.thresholds = thresholds.learn(s, config, embedder)
    return result


def claim_question(s: Session, qid: str | None) -> None:
    """Take the write lock for an answer to `qid` and check, under it, that nobody
    answered it meanwhile (another process, the page and the terminal at once)."""
    begin_write(s)
    if qid is None:
        return
    earlier = s.scalar(
        select(Decision.id).where(
            Decision.question == qid,
            Decision.undone_at.is_(None),
            Decision.kind != DecisionKind.SKIP,
        )
    )
    if earlier is not None:
        raise UsageError(
            f'Question {qid} was answered meanwhile (answer {earlier}); "photogroup undo '
            f'{earlier}" takes it back.'
        )


def _answer_face(
    library: Library, embedder: str, qid: str, face_id: int, person_id: int, same: bool
) -> AnswerResult:
    with library.session() as s:
        claim_question(s, qid)
        d = face_distance(s, embedder, face_id, person_id)
        current = s.get(Assignment, face_id)
        prev_pid = None if current is None else current.person_id
        previous = (
            None if current is None else {"person": current.person_id, "origin": current.origin}
        )
        label = _label(s.get(Person, person_id), person_id)
        if same:
            if current is None:
                s.add(
                    Assignment(
                        face_id=face_id, person_id=person_id, origin=AssignmentOrigin.CONFIRMED
                    )
                )
            else:
                current.person_id, current.origin = person_id, AssignmentOrigin.CONFIRMED
                current.assigned_at = now()
            kind, message = DecisionKind.FACE_IS_PERSON, f"Face {face_id} is {label}."
        else:
            if current is not None and current.person_id == person_id:
                s.delete(current)
            kind, message = DecisionKind.FACE_NOT_PERSON, f"Face {face_id} is not {label}."
        dec = record(
            s,
            kind,
            face_id=face_id,
            person_id=person_id,
            distance=d,
            embedder=embedder,
            question=qid,
            details={"previous": previous},
        )
        s.flush()
        touched = {person_id} | ({prev_pid} if prev_pid is not None else set())
        refresh_people_stats(sqlite_connection(s), touched)
        return AnswerResult(message, [dec.id])


def _answer_same(
    library: Library, embedder: str, qid: str, a: int, b: int, same: bool
) -> AnswerResult:
    with library.session() as s:
        d = people_distance(s, embedder, a, b)
        pa, pb = s.get(Person, a), s.get(Person, b)
        assert pa is not None and pb is not None
        if not same:
            dec = record(
                s,
                DecisionKind.DIFFERENT_PEOPLE,
                person_id=a,
                other_person_id=b,
                distance=d,
                embedder=embedder,
                question=qid,
            )
            s.flush()
            return AnswerResult(
                f"{_label(pa, a)} and {_label(pb, b)} are different people.", [dec.id]
            )
        # Keep the named one, else the larger one.
        counts = Counter(
            s.scalars(select(Assignment.person_id).where(Assignment.person_id.in_([a, b])))
        )
        keep, other = (a, b)
        if (pb.name and not pa.name) or (not pa.name and counts[b] > counts[a]):
            keep, other = b, a
        moving = _label(pa if other == a else pb, other)
    kept = merge_people(library, keep, other, distance=d, embedder=embedder, question=qid)
    return AnswerResult(f"Merged {moving} into {_label(kept, kept.id)}.")


def _answer_not_a_face(
    library: Library, qid: str, kind: str, ids: list[int], face_id: int | None
) -> AnswerResult:
    from .edits import mark_not_faces

    face = face_id if face_id is not None else (ids[0] if kind == IS_THIS else None)
    if face is None:
        raise UsageError(
            f"Question {qid} shows several faces: say which one is not a face (--face F)."
        )
    # "Is this X?" about that face is settled; other questions still stand.
    settled = {"question": qid} if kind == IS_THIS and face == ids[0] else {}
    message, did = mark_not_faces(library, [face], **settled)
    return AnswerResult(message, [did])


def _answer_split(
    library: Library, embedder: str, qid: str, person_id: int, one: bool
) -> AnswerResult:
    from .edits import split_person

    if one:
        with library.session() as s:
            dec = record(s, DecisionKind.SKIP, question=qid, value="one person")
            s.flush()
            label = _label(s.get(Person, person_id), person_id)
            return AnswerResult(f"{label} is one person.", [dec.id])
    message, did = split_person(library, embedder, person_id, question=qid)
    return AnswerResult(message, [did])


def _answer_who(library: Library, qid: str, person_id: int, name: str | None) -> AnswerResult:
    """A name answers "Who is this?"; no name (the reply "no") leaves them unnamed."""
    if name is None:
        with library.session() as s:
            dec = record(s, DecisionKind.SKIP, question=qid, value="no name")
            s.flush()
            return AnswerResult(
                f"{_label(s.get(Person, person_id), person_id)} is left unnamed.", [dec.id]
            )
    with library.session() as s:
        other = named(s, name)
        other_id = None if other is None or other.id == person_id else other.id
    if other_id is not None:
        # The name is someone's already: the user says these are the same person.
        kept = merge_people(library, other_id, person_id, question=qid)
        return AnswerResult(f"{person_label(person_id, None)} joined {_label(kept, kept.id)}.")
    person = name_person(library, person_id, name, question=qid)
    return AnswerResult(f"{person_label(person_id, None)} is now {person.name}.")


# --- removing a face from a person (the page's "not this person") --------------------


def remove_face(library: Library, config: Config, embedder: str, face_id: int) -> AnswerResult:
    """The face is not its person: a FACE_NOT_PERSON answer for its current person."""
    with library.session() as s:
        current = s.get(Assignment, face_id)
        if current is None:
            raise UsageError(f"Face {face_id} belongs to no person.")
        pid = current.person_id
    return answer(library, config, embedder, f"face:{face_id}:{pid}", "no")


# --- undo ------------------------------------------------------------------------------

_FACE_KINDS = (DecisionKind.FACE_IS_PERSON, DecisionKind.FACE_NOT_PERSON)


def superseded_by(s: Session, dec: Decision) -> Decision | None:
    """The newest answer still in effect that came after `dec` and rests on what `dec`
    did; None when `dec` can be undone exactly. The one definition, by kind:

    - a face answer (confirm, reject, enroll): a newer answer about the same face;
    - a name, or a hide: a newer name (hide) of the same person, or a newer merge
      that kept or took in that person;
    - a merge: any newer answer about the person it kept (its faces, its name, its
      visibility, another merge, "different people");
    - a skip (or "leave unnamed"): a newer answer to the same question;
    - "different people": nothing; it only forbids a merge of the two, and none can
      have followed while it held.

    (A merge rewrites the person of the answers about the person it takes in, so "the
    same person" here is the person an answer speaks of now.)"""
    kind = DecisionKind(dec.kind)
    newer = select(Decision).where(Decision.id > dec.id, Decision.undone_at.is_(None))
    about = (Decision.person_id == dec.person_id) | (Decision.other_person_id == dec.person_id)
    # a newer edit of the same faces (a move, a split, "not a face") rests on this one
    edited = _newer_edit_of_faces(s, dec, _faces_of(dec))
    if edited is not None:
        return edited
    if kind in _FACE_KINDS:
        if dec.face_id is None:
            return None
        query = newer.where(Decision.face_id == dec.face_id, Decision.kind.in_(_FACE_KINDS))
    elif kind in (DecisionKind.NAME, DecisionKind.HIDE):
        if dec.person_id is None:
            return None
        query = newer.where(
            ((Decision.kind == kind) & (Decision.person_id == dec.person_id))
            | ((Decision.kind == DecisionKind.SAME_PERSON) & about)
        )
    elif kind == DecisionKind.SAME_PERSON:
        if dec.person_id is None:
            return None
        query = newer.where(about)
    elif kind == DecisionKind.SKIP:
        if dec.question is None:
            return None
        query = newer.where(Decision.question == dec.question)
    elif kind == DecisionKind.SPLIT:
        # any newer answer about either side, or a newer edit that moved faces
        sides = [p for p in (dec.person_id, dec.other_person_id) if p is not None]
        query = newer.where(
            Decision.person_id.in_(sides)
            | Decision.other_person_id.in_(sides)
            | Decision.kind.in_([DecisionKind.MOVE_FACES, DecisionKind.SPLIT])
        )
    elif kind == DecisionKind.MOVE_FACES:
        faces = [int(f) for f, _p, _o in (dec.details or {}).get("previous", [])]
        query = newer.where(
            Decision.face_id.in_(faces)
            | Decision.kind.in_([DecisionKind.MOVE_FACES, DecisionKind.SPLIT])
            | ((Decision.kind == DecisionKind.SAME_PERSON) & about)
        )
    else:  # "different people", "not a face": they only forbid
        return None
    return s.scalar(query.order_by(Decision.id.desc()).limit(1))


def _faces_of(dec: Decision) -> set[int]:
    """The faces a decision changed (its face, or those listed in its details)."""
    details = dec.details or {}
    faces = {int(dec.face_id)} if dec.face_id is not None else set()
    if dec.kind == DecisionKind.MOVE_FACES:
        faces |= {int(f) for f, _p, _o in details.get("previous", [])}
    elif dec.kind == DecisionKind.SPLIT:
        faces |= {int(f) for f in details.get("faces", [])}
    return faces


def _newer_edit_of_faces(s: Session, dec: Decision, faces: set[int]) -> Decision | None:
    """The newest active move, split or "not a face" after `dec` that touched `faces`."""
    if not faces:
        return None
    found = None
    for other in s.scalars(
        select(Decision)
        .where(
            Decision.id > dec.id,
            Decision.undone_at.is_(None),
            Decision.kind.in_(
                [DecisionKind.MOVE_FACES, DecisionKind.SPLIT, DecisionKind.NOT_A_FACE]
            ),
        )
        .order_by(Decision.id)
    ):
        if _faces_of(other) & faces:
            found = other
    return found


def _person_label(s: Session, pid: int | None) -> str:
    if pid is None:
        return "a removed person"
    return _label(s.get(Person, pid), pid)


def _quoted(name: str | None) -> str:
    return "unnamed" if name is None else f'"{name}"'


def describe(s: Session, dec: Decision) -> str:
    """An answer in words, with the names of the people it speaks of as they are now:
    'named Person 42 "Ann" (was unnamed)', 'confirmed face 267 as Ann'."""
    kind, details = DecisionKind(dec.kind), dec.details or {}
    who = _person_label(s, dec.person_id)
    if kind == DecisionKind.FACE_IS_PERSON:
        if dec.value == "enrolled":
            return f"enrolled face {dec.face_id} as {who}"
        if dec.value == "xmp":  # photogroup.pipeline.xmp: a name read from a photo's XMP
            return f"named face {dec.face_id} {who} from XMP ({details.get('source', '?')})"
        return f"confirmed face {dec.face_id} as {who}"
    if kind == DecisionKind.FACE_NOT_PERSON:
        return f"said face {dec.face_id} is not {who}"
    if kind == DecisionKind.SAME_PERSON:
        other = person_label(details.get("other_id", 0), details.get("other_name"))
        return f"merged {other} into {who}"
    if kind == DecisionKind.DIFFERENT_PEOPLE:
        return f"said {who} and {_person_label(s, dec.other_person_id)} are different people"
    if kind == DecisionKind.NAME:
        previous = details.get("previous")
        if dec.value is None:
            return f"removed the name {_quoted(previous)} of Person {dec.person_id}"
        return f"named Person {dec.person_id} {_quoted(dec.value)} (was {_quoted(previous)})"
    if kind == DecisionKind.HIDE:
        return f"{'hid' if dec.value == 'hide' else 'showed'} {who}"
    if kind == DecisionKind.SPLIT:
        n = len(details.get("faces", []))
        return f"split {who}: {plural(n, 'face')} became {_person_label(s, dec.other_person_id)}"
    if kind == DecisionKind.MOVE_FACES:
        n = len(details.get("previous", []))
        where = who if dec.person_id is not None else "no one"
        return f"moved {plural(n, 'face')} to {where}"
    if kind == DecisionKind.NOT_A_FACE:
        return f"said detection {dec.face_id} is not a face"
    if kind == DecisionKind.SKIP and dec.question:
        try:
            qkind, ids = parse_question_id(dec.question)
        except UsageError:
            return f"skipped question {dec.question}"
        if qkind == WHO:
            if dec.value == "no name":
                return f"left {_person_label(s, ids[0])} unnamed"
            return f'skipped "Who is this?" for {_person_label(s, ids[0])}'
        if qkind == IS_THIS:
            return f'skipped "Is this {_person_label(s, ids[1])}?" for face {ids[0]}'
        if qkind == SPLIT:
            if dec.value == "one person":
                return f"said {_person_label(s, ids[0])} is one person"
            return f'skipped "Is this one person?" for {_person_label(s, ids[0])}'
        return (
            f'skipped "Same person?" for {_person_label(s, ids[0])} and {_person_label(s, ids[1])}'
        )
    return f"{dec.kind} {dec.question or ''}".strip()


def undo(
    library: Library, config: Config, embedder: str | None, decision_id: int | None = None
) -> str:
    """Take back the newest answer (or answer `decision_id`): its effect is reversed and
    it stops counting for grouping and thresholds; it stays in the history as undone.
    An older answer that a newer one rests on (`superseded_by`) is refused, naming
    the newer one: undoing it would destroy what the newer answer did."""
    with library.session() as s:
        if decision_id is None:
            dec = s.scalar(
                select(Decision)
                .where(Decision.undone_at.is_(None))
                .order_by(Decision.id.desc())
                .limit(1)
            )
            if dec is None:
                raise UsageError("Nothing to undo.")
        else:
            dec = s.get(Decision, decision_id) if 0 < decision_id <= MAX_ID else None
            if dec is None:
                raise NotFoundError(
                    f'There is no answer {decision_id}. "photogroup undo --list" shows the '
                    "answers you can undo, with their numbers."
                )
            if dec.undone_at is not None:
                raise UsageError(
                    f"Answer {dec.id} ({describe(s, dec)}) was undone already, on "
                    f"{dec.undone_at:%Y-%m-%d %H:%M}."
                )
            newer = superseded_by(s, dec)
            if newer is not None:
                raise UsageError(
                    f"Cannot undo answer {dec.id} ({describe(s, dec)}): answer {newer.id} "
                    f"({describe(s, newer)}) came after it and rests on it. Undo {newer.id} "
                    'first, or keep both ("photogroup undo --list" shows them).'
                )
        message = _reverse(s, dec)
        dec.undone_at = now()
        if embedder is not None:
            thresholds.learn(s, config, embedder)
        return message


def _reverse(s: Session, dec: Decision) -> str:
    """Put back what `dec` changed; returns what was undone, in words."""
    kind, details = DecisionKind(dec.kind), dec.details or {}
    what = describe(s, dec)
    if kind in _FACE_KINDS:
        previous = details.get("previous")
        current = s.get(Assignment, dec.face_id) if dec.face_id is not None else None
        touched = {p for p in (dec.person_id, current.person_id if current else None) if p}
        who = _person_label(s, dec.person_id)
        if kind == DecisionKind.FACE_IS_PERSON and current is not None:
            s.delete(current)
            current = None
        restored = None
        if previous and current is None and s.get(Person, previous["person"]) is not None:
            s.flush()
            s.add(
                Assignment(
                    face_id=dec.face_id, person_id=previous["person"], origin=previous["origin"]
                )
            )
            restored = previous["person"]
            touched.add(restored)
        refresh_people_stats(sqlite_connection(s), touched)
        if kind == DecisionKind.FACE_IS_PERSON:
            role = "a reference face of" if dec.value == "enrolled" else "confirmed as"
            where = (
                f"it is with {_person_label(s, restored)} again"
                if restored is not None
                else "it belongs to no one until the next grouping"
            )
            return f"Undone: face {dec.face_id} is no longer {role} {who}; {where}."
        back = f"; it is back with {who}" if restored is not None else ""
        return f"Undone: face {dec.face_id} may be {who} again{back}."
    if kind == DecisionKind.SAME_PERSON:
        return _unmerge(s, dec, details)
    if kind in (DecisionKind.SPLIT, DecisionKind.MOVE_FACES, DecisionKind.NOT_A_FACE):
        from .edits import undo_edit

        return undo_edit(s, dec)
    if kind == DecisionKind.NAME:
        person = s.get(Person, dec.person_id) if dec.person_id else None
        previous_name = details.get("previous")
        if person is not None:
            if previous_name:
                holder = named(s, previous_name)
                if holder is not None and holder.id != person.id:
                    raise UsageError(
                        f'Cannot undo answer {dec.id} ({what}): the name "{previous_name}" '
                        f"now belongs to person {holder.id}."
                    )
            person.name = previous_name
        return f"Undone: {what}. Person {dec.person_id} is {_quoted(previous_name)} again."
    if kind == DecisionKind.HIDE:
        person = s.get(Person, dec.person_id) if dec.person_id else None
        if person is not None:
            person.hidden = bool(details.get("previous", dec.value != "hide"))
            state = "hidden" if person.hidden else "shown"
            return f"Undone: {what}; {_label(person, person.id)} is {state} again."
        return f"Undone: {what}."
    if kind == DecisionKind.DIFFERENT_PEOPLE:
        return f"Undone: {what}; they may be merged again."
    return f"Undone: {what}; the question can be asked again."


def _unmerge(s: Session, dec: Decision, details: dict[str, Any]) -> str:
    keep = s.get(Person, dec.person_id) if dec.person_id else None
    other_id = details.get("other_id")
    if keep is None or other_id is None:
        raise UsageError(
            f"Cannot undo answer {dec.id} ({describe(s, dec)}): the person it kept no "
            "longer exists."
        )
    what = describe(s, dec)
    restored = Person(id=other_id) if s.get(Person, other_id) is None else Person()
    restored.hidden = bool(details.get("other_hidden"))
    s.add(restored)
    s.flush()
    if details.get("name_moved"):
        keep.name = None
        s.flush()
    restored.name = details.get("other_name")
    faces = [int(f) for f in details.get("faces", [])]
    moved = 0
    for start in range(0, len(faces), 500):
        for a in s.scalars(
            select(Assignment).where(
                Assignment.face_id.in_(faces[start : start + 500]),
                Assignment.person_id == keep.id,
            )
        ):
            a.person_id = restored.id
            moved += 1
    for did in details.get("decisions_person", []):
        d = s.get(Decision, did)
        if d is not None and d.person_id == keep.id:
            d.person_id = restored.id
    for did in details.get("decisions_other", []):
        d = s.get(Decision, did)
        if d is not None and d.other_person_id == keep.id:
            d.other_person_id = restored.id
    refresh_people_stats(sqlite_connection(s), [keep.id, restored.id])
    return (
        f"Undone: {what}; {_label(restored, restored.id)} ({moved} faces) is a separate "
        f"person again, and {_label(keep, keep.id)} is as before."
    )


@dataclass
class HistoryRow:
    """An answer as `undo --list` shows it: the number `undo N` takes, in words."""

    id: int
    kind: str
    description: str
    created: datetime
    question: str | None
    superseded_by: int | None

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "kind": self.kind,
            "description": self.description,
            "created": self.created.isoformat(timespec="seconds"),
            "question": self.question,
            "superseded_by": self.superseded_by,
        }


def history(library: Library, limit: int = 20) -> list[HistoryRow]:
    """The newest answers still in effect (those `undo` can take back), newest first;
    `superseded_by` names the newer answer to undo first, if any."""
    with library.new_session() as s:
        rows = s.scalars(
            select(Decision)
            .where(Decision.undone_at.is_(None))
            .order_by(Decision.id.desc())
            .limit(limit)
        ).all()
        out = []
        for d in rows:
            newer = superseded_by(s, d)
            out.append(
                HistoryRow(
                    d.id,
                    d.kind,
                    describe(s, d),
                    d.created_at,
                    d.question,
                    None if newer is None else newer.id,
                )
            )
        return out
