"""The command line's side of `photogroup serve`'s warm models.

`serve` publishes where it answers next to the library (`<library>.serve-api.json`,
readable by its owner only: it holds the page's CSRF token, and the access token
when bound beyond 127.0.0.1); `identify`, `compare` and `draw` find it there and
send their photos to it instead of loading TensorFlow themselves.
"""

from __future__ import annotations

import base64
import json
import os
import socket
import urllib.error
import urllib.request
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import numpy as np

from ..core.config import Config
from ..core.errors import ImageError, PhotogroupError
from ..core.types import Detection
from ..crawl.images import DecodedPhoto
from ..pipeline.faces import FaceAnalyser, FaceData

TIMEOUT_S = 600.0  # the first request builds the models


def endpoint_path(database: Path) -> Path:
    return database.with_name(database.name + ".serve-api.json")


def publish(database: Path, url: str, csrf: str, access_token: str | None, embedder: str) -> Path:
    """Write where this process answers (owner-only), for the commands of this library."""
    path = endpoint_path(database)
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        json.dump(
            {
                "pid": os.getpid(),
                "url": url,
                "csrf": csrf,
                "access_token": access_token,
                "embedder": embedder,
            },
            f,
        )
    os.replace(tmp, path)
    return path


def find_service(database: Path) -> dict[str, Any] | None:
    """The endpoint of a `photogroup serve` running on this library, if any."""
    try:
        endpoint: dict[str, Any] = json.loads(endpoint_path(database).read_text("utf-8"))
        os.kill(int(endpoint["pid"]), 0)
        parts = urlsplit(str(endpoint["url"]))
        # a stale file whose pid was taken by another process: nobody listens there
        socket.create_connection((parts.hostname, parts.port), timeout=1.0).close()
    except (OSError, ValueError, KeyError, TypeError):
        return None  # none, or a stale file of a service that is gone
    return endpoint


class ServiceError(PhotogroupError):
    """`photogroup serve` did not answer as it should."""

    exit_code = 1


class RemoteAnalyser(FaceAnalyser):
    """A FaceAnalyser whose detection and embedding run in `photogroup serve`."""

    def __init__(self, config: Config, endpoint: dict[str, Any]) -> None:
        super().__init__(config, None, None)  # type: ignore[arg-type]
        self.endpoint = endpoint
        self.embedder_id = str(endpoint["embedder"])

    def analyse(self, path: str) -> tuple[DecodedPhoto, list[FaceData]]:
        try:
            data = Path(path).read_bytes()
        except OSError as exc:
            raise ImageError(path, f"cannot read: {exc.strerror or exc}", "unreadable") from exc
        reply = self._post("/api/models/analyse", {"data": base64.b64encode(data).decode()}, path)
        taken = reply.get("taken_at")
        decoded = DecodedPhoto(
            path=path,
            image=np.zeros((0, 0, 3), dtype=np.uint8),
            scale=1.0,
            width=int(reply["width"]),
            height=int(reply["height"]),
            taken_at=datetime.fromisoformat(taken) if taken else None,
            content_hash="",
        )
        faces = [
            FaceData(
                Detection(
                    tuple(f["box"]),  # type: ignore[arg-type]
                    tuple(tuple(p) for p in f["landmarks"]),
                    float(f["score"]),
                ),
                np.zeros((0, 0, 3), dtype=np.uint8),
                {k: float(v) for k, v in f["signals"].items()},
                vector=np.asarray(f["vector"], dtype=np.float32),
            )
            for f in reply["faces"]
        ]
        return decoded, faces

    def _post(self, action: str, body: dict[str, Any], photo: str) -> dict[str, Any]:
        ep = self.endpoint
        url = ep["url"].split("?", 1)[0].rstrip("/") + action
        if ep.get("access_token"):
            url += f"?token={ep['access_token']}"
        request = urllib.request.Request(
            url,
            data=json.dumps(body).encode(),
            headers={"Content-Type": "application/json", "X-CSRF-Token": ep["csrf"]},
            method="POST",
        )
        try:
            with urllib.request.urlopen(request, timeout=TIMEOUT_S) as r:
                reply: dict[str, Any] = json.loads(r.read())
                return reply
        except urllib.error.HTTPError as exc:
            try:
                message = json.loads(exc.read()).get("error", "")
            except ValueError:
                message = ""
            if exc.code == 400:
                raise ImageError(photo, message or "cannot be read") from None
            raise ServiceError(
                f"photogroup serve (pid {ep['pid']}) answered {exc.code}: {message}"
            ) from None
        except (urllib.error.URLError, OSError) as exc:
            raise ServiceError(
                f"photogroup serve (pid {ep['pid']}) at {url.split('?')[0]} did not answer: "
                f"{exc}. Stop it, or run this again once it answers."
            ) from None
