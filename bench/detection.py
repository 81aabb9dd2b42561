"""Face detection quality and speed on the annotated group photos: recall, precision, s/photo.

    python bench/detection.py                       # the defaults, with per-photo figures
    python bench/detection.py --max-side 1600 --min-size 12 --min-confidence 0.9
    python bench/detection.py --sweep               # max_side x min_size x min_confidence
    python bench/detection.py --time-12mp           # s/photo on a 4032x3024 photo per max_side

The product path as in the scan: the upright photo (EXIF applied, RGB) is resized
(bilinear) to a copy whose longest side is at most --max-side, MTCNNDetector runs
on it, the detections are scaled back to the upright photo and filtered by
--min-size (shorter box side, upright pixels) and --min-confidence.

Matching: detections by descending score each take the unmatched ground-truth box
of highest IoU, if >= 0.5. Ground-truth faces flagged invalid (WIDER) are ignored,
and so are, for the "in scope" figures, faces whose shorter side is below
--min-size: a detection matching an ignored face counts neither way.

  recall (all)      matched valid faces / all valid faces (whatever their size)
  recall (in scope) matched faces >= min-size / faces >= min-size
  precision         true positives / (detections not matching an ignored face)

Ground truth: group_photos/annotations.json under $PHOTOGROUP_DATA
(default <repo>/../shared/data/faces).
"""

from __future__ import annotations

import argparse
import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from _common import dataset
from PIL import Image, ImageOps

from photogroup.core.config import load_config
from photogroup.core.detect import downscale_factor, face_size, filter_detections, iou
from photogroup.core.types import Box, Detection
from photogroup.ml.detector import MTCNNDetector

IOU_MATCH = 0.5
_DEFAULTS = load_config().detection  # the product's defaults (config.toml)
DEFAULT_MAX_SIDE = _DEFAULTS.max_side
DEFAULT_MIN_SIZE = _DEFAULTS.min_face_size
DEFAULT_MIN_CONFIDENCE = _DEFAULTS.min_confidence
SWEEP_MAX_SIDE = (640, 1024, 1600, 0)
SWEEP_MIN_SIZE = (0.0, 12.0, 20.0, 30.0, 40.0)
SWEEP_MIN_CONFIDENCE = (0.8, 0.9, 0.95)
_EDGES = (0, 12, 16, 20, 30, 40, 60, 80, 120, 10**6)
SIZE_BUCKETS = tuple(zip(_EDGES[:-1], _EDGES[1:], strict=True))


@dataclass
class Photo:
    name: str
    image: np.ndarray
    gt: list[Box]
    invalid: list[bool]
    enlarge: float = 1.0
    """The photo is enlarged by this before detection (--enlarge-to); gt is already."""

    def upright(self) -> np.ndarray:
        if self.enlarge == 1.0:
            return self.image
        h, w = self.image.shape[:2]
        size = (round(w * self.enlarge), round(h * self.enlarge))
        return np.asarray(Image.fromarray(self.image).resize(size, Image.Resampling.LANCZOS))


