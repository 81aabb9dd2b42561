"""A review server on 127.0.0.1 over a real library of marker photos (fake models),
and a raw HTTP client that can send what no well-behaved client sends."""

from __future__ import annotations

import json
import logging
import socket
from dataclasses import dataclass

import pytest

from photogroup.web.server import make_server

from ..conftest import marker_people


@pytest.fixture
def served(library, config, detector, embedder, tmp_path):
    config.review.who_min_faces = 2
    # the fake embedder's marker colours lie 0.3 apart: "Same person?" would come first
    config.people.merge_threshold = 0.1
    marker_people(library, config, detector, embedder, tmp_path / "photos")
    server = make_server(library, config, embedder.id, port=0).start()
    yield server
    server.stop()


@pytest.fixture
def quiet_log(caplog, capfd):  # type: ignore[no-untyped-def]
    """Fails the test if the server logged an error or printed a traceback."""
    caplog.set_level(logging.DEBUG, logger="photogroup.web")
    yield
    bad = [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info]
    assert bad == [], [r.getMessage() for r in bad]
    err = capfd.readouterr().err
    assert "Traceback" not in err and "Exception" not in err, err[-2000:]


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self):  # type: ignore[no-untyped-def]
        assert self.headers.get("content-type") == "application/json", self.headers
        return json.loads(self.body)


def raw(port: int, data: bytes, hang_up: bool = False, timeout: float = 10.0) -> Answer:
    """Send `data` as it is (then close our sending side when `hang_up`), read the whole
    answer. A connection closed with no answer or a cut answer fails the test."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(data)
        if hang_up:
            s.shutdown(socket.SHUT_WR)
        chunks = []
        while chunk := s.recv(65536):
            chunks.append(chunk)
    reply = b"".join(chunks)
    assert reply, "the server closed the connection without an answer"
    head, sep, body = reply.partition(b"\r\n\r\n")
    assert sep, f"no end of headers in {reply[:200]!r}"
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return Answer(status, headers, body)


def request(
    server,  # type: ignore[no-untyped-def]
    method: str,
    path: str,
    body: bytes | None = None,
    headers: dict[str, str | bytes] | None = None,
    csrf: bool = True,
    length: str | None = None,
    hang_up: bool = False,
) -> Answer:
    """One request as the page would send it, with any header or length replaced."""
    h: dict[str, str | bytes] = {"Host": f"127.0.0.1:{server.port}"}
    if method == "POST":
        h["Content-Type"] = "application/json"
        if csrf:
            h["X-CSRF-Token"] = server.csrf
        if body is not None:
            h["Content-Length"] = str(len(body))
    if length is not None:
        h["Content-Length"] = length
    h.update(headers or {})
    lines = [f"{method} {path} HTTP/1.1".encode()]
    for k, v in h.items():
        lines.append(k.encode() + b": " + (v if isinstance(v, bytes) else v.encode("utf-8")))
    data = b"\r\n".join(lines) + b"\r\n\r\n" + (body or b"")
    return raw(server.port, data, hang_up=hang_up)


def assert_controls_fit(page, selectors, width: int) -> None:  # type: ignore[no-untyped-def]
    """Each control is visible, inside the viewport's width, and covered by nothing
    (the element at its centre is itself or inside it); the page does not overflow."""
    assert page.evaluate("document.documentElement.scrollWidth") <= width
    for sel in selectors:
        assert page.is_visible(sel), sel
        box = page.locator(sel).bounding_box()
        assert box and box["x"] >= 0 and box["x"] + box["width"] <= width, (sel, box)
        covered = page.evaluate(
            """([sel, x, y]) => { const e = document.elementFromPoint(x, y);
                 return !(e && e.closest(sel)); }""",
            [sel, box["x"] + box["width"] / 2, box["y"] + box["height"] / 2],
        )
        assert not covered, sel
