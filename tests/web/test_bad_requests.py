"""Each bad request found against the review server (issue 14, items 5 and 7) is
answered with a 4xx and a JSON body, changes nothing, and leaves no traceback."""

from __future__ import annotations

import json
import re
import socket
import threading
import time

import pytest
from sqlalchemy import select

from photogroup.db.models import Assignment, Decision, Person
from photogroup.web.server import make_server

from .conftest import raw, request


def _ids(library):  # type: ignore[no-untyped-def]
    with library.session() as s:
        face, person = s.execute(select(Assignment.face_id, Assignment.person_id)).first()
        return face, person


def _decisions(library) -> int:  # type: ignore[no-untyped-def]
    with library.session() as s:
        return len(s.scalars(select(Decision)).all())


def _name(library, pid):  # type: ignore[no-untyped-def]
    with library.session() as s:
        return s.get(Person, pid).name


@pytest.mark.parametrize(
    "path",
    [
        f"/face/{2**63}.jpg",
        f"/photo/{10**30}.jpg",
        f"/api/people/{2**64}",
        f"/api/faces/{'9' * 5000}",
    ],
)
def test_ids_larger_than_any_id_are_not_found(served, quiet_log, path):
    r = request(served, "GET", path)
    assert r.status == 404 and "larger than any id" in r.json()["error"]


def test_huge_ids_inside_questions_and_names_are_refused(served, library, quiet_log):
    body = json.dumps({"id": f"face:1:{2**63}", "answer": "yes"}).encode()
    r = request(served, "POST", "/api/answer", body)
    assert r.status == 400 and "question id" in r.json()["error"]
    r = request(served, "GET", f"/api/photos?person={10**25}")
    assert r.status == 404 and "No person named" in r.json()["error"]
    r = request(served, "POST", f"/api/faces/{2**63}/remove", b"{}")
    assert r.status == 404
    assert _decisions(library) == 0


@pytest.mark.parametrize(
    ("query", "words"),
    [("size=abc", "size='abc'"), ("size=-5", "size='-5'"), ("size=1e9", "size='1e9'")],
)
def test_bad_sizes_name_the_value(served, library, quiet_log, query, words):
    face, _ = _ids(library)
    r = request(served, "GET", f"/face/{face}.jpg?{query}")
    assert r.status == 400 and words in r.json()["error"]


def test_bad_photo_size_and_a_size_out_of_range(served, library, quiet_log):
    face, _ = _ids(library)
    with library.session() as s:
        photo = s.scalar(select(Assignment.face.property.mapper.class_.photo_id).limit(1))
    r = request(served, "GET", f"/photo/{photo}.jpg?max=1e9")
    assert r.status == 400 and "max='1e9'" in r.json()["error"]
    r = request(served, "GET", f"/photo/{photo}.jpg?max=999999999")  # clamped to 2048
    assert r.status == 200 and r.body[:2] == b"\xff\xd8"
    r = request(served, "GET", f"/face/{face}.jpg?size=1")  # clamped to 32
    assert r.status == 200 and r.headers["content-type"] == "image/jpeg"


@pytest.mark.parametrize(
    ("body", "words"),
    [
        ({"id": "who:1", "answer": "yes", "name": 5}, "'name' must be a string or null, not 5"),
        ({"id": "who:1", "answer": "yes", "name": ["A"]}, "'name' must be a string"),
        ({"id": 7, "answer": "yes"}, "'id' must be a string"),
        ({"id": "who:1"}, "'answer' is missing"),
        ({"id": "who:1", "answer": "yes", "extra": 1}, "Unknown field 'extra'"),
        ([1, 2], "must be a JSON object"),
        ("text", "must be a JSON object"),
    ],
)
def test_wrong_json_types_are_refused_before_any_work(served, library, quiet_log, body, words):
    r = request(served, "POST", "/api/answer", json.dumps(body).encode())
    assert r.status == 400 and words in r.json()["error"]
    assert _decisions(library) == 0