@dataclass
class Counts:
    valid: int = 0
    matched_all: int = 0
    in_scope: int = 0
    matched_in_scope: int = 0
    tp: int = 0
    fp: int = 0
    bucket_total: dict[tuple[int, int], int] = field(default_factory=dict)
    bucket_hit: dict[tuple[int, int], int] = field(default_factory=dict)

    def add(self, other: Counts) -> None:
        for name in ("valid", "matched_all", "in_scope", "matched_in_scope", "tp", "fp"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        for b, n in other.bucket_total.items():
            self.bucket_total[b] = self.bucket_total.get(b, 0) + n
        for b, n in other.bucket_hit.items():
            self.bucket_hit[b] = self.bucket_hit.get(b, 0) + n

    @property
    def recall_all(self) -> float:
        return self.matched_all / self.valid if self.valid else float("nan")

    @property
    def recall_scope(self) -> float:
        return self.matched_in_scope / self.in_scope if self.in_scope else float("nan")

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else float("nan")


def load_photos(root: Path, enlarge_to: int = 0) -> list[Photo]:
    """The annotated photos; with enlarge_to, each is to be enlarged to that longest side
    (ground truth scaled accordingly) to stand in for a camera photo."""
    ann = json.loads((root / "annotations.json").read_text())
    photos = []
    for name in sorted(ann):
        entry = ann[name]
        with Image.open(root / name) as im:
            image = np.asarray(ImageOps.exif_transpose(im).convert("RGB"))
        boxes = [tuple(float(v) for v in b) for b in entry["boxes_xywh"]]
        invalid = [bool(v) for v in entry.get("invalid", [0] * len(boxes))]
        enlarge = enlarge_to / max(image.shape[:2]) if enlarge_to else 1.0
        boxes = [tuple(v * enlarge for v in b) for b in boxes]
        photos.append(Photo(name, image, boxes, invalid, enlarge))  # type: ignore[arg-type]
    return photos


def detect_product(
    detector: MTCNNDetector, image: np.ndarray, max_side: int
) -> tuple[list[Detection], float, float]:
    """Unfiltered detections in upright pixels via the downscaled copy, and the wall and CPU
    (all threads) seconds taken."""
    t0 = time.perf_counter()
    c0 = time.process_time()
    h, w = image.shape[:2]
    factor = downscale_factor(w, h, max_side)
    if factor < 1.0:
        small = Image.fromarray(image).resize(
            (max(1, round(w * factor)), max(1, round(h * factor))), Image.Resampling.BILINEAR
        )
        det_image = np.asarray(small)
    else:
        det_image = image
    (found,) = detector.detect([det_image])
    dets = [d.scaled(1.0 / factor) for d in found]
    return dets, time.perf_counter() - t0, time.process_time() - c0


def evaluate(photo: Photo, dets: list[Detection], min_size: float, min_conf: float) -> Counts:
    kept = sorted(filter_detections(dets, min_size, min_conf), key=lambda d: -d.score)
    c = Counts()
    valid = [not inv for inv in photo.invalid]
    scope = [v and face_size(g) >= min_size for g, v in zip(photo.gt, valid, strict=True)]
    c.valid = sum(valid)
    c.in_scope = sum(scope)
    taken = [False] * len(photo.gt)
    for d in kept:
        best, best_iou = -1, IOU_MATCH
        for k, g in enumerate(photo.gt):
            if not taken[k]:
                v = iou(d.box, g)
                if v >= best_iou:
                    best, best_iou = k, v
        if best < 0:
            c.fp += 1
            continue
        taken[best] = True
        if valid[best]:
            c.matched_all += 1
        if scope[best]:
            c.matched_in_scope += 1
            c.tp += 1
    for g, v, t in zip(photo.gt, valid, taken, strict=True):
        if not v:
            continue
        s = face_size(g)
        for lo, hi in SIZE_BUCKETS:
            if lo <= s < hi:
                c.bucket_total[(lo, hi)] = c.bucket_total.get((lo, hi), 0) + 1
                c.bucket_hit[(lo, hi)] = c.bucket_hit.get((lo, hi), 0) + int(t)
    return c


def run_detection(
    photos: list[Photo], max_side: int, mtcnn_min_face: int
) -> tuple[dict[str, list[Detection]], list[float], list[float]]:
    detector = MTCNNDetector(mtcnn_min_face_size=mtcnn_min_face)
    detector.detect([photos[0].image[:64, :64]])  # build the model outside the timings
    dets: dict[str, list[Detection]] = {}
    secs, cpus = [], []
    for p in photos:
        dets[p.name], s, c = detect_product(detector, p.upright(), max_side)
        secs.append(s)
        cpus.append(c)
    return dets, secs, cpus


def side_label(max_side: int) -> str:
    return str(max_side) if max_side else "none"


def report_one(photos: list[Photo], args: argparse.Namespace) -> None:
    dets, secs, cpus = run_detection(photos, args.max_side, args.mtcnn_min_face)
    total = Counts()
    print(
        f"max_side={side_label(args.max_side)} min_size={args.min_size:g} "
        f"min_confidence={args.min_confidence:g} mtcnn_min_face={args.mtcnn_min_face}\n"
    )
    print(
        f"{'photo':40s} {'size':>10s} {'gt':>4s} {'det':>4s} {'R all':>6s} {'R scope':>8s} "
        f"{'P':>6s} {'s':>6s}"
    )
    for p, s in zip(photos, secs, strict=True):
        c = evaluate(p, dets[p.name], args.min_size, args.min_confidence)
        total.add(c)
        h, w = (round(v * p.enlarge) for v in p.image.shape[:2])
        print(
            f"{p.name:40s} {f'{w}x{h}':>10s} {c.valid:4d} {c.tp + c.fp:4d} "
            f"{c.recall_all:6.3f} {c.recall_scope:8.3f} {c.precision:6.3f} {s:6.2f}"
        )
    print(
        f"\n{'all':40s} {'':>10s} {total.valid:4d} {'':>4s} {total.recall_all:6.3f} "
        f"{total.recall_scope:8.3f} {total.precision:6.3f} {np.mean(secs):6.2f} s/photo "
        f"(CPU {np.mean(cpus):.2f} s/photo, all threads)"
    )
    print(
        f"faces in scope (>= {args.min_size:g} px): {total.in_scope} of {total.valid}; "
        f"true positives {total.tp}, false positives {total.fp}"
    )
    print("\nrecall by ground-truth face size (shorter side, px), before the size filter:")
    c0 = Counts()
    for p in photos:
        c0.add(evaluate(p, dets[p.name], 0.0, args.min_confidence))
    for b in SIZE_BUCKETS:
        n, k = c0.bucket_total.get(b, 0), c0.bucket_hit.get(b, 0)
        label = f"{b[0]}-{b[1]}" if b[1] < 10**6 else f">={b[0]}"
        print(f"  {label:>7s} px: {k:3d} / {n:3d}" + (f" = {k / n:.2f}" if n else ""))


def report_sweep(photos: list[Photo], args: argparse.Namespace) -> None:
    print(
        "recall all = of the valid faces; recall scope = of the faces >= min_size; "
        "s/photo = downscale + detect, wall; CPU s = the same in CPU seconds, all threads\n"
    )
    header = (
        f"{'max_side':>8s} {'mtcnn':>5s} {'min_size':>8s} {'min_conf':>8s} {'R all':>6s} "
        f"{'R scope':>7s} {'scope':>5s} {'P':>6s} {'TP':>4s} {'FP':>4s} {'s/photo':>7s} "
        f"{'CPU s':>7s}"
    )
    print(header)
    for mfs in args.sweep_mtcnn_min_face:
        for max_side in args.sweep_max_side:
            dets, secs, cpus = run_detection(photos, max_side, mfs)
            for min_size in args.sweep_min_size:
                for min_conf in args.sweep_min_confidence:
                    total = Counts()
                    for p in photos:
                        total.add(evaluate(p, dets[p.name], min_size, min_conf))
                    print(
                        f"{side_label(max_side):>8s} {mfs:5d} {min_size:8g} {min_conf:8g} "
                        f"{total.recall_all:6.3f} {total.recall_scope:7.3f} "
                        f"{total.in_scope:5d} {total.precision:6.3f} {total.tp:4d} "
                        f"{total.fp:4d} {np.mean(secs):7.2f} {np.mean(cpus):7.2f}",
                        flush=True,
                    )
            c0 = Counts()
            for p in photos:
                c0.add(evaluate(p, dets[p.name], 0.0, 0.9))
            buckets = "  ".join(
                f"{b[0]}-{b[1] if b[1] < 10**6 else ''}: "
                f"{c0.bucket_hit.get(b, 0)}/{c0.bucket_total.get(b, 0)}"
                for b in SIZE_BUCKETS
            )
            print(f"   recall by GT size at min_conf 0.9: {buckets}", flush=True)


def report_12mp(root: Path, args: argparse.Namespace) -> None:
    """s/photo of the product path on a 12 MP photo (a group photo enlarged to 4032x3024)."""
    with Image.open(root / "human_group-1.jpg") as im:
        big = np.asarray(
            ImageOps.exif_transpose(im)
            .convert("RGB")
            .resize((4032, 3024), Image.Resampling.LANCZOS)
        )
    detector = MTCNNDetector(mtcnn_min_face_size=args.mtcnn_min_face)
    detector.detect([big[:64, :64]])
    print("12 MP (human_group-1.jpg enlarged to 4032x3024), the second of two runs each:")
    for max_side in SWEEP_MAX_SIDE:
        detect_product(detector, big, max_side)  # traces the pyramid for this size
        dets, s, c = detect_product(detector, big, max_side)
        kept = filter_detections(dets, args.min_size, args.min_confidence)
        floor = 20 * 4032 / max_side if max_side else 20
        print(
            f"  max_side={side_label(max_side):>5s}: {s:6.2f} s (CPU {c:6.2f} s), {len(dets)} detections, "
            f"{len(kept)} kept (min_size {args.min_size:g}, min_conf {args.min_confidence:g}); "
            f"smallest face MTCNN can see ~{floor:.0f} px",
            flush=True,
        )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument(
        "--max-side",
        type=int,
        default=DEFAULT_MAX_SIDE,
        help=f"longest side of the detection copy, 0 = full size (default {DEFAULT_MAX_SIDE})",
    )
    ap.add_argument(
        "--min-size",
        type=float,
        default=DEFAULT_MIN_SIZE,
        help=f"drop faces whose shorter side is below this, upright px "
        f"(default {DEFAULT_MIN_SIZE:g})",
    )
    ap.add_argument(
        "--min-confidence",
        type=float,
        default=DEFAULT_MIN_CONFIDENCE,
        help=f"drop detections below this score (default {DEFAULT_MIN_CONFIDENCE:g})",
    )
    ap.add_argument(
        "--mtcnn-min-face",
        type=int,
        default=20,
        help="mtcnn's own min_face_size, 8..20 (default 20, the product's)",
    )
    ap.add_argument(
        "--sweep",
        action="store_true",
        help="max_side x min_size x min_confidence table instead of one run",
    )
    ap.add_argument(
        "--sweep-mtcnn-min-face",
        type=int,
        nargs="+",
        default=[20],
        help="mtcnn min_face_size values for --sweep (default 20)",
    )
    ap.add_argument(
        "--sweep-max-side",
        type=int,
        nargs="+",
        default=list(SWEEP_MAX_SIDE),
        help="max_side values for --sweep, 0 = full size",
    )
    ap.add_argument(
        "--sweep-min-size",
        type=float,
        nargs="+",
        default=list(SWEEP_MIN_SIZE),
        help="min_size values for --sweep",
    )
    ap.add_argument(
        "--sweep-min-confidence",
        type=float,
        nargs="+",
        default=list(SWEEP_MIN_CONFIDENCE),
        help="min_confidence values for --sweep",
    )
    ap.add_argument(
        "--enlarge-to",
        type=int,
        default=0,
        help="enlarge each photo (Lanczos) to this longest side first, e.g. 4032 to stand in\n"
        "for 12 MP camera photos; sizes and --min-size are then in that frame",
    )
    ap.add_argument(
        "--time-12mp",
        action="store_true",
        help="also time the product path on a 4032x3024 photo for each max_side",
    )
    args = ap.parse_args()

    root = dataset("group_photos")
    photos = load_photos(root, args.enlarge_to)
    n_gt = sum(len(p.gt) for p in photos)
    n_valid = sum(not v for p in photos for v in p.invalid)
    print(f"{len(photos)} annotated photos, {n_gt} faces ({n_valid} valid) in {root}")
    if args.enlarge_to:
        print(f"each enlarged to a longest side of {args.enlarge_to} px; sizes in that frame")
    print()
    if args.sweep:
        report_sweep(photos, args)
    else:
        report_one(photos, args)
    if args.time_12mp:
        print()
        report_12mp(root, args)


if __name__ == "__main__":
    main()
