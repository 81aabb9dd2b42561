"""Answers are never lost: undo reverses only what is still in effect, every answer and
name is checked where it enters, person ids are never reused, enroll checks its faces."""

from __future__ import annotations

import numpy as np
import pytest
from sqlalchemy import select

from photogroup.core.errors import UsageError
from photogroup.db.models import Assignment, AssignmentOrigin, Decision, Person
from photogroup.pipeline import review
from photogroup.pipeline.identify import enroll_faces
from photogroup.pipeline.people import hide_person, merge_people, name_person, regroup

from .test_people import EMB, add_faces, blob, people_of


@pytest.fixture
def rng():
    return np.random.default_rng(5)


@pytest.fixture
def three(library, config, rng):
    """Three people of 6 faces each, far apart: (face ids, person id) per person."""
    centres = np.eye(32)[:3]
    out = []
    for c in centres:
        faces = add_faces(library, blob(rng, c, 6, spread=0.04))
        out.append(faces)
    regroup(library, config, EMB)
    return [(faces, people_of(library, faces)[0]) for faces in out]


def answer(library, config, qid, reply, name=None):
    return review.answer(library, config, EMB, qid, reply, name)


def undo(library, config, n=None):
    return review.undo(library, config, EMB, n)


def newest_id(library):
    with library.session() as s:
        return s.scalar(select(Decision.id).order_by(Decision.id.desc()).limit(1))


def assignment(library, face):
    with library.session() as s:
        a = s.get(Assignment, face)
        return None if a is None else (a.person_id, a.origin)


def name_of(library, pid):
    with library.session() as s:
        return s.get(Person, pid).name


def refused(library, config, n, newer):
    """undo n is refused, naming answer `newer`; nothing changes."""
    with library.session() as s:
        before = [(d.id, d.undone_at) for d in s.scalars(select(Decision))]
    with pytest.raises(UsageError, match=rf"Cannot undo answer {n} .*answer {newer} "):
        undo(library, config, n)
    with library.session() as s:
        assert [(d.id, d.undone_at) for d in s.scalars(select(Decision))] == before


# --- undo of an older answer ----------------------------------------------------------


def test_confirm_then_confirm_elsewhere_older_undo_is_refused(library, config, three):
    (a, p1), (b, p3), _ = three
    face = a[0]
    answer(library, config, f"face:{face}:{p3}", "yes")
    first = newest_id(library)
    answer(library, config, f"face:{face}:{p1}", "yes")
    second = newest_id(library)
    refused(library, config, first, second)
    assert assignment(library, face) == (p1, AssignmentOrigin.CONFIRMED)
    message = undo(library, config)
    assert assignment(library, face) == (p3, AssignmentOrigin.CONFIRMED)
    assert (
        message
        == f"Undone: face {face} is no longer confirmed as Person {p1}; it is with Person {p3} again."
    )
    # now the first is what holds, and undoing it is exact: back to the grouping's
    undo(library, config, first)
    assert assignment(library, face) == (p1, AssignmentOrigin.AUTO)


def test_reject_then_confirm_the_face_older_undo_is_refused(library, config, three):
    (a, p1), (_, p2), _ = three
    face = a[0]
    answer(library, config, f"face:{face}:{p1}", "no")
    first = newest_id(library)
    assert assignment(library, face) is None
    answer(library, config, f"face:{face}:{p2}", "yes")
    refused(library, config, first, newest_id(library))
    assert assignment(library, face) == (p2, AssignmentOrigin.CONFIRMED)
    undo(library, config)
    assert "may be Person" in undo(library, config, first)
    assert assignment(library, face) == (p1, AssignmentOrigin.AUTO)


def test_merge_then_name_older_undo_is_refused(library, config, three):
    (a, p1), (b, p2), _ = three
    lo, hi = sorted((p1, p2))
    answer(library, config, f"same:{lo}:{hi}", "yes")
    merge = newest_id(library)
    kept = people_of(library, a)[0]
    name_person(library, kept, "Ann")
    refused(library, config, merge, newest_id(library))
    assert set(people_of(library, a + b)) == {kept} and name_of(library, kept) == "Ann"
    undo(library, config)
    message = undo(library, config, merge)
    assert (
        message.startswith("Undone: merged Person") and "(6 faces) is a separate person" in message
    )
    assert people_of(library, a) == [p1] * 6 and people_of(library, b) == [p2] * 6


