"""LFW pair verification with MTCNN + 5-point alignment + the FaceNet embedder.

For every image of ``lfw_devtrain/pairsDevTrain.txt`` the face nearest the image
centre is detected with MTCNN (images without a detection fall back to a fixed
landmark guess and are counted), aligned onto the embedder's template, embedded,
and each pair scored by cosine distance. The figure is the 10-fold
cross-validated accuracy: the threshold is chosen on 9 folds and tested on the
10th (folds stratified: pair i of each kind goes to fold i % 10).

    python bench/lfw_pairs.py                      # all 2,200 pairs
    python bench/lfw_pairs.py --limit 400          # a quick run
    python bench/lfw_pairs.py --template-search    # sweep face_fraction / y_shift

The data root is ``$PHOTOGROUP_DATA`` (default ``<repo>/../shared/data/faces``).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from photogroup.core.align import align_face, scaled_template
from photogroup.core.types import FloatArray, ImageArray
from photogroup.ml.facenet import FACE_FRACTION, Y_SHIFT, FaceNetEmbedder

REPO = Path(__file__).resolve().parent.parent

IMAGE_SIZE = 250
#: Landmarks used when MTCNN finds no face: the median MTCNN landmarks of the
#: deep-funneled 250x250 LFW images (measured with this script).
FALLBACK_LANDMARKS = np.array(
    [[104.0, 112.6], [145.9, 111.7], [125.0, 136.7], [107.4, 157.8], [144.3, 157.0]],
    dtype=np.float64,
)
FOLDS = 10


@dataclass(frozen=True)
class Pair:
    first: str
    second: str
    same: bool


def data_root() -> Path:
    return Path(os.environ.get("PHOTOGROUP_DATA") or REPO.parent / "shared" / "data" / "faces")


def image_path(name: str, index: int) -> str:
    return f"lfw_devtrain/{name}/{name}_{index:04d}.jpg"


def read_pairs(path: Path) -> list[Pair]:
    lines = path.read_text(encoding="utf8").splitlines()
    count = int(lines[0].split()[0])
    pairs: list[Pair] = []
    for line in lines[1:]:
        parts = line.split()
        if len(parts) == 3:
            pairs.append(
                Pair(image_path(parts[0], int(parts[1])), image_path(parts[0], int(parts[2])), True)
            )
        elif len(parts) == 4:
            pairs.append(
                Pair(
                    image_path(parts[0], int(parts[1])), image_path(parts[2], int(parts[3])), False
                )
            )
        elif parts:
            raise ValueError(f"{path}: bad line {line!r}")
    same = sum(p.same for p in pairs)
    if same != count or len(pairs) - same != count:
        raise ValueError(f"{path}: expected {count} same and {count} different pairs")
    return pairs


def subset(pairs: list[Pair], limit: int | None) -> list[Pair]:
    """`limit` pairs, half same and half different, spread evenly over the file."""
    if not limit or limit >= len(pairs):
        return pairs
    out: list[Pair] = []
    for want_same, n in ((True, limit // 2), (False, limit - limit // 2)):
        kind = [p for p in pairs if p.same == want_same]
        idx = np.linspace(0, len(kind) - 1, num=n).round().astype(int)
        out.extend(kind[i] for i in idx)
    return out


def load_rgb(path: Path) -> ImageArray:
    from PIL import Image

    with Image.open(path) as im:
        return np.asarray(im.convert("RGB"), dtype=np.uint8)


def detect_landmarks(
    images: dict[str, ImageArray], batch: int = 16
) -> tuple[dict[str, npt.NDArray[np.float64]], list[str], float]:
    """Landmarks of the face nearest the centre of each image; the images without a face.

    MTCNN's numpy output keeps sub-pixel landmarks (its JSON output rounds them to
    whole pixels): one row per face, [image index, x, y, w, h, confidence, the five
    x, the five y].
    """
    from mtcnn import MTCNN

    detector = MTCNN()
    names = list(images)
    found: dict[str, npt.NDArray[np.float64]] = {}
    missing: list[str] = []
    t0 = time.perf_counter()
    for start in range(0, len(names), batch):
        chunk = names[start : start + batch]
        rows = np.asarray(
            detector.detect_faces([images[n] for n in chunk], output_type="numpy"), dtype=np.float64
        ).reshape(-1, 16)
        for i, name in enumerate(chunk):
            h, w = images[name].shape[:2]
            faces = rows[rows[:, 0] == i]
            if len(faces) == 0:
                missing.append(name)
                found[name] = FALLBACK_LANDMARKS * (np.array([w, h]) / IMAGE_SIZE)
                continue
            centres = faces[:, 1:3] + faces[:, 3:5] / 2
            best = faces[int(np.argmin(((centres - [w / 2, h / 2]) ** 2).sum(axis=1)))]
            found[name] = np.stack([best[6:11], best[11:16]], axis=1)
        done = min(start + batch, len(names))
        print(f"\rdetected {done}/{len(names)}", end="", file=sys.stderr, flush=True)
    print(file=sys.stderr)
    return found, missing, time.perf_counter() - t0


def embed_all(
    embedder: FaceNetEmbedder,
    images: dict[str, ImageArray],
    landmarks: dict[str, npt.NDArray[np.float64]],
    template: FloatArray,
    chunk: int = 256,
) -> dict[str, FloatArray]:
    names = list(images)
    out: dict[str, FloatArray] = {}
    size = embedder.input_size
    for start in range(0, len(names), chunk):
        part = names[start : start + chunk]
        crops = np.stack([align_face(images[n], landmarks[n], template, size) for n in part])
        for name, vec in zip(part, embedder.embed(crops), strict=True):
            out[name] = vec
        print(f"\rembedded {start + len(part)}/{len(names)}", end="", file=sys.stderr, flush=True)
    print(file=sys.stderr)
    return out


def best_threshold(dist: FloatArray, same: npt.NDArray[np.bool_]) -> float:
    """The distance threshold (same if dist < t) with the highest accuracy on these pairs."""
    order = np.sort(dist)
    candidates = np.concatenate(
        [[order[0] - 1e-6], (order[1:] + order[:-1]) / 2, [order[-1] + 1e-6]]
    )
    acc = [((dist < t) == same).mean() for t in candidates]
    return float(candidates[int(np.argmax(acc))])


def cross_validate(dist: FloatArray, same: npt.NDArray[np.bool_]) -> tuple[float, float, float]:
    """10-fold accuracy mean and std, and the threshold chosen on all pairs."""
    folds = np.empty(len(dist), dtype=int)
    for kind in (True, False):
        idx = np.flatnonzero(same == kind)
        folds[idx] = np.arange(len(idx)) % FOLDS
    accs = []
    for k in range(FOLDS):
        test = folds == k
        if not test.any():
            continue
        t = best_threshold(dist[~test], same[~test])
        accs.append(((dist[test] < t) == same[test]).mean())
    return float(np.mean(accs)), float(np.std(accs)), best_threshold(dist, same)


def auc(dist: FloatArray, same: npt.NDArray[np.bool_]) -> float:
    """Probability that a same pair is closer than a different pair (ties count half)."""
    pos, neg = dist[same], dist[~same]
    less = (pos[:, None] < neg[None, :]).mean()
    ties = (pos[:, None] == neg[None, :]).mean()
    return float(less + 0.5 * ties)


def evaluate(
    pairs: list[Pair], vectors: dict[str, FloatArray]
) -> tuple[float, float, float, float]:
    a = np.stack([vectors[p.first] for p in pairs])
    b = np.stack([vectors[p.second] for p in pairs])
    dist = (1.0 - (a * b).sum(axis=1)).astype(np.float32)
    same = np.array([p.same for p in pairs])
    mean, std, threshold = cross_validate(dist, same)
    return mean, std, threshold, auc(dist, same)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--limit", type=int, default=None, help="use only N pairs (half same, half different)"
    )
    parser.add_argument(
        "--template-search", action="store_true", help="sweep face_fraction and y_shift"
    )
    parser.add_argument("--fractions", type=float, nargs="+", default=[0.7, 0.8, 0.9, 1.0])
    parser.add_argument("--shifts", type=float, nargs="+", default=[-0.04, 0.0, 0.04])
    parser.add_argument(
        "--weights", type=Path, default=None, help="facenet_keras.h5 (default: the cache)"
    )
    parser.add_argument("--batch-size", type=int, default=64)
    args = parser.parse_args(argv)

    root = data_root()
    pairs_file = root / "lfw_devtrain" / "pairsDevTrain.txt"
    if not pairs_file.is_file():
        print(
            f"error: {pairs_file} not found (set PHOTOGROUP_DATA to the faces data folder)",
            file=sys.stderr,
        )
        return 2
    pairs = subset(read_pairs(pairs_file), args.limit)
    names = sorted({p.first for p in pairs} | {p.second for p in pairs})
    images = {n: load_rgb(root / n) for n in names}
    print(
        f"{len(pairs)} pairs ({sum(p.same for p in pairs)} same), {len(names)} images",
        file=sys.stderr,
    )

    landmarks, missing, det_s = detect_landmarks(images)
    detected = [landmarks[n] for n in names if n not in missing]
    if detected:
        median = np.round(np.median(np.stack(detected), axis=0), 1).tolist()
        print(
            f"MTCNN: {1000 * det_s / len(names):.1f} ms/image; median landmarks {median}",
            file=sys.stderr,
        )

    embedder = FaceNetEmbedder(weights_path=args.weights, batch_size=args.batch_size)
    embedder.load()
    embedder.embed(np.zeros((1, embedder.input_size, embedder.input_size, 3), np.uint8))  # warm up
    embedder.seconds, embedder.faces = 0.0, 0

    if args.template_search:
        settings = [(f, s) for f in args.fractions for s in args.shifts]
    else:
        settings = [(FACE_FRACTION, Y_SHIFT)]
    results = []
    for f, s in settings:
        template = scaled_template(embedder.input_size, face_fraction=f, y_shift=s)
        vectors = embed_all(embedder, images, landmarks, template)
        mean, std, threshold, area = evaluate(pairs, vectors)
        results.append((mean, area, f, s))
        print(
            f"face_fraction={f:.3f} y_shift={s:+.3f}: accuracy {100 * mean:.2f} % "
            f"± {100 * std:.2f}  (AUC {area:.5f}, threshold {threshold:.3f})",
            flush=True,
        )

    print(f"pairs: {len(pairs)}; images: {len(names)}; without detection: {len(missing)}")
    if missing:
        print("  " + ", ".join(missing[:10]) + (" ..." if len(missing) > 10 else ""))
    print(
        f"embedder {embedder.id}: {1000 * embedder.seconds / max(embedder.faces, 1):.1f} ms/face "
        f"(batches of {embedder.batch_size}, {embedder.faces} faces)"
    )
    if args.template_search:
        mean, area, f, s = max(results)
        print(f"best: face_fraction={f} y_shift={s} ({100 * mean:.2f} %, AUC {area:.5f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
