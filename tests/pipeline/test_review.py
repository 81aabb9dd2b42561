"""Review: questions, answers kept as decisions and obeyed, undo, learned thresholds."""

from __future__ import annotations

import numpy as np
import pytest
from sqlalchemy import select

from photogroup.core.errors import UsageError
from photogroup.db.models import Assignment, AssignmentOrigin, Decision, Person, Threshold
from photogroup.pipeline import review, thresholds
from photogroup.pipeline.people import regroup
from photogroup.pipeline.query import list_people
from photogroup.pipeline.scan import Scanner

from ..conftest import make_photo
from .test_people import DIM, EMB, add_faces, blob, people_of


@pytest.fixture
def rng():
    return np.random.default_rng(11)


@pytest.fixture
def centres(rng):
    c = rng.normal(size=(4, DIM))
    return c / np.linalg.norm(c, axis=1, keepdims=True)


def near(rng, vec, distance):
    """A unit vector at about `distance` (cosine) from `vec`."""
    noise = rng.normal(size=DIM)
    noise -= (noise @ vec) * vec
    noise /= np.linalg.norm(noise)
    cos = 1.0 - distance
    return cos * vec + np.sqrt(1 - cos**2) * noise


class NearestVector:
    """A stand-in clusterer: faces go to the nearest of fixed centres (closer than 0.3),
    so tests choose the groups (HDBSCAN would see one person in a handful of faces)."""

    def __init__(self, centres):
        self.centres = np.asarray(centres)

    def fit(self, X):
        sims = np.asarray(X) @ self.centres.T
        self.labels_ = np.where(sims.max(axis=1) > 0.7, sims.argmax(axis=1), -1)
        return self


def ask(library, config, kind=None):
    qs = review.questions(library, config, EMB)
    return [q for q in qs if kind is None or q.kind == kind]


def test_questions_of_every_kind_most_informative_first(library, config, rng, centres):
    config.review.who_min_faces = 5
    ann = add_faces(library, blob(rng, centres[0], 8, spread=0.05))
    regroup(library, config, EMB)
    pid = people_of(library, ann)[0]
    # a face waiting near Ann: about as far as the boundary
    lonely = add_faces(library, [near(rng, centres[0], 0.55)])[0]
    qs = ask(library, config)
    kinds = {q.kind for q in qs}
    assert review.WHO in kinds and review.IS_THIS in kinds
    face_q = next(q for q in qs if q.id == f"face:{lonely}:{pid}")
    assert face_q.text == f"Is this Person {pid}?"
    assert face_q.sides[0].faces[0].face_id == lonely and face_q.sides[1].person_id == pid
    assert 0.5 < face_q.distance < 0.6 and 0.02 < face_q.p_same < 0.98
    assert [q.priority for q in qs] == sorted((q.priority for q in qs), reverse=True)
    as_json = face_q.as_json()
    assert as_json["sides"][1]["faces"][0]["photo"].startswith("/photos/")


def test_same_person_question_for_two_close_people(library, config, rng, centres):
    a = add_faces(library, blob(rng, centres[0], 6, spread=0.04))
    other = near(rng, centres[0], 0.6)
    b = add_faces(library, blob(rng, other, 6, spread=0.03))
    regroup(library, config, EMB, clusterer_factory=lambda: NearestVector([centres[0], other]))
    pa, pb = people_of(library, a)[0], people_of(library, b)[0]
    assert pa != pb
    qs = ask(library, config, review.SAME)
    assert [q.id for q in qs] == [f"same:{min(pa, pb)}:{max(pa, pb)}"]
    # "no": they are never merged, even by a grouping that puts everything together.
    review.answer(library, config, EMB, qs[0].id, "no")
    assert ask(library, config, review.SAME) == []  # never asked again
    from .test_people import OneCluster

    regroup(library, config, EMB, clusterer_factory=OneCluster)
    assert set(people_of(library, a)) == {pa} and set(people_of(library, b)) == {pb}


def test_yes_to_same_person_merges_and_undo_splits_again(library, config, rng, centres):
    a = add_faces(library, blob(rng, centres[0], 6, spread=0.04))
    other = near(rng, centres[0], 0.6)
    b = add_faces(library, blob(rng, other, 3, spread=0.03))
    regroup(library, config, EMB, clusterer_factory=lambda: NearestVector([centres[0], other]))
    pa, pb = people_of(library, a)[0], people_of(library, b)[0]
    from photogroup.pipeline.people import name_person

    name_person(library, pb, "Bea")
    (q,) = ask(library, config, review.SAME)
    result = review.answer(library, config, EMB, q.id, "yes")
    # the named one is kept, whatever its size
    assert "Bea" in result.message
    assert set(people_of(library, a + b)) == {pb}
    assert [r.name for r in list_people(library)] == ["Bea"]
    review.undo(library, config, EMB)
    assert set(people_of(library, a)) == {pa} and set(people_of(library, b)) == {pb}
    with library.session() as s:
        assert s.get(Person, pb).name == "Bea" and s.get(Person, pa).name is None