def test_different_people_has_nothing_resting_on_it(library, config, three):
    """'Different people' only forbids: undoing an older one keeps every newer answer."""
    (a, p1), (b, p2), (c, p3) = three
    lo, hi = sorted((p1, p2))
    answer(library, config, f"same:{lo}:{hi}", "no")
    different = newest_id(library)
    name_person(library, p1, "Ann")
    merge_people(library, p1, p3)
    with library.session() as s:
        assert review.superseded_by(s, s.get(Decision, different)) is None
    message = undo(library, config, different)
    assert message.startswith("Undone: said Ann and Person") and "merged again" in message
    assert name_of(library, p1) == "Ann" and set(people_of(library, a + c)) == {p1}


def test_name_twice_undo_of_the_first_keeps_the_second(library, config, three):
    (_, p1), _, _ = three
    name_person(library, p1, "A")
    first = newest_id(library)
    name_person(library, p1, "B")
    second = newest_id(library)
    refused(library, config, first, second)
    assert name_of(library, p1) == "B"
    assert undo(library, config) == (
        f'Undone: named Person {p1} "B" (was "A"). Person {p1} is "A" again.'
    )
    assert undo(library, config) == (
        f'Undone: named Person {p1} "A" (was unnamed). Person {p1} is unnamed again.'
    )
    assert name_of(library, p1) is None
    with pytest.raises(UsageError, match="Nothing to undo"):
        undo(library, config)


def test_hide_then_merge_into_the_person_older_undo_is_refused(library, config, three):
    (_, p1), (_, p2), _ = three
    hide_person(library, p1)
    hid = newest_id(library)
    merge_people(library, p1, p2)
    refused(library, config, hid, newest_id(library))
    hide_person(library, p1, hidden=False)  # a newer hide of the same person, too
    undo(library, config)  # the show
    undo(library, config)  # the merge
    assert undo(library, config, hid) == f"Undone: hid Person {p1}; Person {p1} is shown again."


def test_skip_then_a_real_answer_older_undo_is_refused(library, config, three):
    config.review.who_min_faces = 3
    (_, p1), _, _ = three
    answer(library, config, f"who:{p1}", "skip")
    skip = newest_id(library)
    # a skipped question can still be answered; answering it twice cannot
    answer(library, config, f"who:{p1}", "yes", name="Ann")
    with pytest.raises(UsageError, match="answered already"):
        answer(library, config, f"who:{p1}", "yes", name="Bea")
    refused(library, config, skip, newest_id(library))
    undo(library, config)
    assert name_of(library, p1) is None
    assert f"who:{p1}" not in {q.id for q in review.questions(library, config, EMB)}
    assert undo(library, config, skip).endswith("the question can be asked again.")
    assert f"who:{p1}" in {q.id for q in review.questions(library, config, EMB)}


def test_undo_of_unknown_or_undone_answers_is_clear(library, config, three):
    (_, p1), _, _ = three
    name_person(library, p1, "Ann")
    n = newest_id(library)
    undo(library, config, n)
    with pytest.raises(UsageError, match=rf'Answer {n} \(named Person {p1} "Ann".* undone already'):
        undo(library, config, n)
    from photogroup.core.errors import NotFoundError

    with pytest.raises(NotFoundError, match="undo --list"):
        undo(library, config, 99_999)


def test_history_lists_answers_in_words_with_what_to_undo_first(library, config, three):
    (_, p1), _, _ = three
    name_person(library, p1, "A")
    name_person(library, p1, "B")
    rows = review.history(library)
    assert [r.description for r in rows] == [
        f'named Person {p1} "B" (was "A")',
        f'named Person {p1} "A" (was unnamed)',
    ]
    assert rows[0].superseded_by is None and rows[1].superseded_by == rows[0].id
    assert rows[1].as_json()["superseded_by"] == rows[0].id


# --- answers and names checked where they enter ------------------------------------------


