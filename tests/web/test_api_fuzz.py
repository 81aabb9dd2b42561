"""Fuzz test of the review server's HTTP API (issue 14): every route of the server's
routing table, with random ids, query values, bodies, lengths, methods and headers,
against a real server on 127.0.0.1 over a real library (fake models). No answer is a
5xx, no connection closes without an answer, every answer is whole and JSON (or the
page, its files, a JPEG), and the server logs no error and prints no traceback."""

from __future__ import annotations

import json
import string
from urllib.parse import quote, urlencode

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from photogroup.db.models import Face, Person, Photo
from photogroup.pipeline.check import check
from photogroup.web.server import ReviewServer

from .conftest import raw

EXAMPLES = 400

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.floats(allow_nan=False)
    | st.text(max_size=30),
    lambda kids: (
        st.lists(kids, max_size=4) | st.dictionaries(st.text(max_size=8), kids, max_size=4)
    ),
    max_leaves=12,
)

odd_numbers = st.sampled_from(
    ["abc", "1e9", "-1", "", "0", "160", "99999999999999999999", "1.5", " 7", "٣", "0x10"]
)
odd_text = st.sampled_from(
    [
        "Person 1",
        "person 2",
        "1",
        "2020",
        "2020-13",
        "2020-02-30",
        "x" * 300,
        "\x00",
        "é",
        f"{2**64}",
    ]
)


def _ids(library) -> list[int]:  # type: ignore[no-untyped-def]
    with library.session() as s:
        ids = set(s.scalars(select(Face.id))) | set(s.scalars(select(Person.id)))
        ids |= set(s.scalars(select(Photo.id)))
    return sorted(ids)


def _typed(kind: str, known_ids: list[int]) -> st.SearchStrategy:  # type: ignore[type-arg]
    """A value of a body field's own kind (to reach the work behind the checks)."""
    kind = kind.lstrip("*").rstrip("?")
    if kind == "id":
        return st.sampled_from(known_ids) | st.integers(0, 2**63 - 1)
    if kind == "bool":
        return st.booleans()
    if kind == "ids":  # mostly valid selections, some empty, too long or with a stranger
        some_id = st.sampled_from(known_ids) | st.integers(-1, 2**63)
        return st.lists(some_id, max_size=6) | st.lists(st.sampled_from(known_ids), min_size=501)
    return odd_text | st.text(max_size=20) | st.sampled_from(["yes", "no", "skip", "who:1"])


#: What one example gets wrong: mostly one thing at a time, so that the others pass the
#: checks and the broken one is what the server meets.
BREAKS = ["nothing"] * 4 + ["host", "csrf", "origin", "site", "ctype", "length", "method", "path"]


@st.composite
def requests(draw, server: ReviewServer, known_ids: list[int]) -> tuple[bytes, str, bool]:  # type: ignore[no-untyped-def]
    route = draw(st.sampled_from(server.routes))
    broken = draw(st.sampled_from(BREAKS))
    some_id = draw(
        st.sampled_from(known_ids)
        | st.integers(0, 2**70)
        | st.sampled_from([0, 2**63 - 1, 2**63, 10**30])
    )
    path = route.path.replace("{id}", str(some_id))
    if broken == "path":
        path = "/" + quote(draw(st.text(max_size=20)), safe="/.%")
    method = route.method
    if broken == "method":
        method = draw(st.sampled_from(["PUT", "DELETE", "OPTIONS", "PATCH", "FOO", "POST", "GET"]))
    elif method == "GET" and draw(st.integers(0, 3)) == 0:
        method = "HEAD"

    names = [*route.query, "token", "x"]
    typed = {"int": odd_numbers | st.integers(-5, 5000).map(str), "text": odd_text}
    query = draw(
        st.lists(
            st.sampled_from(names).flatmap(
                lambda n: st.tuples(
                    st.just(n),
                    typed[route.query.get(n, "text").split(":")[0]] | st.text(max_size=12),
                )
            ),
            max_size=4,
        )
    )
    if query:
        path += "?" + urlencode(query)

    headers: dict[str, bytes] = {"Host": f"127.0.0.1:{server.port}".encode()}
    if broken == "host":
        headers["Host"] = draw(
            st.sampled_from([b"evil.example", b"", b"127.0.0.1:1", "é".encode()])
        )
    headers["X-CSRF-Token"] = server.csrf.encode()
    if broken == "csrf":
        headers["X-CSRF-Token"] = draw(
            st.sampled_from([b"0" * len(server.csrf), "é☃".encode() + b"\xff", b""])
        )
    if draw(st.booleans()):
        headers["Origin"] = b"http://" + headers["Host"]
        headers["Sec-Fetch-Site"] = b"same-origin"
    if broken == "origin":
        headers["Origin"] = draw(st.sampled_from([b"null", b"http://evil.example", b"\xff"]))
    if broken == "site":
        headers["Sec-Fetch-Site"] = draw(st.sampled_from([b"cross-site", b"same-site", b"none"]))
    headers["Content-Type"] = b"application/json"
    if broken == "ctype":
        headers["Content-Type"] = draw(
            st.sampled_from([b"text/plain", b"", b"application/x-www-form-urlencoded"])
        )
    if draw(st.integers(0, 3)) == 0:
        name = draw(st.text(string.ascii_letters + "-", min_size=1, max_size=12))
        value = draw(st.binary(max_size=40)).replace(b"\r", b"").replace(b"\n", b"")
        headers.setdefault(name, value)

    body = b""
    if method in ("POST", "PUT", "PATCH") or draw(st.integers(0, 9)) == 0:
        kind = draw(st.sampled_from(["typed"] * 3 + ["schema", "json", "bytes", "deep", "empty"]))
        if kind in ("typed", "schema"):
            fields = {
                k.lstrip("*"): draw(_typed(v, known_ids) if kind == "typed" else json_values)
                for k, v in route.body.items()
                if k.startswith("*") or draw(st.booleans())
            }
            if draw(st.integers(0, 5)) == 0:
                fields[draw(st.text(max_size=6))] = draw(json_values)
            body = json.dumps(fields).encode()
        elif kind == "json":
            body = json.dumps(draw(json_values)).encode()
        elif kind == "bytes":
            body = draw(st.binary(max_size=200))
        elif kind == "deep":
            depth = draw(
                st.sampled_from([999, 1001, 5000, 31_999, 32_001]) | st.integers(1, 40_000)
            )
            body = b"[" * depth + b"]" * depth
    headers["Content-Length"] = str(len(body)).encode()
    hang_up = False
    if broken == "length":
        how = draw(st.sampled_from(["short", "negative", "missing", "huge", "text"]))
        if how == "short":
            headers["Content-Length"] = str(len(body) + draw(st.integers(1, 5000))).encode()
            hang_up = True
        elif how == "negative":
            headers["Content-Length"] = b"-1"
        elif how == "missing":
            del headers["Content-Length"]
        elif how == "huge":
            headers["Content-Length"] = str(draw(st.integers(64_001, 10**30))).encode()
            hang_up = True
        else:
            headers["Content-Length"] = b"12abc"
    head = [f"{method} {path} HTTP/1.1".encode()]
    head += [k.encode() + b": " + v for k, v in headers.items()]
    return b"\r\n".join(head) + b"\r\n\r\n" + body, method, hang_up


