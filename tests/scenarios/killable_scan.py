"""A scan with the fake models, run as its own process so that tests can SIGKILL it:

    python -m tests.scenarios.killable_scan LIBRARY ROOT [DELAY_S]

DELAY_S slows the fake detector per photo, so the scan spends seconds in the
middle of its work (reading, detecting, writing batches, grouping).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from photogroup.core.config import load_config
from photogroup.db.library import open_library
from photogroup.pipeline.lock import scan_lock
from photogroup.pipeline.people import group_library
from photogroup.pipeline.scan import Scanner
from tests.conftest import FakeDetector, FakeEmbedder


class SlowDetector(FakeDetector):
    def __init__(self, delay: float) -> None:
        super().__init__()
        self.delay = delay

    def detect(self, images):  # type: ignore[no-untyped-def]
        time.sleep(self.delay)
        return super().detect(images)


def config():  # type: ignore[no-untyped-def]
    cfg = load_config()
    cfg.detection.min_face_size = 8
    cfg.scan.commit_every = 4
    cfg.quality.min_quality = 0.0  # flat marker squares have no sharpness
    return cfg


def scan(db: Path, root: Path, delay: float = 0.0) -> None:
    cfg = config()
    with scan_lock(db, wait=30.0):
        library = open_library(db)
        try:
            embedder = FakeEmbedder()
            Scanner(library, cfg, SlowDetector(delay), embedder).run([root])
            group_library(library, cfg, embedder.id, full=True)
        finally:
            library.close()


if __name__ == "__main__":
    scan(Path(sys.argv[1]), Path(sys.argv[2]), float(sys.argv[3]) if len(sys.argv) > 3 else 0.0)
