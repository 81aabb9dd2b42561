"""The review page and its JSON API, served by the standard library's http.server.

Safety (the page can rename, merge and hide people):
- it binds 127.0.0.1 unless `[review] host` says otherwise, and then every request
  must carry the access token printed with the address (kept in a cookie after
  the first visit);
- on 127.0.0.1 the Host header must name this server (no DNS rebinding);
- requests that change anything are POSTs with a JSON body, the page's CSRF token in
  the X-CSRF-Token header and, when the browser says where it comes from (Origin,
  Sec-Fetch-Site), this server's own origin;
- images are served by face or photo id only: no path from a request reaches
  the filesystem, and only photos of the library are read;
- the page runs no inline script or style (its Content-Security-Policy allows only
  this server's own files);
- every bad request is answered with a 4xx status and a JSON body {"error": ...}:
  the routes below declare their ids, query values and body fields, and are checked
  against them before any work; domain errors map to statuses in `_failure`;
- a fixed pool of threads serves, and a request has `request_timeout` seconds to
  arrive (pool.PooledHTTPServer).
"""

from __future__ import annotations

import json
import logging
import re
import secrets
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http import HTTPStatus
from http.cookies import CookieError, SimpleCookie
from importlib import resources
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlsplit

from ..core.config import Config
from ..core.errors import (
    LibraryError,
    NotFoundError,
    PhotogroupError,
    ScanLockedError,
)
from ..core.ids import MAX_ID
from ..core.words import person_label
from ..pipeline import crops, review
from ..pipeline.edits import mark_not_faces, move_faces
from ..pipeline.people import hide_person, merge_people, name_person
from ..pipeline.query import (
    decision_person,
    find_photos,
    get_face,
    get_person,
    list_people,
    person_faces,
    photo_path,
)
from .pool import PooledHandler, PooledHTTPServer

if TYPE_CHECKING:
    from ..db.library import Library  # the type of what `photogroup serve` opens

log = logging.getLogger("photogroup.web")

LOOPBACK = {"127.0.0.1", "localhost", "::1"}
MAX_BODY = 64_000
"""Bytes a POST body may have (the page sends a few dozen)."""

STATIC = {
    "page.js": "text/javascript; charset=utf-8",
    "page.css": "text/css; charset=utf-8",
    "icon.svg": "image/svg+xml",
}
"""The page's own files, served under /static/ by these fixed names only."""

CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
    "connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