def test_is_this_answers_confirm_reject_and_undo(library, config, rng, centres):
    ann = add_faces(library, blob(rng, centres[0], 8, spread=0.05))
    regroup(library, config, EMB)
    pid = people_of(library, ann)[0]
    near_face, far_face = add_faces(
        library, [near(rng, centres[0], 0.5), near(rng, centres[0], 0.55)]
    )
    review.answer(library, config, EMB, f"face:{near_face}:{pid}", "yes")
    review.answer(library, config, EMB, f"face:{far_face}:{pid}", "no")
    with library.session() as s:
        a = s.get(Assignment, near_face)
        assert a.person_id == pid and a.origin == AssignmentOrigin.CONFIRMED
        decisions = s.scalars(select(Decision).order_by(Decision.id)).all()
        assert [d.kind for d in decisions] == ["face_is_person", "face_not_person"]
        assert all(d.distance is not None and d.embedder == EMB for d in decisions)
    assert people_of(library, [far_face]) == [None]
    with pytest.raises(UsageError, match="answered already"):
        review.answer(library, config, EMB, f"face:{far_face}:{pid}", "yes")
    # remove a member face (the page's "not this person")
    member = ann[-1]
    review.remove_face(library, config, EMB, member)
    assert people_of(library, [member]) == [None]
    # undo, newest first: the member returns, then the rejection goes, then the confirmation
    review.undo(library, config, EMB)
    assert people_of(library, [member]) == [pid]
    review.undo(library, config, EMB)
    review.undo(library, config, EMB)
    with library.session() as s:
        assert s.get(Assignment, near_face) is None
        assert s.scalars(select(Decision).where(Decision.undone_at.is_(None))).all() == []


def test_who_is_this_names_or_merges_into_the_named_person(library, config, rng, centres):
    config.review.who_min_faces = 3
    a = add_faces(library, blob(rng, centres[0], 5, spread=0.04))
    b = add_faces(library, blob(rng, centres[1], 5, spread=0.04))
    regroup(library, config, EMB)
    pa, pb = people_of(library, a)[0], people_of(library, b)[0]
    with pytest.raises(UsageError, match="--name"):
        review.answer(library, config, EMB, f"who:{pa}", "yes")
    review.answer(library, config, EMB, f"who:{pa}", "yes", name="Ann")
    assert f"who:{pa}" not in {q.id for q in ask(library, config)}
    # answering "Ann" for the other group says they are the same person
    review.answer(library, config, EMB, f"who:{pb}", "yes", name="Ann")
    assert set(people_of(library, a + b)) == {pa}
    review.undo(library, config, EMB)
    assert set(people_of(library, b)) == {pb}


def test_skip_is_not_asked_again_until_undone(library, config, rng, centres):
    config.review.who_min_faces = 3
    a = add_faces(library, blob(rng, centres[0], 5, spread=0.04))
    regroup(library, config, EMB)
    qid = f"who:{people_of(library, a)[0]}"
    review.answer(library, config, EMB, qid, "skip")
    assert qid not in {q.id for q in ask(library, config)}
    review.undo(library, config, EMB)
    assert qid in {q.id for q in ask(library, config)}


def test_out_of_date_and_malformed_questions_are_clear_errors(library, config):
    with pytest.raises(UsageError, match="not a question id"):
        review.answer(library, config, EMB, "face:x", "yes")
    with pytest.raises(UsageError, match="not an answer"):
        review.answer(library, config, EMB, "who:1", "maybe")
    from photogroup.core.errors import NotFoundError

    with pytest.raises(NotFoundError, match="person 99 no longer exists"):
        review.answer(library, config, EMB, "who:99", "skip")


