"""Scan speed: photos/s of photogroup's scan next to a naive baseline, peak memory, and
the seconds of an unchanged rescan.

    python bench/scan_speed.py five_celebs
    python bench/scan_speed.py lfw_devtrain --limit 1000
    python bench/scan_speed.py --camera 20 --repeat 5  # 12 MP JPEGs made from group_photos
    python bench/scan_speed.py --rescan-tree 100000 # unchanged rescan of a generated tree

The library is a fresh temporary database. Models are loaded and warmed before the
clock starts (loading once costs a few seconds, reported apart): the figure is the
steady state a long scan runs at. The baseline does the same work the plainest
way: one photo at a time, decoded at full size, mtcnn's own `detect_faces` (eager
Keras), each face aligned and embedded on its own, one transaction per photo.
Peak memory is the process's VmHWM (TensorFlow and both models included).
With --repeat N the scan runs N times and the median is what is compared with the
baseline.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sqlite3
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
from _common import DATA, dataset, indexed_tree

from photogroup.core.config import load_config
from photogroup.db.library import open_library
from photogroup.pipeline.models import load_models
from photogroup.pipeline.scan import Scanner

EXTENSIONS = (".jpg", ".jpeg", ".png")


def peak_mb() -> float:
    with open("/proc/self/status") as fh:
        line = next(row for row in fh if row.startswith("VmHWM"))
    return int(line.split()[1]) / 1024


def photos_of(root: Path, limit: int = 0) -> list[Path]:
    files = sorted(p for p in root.rglob("*") if p.suffix.lower() in EXTENSIONS)
    return files[:limit] if limit else files


def linked(files: list[Path], src: Path, dest: Path) -> Path:
    for p in files:
        link = dest / p.relative_to(src)
        link.parent.mkdir(parents=True, exist_ok=True)
        link.symlink_to(p)
    return dest


def camera_photos(n: int, dest: Path) -> Path:
    """n 4000x3000 JPEGs (12 MP, quality 92) upscaled from group_photos."""
    from PIL import Image

    src = sorted((DATA / "group_photos").glob("*.jpg"))
    dest.mkdir(parents=True)
    for i in range(n):
        with Image.open(src[i % len(src)]) as im:
            im = im.convert("RGB")
            w, h = im.size
            size = (4000, 3000) if w >= h else (3000, 4000)
            im.resize(size, Image.Resampling.BICUBIC).save(dest / f"IMG_{i:04d}.jpg", quality=92)
    return dest


def warm(detector, embedder, shapes=((480, 640),)) -> None:  # type: ignore[no-untyped-def]
    """Build both models and trace their compiled functions for these image shapes
    (the detector traces its pyramid once per number of levels)."""
    rng = np.random.default_rng(0)
    for shape in shapes:
        detector.detect([rng.integers(0, 255, (*shape, 3), dtype=np.uint8)])
    embedder.embed(np.zeros((2, embedder.input_size, embedder.input_size, 3), np.uint8))


def baseline(files: list[Path], config, embedder) -> tuple[float, int]:  # type: ignore[no-untyped-def]
    """The plain way (see the module doc). Returns (seconds, faces)."""
    from mtcnn import MTCNN
    from PIL import Image, ImageOps

    from photogroup.core.align import align_face

    mtcnn = MTCNN()
    mtcnn.detect_faces(np.zeros((200, 200, 3), np.uint8))
    conn = sqlite3.connect(":memory:")
    conn.execute("CREATE TABLE faces (photo TEXT, vector BLOB)")
    faces = 0
    t = time.perf_counter()
    for path in files:
        with Image.open(path) as im:
            img = np.asarray(ImageOps.exif_transpose(im).convert("RGB"))
        for det in mtcnn.detect_faces(img):
            if det["confidence"] < config.detection.min_confidence:
                continue
            kp = det["keypoints"]
            pts = np.array(
                [kp[k] for k in ("left_eye", "right_eye", "nose", "mouth_left", "mouth_right")],
                dtype=np.float64,
            )
            crop = align_face(img, pts, embedder.template, embedder.input_size)
            vec = embedder.embed(crop[None])[0]
            with conn:
                conn.execute("INSERT INTO faces VALUES (?, ?)", (str(path), vec.tobytes()))
            faces += 1
    return time.perf_counter() - t, faces


def rescan_tree(n: int, tmp: Path, config, detector, embedder) -> None:  # type: ignore[no-untyped-def]
    """An unchanged rescan of n files already in the library (rows written directly)."""
    t = time.perf_counter()
    root, db = indexed_tree(tmp, n)
    print(f"generated {n} files and their library rows in {time.perf_counter() - t:.1f} s")
    with open_library(db) as library:
        sm = Scanner(library, config, detector, embedder).run([root])
    print(
        f"unchanged rescan of {sm.seen} files: {sm.seconds:.1f} s "
        f"({sm.unchanged} unchanged, {sm.decoded} decoded)"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("dataset", nargs="?", help="folder name under shared/data/faces, or a path")
    ap.add_argument("--limit", type=int, default=0, help="only the first N photos")
    ap.add_argument("--camera", type=int, default=0, help="scan N generated 12 MP JPEGs")
    ap.add_argument("--rescan-tree", type=int, default=0, help="unchanged rescan of N files")
    ap.add_argument("--no-baseline", action="store_true")
    ap.add_argument(
        "--repeat",
        type=int,
        default=1,
        help="scan N times (fresh libraries) and report the median: on a shared "
        "2-core machine one scan of 20 photos varies by 10 %%",
    )
    args = ap.parse_args()
    config = load_config()
    t0 = time.perf_counter()
    detector, embedder = load_models(config, print)
    # A 4000x3000 camera photo is detected at 1000x750 (see FaceAnalyser.detect).
    warm(detector, embedder, ((480, 640), (750, 1000), (1000, 750)))
    print(f"models loaded and warmed in {time.perf_counter() - t0:.1f} s")
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        if args.rescan_tree:
            rescan_tree(args.rescan_tree, tmp, config, detector, embedder)
            return
        if args.camera:
            root = camera_photos(args.camera, tmp / "camera")
            label = f"{args.camera} generated 12 MP JPEGs"
        else:
            if not args.dataset:
                ap.error("give a data set, --camera N or --rescan-tree N")
            src = dataset(args.dataset)
            files = photos_of(src, args.limit)
            root = linked(files, src, tmp / "photos") if args.limit else src
            label = f"{src} ({len(files)} photos)"
        print(f"data set: {label}")
        rates = []
        for run in range(args.repeat):
            library = open_library(tmp / f"bench{run}.db")
            if hasattr(embedder, "faces"):
                embedder.seconds, embedder.faces = 0.0, 0  # count the scan's faces only
            sm = Scanner(library, config, detector, embedder).run([root])
            rescan = Scanner(library, config, detector, embedder).run([root])
            library.close()
            rates.append(sm.seen / sm.seconds)
            print(
                f"photogroup scan: {sm.seconds:.1f} s  {rates[-1]:.2f} photos/s  "
                f"{sm.faces / sm.seconds:.2f} faces/s  ({sm.faces} faces, "
                f"{sm.faces / max(1, sm.seen):.1f} per photo, {sm.failed} failed); "
                f"peak memory so far {peak_mb():.0f} MB"
            )
            if getattr(embedder, "faces", 0):
                print(
                    f"  of which the embedder: {embedder.seconds:.1f} s, "
                    f"{1000 * embedder.seconds / embedder.faces:.1f} ms/face"
                )
            print(f"unchanged rescan: {rescan.seconds:.2f} s ({rescan.decoded} decoded)")
        rate = statistics.median(rates)
        if args.repeat > 1:
            print(
                f"median of {args.repeat} scans: {rate:.2f} photos/s "
                f"(from {min(rates):.2f} to {max(rates):.2f})"
            )
        if not args.no_baseline:
            seconds, faces = baseline(photos_of(root), config, embedder)
            base = sm.seen / seconds
            print(
                f"naive baseline: {seconds:.1f} s  {base:.2f} photos/s  ({faces} faces); "
                f"photogroup is {rate / base:.1f}x faster"
            )
        if os.environ.get("PHOTOGROUP_BENCH_KEEP"):
            shutil.copytree(tmp, os.environ["PHOTOGROUP_BENCH_KEEP"])


if __name__ == "__main__":
    main()
