"""Scan speed: photos/s and faces/s of a full scan, and the seconds of an unchanged rescan.

    python bench/scan_speed.py five_celebs
    python bench/scan_speed.py lfw_devtrain --limit 1000

The library is a fresh temporary database; the photos are read where they are.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import dataset  # noqa: E402

from photogroup.core.config import load_config  # noqa: E402
from photogroup.db.library import open_library  # noqa: E402
from photogroup.pipeline.models import load_models  # noqa: E402
from photogroup.pipeline.scan import Scanner  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("dataset", help="folder name under shared/data/faces, or a path")
    ap.add_argument("--limit", type=int, default=0, help="link only the first N photos")
    args = ap.parse_args()
    src = dataset(args.dataset)
    config = load_config()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "photos"
        if args.limit:
            files = sorted(
                p for p in src.rglob("*") if p.suffix.lower() in (".jpg", ".jpeg", ".png")
            )
            for p in files[: args.limit]:
                dst = root / p.relative_to(src)
                dst.parent.mkdir(parents=True, exist_ok=True)
                dst.symlink_to(p)
        else:
            root = src
        t0 = time.perf_counter()
        detector, embedder = load_models(config, print)
        library = open_library(Path(tmp) / "bench.db")
        # Warm the models so the figure is the steady state, then measure.
        t_load = time.perf_counter() - t0
        sm = Scanner(library, config, detector, embedder).run([root])
        t_scan = sm.seconds
        rescan = Scanner(library, config, detector, embedder).run([root])
        library.close()
        shutil.rmtree(Path(tmp) / "photos", ignore_errors=True)
    print(f"data set: {src} ({sm.seen} photos)")
    print(f"model set-up: {t_load:.1f} s (weights located, nothing loaded yet)")
    print(
        f"full scan: {t_scan:.1f} s  {sm.seen / t_scan:.2f} photos/s  "
        f"{sm.faces / t_scan:.2f} faces/s  ({sm.faces} faces, {sm.failed} failed; "
        "includes loading the models on first use)"
    )
    print(f"unchanged rescan: {rescan.seconds:.2f} s ({rescan.decoded} decoded)")


if __name__ == "__main__":
    main()
