"""The user's edits of several faces at once, each next to its undo.

- `move_faces`: faces leave their people and join another person (an existing one,
  or a new one) as confirmed faces; with no target they only leave ("Not X" on a
  selection). Either way they never return to the people they left automatically.
- `split_person`: "Is this one person?" answered no: one side of the person's cut
  becomes a person of its own; its faces never return to the person, and the two
  are different people.
- `mark_not_faces`: false detections (the back of a head, a poster): never grouped,
  asked about or shown again.

Each is one decision (one `undo` takes it back whole); `constraints_from` tells the
grouping what the active ones forbid.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from ..core.clock import now
from ..core.errors import NotFoundError, UsageError
from ..core.words import plural
from ..db.library import Library, begin_write, sqlite_connection
from ..db.models import Assignment, AssignmentOrigin, Decision, DecisionKind, Face, Person
from ..db.stats import refresh_people_stats
from .people import display_name, find_person, load_faces, not_faces, record


def _face_ids(face_ids: Iterable[int]) -> list[int]:
    ids = sorted({int(f) for f in face_ids})
    if not ids:
        raise UsageError("Select at least one face.")
    return ids


def _current(s: Session, ids: list[int]) -> dict[int, Assignment]:
    found = set(s.scalars(select(Face.id).where(Face.id.in_(ids))))
    missing = [f for f in ids if f not in found]
    if missing:
        raise NotFoundError(f"No face {missing[0]} in the library.")
    return _assignments(s, ids)


def _assignments(s: Session, ids: list[int]) -> dict[int, Assignment]:
    """The current assignment of each of the faces that has one."""
    return {a.face_id: a for a in s.scalars(select(Assignment).where(Assignment.face_id.in_(ids)))}


def move_faces(
    library: Library,
    face_ids: Iterable[int],
    to: str | int | None = None,
    new_person: bool = False,
    **answer: Any,
) -> tuple[str, int]:
    """Faces leave their people; with `to` (a person) or `new_person` they become its
    confirmed faces. Returns (message, decision id)."""
    ids = _face_ids(face_ids)
    with library.session() as s:
        begin_write(s)
        current = _current(s, ids)
        target: Person | None = None
        if new_person:
            target = Person()
            s.add(target)
            s.flush()
        elif to is not None:
            target = find_person(s, to)
        previous: list[list[Any]] = [
            [f, current[f].person_id, current[f].origin] if f in current else [f, None, None]
            for f in ids
        ]
        touched: set[int] = {p for _, p, _ in previous if p is not None}
        for f in ids:
            a = current.get(f)
            if target is None:
                if a is not None:
                    s.delete(a)
            elif a is None:
                s.add(Assignment(face_id=f, person_id=target.id, origin=AssignmentOrigin.CONFIRMED))
            else:
                a.person_id, a.origin = target.id, AssignmentOrigin.CONFIRMED
        dec = record(
            s,
            DecisionKind.MOVE_FACES,
            person_id=None if target is None else target.id,
            details={"previous": previous, "created": new_person},
            **answer,
        )
        s.flush()
        if target is not None:
            touched.add(target.id)
        refresh_people_stats(sqlite_connection(s), touched)
        n = len(ids)
        if target is None:  # "Not X": say whom they left
            left = [s.get(Person, p) for p in sorted(touched)]
            who = " or ".join(display_name(p) for p in left if p is not None) or "anyone's"
            return f"{n} face{'s are' if n != 1 else ' is'} no longer {who}.", dec.id
        return f"Moved {plural(n, 'face')} to {display_name(target)}.", dec.id


def mark_not_faces(library: Library, face_ids: Iterable[int], **answer: Any) -> tuple[str, int]:
    """False detections: out of every person, never grouped, asked about or shown."""
    ids = _face_ids(face_ids)
    with library.session() as s:
        begin_write(s)
        current = _current(s, ids)
        previous: list[list[Any]] = [[f, a.person_id, a.origin] for f, a in current.items()]
        for a in current.values():
            s.delete(a)
        decisions = [record(s, DecisionKind.NOT_A_FACE, face_id=f, **answer) for f in ids]
        s.flush()
        # The first decision leads the batch and carries what undo restores; every
        # decision names its leader, so undoing any of them undoes the whole action.
        leader = decisions[0]
        for d in decisions:
            d.details = {"batch": leader.id}
        leader.details = {
            "batch": leader.id,
            "members": [d.id for d in decisions],
            "previous": previous,
        }
        refresh_people_stats(sqlite_connection(s), {p for _, p, _ in previous})
        n = len(ids)
        return f"Marked {plural(n, 'detection')} as not a face.", decisions[-1].id


def split_person(
    library: Library, embedder: str, person_ref: str | int, **answer: Any
) -> tuple[str, int]:
    """Cut the person in two along `two_sides`; the side holding fewer confirmed faces
    (ties: the smaller side) becomes a new person. Confirmed faces never move."""
    from ..core.split import two_sides
    from .people import FaceSet
    from .review import claim_question

    with library.session() as s:
        claim_question(s, answer.get("question"))
        person = find_person(s, person_ref)
        faces: FaceSet = load_faces(s, embedder, gated_too=True)
        idx = np.flatnonzero(faces.person == person.id)
        if len(idx) < 2:
            raise UsageError(f"{display_name(person)} has fewer than two faces to split.")
        side, distance = two_sides(faces.vectors[idx])
        fixed = faces.fixed[idx]
        confirmed = [int((fixed & (side == k)).sum()) for k in (0, 1)]
        leaving = 1 if confirmed[0] >= confirmed[1] else 0
        moving = idx[(side == leaving) & ~fixed]
        if len(moving) == 0:
            raise UsageError(f"Every face on one side of {display_name(person)} is confirmed.")
        new = Person()
        s.add(new)
        s.flush()
        moved = [int(f) for f in faces.face_ids[moving]]
        for start in range(0, len(moved), 500):
            for a in s.scalars(
                select(Assignment).where(Assignment.face_id.in_(moved[start : start + 500]))
            ):
                a.person_id, a.origin = new.id, AssignmentOrigin.AUTO
        dec = record(
            s,
            DecisionKind.SPLIT,
            person_id=person.id,
            other_person_id=new.id,
            distance=distance,
            embedder=embedder,
            details={"faces": moved, "new_person": new.id},
            **answer,
        )
        s.flush()
        refresh_people_stats(sqlite_connection(s), {person.id, new.id})
        return (
            f"Split {plural(len(moved), 'face')} of {display_name(person)} "
            f"into a new person, {display_name(new)}.",
            dec.id,
        )


# --- undo ------------------------------------------------------------------------------


def undo_edit(s: Session, dec: Decision) -> str:
    """Reverse a move, a split or a not-a-face decision (and the rest of its batch)."""
    details = dec.details or {}
    kind = DecisionKind(dec.kind)
    touched: set[int] = set()
    if kind == DecisionKind.SPLIT:
        new = s.get(Person, details.get("new_person")) if details.get("new_person") else None
        person = s.get(Person, dec.person_id) if dec.person_id else None
        if person is None:
            raise UsageError("Cannot undo this split: the person it split no longer exists.")
        faces = [int(f) for f in details.get("faces", [])]
        current = _assignments(s, faces)
        gone = set(s.scalars(not_faces()))
        for f in faces:
            a = current.get(f)
            if a is None:  # a grouping left it without a person: it returns too
                if s.get(Face, f) is not None and f not in gone:
                    s.add(Assignment(face_id=f, person_id=person.id, origin=AssignmentOrigin.AUTO))
            elif new is None or a.person_id == new.id:
                a.person_id = person.id
        touched = {person.id} | ({new.id} if new is not None else set())
        message = f"Undone: the split of {display_name(person)}; its faces are back together."
    else:
        if kind == DecisionKind.NOT_A_FACE:
            leader = s.get(Decision, details.get("batch", dec.id)) or dec
            details = leader.details or {}
            for did in details.get("members", [dec.id]):
                other = s.get(Decision, did)
                if other is not None and other.undone_at is None:
                    other.undone_at = now()
        previous = details.get("previous", [])
        faces = [int(f) for f, _, _ in previous]
        current = _assignments(s, faces)
        for f, pid, origin in previous:
            found = current.get(int(f))
            if found is not None:
                touched.add(found.person_id)
                s.delete(found)
                s.flush()
            if pid is not None and s.get(Person, pid) is not None:
                s.add(Assignment(face_id=int(f), person_id=pid, origin=origin))
                touched.add(pid)
        if kind == DecisionKind.NOT_A_FACE:
            n = len(details.get("members", [dec.id]))
            message = f"Undone: {plural(n, 'detection')} count as faces again."
        else:
            n = len(previous)
            message = f"Undone: the move of {plural(n, 'face')}."
        if kind == DecisionKind.MOVE_FACES and details.get("created") and dec.person_id:
            touched.add(dec.person_id)
    s.flush()
    refresh_people_stats(sqlite_connection(s), touched)
    return message
