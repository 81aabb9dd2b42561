"""The review page's lookups in pipeline.query (plain sqlite3): a person's faces, a face,
a photo, a decision's person."""

from __future__ import annotations

from datetime import datetime

import pytest
from sqlalchemy import update

from photogroup.core.errors import NotFoundError
from photogroup.db.models import Photo
from photogroup.pipeline.edits import mark_not_faces, move_faces
from photogroup.pipeline.people import regroup
from photogroup.pipeline.query import decision_person, get_face, person_faces, photo_path

from .test_people import EMB, add_faces, blob, people_of


def test_a_persons_faces_confirmed_first_then_by_id_present_photos_only(
    library, config, rng, centres
):
    a = add_faces(library, blob(rng, centres[0], 6))
    b = add_faces(library, blob(rng, centres[1], 5))
    regroup(library, config, EMB)
    pa, pb = people_of(library, [a[0], b[0]])
    assert pa is not None and pb is not None and pa != pb
    _, decision = move_faces(library, [b[3], b[1]], to=pa)
    assert decision_person(library, decision) == pa
    gone = get_face(library, a[2]).photo_id
    with library.session() as s:
        s.execute(update(Photo).where(Photo.id == gone).values(status="missing"))

    faces = person_faces(library, pa)
    assert [f.face_id for f in faces] == [b[1], b[3], a[0], a[1], *a[3:]]
    assert [f.origin for f in faces] == ["confirmed"] * 2 + ["auto"] * 5
    assert [f.face_id for f in person_faces(library, pa, limit=3)] == [b[1], b[3], a[0]]
    first = faces[0].as_json()
    assert first == {
        "face_id": b[1],
        "photo_id": get_face(library, b[1]).photo_id,
        "box": get_face(library, b[1]).box,
        "origin": "confirmed",
    }
    assert person_faces(library, 99999) == []
    # a "not a face" decision is about no person
    _, marked = mark_not_faces(library, [a[0]])
    assert decision_person(library, marked) is None
    assert decision_person(library, 99999) is None


def test_a_face_with_its_photo_and_time(library):
    taken = datetime(2019, 5, 6, 7, 8, 9, 123456)
    (f,) = add_faces(library, [[1.0] + [0.0] * 31], taken=taken)
    (g,) = add_faces(library, [[0.0, 1.0] + [0.0] * 30])  # no EXIF time: the file's
    face = get_face(library, f)
    assert face.path.startswith("/photos/") and photo_path(library, face.photo_id) == face.path
    assert face.as_json() == {
        "face_id": f,
        "photo_id": face.photo_id,
        "path": face.path,
        "taken": "2019-05-06T07:08:09",
        "width": 100,
        "height": 100,
        "box": face.box,
    }
    assert len(face.box) == 4 and all(isinstance(v, float) for v in face.box)
    assert get_face(library, g).as_json()["taken"] == "2020-01-01T00:00:00"
    with pytest.raises(NotFoundError, match=r"^No face 99999\.$"):
        get_face(library, 99999)
    with pytest.raises(NotFoundError, match=r"^No photo 99999\.$"):
        photo_path(library, 99999)
