"""Grouping quality of FaceClusterer on a labelled data set (PERSON/photo folders).

    python bench/cluster_quality.py five_celebs
    python bench/cluster_quality.py lfw_devtrain --limit 1000      # first 1,000 photos
    python bench/cluster_quality.py lfw_devtrain --sweep           # table over settings
    python bench/cluster_quality.py five_celebs --set max_distance=0.6 --set min_samples=2
    python bench/cluster_quality.py lfw_devtrain --scan-only       # fill the cache, no grouping

The data set is scanned with the product's own pipeline (load_config, load_models,
Scanner) into a cached library, ``~/.cache/photogroup-bench/<dataset>.db``
(``<dataset>-limit<N>.db`` with --limit), reused when it holds every photo; an
unfinished one is resumed (the scanner skips what it already stored). The scan
holds the library's scan lock; while another process scans, the photos stored
so far are used. With
--limit the first N photos (sorted paths) are linked, not copied, into a folder
next to the database.

For every photo the face nearest the photo's centre is the labelled face (label:
the photo's folder name). ALL faces of the data set are grouped; the measures are
taken over the labelled faces, a face left unassigned (noise) counting as a
cluster of its own:

- pairwise and BCubed precision / recall / F (photogroup.core.metrics),
- coverage: share of labelled faces assigned to some cluster,
- clusters: number of clusters over all faces,
- seconds: time of FaceClusterer.fit over all faces.

The data root is ``$PHOTOGROUP_DATA`` (default ``<repo>/../shared/data/faces``).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import dataset  # noqa: E402

from photogroup.core.cluster import FaceClusterer  # noqa: E402
from photogroup.core.metrics import bcubed, coverage, pairwise  # noqa: E402

CACHE = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "photogroup-bench"
EXTENSIONS = (".jpg", ".jpeg", ".png")

#: Settings compared by --sweep (each row: the defaults with these changes).
SWEEP: list[dict[str, Any]] = [
    {},
    {"max_distance": None},
    {"max_distance": 0.5},
    {"max_distance": 0.55},
    {"max_distance": 0.65},
    {"duplicate_distance": 0.0},
    {"duplicate_distance": 0.1},
    {"min_samples": 2},
    {"min_samples": 3},
    {"min_cluster_size": 3},
    {"min_cluster_size": 5},
    {"cluster_selection_method": "leaf"},
    {"cluster_selection_epsilon": 0.5},
    {"cluster_selection_epsilon": 0.8},
    {"pca_components": None},
    {"pca_components": 16},
    {"n_neighbors": 10},
    {"n_neighbors": 30},
]


@dataclass
class Faces:
    X: npt.NDArray[np.float32]
    """Embeddings of all faces."""
    labelled: npt.NDArray[np.int64]
    """Row in X of each photo's labelled face."""
    labels: list[str]
    """Person of each labelled face."""
    photos: int
    photos_without_face: int


def _link_first(src: Path, limit: int, dest: Path) -> Path:
    files = sorted(p for p in src.rglob("*") if p.suffix.lower() in EXTENSIONS)[:limit]
    for p in files:
        link = dest / p.relative_to(src)
        if not link.exists():
            link.parent.mkdir(parents=True, exist_ok=True)
            link.symlink_to(p)
    return dest


def _photo_files(root: Path, extensions: list[str]) -> int:
    suffixes = {e.lower() for e in extensions}
    return sum(1 for p in root.rglob("*") if p.suffix.lower() in suffixes and p.is_file())