def test_learned_thresholds_follow_the_answers_and_keep_history(library, config, rng, centres):
    config.review.min_answers = 6
    ann = add_faces(library, blob(rng, centres[0], 10, spread=0.03))
    regroup(library, config, EMB)
    pid = people_of(library, ann)[0]
    # Faces at 0.40 that are NOT Ann (a look-alike): the assign threshold must drop.
    lookalikes = add_faces(library, [near(rng, centres[0], 0.40) for _ in range(6)])
    trues = add_faces(library, [near(rng, centres[0], 0.15) for _ in range(2)])
    for f in lookalikes:
        review.answer(library, config, EMB, f"face:{f}:{pid}", "no")
    for f in trues:
        review.answer(library, config, EMB, f"face:{f}:{pid}", "yes")
    with library.session() as s:
        st = thresholds.estimate(s, config, EMB, "assign")
        assert st.source == "learned" and st.n_answers == 8 and st.n_same == 2
        assert st.value < 0.40 < config.people.assign_threshold
        assert thresholds.current(s, config, EMB, "assign") == pytest.approx(st.value)
        rows = s.scalars(select(Threshold).where(Threshold.kind == "assign")).all()
        assert rows and rows[-1].source == "learned" and rows[-1].n_answers >= 6
    # ... and the new threshold is what assignment uses: a face at 0.40 waits.
    from photogroup.pipeline.people import assign_new_faces

    waiting = add_faces(library, [near(rng, centres[0], 0.40)])
    assign_new_faces(library, config, EMB, regroup_if_needed=False)
    assert people_of(library, waiting) == [None]
    # Undoing answers brings the configured value back once too few remain.
    for _ in range(3):
        review.undo(library, config, EMB)
    with library.session() as s:
        assert thresholds.current(s, config, EMB, "assign") == config.people.assign_threshold


def test_every_decision_survives_regrouping_and_a_rescan(
    library, config, detector, embedder, tmp_path
):
    """Marker photos through the real scanner: confirm, reject, merge, different
    people, name and hide all hold after a full re-grouping and a rescan."""
    config.quality.min_quality = 0.0  # flat marker squares have no sharpness
    root = tmp_path / "photos"
    colours = ["red", "green", "blue"]
    for i in range(3):
        for c in colours:
            make_photo(root / f"{c}{i}.png", [(c, 20 + 15 * i, 30, 90)], size=(320, 240))
    make_photo(root / "mixed.png", [("red", 10, 10, 80), ("blue", 180, 100, 80)], size=(320, 240))
    Scanner(library, config, detector, embedder).run([root])
    eid = embedder.id
    with library.session() as s:
        from photogroup.db.models import Embedding

        vecs = [np.frombuffer(v, "<f4") for v in s.scalars(select(Embedding.vector))]
    # one centre per marker colour (the fake embedder's vector is the crop's mean colour)
    stacked = np.stack(vecs)
    uniq = np.stack([stacked[np.argmax(stacked[:, :3], axis=1) == c][0] for c in range(3)])

    def grouping():
        return NearestVector(uniq / np.linalg.norm(uniq, axis=1, keepdims=True))

    regroup(library, config, eid, clusterer_factory=grouping)

    def faces_of(word):
        with library.session() as s:
            return sorted(
                a.face_id for a in s.scalars(select(Assignment)) if word in a.face.photo.path
            )

    red, green, blue = (people_of(library, faces_of(f"/{c}0"))[0] for c in colours)
    assert len({red, green, blue}) == 3
    confirmed, rejected = faces_of("mixed")
    # the user says the mixed photo's red face is Green (a user's call is final) ...
    review.answer(library, config, eid, f"face:{confirmed}:{green}", "yes")
    # ... and its blue face is not Blue
    review.answer(library, config, eid, f"face:{rejected}:{blue}", "no")
    review.answer(library, config, eid, f"same:{min(red, green)}:{max(red, green)}", "yes")
    merged = people_of(library, faces_of("/red0"))[0]
    review.answer(library, config, eid, f"same:{min(merged, blue)}:{max(merged, blue)}", "no")
    review.answer(library, config, eid, f"who:{merged}", "yes", name="Gina")
    from photogroup.pipeline.people import hide_person

    hide_person(library, blue)

    def state():
        with library.session() as s:
            return {
                "confirmed": people_of(library, [confirmed])[0],
                "rejected": people_of(library, [rejected])[0],
                "red_green": set(people_of(library, faces_of("/red") + faces_of("/green"))),
                "blue": set(people_of(library, faces_of("/blue"))),
                "gina": s.scalar(select(Person.id).where(Person.name == "Gina")),
                "blue_hidden": s.get(Person, blue).hidden,
            }

    before = state()
    assert before["rejected"] is None and before["red_green"] == {merged}
    assert before["confirmed"] == merged and before["gina"] == merged
    assert before["blue"] == {blue} and before["blue_hidden"]
    regroup(library, config, eid, clusterer_factory=grouping)
    Scanner(library, config, detector, embedder).run([root])
    regroup(library, config, eid, clusterer_factory=grouping)
    assert state() == before
    from photogroup.pipeline.people import load_constraints

    with library.session() as s:
        c = load_constraints(s)
        assert not c.allows(rejected, blue) and c.apart(merged, blue)