@pytest.mark.parametrize(
    "qid, reply, name, message",
    [
        ("same:1:1", "no", None, "two different people"),
        ("who:1", "no", "X", "takes no name"),
        ("who:1", "skip", "X", "takes no name"),
        ("face:1:1", "yes", "Bob", "answers only"),
        ("same:1:2", "yes", "Bob", "answers only"),
        ("who:1", "yes", None, "--name NAME"),
        ("who:1", "yes", "Ann\nfake row", "line break"),
        ("who:1", "yes", "Person 4", "default name"),
        ("who:99999999999999999999", "skip", None, "are ids"),
        ("face:-1:2", "yes", None, "are ids"),
        ("who:" + "9" * 5000, "skip", None, "are ids"),
        ("who:1", "yes", {"a": 1}, "A name is text"),
    ],
)
def test_bad_answers_are_refused_before_anything_changes(
    library, config, three, qid, reply, name, message
):
    with pytest.raises(UsageError, match=message):
        answer(library, config, qid, reply, name)
    with library.session() as s:
        assert s.scalars(select(Decision)).all() == []
        assert s.scalars(select(Person.name).where(Person.name.is_not(None))).all() == []


def test_who_answered_no_leaves_the_person_unnamed(library, config, three):
    (_, p1), _, _ = three
    result = answer(library, config, f"who:{p1}", "no")
    assert result.message == f"Person {p1} is left unnamed." and name_of(library, p1) is None


def test_who_answered_with_a_name_in_another_case_joins_that_person(library, config, three):
    (a, p1), (b, p2), _ = three
    name_person(library, p1, "Mindy")
    with pytest.raises(UsageError, match='"Mindy" is already the name of person'):
        name_person(library, p2, "mindy")
    result = answer(library, config, f"who:{p2}", "yes", name="MINDY")
    assert result.message == f"Person {p2} joined Mindy."
    assert set(people_of(library, a + b)) == {p1}


def test_same_question_in_either_order_is_one_question(library, config, three):
    (_, p1), (_, p2), _ = three
    answer(library, config, f"same:{p1}:{p2}", "no")
    with pytest.raises(UsageError, match="answered already"):
        answer(library, config, f"same:{p2}:{p1}", "no")


# --- person ids are never reused -----------------------------------------------------------


def test_person_ids_are_never_reused_so_old_answers_stay_with_their_person(
    library, config, rng, three
):
    config.review.who_min_faces = 3
    (a, p1), (b, p2), (c, p3) = three
    top = max(p1, p2, p3)
    answer(library, config, f"who:{top}", "skip")
    keep = min(p1, p2, p3)
    merge_people(library, keep, top)  # `top` is gone
    newcomers = add_faces(library, blob(rng, np.eye(32)[7], 6, spread=0.04))
    regroup(library, config, EMB)
    new = people_of(library, newcomers)[0]
    assert new > top
    # the old skip of who:top does not silence the new person
    assert f"who:{new}" in {q.id for q in review.questions(library, config, EMB)}


# --- enroll -------------------------------------------------------------------------------


def test_enroll_extends_a_name_in_any_case_and_refuses_a_far_face(library, config, rng, three):
    (a, p1), (b, p2), _ = three
    name_person(library, p1, "Mindy")
    near, far = add_faces(library, [blob(rng, np.eye(32)[0], 1, 0.04)[0], np.eye(32)[5]])
    result = enroll_faces(library, config, EMB, "mindy", [near])
    assert (result.person_id, result.name, result.created, result.far) == (p1, "Mindy", False, [])
    with pytest.raises(UsageError, match=r"distance 1\.00 from Mindy's other faces.*--force"):
        enroll_faces(library, config, EMB, "MINDY", [far])
    assert people_of(library, [far]) == [None]  # nothing was written
    forced = enroll_faces(library, config, EMB, "Mindy", [far], force=True)
    assert [(f.face_id, round(f.distance, 2)) for f in forced.far] == [(far, 1.0)]
    assert assignment(library, far) == (p1, AssignmentOrigin.ENROLLED)
    with pytest.raises(UsageError, match="default name"):
        enroll_faces(library, config, EMB, f"Person {p2}", [b[0]])
    with library.session() as s:
        assert s.scalars(select(Person.name).where(Person.name.is_not(None))).all() == ["Mindy"]
