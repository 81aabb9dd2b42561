"""The review page and its JSON API, served by the standard library's http.server.

Safety (the page can rename, merge and hide people):
- it binds 127.0.0.1 unless `[review] host` says otherwise, and then every request
  must carry the access token printed with the address (kept in a cookie after
  the first visit);
- on 127.0.0.1 the Host header must name this server (no DNS rebinding);
- requests that change anything are POSTs with a JSON body and the page's CSRF
  token in the X-CSRF-Token header;
- images are served by face or photo id only: no path from a request reaches
  the filesystem, and only photos of the library are read.
"""

from __future__ import annotations

import json
import re
import secrets
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http import HTTPStatus
from http.cookies import SimpleCookie
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from typing import Any
from urllib.parse import parse_qs, urlsplit

from sqlalchemy import select

from ..core.config import Config
from ..core.errors import NotFoundError, PhotogroupError
from ..db.library import Library
from ..db.models import Assignment, Face, Photo
from ..pipeline import crops, review
from ..pipeline.people import hide_person, merge_people, name_person
from ..pipeline.query import get_person, list_people

LOOPBACK = {"127.0.0.1", "localhost", "::1"}
#: The largest request body on /api/models/ (a photo's bytes in base64).
MODEL_BODY_LIMIT = 64 << 20


@dataclass
class ReviewState:
    """The question queue shared by the page's requests (computed once, refilled when
    used up or after `refill_after` answers, as answers move the thresholds)."""

    library: Library
    config: Config
    embedder: str
    refill_after: int = 20
    queue: list[review.Question] = field(default_factory=list)
    answers_since: int = 0
    filled: bool = False
    lock: threading.RLock = field(default_factory=threading.RLock)

    def next(self) -> tuple[review.Question | None, int]:
        with self.lock:
            if not self.filled or not self.queue or self.answers_since >= self.refill_after:
                self.queue = review.questions(self.library, self.config, self.embedder)
                self.filled, self.answers_since = True, 0
            while self.queue:
                q = self.queue[0]
                if review.still_open(self.library, q):
                    return q, len(self.queue)
                self.queue.pop(0)
            return None, 0

    def answered(self) -> None:
        with self.lock:
            self.answers_since += 1


