"""One-shot identification on lfw_devtrain: enroll k photos per person, name the rest.

    python bench/identify.py                 # k = 1, 3, 5
    python bench/identify.py --k 1 3 5 10 --threshold 0.5

People with at least 10 photos are enrolled with their first k photos (sorted
names); their remaining photos are identified against everyone enrolled (top-1
accuracy: named, and named right). Every photo of the people with fewer than 10
photos is a stranger: the share of strangers given a name is the open-set false
acceptance. Faces, embeddings and the labelled face of each photo (the one nearest
its centre) come from the cached library of bench/_common.py; naming uses
photogroup's own Gallery (prototypes, the assign threshold, the prior calibration),
as `photogroup identify` does.
"""

from __future__ import annotations

import argparse
from collections import defaultdict

import numpy as np
from _common import CACHE, dataset, load_faces, scan

from photogroup.core.calibration import Calibration
from photogroup.core.config import load_config
from photogroup.pipeline.identify import Gallery


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--dataset", default="lfw_devtrain")
    ap.add_argument("--k", type=int, nargs="+", default=[1, 3, 5])
    ap.add_argument("--min-photos", type=int, default=10)
    ap.add_argument("--threshold", type=float, help="default: [people] assign_threshold")
    args = ap.parse_args()
    root = dataset(args.dataset)
    db = CACHE / f"{root.name}.db"
    db.parent.mkdir(parents=True, exist_ok=True)
    scan(db, root)
    faces = load_faces(db)
    config = load_config()
    threshold = args.threshold or config.people.assign_threshold
    calibration = Calibration.prior(config.people.assign_threshold, config.review.target_precision)
    by_person: dict[str, list[int]] = defaultdict(list)
    for row, label in zip(faces.labelled.tolist(), faces.labels, strict=True):
        by_person[label].append(row)
    frequent = sorted(p for p, rows in by_person.items() if len(rows) >= args.min_photos)
    strangers = [r for p, rows in by_person.items() if len(rows) < args.min_photos for r in rows]
    X = faces.X / np.linalg.norm(faces.X, axis=1, keepdims=True)
    print(
        f"{args.dataset}: {len(frequent)} people with >= {args.min_photos} photos enrolled; "
        f"{len(strangers)} photos of {len(by_person) - len(frequent)} others are strangers; "
        f"threshold {threshold}"
    )
    print(
        f"{'k':>3} {'queries':>8} {'top-1 named right':>18} {'named wrong':>12} "
        f"{'unknown':>8} {'strangers named':>16}"
    )
    for k in args.k:
        gallery_rows, gallery_ids, queries, truth = [], [], [], []
        names = {}
        for i, person in enumerate(frequent):
            rows = by_person[person]
            gallery_rows += rows[:k]
            gallery_ids += [i] * k
            queries += rows[k:]
            truth += [i] * (len(rows) - k)
            names[i] = person
        gallery = Gallery.from_vectors(
            X[gallery_rows], np.array(gallery_ids), names, threshold, calibration
        )
        got = gallery.name(X[queries])
        named = np.array([m.person_id if m.person_id is not None else -1 for m in got])
        truth_a = np.array(truth)
        right = float(np.mean(named == truth_a))
        wrong = float(np.mean((named >= 0) & (named != truth_a)))
        unknown = float(np.mean(named < 0))
        fa = float(np.mean([m.person_id is not None for m in gallery.name(X[strangers])]))
        print(
            f"{k:3d} {len(queries):8d} {100 * right:17.1f}% {100 * wrong:11.1f}% "
            f"{100 * unknown:7.1f}% {100 * fa:15.1f}%"
        )


if __name__ == "__main__":
    main()