def test_wrong_types_on_every_changing_route(served, library, quiet_log):
    _, pid = _ids(library)
    cases = [
        ("/api/merge", {"keep": "1", "other": 2}, "'keep' must be an id"),
        ("/api/merge", {"keep": True, "other": 2}, "'keep' must be an id"),
        ("/api/merge", {"keep": 1, "other": 2**63}, "'other' must be an id"),
        ("/api/merge", {"keep": 1.5, "other": 2}, "'keep' must be an id"),
        (f"/api/people/{pid}/name", {"name": {"a": 1}}, "'name' must be a string"),
        (f"/api/people/{pid}/hide", {"hidden": "no"}, "'hidden' must be true or false"),
        (f"/api/people/{pid}/name", {"name": "\ud800"}, "'name' is not valid text"),
    ]
    for path, body, words in cases:
        r = request(served, "POST", path, json.dumps(body).encode())
        assert r.status == 400 and words in r.json()["error"], (path, body, r.body)
    for literal in (b'{"keep": NaN, "other": 1}', b'{"keep": Infinity, "other": 1}'):
        r = request(served, "POST", "/api/merge", literal)
        assert r.status == 400 and r.json()["error"] == "The body is not JSON."
    assert _decisions(library) == 0


def test_non_ascii_tokens_are_refused(served, library, quiet_log):
    _, pid = _ids(library)
    for token in ("é" * 32, "\u2603", "x\udcff"):
        value = token.encode("utf-8", "surrogateescape")
        r = request(
            served,
            "POST",
            f"/api/people/{pid}/name",
            b'{"name": "Eve"}',
            headers={"X-CSRF-Token": value},
        )
        assert r.status == 403 and "CSRF" in r.json()["error"]
    assert _name(library, pid) is None


def test_the_token_of_another_address_compares_any_text(library, config, quiet_log):
    server = make_server(library, config, "fake-embedder-v1", host="0.0.0.0", port=0).start()
    try:
        for given in ("%C3%A9", "%E2%98%83", "%FF"):
            r = request(server, "GET", f"/api/people?token={given}")
            assert r.status == 401
        r = request(server, "GET", "/api/people", headers={"Cookie": b'photogroup="\xe9\\"; x'})
        assert r.status == 401
    finally:
        server.stop()


def test_json_nested_30k_deep_is_refused(served, library, quiet_log):
    deep = b"[" * 30_000 + b"]" * 30_000
    r = request(served, "POST", "/api/answer", deep)
    assert r.status == 400 and r.json()["error"] == "The body is not JSON."
    deep = b'{"a":' * 10_000 + b"1" + b"}" * 10_000
    r = request(served, "POST", "/api/undo", deep)
    assert r.status == 400


@pytest.mark.parametrize(
    ("length", "status", "words"),
    [
        ("-1", 400, "Content-Length '-1' is not a size"),
        ("abc", 400, "is not a size"),
        (" 1 2", 400, "is not a size"),
        (None, 411, "Send a Content-Length"),
        (str(10**30), 413, "Request too large"),
        ("64001", 413, "Request too large"),
    ],
)
def test_content_length_must_be_a_size_within_the_limit(
    served, library, quiet_log, length, status, words
):
    _, pid = _ids(library)
    data = b'{"name": "Eve"}'
    head = [
        f"POST /api/people/{pid}/name HTTP/1.1",
        f"Host: 127.0.0.1:{served.port}",
        "Content-Type: application/json",
        f"X-CSRF-Token: {served.csrf}",
    ]
    if length is not None:
        head.append(f"Content-Length: {length}")
    r = raw(served.port, ("\r\n".join(head) + "\r\n\r\n").encode() + data, hang_up=True)
    assert r.status == status and words in r.json()["error"]
    assert _name(library, pid) is None