class _Reply(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def _page(csrf: str) -> bytes:
    html = resources.files(__package__).joinpath("page.html").read_text(encoding="utf-8")
    return html.replace("{{CSRF}}", csrf).encode("utf-8")


def make_server(
    library: Library,
    config: Config,
    embedder: str,
    host: str | None = None,
    port: int | None = None,
) -> ReviewServer:
    host = host or config.review.host
    port = config.review.port if port is None else port
    return ReviewServer(ReviewState(library, config, embedder), host, port)


class ReviewServer:
    def __init__(self, state: ReviewState, host: str, port: int) -> None:
        self.state = state
        self.scheduler: Any = None  # pipeline.schedule.Scheduler, set by `photogroup serve`
        self.model_api: Any = None  # web.models.ModelAPI, set by `photogroup serve`
        self.csrf = secrets.token_urlsafe(24)
        self.access_token = None if host in LOOPBACK else secrets.token_urlsafe(24)
        self.write_lock = threading.Lock()
        handler = _handler_class(self)
        self.httpd = ThreadingHTTPServer((host, port), handler)
        self.httpd.daemon_threads = True
        self.host, self.port = host, int(self.httpd.server_address[1])
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        base = f"http://{host}:{self.port}/"
        return base + (f"?token={self.access_token}" if self.access_token else "")

    def allowed_hosts(self) -> set[str]:
        names = {self.host, *(LOOPBACK if self.host in LOOPBACK else ())}
        return {f"{n}:{self.port}" for n in names} | {f"[{n}]:{self.port}" for n in names}

    def serve_until_interrupted(self) -> None:
        """Serve in this thread until Ctrl-C, then close the socket."""
        try:
            self.httpd.serve_forever()
        except KeyboardInterrupt:
            pass
        finally:
            self.stop()

    def start(self) -> ReviewServer:
        """Serve in a background thread (tests, `photogroup serve`)."""
        self._thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    # -- the API ----------------------------------------------------------------------

    def get(self, path: str, query: dict[str, list[str]]) -> tuple[str, Any]:
        st = self.state
        if path == "/":
            return "text/html; charset=utf-8", _page(self.csrf)
        if path == "/api/status":
            from ..pipeline.status import library_status

            return "json", {
                "library": library_status(st.library),
                "schedule": None if self.scheduler is None else self.scheduler.status(),
            }
        if path == "/api/photos":
            from ..pipeline.query import find_photos

            found = find_photos(
                st.library,
                [p for p in query.get("person", []) if p.strip()],
                [p for p in query.get("without", []) if p.strip()],
                query.get("from", [""])[0] or None,
                query.get("to", [""])[0] or None,
            )
            return "json", {"count": len(found), "photos": [r.as_json() for r in found[:500]]}
        if path == "/api/question":
            q, left = st.next()
            return "json", {"question": None if q is None else q.as_json(), "open": left}
        if path == "/api/people":
            rows = list_people(
                st.library,
                include_all=query.get("all", ["0"])[0] == "1",
                min_faces=st.config.people.min_faces_listed,
                min_quality=st.config.quality.min_quality,
            )
            return "json", {"people": [r.as_json() for r in rows]}
        m = re.fullmatch(r"/api/people/(\d+)", path)
        if m:
            return "json", self._person(int(m[1]))
        m = re.fullmatch(r"/face/(\d+)\.jpg", path)
        if m:
            size = min(max(int(query.get("size", ["160"])[0] or 160), 32), 512)
            photo, box = self._face(int(m[1]))
            return "image/jpeg", crops.jpeg_bytes(crops.face_crop(photo, box, size))
        m = re.fullmatch(r"/photo/(\d+)\.jpg", path)
        if m:
            side = min(max(int(query.get("max", ["1600"])[0] or 1600), 64), 2048)
            preview = crops.photo_preview(self._photo(int(m[1])), side)
            return "image/jpeg", crops.jpeg_bytes(preview)
        raise _Reply(HTTPStatus.NOT_FOUND, f"No page {path}.")

    def post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        if path.startswith("/api/models/"):  # the warm models: nothing is written
            if self.model_api is None:
                raise _Reply(HTTPStatus.NOT_FOUND, "This server has no models to lend.")
            analysed: dict[str, Any] = self.model_api.post(path, body)
            return analysed
        st = self.state
        lib, cfg, emb = st.library, st.config, st.embedder
        with self.write_lock:
            if path == "/api/answer":
                result = review.answer(
                    lib,
                    cfg,
                    emb,
                    str(body.get("id", "")),
                    str(body.get("answer", "")),
                    body.get("name") or None,
                )
                st.answered()
                return {"message": result.message}
            if path == "/api/scan":
                if self.scheduler is None:
                    raise _Reply(HTTPStatus.CONFLICT, "Scans are not scheduled by this server.")
                self.scheduler.run_now()
                return {"message": "A scan starts now (unless one is running)."}
            if path == "/api/undo":
                message = review.undo(lib, cfg, emb)
                st.filled = False  # an undone answer may reopen a question
                return {"message": message}
            if path == "/api/merge":
                kept = merge_people(lib, _int(body, "keep"), _int(body, "other"))
                st.answered()
                return {
                    "message": f"Merged into {kept.name or f'Person {kept.id}'}.",
                    "person_id": kept.id,
                }
            m = re.fullmatch(r"/api/people/(\d+)/name", path)
            if m:
                name = str(body.get("name") or "").strip() or None
                p = name_person(lib, int(m[1]), name)
                return {"message": f"Person {p.id} is now {p.name or 'unnamed'}."}
            m = re.fullmatch(r"/api/people/(\d+)/hide", path)
            if m:
                p = hide_person(lib, int(m[1]), bool(body.get("hidden", True)))
                return {"message": f"Person {p.id} {'hidden' if p.hidden else 'shown'}."}
            m = re.fullmatch(r"/api/faces/(\d+)/remove", path)
            if m:
                result = review.remove_face(lib, cfg, emb, int(m[1]))
                st.answered()
                return {"message": result.message}
        raise _Reply(HTTPStatus.NOT_FOUND, f"No action {path}.")

    def _person(self, pid: int) -> dict[str, Any]:
        person = get_person(self.state.library, pid)
        with self.state.library.new_session() as s:
            faces = s.execute(
                select(Face.id, Photo.id, Face.x, Face.y, Face.w, Face.h, Assignment.origin)
                .join(Assignment, Assignment.face_id == Face.id)
                .join(Photo, Photo.id == Face.photo_id)
                .where(Assignment.person_id == pid, Photo.status == "ok")
                .order_by(Assignment.origin.desc(), Face.id)
                .limit(500)
            ).all()
        return {
            "person": person.as_json(),
            "faces": [
                {"face_id": f, "photo_id": ph, "box": [x, y, w, h], "origin": o}
                for f, ph, x, y, w, h, o in faces
            ],
        }

    def _face(self, face_id: int) -> tuple[str, list[float]]:
        with self.state.library.new_session() as s:
            row = s.execute(
                select(Photo.path, Face.x, Face.y, Face.w, Face.h)
                .join(Photo, Photo.id == Face.photo_id)
                .where(Face.id == face_id)
            ).first()
        if row is None:
            raise NotFoundError(f"No face {face_id}.")
        return row[0], [row[1], row[2], row[3], row[4]]

    def _photo(self, photo_id: int) -> str:
        with self.state.library.new_session() as s:
            path = s.scalar(select(Photo.path).where(Photo.id == photo_id))
        if path is None:
            raise NotFoundError(f"No photo {photo_id}.")
        return str(path)


def _int(body: dict[str, Any], key: str) -> int:
    try:
        return int(body[key])
    except (KeyError, TypeError, ValueError):
        raise _Reply(HTTPStatus.BAD_REQUEST, f"{key!r} must be a person id.") from None


def _handler_class(server: ReviewServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        server_version = "photogroup"
        sys_version = ""

        def log_message(self, format: str, *args: Any) -> None:  # quiet
            return

        def _guard(self, query: dict[str, list[str]]) -> str | None:
            """Checks every request; returns a cookie to set (first visit with the token)."""
            if server.access_token is None:
                # Loopback: the Host must name this server (no DNS rebinding).
                if self.headers.get("Host", "") not in server.allowed_hosts():
                    raise _Reply(HTTPStatus.FORBIDDEN, "Unknown Host header.")
                return None
            # Any other address: the access token decides, whatever the Host.
            cookie = SimpleCookie(self.headers.get("Cookie", ""))
            given = query.get("token", [None])[0] or (
                cookie["photogroup"].value if "photogroup" in cookie else None
            )
            if given is None or not secrets.compare_digest(given, server.access_token):
                raise _Reply(HTTPStatus.UNAUTHORIZED, "Open the address with its ?token=.")
            return f"photogroup={server.access_token}; HttpOnly; SameSite=Strict; Path=/"

        def _send(self, status: int, ctype: str, body: bytes, cookie: str | None = None) -> None:
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.send_header(
                "Cache-Control", "no-store" if ctype != "image/jpeg" else "max-age=300"
            )
            self.send_header("X-Content-Type-Options", "nosniff")
            self.send_header("X-Frame-Options", "DENY")
            self.send_header("Referrer-Policy", "no-referrer")
            self.send_header(
                "Content-Security-Policy",
                "default-src 'self'; img-src 'self'; style-src 'self' 'unsafe-inline'; "
                "script-src 'self' 'unsafe-inline'",
            )
            if cookie:
                self.send_header("Set-Cookie", cookie)
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

        def _error(self, status: int, message: str) -> None:
            body = json.dumps({"error": message}).encode()
            self._send(status, "application/json", body)

        def _run(self, work: Callable[[dict[str, list[str]]], tuple[str, Any]]) -> None:
            parts = urlsplit(self.path)
            query = parse_qs(parts.query)
            try:
                cookie = self._guard(query)
                ctype, payload = work(query)
            except _Reply as exc:
                self._error(exc.status, str(exc))
                return
            except NotFoundError as exc:
                self._error(HTTPStatus.NOT_FOUND, str(exc))
                return
            except PhotogroupError as exc:
                self._error(HTTPStatus.BAD_REQUEST, str(exc))
                return
            if ctype == "json":
                ctype, payload = "application/json", json.dumps(payload).encode()
            self._send(HTTPStatus.OK, ctype, payload, cookie)

        def do_GET(self) -> None:  # noqa: N802
            path = urlsplit(self.path).path
            self._run(lambda query: server.get(path, query))

        def do_POST(self) -> None:  # noqa: N802
            path = urlsplit(self.path).path

            def work(_query: dict[str, list[str]]) -> tuple[str, Any]:
                token = self.headers.get("X-CSRF-Token", "")
                if not secrets.compare_digest(token, server.csrf):
                    raise _Reply(HTTPStatus.FORBIDDEN, "Missing or wrong CSRF token.")
                if not self.headers.get("Content-Type", "").startswith("application/json"):
                    raise _Reply(HTTPStatus.UNSUPPORTED_MEDIA_TYPE, "Send JSON.")
                length = int(self.headers.get("Content-Length") or 0)
                if length > (MODEL_BODY_LIMIT if path.startswith("/api/models/") else 64_000):
                    raise _Reply(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, "Request too large.")
                try:
                    body = json.loads(self.rfile.read(length) or b"{}")
                except ValueError:
                    raise _Reply(HTTPStatus.BAD_REQUEST, "The body is not JSON.") from None
                if not isinstance(body, dict):
                    raise _Reply(HTTPStatus.BAD_REQUEST, "The body must be a JSON object.")
                return "json", server.post(path, body)

            self._run(work)

    return Handler