def scan(db: Path, root: Path) -> bool:
    """Scan `root` into `db` with the product's pipeline, unless every photo is stored.

    "Stored" is judged by counting photo rows against the files, not by the scan
    runs' status (a run that died of an unexpected exception is recorded "ok").
    Holds the library's scan lock; when another process holds it, nothing is
    scanned and False is returned (the caller uses what is stored so far).
    """
    from sqlalchemy import func, select

    from photogroup.core.config import load_config
    from photogroup.core.errors import ScanLockedError
    from photogroup.db.library import open_library
    from photogroup.db.models import Photo
    from photogroup.pipeline.lock import scan_lock
    from photogroup.pipeline.models import load_models
    from photogroup.pipeline.scan import Scanner

    config = load_config()
    expected = _photo_files(root, list(config.library.extensions))
    try:
        with scan_lock(db, wait=0.0):
            library = open_library(db)
            try:
                with library.session() as s:
                    stored = s.scalar(select(func.count()).select_from(Photo)) or 0
                if stored >= expected:
                    return True
                print(
                    f"scanning {root} into {db}: {stored} of {expected} photos stored "
                    "(resumable; this can take long) ...",
                    flush=True,
                )
                detector, embedder = load_models(config, print)
                sm = Scanner(library, config, detector, embedder).run([root])
                print(
                    f"scanned {sm.seen} photos, {sm.faces} faces, {sm.failed} failed "
                    f"in {sm.seconds:.0f} s",
                    flush=True,
                )
                return not sm.interrupted
            finally:
                library.close()
    except ScanLockedError:
        print(f"another process is scanning into {db}: using what it stored so far", flush=True)
        return False


def load_faces(db: Path) -> Faces:
    """All embeddings of the latest scan's embedder and each photo's central face."""
    from sqlalchemy import select

    from photogroup.db.library import open_library
    from photogroup.db.models import Embedding, Face, Photo, PhotoStatus
    from photogroup.pipeline.people import embedder_id

    library = open_library(db, create=False)
    try:
        embedder = embedder_id(library)
        with library.session() as s:
            photos = s.execute(
                select(Photo.id, Photo.path, Photo.width, Photo.height).where(
                    Photo.status == PhotoStatus.OK
                )
            ).all()
            rows = s.execute(
                select(Face.id, Face.photo_id, Face.x, Face.y, Face.w, Face.h, Embedding.vector)
                .join(Embedding, Embedding.face_id == Face.id)
                .where(Embedding.embedder == embedder)
                .order_by(Face.id)
            ).all()
    finally:
        library.close()
    X = (
        np.stack([np.frombuffer(r.vector, dtype="<f4") for r in rows])
        if rows
        else (np.zeros((0, 128), np.float32))
    )
    by_photo: dict[int, list[int]] = {}
    for i, r in enumerate(rows):
        by_photo.setdefault(r.photo_id, []).append(i)
    labelled: list[int] = []
    labels: list[str] = []
    for pid, path, width, height in photos:
        idx = by_photo.get(pid)
        if not idx or not width or not height:
            continue
        cx, cy = width / 2, height / 2
        best = min(
            idx,
            key=lambda i: (
                (rows[i].x + rows[i].w / 2 - cx) ** 2 + (rows[i].y + rows[i].h / 2 - cy) ** 2
            ),
        )
        labelled.append(best)
        labels.append(Path(path).parent.name)
    return Faces(
        X=X.astype(np.float32),
        labelled=np.asarray(labelled, dtype=np.int64),
        labels=labels,
        photos=len(photos),
        photos_without_face=len(photos) - len(labelled),
    )


def with_duplicates(faces: Faces, share: float, copies: int = 1, seed: int = 0) -> Faces:
    """`share` of the labelled photos get `copies` near-identical shots more (a burst
    or a copy; cosine distance 0.001 to 0.03), labelled like the original. Real photo
    libraries are full of them; the data sets here have none."""
    rng = np.random.default_rng(seed)
    pick = rng.choice(len(faces.labelled), int(share * len(faces.labelled)), replace=False)
    pick = np.repeat(pick, copies)
    src = faces.X[faces.labelled[pick]]
    noise = rng.uniform(0.004, 0.02, size=(len(src), 1)).astype(np.float32)
    copies = src + noise * rng.standard_normal(src.shape).astype(np.float32)
    copies /= np.linalg.norm(copies, axis=1, keepdims=True)
    return Faces(
        X=np.concatenate([faces.X, copies]).astype(np.float32),
        labelled=np.concatenate([faces.labelled, len(faces.X) + np.arange(len(pick))]),
        labels=faces.labels + [faces.labels[i] for i in pick],
        photos=faces.photos + len(pick),
        photos_without_face=faces.photos_without_face,
    )