def test_a_body_shorter_than_its_length_is_never_applied(served, library, quiet_log):
    """The client says 100 bytes, sends `{}` and hangs up: before, `{}` removed the name."""
    from photogroup.pipeline.people import name_person

    _, pid = _ids(library)
    name_person(library, pid, "Rita")
    r = request(served, "POST", f"/api/people/{pid}/name", b"{}", length="100", hang_up=True)
    assert r.status == 400 and "2 of its 100 bytes" in r.json()["error"]
    assert _name(library, pid) == "Rita"


def test_chunked_bodies_are_refused(served, library, quiet_log):
    r = request(
        served,
        "POST",
        "/api/undo",
        b"2\r\n{}\r\n0\r\n\r\n",
        headers={"Transfer-Encoding": "chunked"},
    )
    assert r.status == 411


def test_head_is_served_like_get_without_a_body(served, library, quiet_log):
    face, _ = _ids(library)
    for path, ctype in [
        ("/", "text/html; charset=utf-8"),
        ("/api/people", "application/json"),
        (f"/face/{face}.jpg", "image/jpeg"),
        ("/static/page.js", "text/javascript; charset=utf-8"),
    ]:
        get = request(served, "GET", path)
        head = request(served, "HEAD", path)
        assert head.status == get.status == 200
        assert head.headers["content-type"] == ctype
        assert head.body == b""
        assert int(head.headers["content-length"]) == len(get.body) > 0
    r = request(served, "HEAD", "/api/undo")
    assert r.status == 405 and r.headers["allow"] == "POST"


def test_other_methods_and_malformed_requests_are_4xx_json(served, quiet_log):
    for method in ("PUT", "DELETE", "PATCH", "OPTIONS", "TRACE", "BREW"):
        r = request(served, method, "/api/people")
        assert r.status == 405, method
        assert "not served" in r.json()["error"]
    r = request(served, "GET", "/api/undo")
    assert r.status == 405 and r.headers["allow"] == "POST"
    for line in (b"GET / HTTP/2.0", b"GET", b"\x00\xff garbage", b"GET / HTTP/1.1 extra"):
        r = raw(served.port, line + b"\r\nHost: x\r\n\r\n")
        assert 400 <= r.status < 500 and r.json()["error"], line
    r = request(served, "GET", "/api/people?" + "&".join(["a=1"] * 101))
    assert r.status == 400 and "Too many query values" in r.json()["error"]
    r = raw(served.port, b"GET /" + b"a" * 70_000 + b" HTTP/1.1\r\n\r\n")
    assert r.status == 414
    r = raw(served.port, b"GET / HTTP/1.1\r\n" + b"X: y\r\n" * 200 + b"\r\n")
    assert r.status == 431


@pytest.mark.parametrize(
    "headers",
    [
        {"Origin": "http://evil.example"},
        {"Origin": "null"},
        {"Sec-Fetch-Site": "cross-site"},
        {"Sec-Fetch-Site": "same-site"},
    ],
)
def test_posts_from_another_origin_are_refused(served, library, quiet_log, headers):
    _, pid = _ids(library)
    r = request(served, "POST", f"/api/people/{pid}/name", b'{"name": "Eve"}', headers=headers)
    assert r.status == 403 and "from this page only" in r.json()["error"]
    assert _name(library, pid) is None


def test_posts_from_the_page_itself_are_accepted(served, library, quiet_log):
    _, pid = _ids(library)
    own = {"Origin": f"http://127.0.0.1:{served.port}", "Sec-Fetch-Site": "same-origin"}
    r = request(served, "POST", f"/api/people/{pid}/name", b'{"name": "Eve"}', headers=own)
    assert r.status == 200, r.body
    assert _name(library, pid) == "Eve"


