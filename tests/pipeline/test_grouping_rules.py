"""Grouping rules that protect the user's work and precision (issues 13 and 14):
answers given while a grouping is computed win, two faces of one photo are two
people, and a regrouping may split what only a grouping made."""

from __future__ import annotations

import numpy as np
from sqlalchemy import select

from photogroup.db.models import Assignment, AssignmentOrigin, Person
from photogroup.pipeline import review
from photogroup.pipeline.check import check
from photogroup.pipeline.people import assign_new_faces, name_person, regroup

from .test_people import EMB, OneCluster, add_faces, blob, people_of
from .test_review import NearestVector


def origins(library, face_ids):
    with library.session() as s:
        got = {a.face_id: a.origin for a in s.scalars(select(Assignment))}
    return [got.get(f) for f in face_ids]


def test_an_answer_given_while_a_grouping_is_computed_is_never_overwritten(
    library, config, rng, centres
):
    a = add_faces(library, blob(rng, centres[0], 8, spread=0.04))
    b = add_faces(library, blob(rng, centres[1], 6, spread=0.04))
    regroup(library, config, EMB)
    pa, pb = people_of(library, a)[0], people_of(library, b)[0]
    # A face of A's look that the user knows is B; another face nobody was assigned.
    stray, loose = add_faces(library, blob(rng, centres[0], 2, spread=0.04))
    answered = []

    def user_answers_now():  # runs after the grouping read the library, before it writes
        if not answered:
            answered.append(review.answer(library, config, EMB, f"face:{stray}:{pb}", "yes"))
            # the other face had no person: confirming it used to crash the grouping
            answered.append(review.answer(library, config, EMB, f"face:{loose}:{pa}", "yes"))

    summary = regroup(library, config, EMB, after_read=user_answers_now)
    assert summary.attempts == 2  # the first grouping saw a newer answer and was redone
    assert people_of(library, [stray, loose]) == [pb, pa]
    assert origins(library, [stray, loose]) == [AssignmentOrigin.CONFIRMED] * 2
    assert set(people_of(library, a)) == {pa} and set(people_of(library, b)) == {pb}
    assert check(library) == []


def test_a_grouping_that_keeps_seeing_answers_takes_the_lock_and_still_obeys_them(
    library, config, rng, centres
):
    a = add_faces(library, blob(rng, centres[0], 8, spread=0.04))
    regroup(library, config, EMB)
    pa = people_of(library, a)[0]
    extra = add_faces(library, blob(rng, centres[0], 3, spread=0.04))
    calls = []

    def answer_every_time():
        fid = extra[len(calls)]
        calls.append(fid)
        review.answer(library, config, EMB, f"face:{fid}:{pa}", "no")

    summary = regroup(library, config, EMB, after_read=answer_every_time, attempts=3)
    assert summary.attempts == 3 and len(calls) == 2  # the third ran under the write lock
    assert people_of(library, calls) == [None, None]  # rejected, never returned
    assert check(library) == []


