"""People: grouping, stability rules, decisions, edits, queries (synthetic embeddings)."""

from __future__ import annotations

from datetime import datetime

import numpy as np
import pytest
from sqlalchemy import select

from photogroup.core.errors import NotFoundError, UsageError
from photogroup.db.models import (
    Assignment,
    AssignmentOrigin,
    Decision,
    DecisionKind,
    Embedding,
    Face,
    Person,
    Photo,
)
from photogroup.pipeline.people import (
    assign_new_faces,
    find_person,
    hide_person,
    merge_people,
    name_person,
    regroup,
)
from photogroup.pipeline.query import find_photos, list_people

EMB = "test-emb"
DIM = 32


def blob(rng, centre: np.ndarray, n: int, spread: float = 0.12) -> np.ndarray:
    v = centre + rng.normal(scale=spread / np.sqrt(DIM), size=(n, DIM))
    return v / np.linalg.norm(v, axis=1, keepdims=True)


@pytest.fixture
def rng():
    return np.random.default_rng(7)


@pytest.fixture
def centres(rng):
    c = rng.normal(size=(4, DIM))
    return c / np.linalg.norm(c, axis=1, keepdims=True)


def add_faces(library, vectors, photo_ids=None, taken=None, quality=None) -> list[int]:
    """One photo per face unless photo_ids says otherwise; returns face ids."""
    ids = []
    with library.session() as s:
        photos: dict[int, Photo] = {}
        for i, vec in enumerate(vectors):
            key = photo_ids[i] if photo_ids is not None else None
            photo = photos.get(key) if key is not None else None
            if photo is None:
                n = s.query(Photo).count()
                photo = Photo(
                    path=f"/photos/p{n:05d}.jpg",
                    size=1,
                    mtime_ns=1,
                    width=100,
                    height=100,
                    detector="x",
                    taken_at=taken,
                    file_time=datetime(2020, 1, 1),
                )
                s.add(photo)
                s.flush()
                if key is not None:
                    photos[key] = photo
            face = Face(
                photo_id=photo.id,
                x=10,
                y=10,
                w=50,
                h=50,
                landmarks=[[0, 0]] * 5,
                score=0.99,
                quality=quality,
            )
            s.add(face)
            s.flush()
            s.add(
                Embedding(
                    face_id=face.id, embedder=EMB, dim=DIM, vector=np.asarray(vec, "<f4").tobytes()
                )
            )
            ids.append(face.id)
    return ids


def people_of(library, face_ids) -> list[int | None]:
    with library.session() as s:
        got = dict(s.execute(select(Assignment.face_id, Assignment.person_id)).all())
    return [got.get(f) for f in face_ids]


class OneCluster:
    """A clusterer that puts everything in one group (as HDBSCAN does with look-alikes)."""

    def fit(self, X):
        self.labels_ = np.zeros(len(X), dtype=np.int64)
        return self


@pytest.fixture
def grouped(library, config, rng, centres):
    a = add_faces(library, blob(rng, centres[0], 8))
    b = add_faces(library, blob(rng, centres[1], 6))
    regroup(library, config, EMB)
    return a, b


def test_groups_become_unnamed_people(library, grouped):
    a, b = grouped
    pa, pb = people_of(library, a), people_of(library, b)
    assert len(set(pa)) == 1 and len(set(pb)) == 1 and pa[0] != pb[0] and None not in pa
    rows = list_people(library)
    assert [(r.faces, r.name) for r in rows] == [(8, None), (6, None)]
    assert rows[0].label == f"Person {rows[0].id}" and rows[0].cover_photo.startswith("/photos/")


def test_name_and_id_survive_regrouping_with_new_faces(library, config, grouped, rng, centres):
    a, _ = grouped
    pid = people_of(library, a)[0]
    name_person(library, str(pid), "Ann")
    more = add_faces(library, blob(rng, centres[0], 5))
    regroup(library, config, EMB)
    assert set(people_of(library, a + more)) == {pid}
    with library.session() as s:
        assert s.get(Person, pid).name == "Ann"


def test_confirmed_face_never_moves(library, config, grouped):
    a, b = grouped
    pb = people_of(library, b)[0]
    with library.session() as s:
        s.get(Assignment, a[0]).person_id = pb
        s.get(Assignment, a[0]).origin = AssignmentOrigin.CONFIRMED
    regroup(library, config, EMB)
    regroup(library, config, EMB, clusterer_factory=OneCluster)
    assert people_of(library, a[:1]) == [pb]


def test_two_named_people_are_never_merged(library, config, grouped):
    a, b = grouped
    pa, pb = people_of(library, a)[0], people_of(library, b)[0]
    name_person(library, str(pa), "Ann")
    name_person(library, str(pb), "Bob")
    regroup(library, config, EMB, clusterer_factory=OneCluster)
    assert set(people_of(library, a)) == {pa}
    assert set(people_of(library, b)) == {pb}