def test_the_page_runs_no_inline_script_or_style(served, quiet_log):
    page = request(served, "GET", "/")
    csp = page.headers["content-security-policy"]
    assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
    assert "script-src 'self'" in csp and "style-src 'self'" in csp
    html = page.body.decode()
    assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html)
    assert "<style" not in html and " style=" not in html and re.search(r" on\w+=", html) is None
    for name in ("page.js", "page.css"):
        r = request(served, "GET", f"/static/{name}")
        assert r.status == 200 and r.headers["content-security-policy"] == csp
    js = request(served, "GET", "/static/page.js").body.decode()
    assert "style:" not in js and '.setAttribute("style"' not in js
    assert request(served, "GET", "/static/../page.html").status == 404
    assert request(served, "GET", "/static/server.py").status == 404


def _open_half_sent(port: int, n: int) -> list[socket.socket]:
    socks = []
    for _ in range(n):
        s = socket.create_connection(("127.0.0.1", port), timeout=10)
        s.sendall(b"GET /api/people HTTP/1.1\r\nHost: 127.0.0.1\r\n")  # never ends
        socks.append(s)
    return socks


def test_800_idle_half_sent_requests_hold_no_thread(library, config, embedder, quiet_log):
    server = make_server(
        library, config, embedder.id, port=0, workers=4, request_timeout=5.0
    ).start()
    before = threading.active_count()
    opened = time.monotonic()
    socks = _open_half_sent(server.port, 800)
    try:
        assert threading.active_count() <= before, "a thread per connection"
        # a whole request is served at once, while the 800 wait
        started = time.monotonic()
        r = request(server, "GET", "/api/status")
        assert r.status == 200 and time.monotonic() - started < 2
        assert time.monotonic() - opened < 5, "answered only after the others timed out"
        # and each of the 800 is answered 408 at its deadline
        statuses = [int(s.recv(200).split()[1]) for s in socks]
        assert statuses == [408] * 800
        assert threading.active_count() <= before
    finally:
        for s in socks:
            s.close()
        server.stop()


def test_connections_beyond_the_limits_are_turned_away(library, config, embedder, quiet_log):
    server = make_server(
        library, config, embedder.id, port=0, request_timeout=1.0, max_waiting=50
    ).start()
    socks = _open_half_sent(server.port, 80)
    try:
        statuses = [int(s.recv(200).split()[1]) for s in socks]
        assert statuses.count(408) == 50 and statuses.count(503) == 30
    finally:
        for s in socks:
            s.close()
        server.stop()


def test_domain_errors_speak_of_page_actions(served, library, quiet_log):
    """The pipeline's messages name CLI commands; the page says what to do on the page."""
    from photogroup.pipeline.people import name_person
    from photogroup.web.server import page_words

    q = request(served, "GET", "/api/question").json()["question"]
    ok = request(
        served, "POST", "/api/answer", json.dumps({"id": q["id"], "answer": "skip"}).encode()
    )
    assert ok.status == 200
    again = request(
        served, "POST", "/api/answer", json.dumps({"id": q["id"], "answer": "skip"}).encode()
    )
    bad_id = request(served, "POST", "/api/answer", b'{"id": "what", "answer": "yes"}')
    people = sorted({p for _, p in _all_assignments(library)})
    name_person(library, people[0], "Ann")
    name_person(library, people[1], "Bob")
    both_named = request(
        served, "POST", "/api/merge", json.dumps({"keep": people[0], "other": people[1]}).encode()
    )
    taken = request(served, "POST", f"/api/people/{people[1]}/name", b'{"name": "ann"}')
    nobody = request(served, "GET", "/api/photos?person=Zed")
    expected = [
        (again, "Undo takes it back"),
        (bad_id, "Reload the page"),
        (both_named, "Rename with an empty name"),
        (taken, "Merge with…"),
        (nobody, "The People tab lists everyone."),
    ]
    for answer, words in expected:
        message = answer.json()["error"]
        assert 400 <= answer.status < 500 and words in message and "photogroup" not in message
    # any other command named by a message is said as a page action too
    assert page_words('Then run "photogroup undo 12".') == "Then run Undo."


def _all_assignments(library):  # type: ignore[no-untyped-def]
    with library.session() as s:
        return s.execute(select(Assignment.face_id, Assignment.person_id)).all()