def _check_answer(data: bytes, method: str, answer) -> None:  # type: ignore[no-untyped-def]
    request_line = data.split(b"\r\n", 1)[0][:120]
    assert answer.status < 500, (request_line, answer.status, answer.body[:300])
    ctype = answer.headers.get("content-type", "")
    if method == "HEAD":
        assert answer.body == b"", request_line
        return
    assert int(answer.headers["content-length"]) == len(answer.body), request_line
    if ctype == "application/json":
        payload = json.loads(answer.body)
        if answer.status >= 400:
            assert isinstance(payload["error"], str) and payload["error"], request_line
    elif ctype == "image/jpeg":
        assert answer.status == 200 and answer.body[:2] == b"\xff\xd8", request_line
    elif ctype.startswith("text/html"):
        assert answer.status == 200 and answer.body.startswith(b"<!doctype html>")
    else:
        assert ctype in (
            "text/javascript; charset=utf-8",
            "text/css; charset=utf-8",
            "image/svg+xml",
        ), (
            request_line,
            ctype,
        )


def test_fuzzed_requests_get_4xx_json_never_5xx(served, library, quiet_log):
    known = _ids(library)
    seen: dict[int, int] = {}

    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(requests(served, known))
    def one(req: tuple[bytes, str, bool]) -> None:
        data, method, hang_up = req
        answer = raw(served.port, data, hang_up=hang_up)
        _check_answer(data, method, answer)
        seen[answer.status] = seen.get(answer.status, 0) + 1

    one()
    print("SEEN", sorted(seen.items()))
    # the fuzzing reached the work, not only the refusals
    assert seen.get(200, 0) > EXAMPLES // 20 and seen.get(400, 0) > 0 and seen.get(404, 0) > 0
    # whatever was accepted left a library that `photogroup check` finds sound
    assert [p for p in check(library)] == []


def test_every_route_answers_its_plain_request(served, library, quiet_log):
    """Each route, given an id that exists, answers 2xx or a domain 4xx; never a 5xx."""
    with library.session() as s:
        ids = {
            "face": s.scalar(select(Face.id)),
            "photo": s.scalar(select(Photo.id)),
            "people": s.scalar(select(Person.id)),
        }
    for route in served.routes:
        kind = next((k for k in ids if f"/{k}" in route.path), "people")
        path = route.path.replace("{id}", str(ids[kind]))
        body = b"{}" if route.method == "POST" else b""
        h = [
            f"{route.method} {path} HTTP/1.1",
            f"Host: 127.0.0.1:{served.port}",
            f"X-CSRF-Token: {served.csrf}",
            "Content-Type: application/json",
            f"Content-Length: {len(body)}",
        ]
        answer = raw(served.port, "\r\n".join(h).encode() + b"\r\n\r\n" + body)
        _check_answer(body, route.method, answer)
        assert answer.status in (200, 400, 404, 409), (route.path, answer.status, answer.body)
