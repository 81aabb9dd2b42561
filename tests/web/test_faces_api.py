"""POST /api/faces/move and /api/faces/notface: a selection of faces in one action,
undone whole by /api/undo; every bad selection is a 4xx naming what is wrong, and
nothing changes."""

from __future__ import annotations

import json

from sqlalchemy import select

from photogroup.db.models import Assignment, AssignmentOrigin, Decision, DecisionKind

from .conftest import request


def _post(server, path, body):  # type: ignore[no-untyped-def]
    answer = request(server, "POST", path, json.dumps(body).encode())
    return answer.status, answer.json()


def _assignments(library):  # type: ignore[no-untyped-def]
    with library.session() as s:
        return {
            f: (p, o)
            for f, p, o in s.execute(
                select(Assignment.face_id, Assignment.person_id, Assignment.origin)
            )
        }


def test_move_to_someone_not_x_and_not_a_face_each_undone_whole(served, library, quiet_log):
    start = _assignments(library)
    people = sorted({p for p, _ in start.values()})
    a, b = people[:2]
    of_a = sorted(f for f, (p, _) in start.items() if p == a)

    status, body = _post(served, "/api/faces/move", {"faces": of_a[:2], "to": b})
    assert status == 200, body
    assert body["message"] == f"Moved 2 faces to Person {b}."
    assert body["faces"] == of_a[:2] and body["person_id"] == b
    now = _assignments(library)
    assert [now[f] for f in of_a[:2]] == [(b, AssignmentOrigin.CONFIRMED)] * 2
    status, body = _post(served, "/api/undo", {})
    assert status == 200 and "move of 2 faces" in body["message"], body
    assert _assignments(library) == start

    status, body = _post(served, "/api/faces/move", {"faces": of_a, "new": True})
    assert status == 200, body
    new = body["person_id"]
    assert new not in people and {_assignments(library)[f][0] for f in of_a} == {new}
    _post(served, "/api/undo", {})
    assert _assignments(library) == start
    # the new person, empty again, is listed nowhere (not even with "show all")
    listed = json.loads(request(served, "GET", "/api/people?all=1").body)["people"]
    assert sorted(p["id"] for p in listed) == people

    status, body = _post(served, "/api/faces/move", {"faces": of_a[:1], "to": None})
    assert status == 200 and body["person_id"] is None, body
    assert body["message"] == f"1 face is no longer Person {a}."
    assert of_a[0] not in _assignments(library)
    _post(served, "/api/undo", {})
    assert _assignments(library) == start

    status, body = _post(served, "/api/faces/notface", {"faces": of_a})
    assert status == 200 and "not a face" in body["message"], body
    with library.session() as s:
        marked = s.scalars(
            select(Decision.face_id).where(Decision.kind == DecisionKind.NOT_A_FACE)
        ).all()
    assert sorted(marked) == of_a and not set(of_a) & set(_assignments(library))
    status, body = _post(served, "/api/undo", {})
    assert status == 200 and f"{len(of_a)} detections count as faces" in body["message"]
    assert _assignments(library) == start


def test_bad_selections_are_4xx_and_change_nothing(served, library, quiet_log):
    start = _assignments(library)
    face = min(start)
    cases = [
        ("/api/faces/move", {"faces": []}, 400, "list of 1 to 500 ids"),
        ("/api/faces/move", {"faces": list(range(1, 502))}, 400, "list of 1 to 500 ids"),
        ("/api/faces/move", {"faces": [face, "2"]}, 400, "list of 1 to 500 ids"),
        ("/api/faces/move", {"faces": face}, 400, "list of 1 to 500 ids"),
        ("/api/faces/move", {"faces": [face, -1]}, 400, "list of 1 to 500 ids"),
        ("/api/faces/move", {"faces": [face, True]}, 400, "list of 1 to 500 ids"),
        ("/api/faces/move", {"to": 1}, 400, "'faces' is missing"),
        ("/api/faces/move", {"faces": [face], "to": 1, "new": True}, 400, "not both"),
        ("/api/faces/move", {"faces": [face], "to": 99999}, 404, "99999"),
        ("/api/faces/move", {"faces": [face, 99999], "to": None}, 404, "No face 99999"),
        ("/api/faces/move", {"faces": [face], "new": "yes"}, 400, "true or false"),
        ("/api/faces/notface", {"faces": [99999]}, 404, "No face 99999"),
        ("/api/faces/notface", {"faces": [face], "to": 1}, 400, "Unknown field 'to'"),
    ]
    for path, body, status, words in cases:
        got, answer = _post(served, path, body)
        assert got == status and words in answer["error"], (body, got, answer)
    assert request(served, "GET", "/api/faces/move").status == 405
    assert _assignments(library) == start
