"""The warm models of `photogroup serve`, for `identify`, `compare` and `draw`.

`POST /api/models/analyse` takes one photo's bytes (base64 in JSON: no path from a
request reaches the filesystem) and returns its faces as `FaceAnalyser.analyse`
finds them: box, landmarks, score, quality signals and embedding. The command
line names, compares and draws them itself, against the library as it is.
The models are built on the first request (or by the first scheduled scan that
needs them: the same `LazyModels`), then kept.
"""

from __future__ import annotations

import base64
import binascii
import os
import tempfile
import threading
from typing import Any

from ..core.config import Config
from ..core.errors import ImageError, UsageError
from ..pipeline.faces import FaceAnalyser
from ..pipeline.models import ModelSource


class ModelAPI:
    def __init__(self, config: Config, models: ModelSource) -> None:
        self.config = config
        self.models = models
        self._analyser: FaceAnalyser | None = None
        self._lock = threading.Lock()

    def analyser(self) -> FaceAnalyser:
        with self._lock:
            if self._analyser is None:
                self._analyser = FaceAnalyser(self.config, *self.models.load())
            return self._analyser

    def post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        if path != "/api/models/analyse":
            raise UsageError(f"No model action {path}.")
        try:
            data = base64.b64decode(str(body.get("data", "")), validate=True)
        except (binascii.Error, ValueError):
            raise UsageError("data must be the photo's bytes in base64.") from None
        analyser = self.analyser()
        fd, name = tempfile.mkstemp(prefix="photogroup-analyse-")
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
            try:
                decoded, faces = analyser.analyse(name)
            except ImageError as exc:
                raise UsageError(exc.reason) from None
        finally:
            os.unlink(name)
        return {
            "embedder": self.models.embedder_id,
            "width": decoded.width,
            "height": decoded.height,
            "taken_at": decoded.taken_at.isoformat() if decoded.taken_at else None,
            "faces": [
                {
                    "box": list(f.detection.box),
                    "landmarks": [list(p) for p in f.detection.landmarks],
                    "score": f.detection.score,
                    "signals": f.signals,
                    "vector": [float(v) for v in f.vector] if f.vector is not None else None,
                }
                for f in faces
            ],
        }