def test_people_declared_different_are_never_merged(library, config, grouped):
    a, b = grouped
    pa, pb = people_of(library, a)[0], people_of(library, b)[0]
    with library.session() as s:
        s.add(Decision(kind=DecisionKind.DIFFERENT_PEOPLE, person_id=pa, other_person_id=pb))
    regroup(library, config, EMB, clusterer_factory=OneCluster)
    assert set(people_of(library, a)) == {pa} and set(people_of(library, b)) == {pb}


def test_rejected_face_never_returns(library, config, grouped):
    a, _ = grouped
    pa = people_of(library, a)[0]
    with library.session() as s:
        s.add(Decision(kind=DecisionKind.FACE_NOT_PERSON, face_id=a[0], person_id=pa))
    regroup(library, config, EMB)
    assert people_of(library, a[:1]) != [pa]
    assign_new_faces(library, config, EMB)
    assert people_of(library, a[:1]) != [pa]


def test_missing_photos_leave_their_people_and_names_stay(library, config, grouped):
    a, _ = grouped
    pa = people_of(library, a)[0]
    name_person(library, str(pa), "Ann")
    with library.session() as s:
        for p in s.scalars(select(Photo).join(Face).where(Face.id.in_(a))):
            p.status = "missing"
    regroup(library, config, EMB)
    assert people_of(library, a) == [None] * len(a)
    with library.session() as s:
        assert s.get(Person, pa).name == "Ann"
    assert [r.name for r in list_people(library, include_all=True)].count("Ann") == 1


def test_new_faces_join_the_nearest_person_when_close(library, config, grouped, rng, centres):
    a, _ = grouped
    pa = people_of(library, a)[0]
    near = add_faces(library, blob(rng, centres[0], 2))
    far = add_faces(library, blob(rng, centres[3], 1))
    config.people.regroup_after = 1000
    config.people.regroup_growth = 10.0  # no regrouping: incremental assignment alone
    summary = assign_new_faces(library, config, EMB)
    assert (summary.candidates, summary.assigned) == (3, 2)
    assert people_of(library, near) == [pa, pa] and people_of(library, far) == [None]


def test_merge_hide_and_listing(library, config, grouped):
    a, b = grouped
    pa, pb = people_of(library, a)[0], people_of(library, b)[0]
    name_person(library, str(pb), "Bob")
    kept = merge_people(library, str(pa), "bob")
    assert kept.id == pa and kept.name == "Bob"
    assert set(people_of(library, a + b)) == {pa}
    regroup(library, config, EMB)  # the merge holds: both groups continue as Bob
    assert set(people_of(library, a + b)) == {pa}
    hide_person(library, "Bob")
    assert list_people(library) == []
    assert [r.name for r in list_people(library, include_all=True)] == ["Bob"]


def test_merging_two_named_people_is_refused(library, grouped):
    a, b = grouped
    name_person(library, str(people_of(library, a)[0]), "Ann")
    name_person(library, str(people_of(library, b)[0]), "Bob")
    with pytest.raises(UsageError, match="--clear"):
        merge_people(library, "Ann", "Bob")
    with pytest.raises(UsageError, match="already the name"):
        name_person(library, "Ann", "bob")


def test_unknown_name_lists_close_matches(library, grouped):
    a, _ = grouped
    name_person(library, str(people_of(library, a)[0]), "Annabel")
    with library.session() as s:
        with pytest.raises(
            NotFoundError, match="Annabell.*Did you mean 'Annabel'.*photogroup people"
        ):
            find_person(s, "Annabell")
        assert find_person(s, "annabel").name == "Annabel"