def test_two_faces_of_one_photo_are_never_one_person(library, config, rng, centres):
    # 6 photos, each with two look-alike faces; a grouping that sees one person
    vectors = blob(rng, centres[0], 12, spread=0.05)
    photos = [i // 2 for i in range(12)]
    faces = add_faces(library, vectors, photo_ids=photos)
    regroup(library, config, EMB, clusterer_factory=OneCluster)
    got = people_of(library, faces)
    for k in range(6):
        first, second = got[2 * k], got[2 * k + 1]
        assert first is None or first != second
    assert sum(g is not None for g in got) == 6


def test_incremental_assignment_puts_one_face_of_a_photo_in_a_person(library, config, rng, centres):
    a = add_faces(library, blob(rng, centres[0], 8, spread=0.04))
    regroup(library, config, EMB)
    pa = people_of(library, a)[0]
    twins = add_faces(library, blob(rng, centres[0], 2, spread=0.02), photo_ids=[99, 99])
    assign_new_faces(library, config, EMB, regroup_if_needed=False)
    assert sorted(people_of(library, twins), key=lambda p: p is None) == [pa, None]


def test_confirmed_faces_of_one_photo_may_be_one_person(library, config, rng, centres):
    """A photo of a photo, a mirror: the user confirms both faces, and that stands."""
    a = add_faces(library, blob(rng, centres[0], 8, spread=0.04))
    regroup(library, config, EMB)
    pa = people_of(library, a)[0]
    twins = add_faces(library, blob(rng, centres[0], 2, spread=0.02), photo_ids=[99, 99])
    for fid in twins:
        review.answer(library, config, EMB, f"face:{fid}:{pa}", "yes")
    regroup(library, config, EMB, clusterer_factory=OneCluster)
    assert people_of(library, twins) == [pa, pa]


def _merged_pair(library, config, rng, centres):
    a = add_faces(library, blob(rng, centres[0], 8, spread=0.04))
    b = add_faces(library, blob(rng, centres[1], 5, spread=0.04))
    regroup(library, config, EMB, clusterer_factory=OneCluster)  # a wrong merge
    assert len(set(people_of(library, a + b))) == 1
    return a, b, people_of(library, a)[0]


def test_a_regrouping_splits_a_merged_person_that_no_user_touched(library, config, rng, centres):
    a, b, merged = _merged_pair(library, config, rng, centres)
    regroup(library, config, EMB, clusterer_factory=lambda: NearestVector(centres[:2]))
    # the largest piece keeps the id; the other piece is a new person
    assert set(people_of(library, a)) == {merged}
    (pb,) = set(people_of(library, b))
    assert pb is not None and pb != merged
    assert check(library) == []


def test_a_regrouping_keeps_a_named_person_whole(library, config, rng, centres):
    a, b, merged = _merged_pair(library, config, rng, centres)
    name_person(library, merged, "Ann")
    regroup(library, config, EMB, clusterer_factory=lambda: NearestVector(centres[:2]))
    # a person the user named keeps every group that is mostly its own
    assert set(people_of(library, a + b)) == {merged}
    with library.session() as s:
        assert s.get(Person, merged).name == "Ann"


def test_same_photo_rule_holds_for_real_clusterer_groups(library, config, rng, centres):
    """With the product's clusterer too: no person holds two faces of one photo."""
    vectors = np.concatenate([blob(rng, centres[0], 10, 0.04), blob(rng, centres[1], 10, 0.04)])
    photos = list(range(10)) + list(range(10))  # each photo: one face of each person
    photos[1] = 0  # and photo 0 holds two faces of person 0
    faces = add_faces(library, vectors, photo_ids=photos)
    regroup(library, config, EMB)
    with library.session() as s:
        rows = s.execute(select(Assignment.face_id, Assignment.person_id)).all()
    person_of = dict(rows)
    seen = set()
    for fid, photo in zip(faces, photos, strict=True):
        pid = person_of.get(fid)
        if pid is None:
            continue
        assert (photo, pid) not in seen
        seen.add((photo, pid))


# --- found by review (each failed before its fix) -------------------------------------


def test_an_answer_given_while_the_grouping_reads_is_not_overwritten(
    library, config, rng, centres, monkeypatch
):
    from photogroup.pipeline import people

    add_faces(library, blob(rng, centres[0], 8, spread=0.04))
    b = add_faces(library, blob(rng, centres[1], 6, spread=0.04))
    c = add_faces(library, blob(rng, centres[2], 6, spread=0.04))

    class First:  # a and b in one person, c another
        def fit(self, X):
            self.labels_ = np.where((np.asarray(X) @ centres[:3].T).argmax(axis=1) == 2, 1, 0)
            return self

    regroup(library, config, EMB, clusterer_factory=First)
    y = people_of(library, c)[0]
    face = b[0]
    real, done = people.load_constraints, []

    def answer_while_reading(s):  # between the faces read and the rest of the read
        if not done:
            done.append(review.answer(library, config, EMB, f"face:{face}:{y}", "yes"))
        return real(s)

    monkeypatch.setattr(people, "load_constraints", answer_while_reading)
    regroup(library, config, EMB, clusterer_factory=lambda: NearestVector(centres[:3]))
    assert people_of(library, [face]) == [y]
    assert origins(library, [face]) == [AssignmentOrigin.CONFIRMED]
    assert check(library) == []


def test_a_face_deleted_by_a_scan_while_grouping_is_no_crash(library, config, rng, centres):
    from sqlalchemy import delete

    from photogroup.db.models import Face

    add_faces(library, blob(rng, centres[0], 8, spread=0.04))
    regroup(library, config, EMB)
    new = add_faces(library, blob(rng, centres[0], 2, spread=0.04))

    def scan_redetects():
        with library.session() as s:
            s.execute(delete(Face).where(Face.id == new[0]))

    summary = regroup(library, config, EMB, after_read=scan_redetects)
    assert summary.attempts == 2 and check(library) == []


def test_a_named_person_keeps_its_faces_when_an_unnamed_one_outnumbers_it(
    library, config, rng, centres
):
    a = add_faces(library, blob(rng, centres[0], 8, spread=0.04))
    add_faces(library, blob(rng, centres[1], 10, spread=0.04))
    regroup(library, config, EMB, clusterer_factory=lambda: NearestVector(centres[:2]))
    pa = people_of(library, a)[0]
    name_person(library, pa, "Ann")
    regroup(library, config, EMB, clusterer_factory=OneCluster)
    assert set(people_of(library, a)) == {pa}
    assert check(library) == []


def test_parts_of_two_named_people_do_not_become_one_new_person(library, config, rng, centres):
    a = add_faces(library, blob(rng, centres[0], 8, spread=0.04))
    b = add_faces(library, blob(rng, centres[1], 8, spread=0.04))
    a2 = add_faces(library, blob(rng, centres[2], 3, spread=0.04))
    b2 = add_faces(library, blob(rng, centres[3], 3, spread=0.04))

    class First:  # a + a2 one person, b + b2 another
        def fit(self, X):
            lab = (np.asarray(X) @ centres.T).argmax(axis=1)
            self.labels_ = np.where(lab >= 2, lab - 2, lab)
            return self

    class Second:  # a2 and b2 in one group of their own
        def fit(self, X):
            lab = (np.asarray(X) @ centres.T).argmax(axis=1)
            self.labels_ = np.where(lab >= 2, 2, lab)
            return self

    regroup(library, config, EMB, clusterer_factory=First)
    pa, pb = people_of(library, a)[0], people_of(library, b)[0]
    name_person(library, pa, "Ann")
    name_person(library, pb, "Bob")
    regroup(library, config, EMB, clusterer_factory=Second)
    assert set(people_of(library, a2)) == {pa} and set(people_of(library, b2)) == {pb}


def test_faces_moved_out_stay_out_after_their_person_is_merged(library, config, rng, centres):
    from photogroup.pipeline.edits import move_faces
    from photogroup.pipeline.people import merge_people

    a = add_faces(library, blob(rng, centres[0], 8, spread=0.04))
    b = add_faces(library, blob(rng, centres[1], 6, spread=0.04))
    regroup(library, config, EMB)
    pa, pb = people_of(library, a)[0], people_of(library, b)[0]
    move_faces(library, a[:2])  # "not pa"
    merge_people(library, pb, pa)  # pa is pb: pa's faces join pb
    regroup(library, config, EMB, clusterer_factory=OneCluster)
    assert pb not in people_of(library, a[:2])


def test_an_answer_a_newer_edit_rests_on_cannot_be_undone_alone(library, config, rng, centres):
    import pytest

    from photogroup.core.errors import UsageError
    from photogroup.pipeline.edits import move_faces

    a = add_faces(library, blob(rng, centres[0], 8, spread=0.04))
    b = add_faces(library, blob(rng, centres[1], 6, spread=0.04))
    regroup(library, config, EMB)
    pa, pb = people_of(library, a)[0], people_of(library, b)[0]
    confirmed = review.answer(library, config, EMB, f"face:{a[0]}:{pa}", "yes").decision_ids[0]
    move_faces(library, [a[0]], to=pb)
    assert check(library) == []
    with pytest.raises(UsageError, match="rests on it"):
        review.undo(library, config, EMB, confirmed)
    assert people_of(library, [a[0]]) == [pb]
