"""Grouping quality of FaceClusterer on the grouping sets of bench/_common.py.

    python bench/cluster_quality.py                       # every set (= --set all)
    python bench/cluster_quality.py lfw20 five_celebs     # some sets
    python bench/cluster_quality.py lfw_devtrain --limit 1000      # first 1,000 photos
    python bench/cluster_quality.py lfw20 --sweep                  # table over settings
    python bench/cluster_quality.py five_celebs --set max_distance=0.6 --set min_samples=2
    python bench/cluster_quality.py lfw_devtrain --scan-only       # fill the cache, no grouping

Sets (bench/_common.py): lfw20 (lfw_devtrain's 46 people with 20+ photos, the
other faces of their photos kept as strangers), lfw_devtrain, five_celebs,
group_photos (no identities); any other folder of PERSON/photo folders works too.
``--set NAME`` (no "=") names a set like the positional arguments; ``--set
PARAM=VALUE`` sets a FaceClusterer parameter.

Each set is scanned with the product's own pipeline (load_config, load_models,
Scanner) into a cached library, ``~/.cache/photogroup-bench/<dataset>.db``
(``<dataset>-limit<N>.db`` with --limit), reused when it holds every photo; an
unfinished one is resumed (the scanner skips what it already stored). The scan
holds the library's scan lock; while another process scans, the photos stored
so far are used. With --limit the first N photos (sorted paths) are linked, not
copied, into a folder next to the database.

For every photo the face nearest the photo's centre is the labelled face (label:
the photo's folder name). ALL faces of the set are grouped, with their photos as
cannot-link groups (two faces of one photo are never one person; --no-photo-link
groups without); the measures are taken over the labelled faces, a face left unassigned (noise) counting as a
cluster of its own:

- BCubed and pairwise precision / recall / F (photogroup.core.metrics),
- coverage: share of labelled faces assigned to some cluster,
- clusters: number of clusters over all faces,
- 2-in-1: clusters holding two faces of one photo (over all faces; must be 0),
- seconds: time of FaceClusterer.fit over all faces.

The data root is ``$PHOTOGROUP_DATA`` (default ``<repo>/../shared/data/faces``).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
from _common import SETS, Faces, load_set, same_photo_clusters

from photogroup.core.cluster import FaceClusterer
from photogroup.core.metrics import bcubed, coverage, pairwise

#: Settings compared by --sweep (each row: the defaults with these changes).
SWEEP: list[dict[str, Any]] = [
    {},
    {"max_distance": None},
    {"max_distance": 0.55},
    {"max_distance": 0.65},
    {"max_distance": 0.8, "pair_distance": None},
    {"max_distance": 0.5, "pair_distance": None},
    {"pair_distance": 0.25},
    {"pair_distance": 0.35},
    {"full_size": 12},
    {"full_size": 24},
    {"duplicate_distance": 0.0},
    {"duplicate_distance": 0.1},
    {"min_samples": 2},
    {"min_cluster_size": 3},
    {"cluster_selection_method": "leaf"},
    {"spread_ratio": None},
    {"spread_ratio": 1.3},
    {"spread_ratio": 1.8},
    {"cluster_selection_epsilon": 1.0},
    {"cluster_selection_epsilon": 1.0, "spread_ratio": None},
    {"pca_components": None},
    {"n_neighbors": 30},
]


def with_duplicates(faces: Faces, share: float, copies: int = 1, seed: int = 0) -> Faces:
    """`share` of the labelled photos get `copies` near-identical shots more (a burst
    or a copy; cosine distance 0.001 to 0.03), labelled like the original, each in a
    photo of its own. Real photo libraries are full of them; the data sets here have
    none."""
    rng = np.random.default_rng(seed)
    pick = rng.choice(len(faces.labelled), int(share * len(faces.labelled)), replace=False)
    pick = np.repeat(pick, copies)
    src = faces.X[faces.labelled[pick]]
    noise = rng.uniform(0.004, 0.02, size=(len(src), 1)).astype(np.float32)
    extra = src + noise * rng.standard_normal(src.shape).astype(np.float32)
    extra /= np.linalg.norm(extra, axis=1, keepdims=True)
    first_photo = int(faces.photo.max(initial=0)) + 1
    return Faces(
        X=np.concatenate([faces.X, extra]).astype(np.float32),
        photo=np.concatenate([faces.photo, first_photo + np.arange(len(pick))]),
        labelled=np.concatenate([faces.labelled, len(faces.X) + np.arange(len(pick))]),
        labels=faces.labels + [faces.labels[i] for i in pick],
        photos=faces.photos + len(pick),
        photos_without_face=faces.photos_without_face,
    )


def evaluate(faces: Faces, params: dict[str, Any], by_photo: bool = True) -> dict[str, float]:
    """Measures of one grouping of all faces (`by_photo`: photos as cannot-link groups)."""
    t0 = time.perf_counter()
    model = FaceClusterer(**params).fit(faces.X, groups=faces.photo if by_photo else None)
    seconds = time.perf_counter() - t0
    out = {
        "clusters": float(model.labels_.max() + 1),
        "two_in_one": float(same_photo_clusters(model.labels_, faces.photo)),
        "seconds": seconds,
    }
    if not faces.labels:
        return out
    pred = model.labels_[faces.labelled]
    truth = np.asarray(faces.labels)
    pw, b3 = pairwise(truth, pred), bcubed(truth, pred)
    return {
        **out,
        "pair_p": pw.precision,
        "pair_r": pw.recall,
        "pair_f": pw.f,
        "b3_p": b3.precision,
        "b3_r": b3.recall,
        "b3_f": b3.f,
        "coverage": coverage(pred),
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


HEADER = (
    f"{'set':<13} {'B3 P':>6} {'B3 R':>6} {'B3 F':>6} {'pair P':>6} {'pair R':>6} "
    f"{'pair F':>6} {'cover':>6} {'clusters':>8} {'2-in-1':>6} {'sec':>6}  settings"
)


def row(name: str, r: dict[str, float], params: dict[str, Any]) -> str:
    def f(key: str) -> str:
        return f"{r[key]:6.3f}" if key in r else f"{'-':>6}"

    cover = f"{r['coverage']:6.1%}" if "coverage" in r else f"{'-':>6}"
    return (
        f"{name:<13} {f('b3_p')} {f('b3_r')} {f('b3_f')} {f('pair_p')} {f('pair_r')} "
        f"{f('pair_f')} {cover} {int(r['clusters']):8d} {int(r['two_in_one']):6d} "
        f"{r['seconds']:6.2f}  {_describe(params)}"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument(
        "sets",
        nargs="*",
        help=f"grouping sets ({', '.join(SETS)}, all), folders under shared/data/faces, "
        "or paths (default: all)",
    )
    ap.add_argument("--db", type=Path, help="library database (default: the cache; one set)")
    ap.add_argument("--limit", type=int, default=0, help="only the first N photos")
    ap.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="PARAM=VALUE|SET",
        help="a FaceClusterer parameter (repeatable), or a set name",
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
    ap.add_argument(
        "--no-photo-link",
        action="store_true",
        help="group without the photos as cannot-link groups (for comparison)",
    )
    ap.add_argument("--scan-only", action="store_true", help="fill the cached library and stop")
    ap.add_argument(
        "--no-scan",
        action="store_true",
        help="use the library as it is (e.g. while a scan is still filling it)",
    )
    args = ap.parse_args()

    names = list(args.sets) + [s for s in args.set if "=" not in s]
    if not names or "all" in names:
        names = [n for n in names if n != "all"] + [s for s in SETS if s not in names]
    if args.db and len(names) > 1:
        sys.exit(f"--db names one library, but {len(names)} sets were asked for: name one set")
    base = dict(_value_pair(s) for s in args.set if "=" in s)
    settings = [{**base, **r} for r in SWEEP] if args.sweep else [base]
    loaded: list[tuple[str, Faces]] = []
    for name in names:
        faces = load_set(name, args.limit, scan_first=not args.no_scan, db=args.db)
        if args.scan_only:
            continue
        if args.duplicates and faces.labels:
            faces = with_duplicates(faces, args.duplicates, args.copies)
        people = len(set(faces.labels))
        print(
            f"{name}: {faces.photos} photos, {len(faces.X)} faces, {len(faces.labelled)} "
            f"labelled faces of {people} people; {faces.photos_without_face} photos without "
            "a face"
            + (f"; {args.copies} copies of {args.duplicates:.0%}" if args.duplicates else ""),
            flush=True,
        )
        loaded.append((name, faces))
    if args.scan_only:
        return
    print(HEADER)
    for params in settings:
        for name, faces in loaded:
            r = evaluate(faces, params, by_photo=not args.no_photo_link)
            print(row(name, r, params), flush=True)


def _value_pair(text: str) -> tuple[str, Any]:
    key, _, value = text.partition("=")
    return key.strip(), _value(value.strip())


if __name__ == "__main__":
    main()