def evaluate(faces: Faces, params: dict[str, Any]) -> dict[str, float]:
    t0 = time.perf_counter()
    model = FaceClusterer(**params).fit(faces.X)
    seconds = time.perf_counter() - t0
    pred = model.labels_[faces.labelled]
    truth = np.asarray(faces.labels)
    pw, b3 = pairwise(truth, pred), bcubed(truth, pred)
    return {
        "pair_p": pw.precision,
        "pair_r": pw.recall,
        "pair_f": pw.f,
        "b3_p": b3.precision,
        "b3_r": b3.recall,
        "b3_f": b3.f,
        "coverage": coverage(pred),
        "clusters": float(model.labels_.max() + 1),
        "seconds": seconds,
    }


def _value(text: str) -> Any:
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return None if text.lower() == "none" else text


def _describe(params: dict[str, Any]) -> str:
    return ", ".join(f"{k}={v}" for k, v in params.items()) or "defaults"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("dataset", help="folder name under shared/data/faces, or a path")
    ap.add_argument("--db", type=Path, help="library database (default: the cache)")
    ap.add_argument("--limit", type=int, default=0, help="only the first N photos")
    ap.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="PARAM=VALUE",
        help="a FaceClusterer parameter (repeatable)",
    )
    ap.add_argument("--sweep", action="store_true", help="a table over parameter settings")
    ap.add_argument(
        "--duplicates",
        type=float,
        default=0.0,
        metavar="SHARE",
        help="add near-identical copies of this share of the photos",
    )
    ap.add_argument("--copies", type=int, default=1, help="copies per duplicated photo")
    ap.add_argument("--scan-only", action="store_true", help="fill the cached library and stop")
    ap.add_argument(
        "--no-scan",
        action="store_true",
        help="use the library as it is (e.g. while a scan is still filling it)",
    )
    args = ap.parse_args()

    src = dataset(args.dataset)
    name = src.name + (f"-limit{args.limit}" if args.limit else "")
    db = (args.db or CACHE / f"{name}.db").expanduser()
    db.parent.mkdir(parents=True, exist_ok=True)
    root = _link_first(src, args.limit, CACHE / f"{name}-photos") if args.limit else src
    if not args.no_scan:
        scan(db, root)
    if args.scan_only:
        return
    faces = load_faces(db)
    if args.duplicates:
        faces = with_duplicates(faces, args.duplicates, args.copies)
        print(f"with {args.copies} near-identical copies of {args.duplicates:.0%} of the photos")
    print(f"data set: {src}  library: {db}")
    print(
        f"{faces.photos} photos, {len(faces.X)} faces, {len(faces.labelled)} labelled faces "
        f"of {len(set(faces.labels))} people; {faces.photos_without_face} photos without a face"
    )
    base = dict(_value_pair(s) for s in args.set)
    settings = [{**base, **row} for row in SWEEP] if args.sweep else [base]
    print(
        f"{'pair P':>7} {'pair R':>7} {'pair F':>7} {'B3 P':>7} {'B3 R':>7} {'B3 F':>7} "
        f"{'cover':>6} {'clusters':>8} {'sec':>6}  settings"
    )
    for params in settings:
        r = evaluate(faces, params)
        print(
            f"{r['pair_p']:7.3f} {r['pair_r']:7.3f} {r['pair_f']:7.3f} {r['b3_p']:7.3f} "
            f"{r['b3_r']:7.3f} {r['b3_f']:7.3f} {r['coverage']:6.1%} {int(r['clusters']):8d} "
            f"{r['seconds']:6.2f}  {_describe(params)}",
            flush=True,
        )


def _value_pair(text: str) -> tuple[str, Any]:
    if "=" not in text:
        sys.exit(f"--set wants PARAM=VALUE, got {text!r}")
    key, _, value = text.partition("=")
    return key.strip(), _value(value.strip())


if __name__ == "__main__":
    main()
