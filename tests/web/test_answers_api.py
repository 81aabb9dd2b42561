"""The page's API goes through the same checks as the command line (review.check_answer,
core.names.check_name): a bad answer or name is a 400 with the reason, nothing changes."""

from __future__ import annotations

import json
import urllib.error
import urllib.request

import pytest
from sqlalchemy import select

from photogroup.db.models import Decision, Person
from photogroup.web.server import make_server

from ..conftest import marker_people


@pytest.fixture
def post(library, config, detector, embedder, tmp_path):
    config.review.who_min_faces = 2
    marker_people(library, config, detector, embedder, tmp_path / "photos")
    server = make_server(library, config, embedder.id, port=0).start()

    def send(path, body):
        req = urllib.request.Request(
            f"http://127.0.0.1:{server.port}{path}",
            data=json.dumps(body).encode(),
            headers={"Content-Type": "application/json", "X-CSRF-Token": server.csrf},
        )
        try:
            with urllib.request.urlopen(req) as r:
                return r.status, json.loads(r.read())
        except urllib.error.HTTPError as e:
            return e.code, json.loads(e.read())

    yield send
    server.stop()


def test_bad_answers_and_names_are_400_and_change_nothing(post, library):
    with library.session() as s:
        pid = s.scalar(select(Person.id).limit(1))
    for body, reason in [
        ({"id": "same:1:1", "answer": "no"}, "two different people"),
        ({"id": f"who:{pid}", "answer": "no", "name": "X"}, "takes no name"),
        ({"id": f"who:{pid}", "answer": "yes", "name": 5}, "must be a string"),
        ({"id": f"who:{pid}", "answer": "yes", "name": "Ann\nfake"}, "line break"),
        ({"id": f"face:1:{pid}", "answer": "yes", "name": "Bob"}, "A name answers only"),
    ]:
        status, reply = post("/api/answer", body)
        assert status == 400 and reason in reply["error"], (body, reply)
    status, reply = post(f"/api/people/{pid}/name", {"name": "\x1b[31mEvil"})
    assert status == 400 and "control character" in reply["error"]
    with library.session() as s:
        assert s.scalars(select(Decision)).all() == []
        assert s.scalars(select(Person.name).where(Person.name.is_not(None))).all() == []
    status, reply = post(f"/api/people/{pid}/name", {"name": "Ann"})
    assert status == 200
    status, reply = post("/api/undo", {})
    assert (
        reply["message"]
        == f'Undone: named Person {pid} "Ann" (was unnamed). Person {pid} is unnamed again.'
    )
