"""The face quality gate: which faces it keeps, and what it does to grouping.

    python bench/face_quality.py lfw_devtrain          # kept shares + BCubed F, gate on/off
    python bench/face_quality.py lfw_devtrain --sweep  # over min_quality
    python bench/face_quality.py group_photos          # kept shares vs ground-truth boxes

lfw_devtrain: the labelled face of a photo is the one nearest its centre (label:
the folder); the others are mostly bystanders and cut-off faces. group_photos:
a detected face is "labelled" when it matches an annotated box (IoU >= 0.5, the
14 annotated photos only). Libraries are scanned with the product's pipeline into
the cache of bench/_common.py (a rescan with this version fills in the
quality signals of faces stored before they existed).

Grouping quality is BCubed F over the labelled faces (a face left out by the gate
or by the clustering counts as a cluster of its own), the people issue's measure,
computed the way photogroup groups: every face is grouped, then the gated faces are
taken out (and groups left with fewer than min_cluster_size faces dissolve); the
last column is F when gated faces are left out before grouping instead.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
from _common import CACHE, dataset, scan

from photogroup.core.cluster import FaceClusterer
from photogroup.core.config import load_config
from photogroup.core.detect import iou
from photogroup.core.metrics import bcubed
from photogroup.core.quality import quality_score

SIGNALS = ("size", "score", "sharpness", "frontal", "inside")


def load(db: Path) -> dict[str, object]:
    from sqlalchemy import select

    from photogroup.db.library import open_library
    from photogroup.db.models import Embedding, Face, Photo, PhotoStatus
    from photogroup.pipeline.people import embedder_id

    library = open_library(db, create=False)
    embedder = embedder_id(library)
    with library.session() as s:
        rows = s.execute(
            select(
                Photo.path,
                Photo.width,
                Photo.height,
                Face.x,
                Face.y,
                Face.w,
                Face.h,
                Face.quality_signals,
                Embedding.vector,
            )
            .join(Face, Face.photo_id == Photo.id)
            .join(Embedding, (Embedding.face_id == Face.id) & (Embedding.embedder == embedder))
            .where(Photo.status == PhotoStatus.OK)
            .order_by(Photo.path, Face.id)
        ).all()
    library.close()
    missing = sum(1 for r in rows if r.quality_signals is None)
    if missing:
        sys.exit(f"{missing} faces lack quality signals: rescan {db} with this version.")
    return {"rows": rows, "X": np.stack([np.frombuffer(r.vector, "<f4") for r in rows])}


def central_faces(rows: list) -> tuple[np.ndarray, list[str]]:
    best: dict[str, tuple[float, int]] = {}
    for i, r in enumerate(rows):
        d = (r.x + r.w / 2 - r.width / 2) ** 2 + (r.y + r.h / 2 - r.height / 2) ** 2
        if r.path not in best or d < best[r.path][0]:
            best[r.path] = (d, i)
    paths = sorted(best)
    return np.array([best[p][1] for p in paths]), [Path(p).parent.name for p in paths]


def annotated_faces(rows: list, annotations: Path) -> tuple[np.ndarray, np.ndarray]:
    """(labelled rows, rows of annotated photos) for group_photos."""
    boxes = {
        name: entry["boxes_xywh"] for name, entry in json.loads(annotations.read_text()).items()
    }
    labelled, considered = [], []
    for i, r in enumerate(rows):
        gt = boxes.get(Path(r.path).name)
        if gt is None:
            continue
        considered.append(i)
        if any(iou((r.x, r.y, r.w, r.h), tuple(g)) >= 0.5 for g in gt):
            labelled.append(i)
    return np.array(labelled, dtype=np.int64), np.array(considered, dtype=np.int64)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("dataset")
    ap.add_argument("--db", type=Path)
    ap.add_argument("--sweep", action="store_true", help="BCubed F and kept shares per min_quality")
    args = ap.parse_args()
    root = dataset(args.dataset)
    db = args.db or CACHE / f"{root.name}.db"
    db.parent.mkdir(parents=True, exist_ok=True)
    scan(db, root)
    # a second pass fills in quality signals of faces stored before they existed
    from photogroup.db.library import open_library
    from photogroup.pipeline.models import load_models
    from photogroup.pipeline.scan import Scanner

    config = load_config()
    data = load(db) if _complete(db) else None
    if data is None:
        detector, embedder = load_models(config, print)
        with open_library(db) as library:
            Scanner(library, config, detector, embedder).run([root])
        data = load(db)
    rows, X = data["rows"], data["X"]
    ramps, bar = config.quality.ramps(), config.quality.min_quality
    quality = np.array([quality_score(r.quality_signals, ramps) for r in rows])
    sig = {k: np.array([r.quality_signals[k] for r in rows]) for k in SIGNALS}

    if root.name == "group_photos":
        labelled, considered = annotated_faces(rows, root / "annotations.json")
        others = np.setdiff1d(considered, labelled)
        print(
            f"{len(considered)} detections on annotated photos: {len(labelled)} match a "
            f"ground-truth face, {len(others)} do not"
        )
        print(
            f"kept by the gate (min_quality {bar}): matched {np.mean(quality[labelled] >= bar):.3f}"
            f"  unmatched {np.mean(quality[others] >= bar) if len(others) else float('nan'):.3f}"
        )
        return

    labelled, labels = central_faces(rows)
    others = np.setdiff1d(np.arange(len(rows)), labelled)
    print(
        f"{len(rows)} faces in {len(labelled)} photos: {len(labelled)} labelled, "
        f"{len(others)} others"
    )
    print("signal percentiles (5/25/50) labelled | others:")
    for k in SIGNALS:
        a, b = (
            np.percentile(sig[k][labelled], [5, 25, 50]),
            np.percentile(sig[k][others], [5, 25, 50]),
        )
        print(f"  {k:9s} {a.round(2)} | {b.round(2)}")
    truth = np.asarray(labels)
    params = config.people.clusterer_params()

    everyone = FaceClusterer(**params).fit(X).labels_

    def f_score(gate: float) -> tuple[float, float, float, float]:
        """F as photogroup groups (every face grouped, gated faces then taken out and
        groups left with too few faces dropped), and F with the gated faces removed
        before grouping (the earlier way)."""
        keep = quality >= gate
        product = everyone.copy()
        product[~keep] = -1
        ids, counts = np.unique(product[product >= 0], return_counts=True)
        product[np.isin(product, ids[counts < config.people.min_cluster_size])] = -1
        before = np.full(len(rows), -1, dtype=np.int64)
        before[keep] = FaceClusterer(**params).fit(X[keep]).labels_
        return (
            bcubed(truth, product[labelled]).f,
            bcubed(truth, before[labelled]).f,
            float(np.mean(keep[labelled])),
            float(np.mean(keep[others])),
        )

    gates = [0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7] if args.sweep else [0.0, bar]
    print(
        f"{'min_quality':>11} {'kept labelled':>14} {'kept others':>12} {'BCubed F':>9} "
        f"{'F (gated faces left out of grouping)':>37}"
    )
    for gate in gates:
        f, f_before, kl, ko = f_score(gate)
        tag = " (gate off)" if gate == 0.0 else (" (config)" if gate == bar else "")
        print(f"{gate:11.2f} {kl:14.4f} {ko:12.3f} {f:9.5f} {f_before:37.5f}{tag}")


def _complete(db: Path) -> bool:
    from sqlalchemy import func, select

    from photogroup.db.library import open_library
    from photogroup.db.models import Face

    with open_library(db) as library, library.session() as s:
        return not s.scalar(select(func.count(Face.id)).where(Face.quality_signals.is_(None)))


if __name__ == "__main__":
    main()