#: The most faces one selection may move or mark (the person page shows 500 at most).
MAX_FACES_AT_ONCE = 500
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
    """A request refused before or instead of its work: status and message."""

    def __init__(self, status: int, message: str, allow: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.allow = allow  # the methods a path takes, for a 405


#: The fixes that domain errors give as commands, said as actions on the page (most
#: specific first; the last one catches any other command).
PAGE_WORDS: tuple[tuple[re.Pattern[str], str], ...] = tuple(
    (re.compile(pattern), words)
    for pattern, words in (
        (
            r'[Rr]un "photogroup people" to list names( and ids)?\.',
            "The People tab lists everyone.",
        ),
        (
            r'(?:[Gg]et one|[Aa]sk for the next one) with "photogroup review --json"\.?',
            "Reload the page for the next question.",
        ),
        (r'"photogroup undo" takes an answer back', "Undo takes it back"),
        (
            r'run "photogroup merge \d+ \d+"',
            'open one of them in People and use "Merge with…"',
        ),
        (
            r"photogroup name \d+ --clear",
            "open that person in People and Rename with an empty name",
        ),
        (r"\(photogroup undo\)", "(Undo)"),
        (r'"?photogroup (\w+)(?: [^".,;)]*)?"?', ""),
    )
)
_COMMAND_WORDS = {
    "undo": "Undo",
    "merge": '"Merge with…" on a person\'s page',
    "people": "the People tab",
    "name": "Rename on the person's page",
    "review": "the Review tab",
    "scan": "Scan now",
}


def page_words(message: str) -> str:
    """A domain error's message as the page says it: page actions, not CLI commands."""
    for pattern, words in PAGE_WORDS:

        def said(m: re.Match[str], words: str = words) -> str:
            return words or _COMMAND_WORDS.get(m[1], "the photogroup command")

        message = pattern.sub(said, message)
    return message


def _failure(exc: BaseException) -> tuple[int, str]:
    """The one place where an error becomes an HTTP status and message."""
    if isinstance(exc, _Reply):
        return exc.status, str(exc)
    if isinstance(exc, NotFoundError):
        return HTTPStatus.NOT_FOUND, page_words(str(exc))
    if isinstance(exc, ScanLockedError):
        return HTTPStatus.CONFLICT, page_words(str(exc))
    if isinstance(exc, LibraryError):
        return HTTPStatus.SERVICE_UNAVAILABLE, page_words(str(exc))
    if isinstance(exc, PhotogroupError):  # UsageError, ConfigError, ...
        return HTTPStatus.BAD_REQUEST, page_words(str(exc))
    return HTTPStatus.INTERNAL_SERVER_ERROR, "Internal error; the server's log has the details."


# --- routes -------------------------------------------------------------------------------

#: Kinds of JSON body fields: a test and the words for the error message.
_FIELD_KINDS: dict[str, tuple[Callable[[Any], bool], str]] = {
    "text": (lambda v: isinstance(v, str), "a string"),
    "text?": (lambda v: v is None or isinstance(v, str), "a string or null"),
    "id": (lambda v: type(v) is int and 0 <= v <= MAX_ID, "an id (a whole number)"),
    "id?": (lambda v: v is None or (type(v) is int and 0 <= v <= MAX_ID), "an id or null"),
    "bool": (lambda v: type(v) is bool, "true or false"),
    "ids": (
        lambda v: (
            type(v) is list
            and 1 <= len(v) <= MAX_FACES_AT_ONCE
            and all(type(i) is int and 0 <= i <= MAX_ID for i in v)
        ),
        f"a list of 1 to {MAX_FACES_AT_ONCE} ids",
    ),
    "any": (lambda v: True, "any JSON value"),  # checked by the pipeline (names)
}


@dataclass(frozen=True)
class Route:
    """One page or API call. `path` names ids as {id}; `query` lists the query values it
    reads (name -> "int:LOW-HIGH" or "text"); `body` the JSON fields of a POST (name ->
    kind, a leading "*" when required)."""

    method: str
    path: str
    action: str
    query: dict[str, str] = field(default_factory=dict)
    body: dict[str, str] = field(default_factory=dict)

    @property
    def pattern(self) -> re.Pattern[str]:
        return re.compile(re.escape(self.path).replace(r"\{id\}", "([0-9]+)"))

    def match(self, path: str) -> list[str] | None:
        m = self.pattern.fullmatch(path)
        return None if m is None else list(m.groups())


ROUTES: tuple[Route, ...] = (
    Route("GET", "/", "page"),
    *(Route("GET", f"/static/{name}", "static") for name in STATIC),
    Route("GET", "/api/status", "status"),
    Route(
        "GET",
        "/api/photos",
        "photos",
        query={"person": "text", "without": "text", "from": "text", "to": "text"},
    ),
    Route("GET", "/api/question", "question"),
    Route("GET", "/api/people", "people", query={"all": "text"}),
    Route("GET", "/api/people/{id}", "person"),
    Route("GET", "/api/faces/{id}", "face_info"),
    Route("GET", "/face/{id}.jpg", "face_jpeg", query={"size": "int:32-512"}),
    Route("GET", "/photo/{id}.jpg", "photo_jpeg", query={"max": "int:64-2048"}),
    Route(
        "POST",
        "/api/answer",
        "answer",
        body={"id": "*text", "answer": "*text", "name": "any", "face": "id?"},
    ),
    Route("POST", "/api/scan", "scan"),
    Route("POST", "/api/undo", "undo"),
    Route("POST", "/api/merge", "merge", body={"keep": "*id", "other": "*id"}),
    Route("POST", "/api/people/{id}/name", "rename", body={"name": "any"}),
    Route("POST", "/api/people/{id}/hide", "hide", body={"hidden": "bool"}),
    Route("POST", "/api/faces/{id}/remove", "remove_face"),
    # a selection of faces on a person's page: "Move to…", "Not X" (no target), "Not a face"
    Route(
        "POST", "/api/faces/move", "move_faces", body={"faces": "*ids", "to": "id?", "new": "bool"}
    ),
    Route("POST", "/api/faces/notface", "not_faces", body={"faces": "*ids"}),
    # the warm models of `photogroup serve` (identify, compare, draw): nothing is written
    Route("POST", "/api/models/analyse", "models", body={"data": "*text"}),
)


@dataclass
class Call:
    """What a route's action receives: checked ids, query and body."""

    path: str
    ids: list[int]
    query: dict[str, list[str]]
    body: dict[str, Any]

    def number(self, name: str, default: int, low: int, high: int) -> int:
        """A whole-number query value, clamped to [low, high]."""
        values = self.query.get(name, [])
        if not values or values[-1] == "":
            return default
        text = values[-1]
        if not (text.isascii() and text.isdigit() and len(text) <= 9):
            raise _Reply(
                HTTPStatus.BAD_REQUEST,
                f"{name}={text[:40]!r} is not a whole number; use {low} to {high}.",
            )
        return min(max(int(text), low), high)


def _check_ids(texts: list[str]) -> list[int]:
    """Ids of a path ([0-9]+): one larger than any id names nothing (404)."""
    for t in texts:
        if len(t) > 19 or int(t) > MAX_ID:
            raise _Reply(HTTPStatus.NOT_FOUND, f"No such id: {t[:30]} is larger than any id.")
    return [int(t) for t in texts]


def _check_body(route: Route, body: Any) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise _Reply(HTTPStatus.BAD_REQUEST, "The body must be a JSON object.")
    known = {k.lstrip("*"): v for k, v in route.body.items()}
    for key in body:
        if key not in known:
            fields = ", ".join(known) or "none"
            raise _Reply(HTTPStatus.BAD_REQUEST, f"Unknown field {key[:40]!r} (fields: {fields}).")
    for key, spec in route.body.items():
        kind, required = spec.lstrip("*"), spec.startswith("*")
        if key not in body:
            if required:
                raise _Reply(HTTPStatus.BAD_REQUEST, f"The field {key!r} is missing.")
            continue
        value = body[key]
        test, words = _FIELD_KINDS[kind]
        if not test(value):
            shown = json.dumps(value)[:40]
            raise _Reply(HTTPStatus.BAD_REQUEST, f"{key!r} must be {words}, not {shown}.")
        if isinstance(value, str):
            try:
                value.encode("utf-8")
            except UnicodeEncodeError:
                raise _Reply(HTTPStatus.BAD_REQUEST, f"{key!r} is not valid text.") from None
    return body


def _json_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _page(csrf: str) -> bytes:
    html = resources.files(__package__).joinpath("page.html").read_text(encoding="utf-8")
    return html.replace("{{CSRF}}", csrf).encode("utf-8")


def _static(name: str) -> bytes:
    return resources.files(__package__).joinpath("static", name).read_bytes()


def make_server(
    library: Library,
    config: Config,
    embedder: str,
    host: str | None = None,
    port: int | None = None,
    **pool: Any,
) -> ReviewServer:
    """`pool`: workers, request_timeout, queue_size (see PooledHTTPServer)."""
    host = host or config.review.host
    port = config.review.port if port is None else port
    return ReviewServer(ReviewState(library, config, embedder), host, port, **pool)


class ReviewServer:
    routes = ROUTES

    def __init__(self, state: ReviewState, host: str, port: int, **pool: Any) -> None:
        self.state = state
        self.scheduler: Any = None  # pipeline.schedule.Scheduler, set by `photogroup serve`
        self.model_api: Any = None  # web.models.ModelAPI, set by `photogroup serve`
        self.csrf = secrets.token_urlsafe(24)
        self.access_token = None if host in LOOPBACK else secrets.token_urlsafe(24)
        self.write_lock = threading.Lock()
        handler = _handler_class(self)
        self.httpd = PooledHTTPServer((host, port), handler, **pool)
        # Reading a request is bounded by the pool's doorman; this bounds each write
        # to a client that stops reading (and is later than the doorman's deadline).
        handler.timeout = self.httpd.request_timeout + 1
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

    # -- routing --------------------------------------------------------------------------

    def route(self, method: str, path: str) -> tuple[Route, list[int]]:
        """The route for a request (HEAD is GET without the body), with its ids."""
        want = "GET" if method == "HEAD" else method
        allowed = []
        for r in self.routes:
            groups = r.match(path)
            if groups is None:
                continue
            if r.method == want:
                return r, _check_ids(groups)
            allowed.append(r.method)
        if allowed:
            methods = ", ".join(
                m for a in allowed for m in (("GET", "HEAD") if a == "GET" else (a,))
            )
            raise _Reply(HTTPStatus.METHOD_NOT_ALLOWED, f"{path} takes {methods}.", methods)
        raise _Reply(HTTPStatus.NOT_FOUND, f"No page {path[:80]}.")

    def call(self, route: Route, call: Call) -> tuple[str, Any]:
        action: Callable[[Call], Any] = getattr(self, "_" + route.action)
        if route.action == "models":  # reads a photo, writes nothing: no write lock
            return "json", action(call)
        if route.method == "POST":
            with self.write_lock:
                return "json", action(call)
        result: tuple[str, Any] = action(call)
        return result

    def _models(self, call: Call) -> dict[str, Any]:
        if self.model_api is None:
            raise _Reply(HTTPStatus.NOT_FOUND, "This server has no models to lend.")
        analysed: dict[str, Any] = self.model_api.post(call.path, call.body)
        return analysed

    # -- pages and images -----------------------------------------------------------------

    def _page(self, call: Call) -> tuple[str, Any]:
        return "text/html; charset=utf-8", _page(self.csrf)

    def _static(self, call: Call) -> tuple[str, Any]:
        name = call.path.rsplit("/", 1)[1]
        return STATIC[name], _static(name)

    def _face_jpeg(self, call: Call) -> tuple[str, Any]:
        size = call.number("size", 160, 32, 512)
        face = get_face(self.state.library, call.ids[0])
        return "image/jpeg", crops.jpeg_bytes(crops.face_crop(face.path, face.box, size))

    def _photo_jpeg(self, call: Call) -> tuple[str, Any]:
        side = call.number("max", 1600, 64, 2048)
        preview = crops.photo_preview(photo_path(self.state.library, call.ids[0]), side)
        return "image/jpeg", crops.jpeg_bytes(preview)

    # -- the JSON API: reading ------------------------------------------------------------

    def _status(self, call: Call) -> tuple[str, Any]:
        from ..pipeline.status import library_status

        return "json", {
            "library": library_status(self.state.library),
            "schedule": None if self.scheduler is None else self.scheduler.status(),
        }

    def _photos(self, call: Call) -> tuple[str, Any]:
        q = call.query
        found = find_photos(
            self.state.library,
            [p for p in q.get("person", []) if p.strip()],
            [p for p in q.get("without", []) if p.strip()],
            q.get("from", [""])[-1] or None,
            q.get("to", [""])[-1] or None,
        )
        return "json", {"count": len(found), "photos": [r.as_json() for r in found[:500]]}

    def _question(self, call: Call) -> tuple[str, Any]:
        q, left = self.state.next()
        return "json", {"question": None if q is None else q.as_json(), "open": left}

    def _people(self, call: Call) -> tuple[str, Any]:
        st = self.state
        rows = list_people(
            st.library,
            include_all=call.query.get("all", ["0"])[-1] == "1",
            min_faces=st.config.people.min_faces_listed,
            min_quality=st.config.quality.min_quality,
        )
        return "json", {"people": [r.as_json() for r in rows]}

    def _person(self, call: Call) -> tuple[str, Any]:
        pid = call.ids[0]
        person = get_person(self.state.library, pid)
        faces = person_faces(self.state.library, pid)
        return "json", {"person": person.as_json(), "faces": [f.as_json() for f in faces]}

    def _face_info(self, call: Call) -> tuple[str, Any]:
        """A face's box in its photo (upright pixels) and the photo's size, to mark it."""
        return "json", get_face(self.state.library, call.ids[0]).as_json()

    # -- the JSON API: changes (under write_lock) -----------------------------------------

    def _answer(self, call: Call) -> dict[str, Any]:
        st, b = self.state, call.body
        name = None if b.get("name") == "" else b.get("name")  # the name box left empty
        result = review.answer(
            st.library, st.config, st.embedder, b["id"], b["answer"], name, b.get("face")
        )
        st.answered()
        return {"message": result.message}

    def _scan(self, call: Call) -> dict[str, Any]:
        if self.scheduler is None:
            raise _Reply(HTTPStatus.CONFLICT, "Scans are not scheduled by this server.")
        self.scheduler.run_now()
        return {"message": "A scan starts now (unless one is running)."}

    def _undo(self, call: Call) -> dict[str, Any]:
        st = self.state
        message = review.undo(st.library, st.config, st.embedder)
        st.filled = False  # an undone answer may reopen a question
        return {"message": message}

    def _merge(self, call: Call) -> dict[str, Any]:
        kept = merge_people(self.state.library, call.body["keep"], call.body["other"])
        self.state.answered()
        return {
            "message": f"Merged into {person_label(kept.id, kept.name)}.",
            "person_id": kept.id,
        }

    def _rename(self, call: Call) -> dict[str, Any]:
        name = call.body.get("name")  # checked by name_person (core.names.check_name)
        if isinstance(name, str) and not name.strip():
            name = None  # an empty name box: no name
        p = name_person(self.state.library, call.ids[0], name)
        return {"message": f"{person_label(p.id, None)} is now {p.name or 'unnamed'}."}

    def _hide(self, call: Call) -> dict[str, Any]:
        p = hide_person(self.state.library, call.ids[0], call.body.get("hidden", True))
        return {"message": f"{person_label(p.id, None)} {'hidden' if p.hidden else 'shown'}."}

    def _remove_face(self, call: Call) -> dict[str, Any]:
        st = self.state
        result = review.remove_face(st.library, st.config, st.embedder, call.ids[0])
        st.answered()
        return {"message": result.message}

    def _move_faces(self, call: Call) -> dict[str, Any]:
        faces, to, new = call.body["faces"], call.body.get("to"), call.body.get("new", False)
        if new and to is not None:
            raise _Reply(
                HTTPStatus.BAD_REQUEST,
                f'Give "to" ({to}) or "new": true, not both: the faces go to one person.',
            )
        message, decision = move_faces(self.state.library, faces, to=to, new_person=new)
        self.state.answered()
        return {
            "message": message,
            "faces": sorted(set(faces)),
            "person_id": decision_person(self.state.library, decision),
            "decision": decision,
        }

    def _not_faces(self, call: Call) -> dict[str, Any]:
        faces = call.body["faces"]
        message, decision = mark_not_faces(self.state.library, faces)
        self.state.answered()
        return {"message": message, "faces": sorted(set(faces)), "decision": decision}


def _same(given: str, expected: str) -> bool:
    """Constant-time comparison of a header or query value (any characters) with a secret."""
    return secrets.compare_digest(
        given.encode("utf-8", "surrogateescape"), expected.encode("utf-8")
    )


def _handler_class(server: ReviewServer) -> type[PooledHandler]:  # noqa: C901 (methods close over server)
    class Handler(PooledHandler):
        server_version = "photogroup"
        sys_version = ""
        _unread = 0  # body bytes the client may still send after an early answer
        _ours: bool | None = None  # False: the doorman answered 408 (too late)

        def log_message(self, format: str, *args: Any) -> None:
            log.debug("%s " + format, self.address_string(), *args)

        # -- answers ----------------------------------------------------------------------

        def send_error(
            self, code: int, message: str | None = None, explain: str | None = None
        ) -> None:
            """http.server's own refusals (bad request line, headers too long, unknown
            method): JSON like every other answer, and never a 5xx for a bad request."""
            if code == HTTPStatus.NOT_IMPLEMENTED:  # a method no route takes
                code, message = HTTPStatus.METHOD_NOT_ALLOWED, f"{self.command} is not served."
            elif code >= 500:  # e.g. 505: HTTP/2.0 on the request line
                code = HTTPStatus.BAD_REQUEST
            self.close_connection = True
            if self.request_version == "HTTP/0.9":  # answer with headers all the same
                self.request_version = "HTTP/1.0"
            self._error(code, message or HTTPStatus(code).phrase)

        def parse_request(self) -> bool:
            if not super().parse_request():
                return False
            if self.request_version == "HTTP/0.9":  # a request line without a version
                self.send_error(HTTPStatus.BAD_REQUEST, "Send HTTP/1.0 or HTTP/1.1.")
                return False
            return True

        def _claim(self) -> bool:
            """Ends the request's deadline; False when the doorman already answered 408."""
            if self._ours is None:
                self._ours = server.httpd.reading_done(self.connection)
            return self._ours

        def _send(
            self,
            status: int,
            ctype: str,
            body: bytes,
            cookie: str | None = None,
            extra: dict[str, str] | None = None,
        ) -> None:
            extra = extra or {}
            if not self._claim():
                return
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.send_header(
                "Cache-Control", "no-store" if ctype != "image/jpeg" else "max-age=300"
            )
            self.send_header("X-Content-Type-Options", "nosniff")
            self.send_header("X-Frame-Options", "DENY")
            self.send_header("Referrer-Policy", "no-referrer")
            self.send_header("Content-Security-Policy", CSP)
            for name, value in extra.items():
                self.send_header(name, value)
            if cookie:
                self.send_header("Set-Cookie", cookie)
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

        def _error(self, status: int, message: str, extra: dict[str, str] | None = None) -> None:
            body = json.dumps({"error": message}).encode()
            self._send(status, "application/json", body, extra=extra)

        def finish(self) -> None:
            super().finish()
            if self._unread:
                self._linger()

        def _linger(self) -> None:
            """Read (and drop) what the client still sends of a body that was refused
            before it was read, so that closing the socket does not reset the connection
            before the client has read the answer."""
            sock = self.connection
            try:
                sock.shutdown(1)  # SHUT_WR: the answer is complete
                sock.settimeout(1.0)
                left = min(self._unread, 1 << 20)
                while left > 0:
                    chunk = sock.recv(min(left, 65536))
                    if not chunk:
                        break
                    left -= len(chunk)
            except OSError:
                pass

        # -- checks -----------------------------------------------------------------------

        def _guard(self, query: dict[str, list[str]]) -> str | None:
            """Checks every request; returns a cookie to set (first visit with the token)."""
            if server.access_token is None:
                # Loopback: the Host must name this server (no DNS rebinding).
                if self.headers.get("Host", "") not in server.allowed_hosts():
                    raise _Reply(HTTPStatus.FORBIDDEN, "Unknown Host header.")
                return None
            # Any other address: the access token decides, whatever the Host.
            try:
                cookie = SimpleCookie(self.headers.get("Cookie", ""))
            except CookieError:
                cookie = SimpleCookie()
            given = query.get("token", [None])[0] or (
                cookie["photogroup"].value if "photogroup" in cookie else None
            )
            if given is None or not _same(given, server.access_token):
                raise _Reply(HTTPStatus.UNAUTHORIZED, "Open the address with its ?token=.")
            return f"photogroup={server.access_token}; HttpOnly; SameSite=Strict; Path=/"

        def _check_post(self) -> None:
            """A change must come from this server's page: its origin, its CSRF token."""
            origin = self.headers.get("Origin")
            if origin is not None and origin != f"http://{self.headers.get('Host', '')}":
                raise _Reply(HTTPStatus.FORBIDDEN, "Changes are accepted from this page only.")
            site = self.headers.get("Sec-Fetch-Site")
            if site is not None and site != "same-origin":
                raise _Reply(HTTPStatus.FORBIDDEN, "Changes are accepted from this page only.")
            if not _same(self.headers.get("X-CSRF-Token", ""), server.csrf):
                raise _Reply(HTTPStatus.FORBIDDEN, "Missing or wrong CSRF token: reload the page.")
            if not self.headers.get("Content-Type", "").startswith("application/json"):
                raise _Reply(HTTPStatus.UNSUPPORTED_MEDIA_TYPE, "Send JSON.")

        def _read_body(self) -> Any:
            if "Transfer-Encoding" in self.headers:
                raise _Reply(HTTPStatus.LENGTH_REQUIRED, "Send the body with a Content-Length.")
            lengths = self.headers.get_all("Content-Length") or []
            if not lengths:
                raise _Reply(HTTPStatus.LENGTH_REQUIRED, "Send a Content-Length.")
            text = lengths[0].strip()
            if len(set(lengths)) > 1 or not (text.isascii() and text.isdigit()):
                raise _Reply(
                    HTTPStatus.BAD_REQUEST, f"Content-Length {lengths[0][:40]!r} is not a size."
                )
            limit = MODEL_BODY_LIMIT if self.path.startswith("/api/models/") else MAX_BODY
            length = int(text) if len(text) <= 12 else limit + 1
            if length > limit:
                raise _Reply(
                    HTTPStatus.REQUEST_ENTITY_TOO_LARGE,
                    f"Request too large (over {limit} bytes).",
                )
            raw = self.rfile.read(length)
            self._unread = 0
            if not self._claim():  # the body came too late: answered 408 already
                raise _Reply(HTTPStatus.REQUEST_TIMEOUT, "The request came too late.")
            if len(raw) < length:
                raise _Reply(
                    HTTPStatus.BAD_REQUEST,
                    f"The body has {len(raw)} of its {length} bytes; nothing was changed.",
                )
            try:
                return json.loads(raw.decode("utf-8") or "{}", parse_constant=_json_constant)
            except (ValueError, RecursionError):
                raise _Reply(HTTPStatus.BAD_REQUEST, "The body is not JSON.") from None

        # -- the request ------------------------------------------------------------------

        def _handle(self) -> None:
            parts = urlsplit(self.path)
            cookie = None
            declared = (self.headers.get("Content-Length") or "").strip()
            if declared.isascii() and declared.isdigit():  # drained if refused unread
                self._unread = min(int(declared), 1 << 20) if len(declared) < 12 else 1 << 20
            if self.command != "POST" and not self._claim():
                return  # a GET arrived whole with its headers, unless answered 408 already
            try:
                try:
                    query = parse_qs(parts.query, max_num_fields=100)
                except ValueError:
                    raise _Reply(HTTPStatus.BAD_REQUEST, "Too many query values.") from None
                cookie = self._guard(query)
                route, ids = server.route(self.command, parts.path)
                body: dict[str, Any] = {}
                if route.method == "POST":
                    self._check_post()
                    body = _check_body(route, self._read_body())
                ctype, payload = server.call(route, Call(parts.path, ids, query, body))
                if ctype == "json":
                    ctype, payload = "application/json", json.dumps(payload).encode()
            except Exception as exc:
                status, message = _failure(exc)
                if status >= 500:
                    log.error("%s %s failed", self.command, self.path[:200], exc_info=exc)
                else:
                    log.debug("%s %s: %s %s", self.command, self.path[:200], status, message)
                allow = getattr(exc, "allow", None)
                self._error(status, message, {"Allow": allow} if allow else None)
                return
            self._send(HTTPStatus.OK, ctype, payload, cookie)

        do_GET = do_HEAD = do_POST = _handle  # noqa: N815
        # any other method: send_error(501) -> 405 above

    return Handler