def test_photos_and_not_and_dates(library, config, rng, centres):
    ann, bob, carl = (blob(rng, centres[i], 3) for i in range(3))
    # photo keys: 0..2 Ann+Bob, 3..5 Ann alone, 6..8 Ann+Bob+Carl
    vecs = np.concatenate([ann, bob, ann, ann, bob, carl])
    keys = [0, 1, 2, 0, 1, 2, 3, 4, 5, 6, 7, 8, 6, 7, 8, 6, 7, 8]
    faces = add_faces(library, vecs, photo_ids=keys)
    regroup(library, config, EMB)
    name_person(library, str(people_of(library, faces[:1])[0]), "Ann")
    name_person(library, str(people_of(library, faces[3:4])[0]), "Bob")
    name_person(library, str(people_of(library, faces[15:16])[0]), "Carl")
    with library.session() as s:
        photos = s.scalars(select(Photo).order_by(Photo.id)).all()
        for i, p in enumerate(photos):
            p.taken_at = datetime(2018 + i // 3, 6, 1) if i != 4 else None
    assert len(find_photos(library, ["Ann"])) == 9
    assert len(find_photos(library, ["Ann", "Bob"])) == 6
    assert len(find_photos(library, ["Ann", "Bob"], ["Carl"])) == 3
    assert len(find_photos(library, ["Ann"], ["Bob"])) == 3
    # photos 3..5 taken 2019, except photo 4 with no EXIF time: file time 2020-01-01
    in_2019 = find_photos(library, ["Ann"], date_from="2019", date_to="2019")
    assert [p.path for p in in_2019] == [photos[3].path, photos[5].path]
    assert len(find_photos(library, ["Ann"], date_from="2020-01-01", date_to="2020-01")) == 1
    assert len(find_photos(library, ["Ann"], date_from="2020", date_to="2020")) == 4
    with pytest.raises(NotFoundError):
        find_photos(library, ["Zed"])
    with pytest.raises(UsageError, match="not a date"):
        find_photos(library, ["Ann"], date_from="last week")


def test_low_quality_faces_never_start_or_join_a_person(library, config, rng, centres):
    bar = config.quality.min_quality
    good = add_faces(library, blob(rng, centres[0], 6), quality=0.9)
    junk = add_faces(library, blob(rng, centres[1], 8), quality=bar / 2)  # a "junk person"
    regroup(library, config, EMB)
    assert None not in people_of(library, good)
    assert people_of(library, junk) == [None] * 8
    late_junk = add_faces(library, blob(rng, centres[0], 2), quality=bar / 2)
    assign_new_faces(library, config, EMB)
    regroup(library, config, EMB)
    assert people_of(library, late_junk) == [None, None]
    # the user can still assign one: it stays through regrouping
    pid = people_of(library, good)[0]
    with library.session() as s:
        s.add(Assignment(face_id=late_junk[0], person_id=pid, origin=AssignmentOrigin.CONFIRMED))
    regroup(library, config, EMB)
    assert people_of(library, late_junk) == [pid, None]


def test_people_listing_skips_groups_made_mostly_of_low_quality_faces(
    library, config, rng, centres
):
    faces = add_faces(library, blob(rng, centres[2], 6), quality=0.6)
    with library.session() as s:
        for f in s.scalars(select(Face).where(Face.id.in_(faces[:2]))):
            f.quality = 0.9
    regroup(library, config, EMB)
    pid = people_of(library, faces)[0]
    assert [r.id for r in list_people(library, min_quality=0.5)] == [pid]
    # The bar is raised after grouping: 4 of 6 faces are now under it.
    assert [r.id for r in list_people(library, min_quality=0.7)] == []
    assert [r.id for r in list_people(library, include_all=True, min_quality=0.7)] == [pid]
    # Exactly half under the bar is not "mostly".
    with library.session() as s:
        for f in s.scalars(select(Face).where(Face.id == faces[2])):
            f.quality = 0.9
    regroup(library, config, EMB)
    assert [r.id for r in list_people(library, min_quality=0.7)] == [pid]


def test_stored_quality_follows_the_configured_ramps(library, config, rng, centres):
    """Editing [quality] rescores every stored face from its signals, as quality_score
    does for one face (rescore_quality scores them as arrays)."""
    from photogroup.core.quality import quality_score
    from photogroup.pipeline.people import rescore_quality

    faces = add_faces(library, blob(rng, centres[0], 5), quality=0.0)
    sharpness = [10.0, 25.0, 40.0, 80.0, 300.0]
    with library.session() as s:
        for fid, sharp in zip(faces, sharpness, strict=True):
            f = s.get(Face, fid)
            f.quality_signals = {
                "size": 90.0,
                "score": 0.99,
                "sharpness": sharp,
                "frontal": 0.9,
                "inside": 0.92,
            }

    def stored() -> list[float]:
        with library.session() as s:
            return [s.get(Face, fid).quality for fid in faces]

    ramps = config.quality.ramps()
    want = [
        quality_score(
            {"size": 90.0, "score": 0.99, "sharpness": x, "frontal": 0.9, "inside": 0.92}, ramps
        )
        for x in sharpness
    ]
    # every face stored at 0.0 whose score is not 0 changes (the blurriest stays at 0)
    assert rescore_quality(library, config) == sum(w != 0.0 for w in want) == 4
    assert stored() == pytest.approx(want, abs=1e-12)
    assert rescore_quality(library, config) == 0  # nothing to do the second time
    config.quality.sharpness = [40.0, 100.0]
    assert rescore_quality(library, config) == 3  # the faces under 100 score lower now
    assert stored()[-1] == pytest.approx(want[-1])
