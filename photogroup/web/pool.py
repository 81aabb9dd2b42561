"""An http.server that serves with a fixed pool of threads and a deadline per request.

ThreadingHTTPServer starts one thread per connection and waits for a request as long
as the client likes: 800 idle, half-sent requests are 800 threads. Here:
- one thread (the doorman) waits on every new connection at once (a selector) and
  reads the request line and headers as they come; only a connection whose headers
  have all arrived goes to a worker, so idle or half-sent connections hold no thread
  and do not delay the others;
- a fixed number of worker threads handle those from a bounded queue; when it (or the
  number of waiting connections) is full, a connection is answered 503 and closed;
- every connection has `request_timeout` seconds from its accept to send its whole
  request (line, headers, body); the doorman answers 408 to a late one and shuts its
  socket, which also frees a worker still waiting on its body.
"""

from __future__ import annotations

import io
import json
import logging
import queue
import selectors
import socket
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any

log = logging.getLogger("photogroup.web")

_QUIET = (ConnectionError, TimeoutError)
"""A client that hangs up or stalls: one debug line, never a traceback."""

HEAD_LIMIT = 80_000
"""Bytes of request line and headers the doorman collects before it hands the
connection on anyway (http.server then refuses a line or header that is too long)."""


def plain_response(status: int, reason: str, message: str) -> bytes:
    """A complete HTTP/1.0 response with a JSON error body (sent outside a handler)."""
    body = json.dumps({"error": message}).encode()
    head = (
        f"HTTP/1.0 {status} {reason}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    )
    return head.encode("ascii") + body


_BUSY = plain_response(503, "Service Unavailable", "Too many connections; try again.")


class _Prefixed(io.RawIOBase):
    """A socket's input with the bytes the doorman already read in front."""

    def __init__(self, prefix: bytes, sock: socket.socket) -> None:
        self._prefix = memoryview(prefix)
        self._sock = sock

    def readable(self) -> bool:
        return True

    def readinto(self, b: Any) -> int:
        if self._prefix:
            n = min(len(b), len(self._prefix))
            b[:n] = self._prefix[:n]
            self._prefix = self._prefix[n:]
            return n
        return self._sock.recv_into(b)


class PooledHandler(BaseHTTPRequestHandler):
    """Reads the request from what the doorman collected, then from the socket."""

    server: PooledHTTPServer

    def setup(self) -> None:
        super().setup()
        prefix = self.server.take_prefix(self.connection)
        self.rfile = io.BufferedReader(_Prefixed(prefix, self.connection))


class PooledHTTPServer(HTTPServer):
    request_queue_size = 128  # listen backlog

    def __init__(
        self,
        address: tuple[str, int],
        handler: type[PooledHandler],
        workers: int = 8,
        request_timeout: float = 10.0,
        queue_size: int = 256,
        max_waiting: int = 1024,
    ) -> None:
        self.workers = workers
        self.request_timeout = request_timeout
        self.max_waiting = max_waiting
        self._jobs: queue.Queue[tuple[socket.socket, Any] | None] = queue.Queue(queue_size)
        self._lock = threading.Lock()
        self._deadlines: dict[socket.socket, float] = {}  # not fully read yet
        self._heads: dict[socket.socket, bytearray] = {}  # with the doorman
        self._prefixes: dict[socket.socket, bytes] = {}  # handed to a worker
        self._selector = selectors.DefaultSelector()
        self._closing = threading.Event()
        super().__init__(address, handler)
        self._threads = [
            threading.Thread(target=self._work, name=f"photogroup-web-{i}", daemon=True)
            for i in range(workers)
        ]
        self._threads.append(
            threading.Thread(target=self._doorman, name="photogroup-web-door", daemon=True)
        )
        for t in self._threads:
            t.start()

    # -- the doorman -----------------------------------------------------------------------

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._lock:
            if len(self._heads) >= self.max_waiting:
                full = True
            else:
                full = False
                request.setblocking(False)
                self._deadlines[request] = time.monotonic() + self.request_timeout
                self._heads[request] = bytearray()
                self._selector.register(request, selectors.EVENT_READ, client_address)
        if full:
            _send_quietly(request, _BUSY)
            self.shutdown_request(request)

    def _doorman(self) -> None:
        tick = min(0.2, self.request_timeout / 4)
        while not self._closing.is_set():
            try:
                ready = self._selector.select(tick)
            except (OSError, ValueError):  # closed while selecting
                return
            for key, _ in ready:
                self._read_head(key.fileobj, key.data)  # type: ignore[arg-type]
            self._expire()

    def _read_head(self, sock: socket.socket, client_address: Any) -> None:
        try:
            chunk = sock.recv(65536)
        except BlockingIOError:
            return
        except OSError:
            chunk = b""
        with self._lock:
            head = self._heads.get(sock)
            if head is None:
                return
            head += chunk
            done = b"\r\n\r\n" in head or b"\n\n" in head or len(head) > HEAD_LIMIT
            if chunk and not done:
                return
            del self._heads[sock]
            self._selector.unregister(sock)
            if not chunk:  # the client left before its request was complete
                self._deadlines.pop(sock, None)
        if not chunk:
            self.shutdown_request(sock)
            return
        sock.setblocking(True)
        self._prefixes[sock] = bytes(head)
        try:
            self._jobs.put_nowait((sock, client_address))
        except queue.Full:
            self._prefixes.pop(sock, None)
            self.reading_done(sock)
            _send_quietly(sock, _BUSY)
            self.shutdown_request(sock)

    def _expire(self) -> None:
        """Answers 408 to every connection whose request is late, and shuts it."""
        now = time.monotonic()
        late = plain_response(
            408,
            "Request Timeout",
            f"The request did not arrive within {self.request_timeout:g} s.",
        )
        closed = []
        # Under the lock: a worker closes a socket only once it is out of the table.
        with self._lock:
            for s in [s for s, t in self._deadlines.items() if t <= now]:
                del self._deadlines[s]
                _send_quietly(s, late)  # non-blocking: a few microseconds
                if s in self._heads:  # still with the doorman: close it here
                    del self._heads[s]
                    self._selector.unregister(s)
                    closed.append(s)
                else:
                    try:
                        s.shutdown(socket.SHUT_RDWR)  # wakes the worker waiting on it
                    except OSError:
                        pass
        for s in closed:
            self.shutdown_request(s)

    # -- the workers -----------------------------------------------------------------------

    def take_prefix(self, request: socket.socket) -> bytes:
        return self._prefixes.pop(request, b"")

    def _work(self) -> None:
        while True:
            job = self._jobs.get()
            if job is None:
                return
            request, client_address = job
            try:
                self.finish_request(request, client_address)
            except Exception:
                self.handle_error(request, client_address)
            finally:
                self._prefixes.pop(request, None)
                self.reading_done(request)
                self.shutdown_request(request)

    def handle_error(self, request: Any, client_address: Any) -> None:
        exc = sys.exc_info()[1]
        if isinstance(exc, _QUIET) or (isinstance(exc, OSError) and not self.is_reading(request)):
            log.debug("connection from %s ended: %r", client_address, exc)
        else:
            log.error("request from %s failed", client_address, exc_info=exc)

    def is_reading(self, request: socket.socket) -> bool:
        with self._lock:
            return request in self._deadlines

    def reading_done(self, request: socket.socket) -> bool:
        """The request was read: from now on only the per-write timeout applies. False
        when the doorman already answered it (too late: write nothing more)."""
        with self._lock:
            return self._deadlines.pop(request, None) is not None

    def server_close(self) -> None:
        super().server_close()
        self._closing.set()
        for _ in range(self.workers):
            self._jobs.put(None)
        for t in self._threads:
            t.join(timeout=self.request_timeout + 1)
        with self._lock:
            waiting = list(self._heads)
            self._heads.clear()
            self._deadlines.clear()
        for s in waiting:
            self.shutdown_request(s)
        self._selector.close()


def _send_quietly(sock: socket.socket, data: bytes) -> None:
    try:
        sock.setblocking(False)
        sock.send(data)
    except OSError:
        pass
