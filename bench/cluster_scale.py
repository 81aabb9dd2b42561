"""Grouping time and peak memory of FaceClusterer on synthetic face embeddings.

    python bench/cluster_scale.py                 # 10k and 100k faces
    python bench/cluster_scale.py --sizes 10000 100000 1000000
    python bench/cluster_scale.py --calibrate     # print the distance statistics only
    python bench/cluster_scale.py --assign 1000000  # assigning new faces, 1M-face library

The embeddings imitate FaceNet on a real photo library: identities of Zipf-like sizes (a few people in
thousands of photos, many in two or three, many strangers seen once), 128-d unit
vectors whose same-person cosine distances have a median near 0.28 and a 90th
percentile near 0.45, different people mostly near 0.8-1.0 with the closest 1 %
of pairs from about 0.6 (``--calibrate`` prints them), 10 % of the people's
faces from bursts or copies (near-identical shots), and 10 % junk faces
(bystanders, tiny and blurred faces; the blurred ones drift towards one shared
direction, as real ones do).

Each size is generated here, saved to a temporary file and grouped in a fresh
child process: "fit s" is the time of ``FaceClusterer(...).fit`` alone (imports
warmed; their time is the last figure), "data MiB" the child's resident memory
with the embeddings loaded (Python, libraries, data) and "peak MiB" its peak
resident memory during the fit (VmHWM, reset before the fit). B3 F / pair F: BCubed and pairwise F over the non-junk faces.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from photogroup.core.cluster import (
    FaceClusterer,
    nearest_prototypes,
    person_prototypes,
)
from photogroup.core.metrics import bcubed, pairwise

REPO = Path(__file__).resolve().parent.parent

DIM = 128
#: Spread of the identity centres: variance of dimension i decays as
#: exp(-i / SPECTRUM), which brings look-alikes closer than random directions.
SPECTRUM = 7.0
#: Within-person noise (per dimension, before normalising), scaled per face by a
#: log-normal factor so that some photos of a person are much worse than others.
SIGMA = 0.053
SIGMA_SPREAD = 0.4
JUNK_SHARE = 0.10
SINGLETON_SHARE = 0.15
#: Share of people's faces that come from bursts or copies: near-identical
#: shots (cosine distance about 0.005) of one moment, 2 to 4 of them.
BURST_SHARE = 0.10


@dataclass
class Synthetic:
    X: npt.NDArray[np.float32]
    labels: npt.NDArray[np.int64]
    """Identity of every face; singletons and junk faces get labels of their own."""
    junk: npt.NDArray[np.bool_]


def _unit(v: npt.NDArray[np.float64]) -> npt.NDArray[np.float32]:
    return (v / np.linalg.norm(v, axis=1, keepdims=True)).astype(np.float32)


def _centres(rng: np.random.Generator, k: int, dim: int) -> npt.NDArray[np.float64]:
    scale = np.exp(-np.arange(dim) / (2 * SPECTRUM))
    return _unit(rng.standard_normal((k, dim)) * scale).astype(np.float64)


def _faces_of(
    rng: np.random.Generator, centres: npt.NDArray[np.float64], dim: int
) -> npt.NDArray[np.float32]:
    sigma = SIGMA * rng.lognormal(0.0, SIGMA_SPREAD, size=(len(centres), 1))
    return _unit(centres + sigma * rng.standard_normal((len(centres), dim)))


def synthetic_faces(n: int, seed: int = 0, dim: int = DIM) -> Synthetic:
    """`n` faces: people with Zipf-like photo counts, bursts, singletons and junk."""
    rng = np.random.default_rng(seed)
    n_junk = int(n * JUNK_SHARE)
    n_single = int(n * SINGLETON_SHARE)
    n_people_faces = n - n_junk - n_single
    n_copies = int(n_people_faces * BURST_SHARE)
    n_drawn = n_people_faces - n_copies
    sizes: list[int] = []
    cap = max(2, n // 50)
    while sum(sizes) < n_drawn:
        sizes.append(int(min(cap, 1 + rng.zipf(1.8))))
    sizes[-1] -= sum(sizes) - n_drawn
    sizes = [s for s in sizes if s > 0]
    k = len(sizes)
    ident = np.repeat(np.arange(k), sizes)
    centres = _centres(rng, k + n_single, dim)
    people = _faces_of(rng, centres[ident], dim)
    # Bursts and copies: 1 to 3 near-identical shots of some of the people's faces.
    copies_of: list[int] = []
    while len(copies_of) < n_copies:
        copies_of += [int(rng.integers(n_drawn))] * int(rng.integers(1, 4))
    src = np.asarray(copies_of[:n_copies], dtype=np.int64)
    bursts = _unit(people[src] + 0.006 * rng.standard_normal((len(src), dim)))
    singles = _faces_of(rng, centres[k:], dim)
    # Junk: half bystanders/odd crops (random people, twice the noise), half blurred
    # faces pulled towards one shared "blur" direction.
    n_blur = n_junk // 2
    blur_dir = _centres(rng, 1, dim)
    others = _centres(rng, n_junk - n_blur, dim)
    bystanders = _unit(others + 2 * SIGMA * rng.standard_normal(others.shape))
    mix = rng.uniform(0.3, 0.7, size=(n_blur, 1))
    blurred = _unit(mix * blur_dir + (1 - mix) * _centres(rng, n_blur, dim))
    X = np.concatenate([people, bursts, singles, bystanders, blurred]).astype(np.float32)
    labels = np.concatenate([ident, ident[src], k + np.arange(n_single + n_junk)]).astype(np.int64)
    junk = np.zeros(n, dtype=bool)
    junk[n_people_faces + n_single :] = True
    order = rng.permutation(n)
    return Synthetic(X[order], labels[order], junk[order])


def distance_stats(data: Synthetic, pairs: int = 200_000, seed: int = 1) -> dict[str, float]:
    """Percentiles of same-person and different-person cosine distances."""
    rng = np.random.default_rng(seed)
    real = ~data.junk
    X, y = data.X[real], data.labels[real]
    i, j = rng.integers(0, len(X), size=(2, pairs))
    d = 1.0 - np.einsum("ij,ij->i", X[i], X[j])
    diff = d[(y[i] != y[j])]
    # Same-person pairs: pick pairs inside identities with 2+ faces.
    order = np.argsort(y, kind="stable")
    ys = y[order]
    starts = np.flatnonzero(np.r_[True, ys[1:] != ys[:-1]])
    counts = np.diff(np.r_[starts, len(ys)])
    multi = np.flatnonzero(counts >= 2)
    pick = rng.choice(multi, size=min(pairs, 20 * len(multi)))
    a = starts[pick] + rng.integers(0, counts[pick])
    b = starts[pick] + (a - starts[pick] + 1 + rng.integers(0, counts[pick] - 1)) % counts[pick]
    same = 1.0 - np.einsum("ij,ij->i", X[order[a]], X[order[b]])
    return {
        "same_median": float(np.median(same)),
        "same_p90": float(np.percentile(same, 90)),
        "diff_p1": float(np.percentile(diff, 1)),
        "diff_median": float(np.median(diff)),
    }


def _rss_mib(field: str) -> float:
    """VmRSS / VmHWM (peak) of this process from /proc, in MiB; ru_maxrss as fallback
    (which on Linux also counts the parent's peak before exec)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _reset_peak() -> None:
    try:  # Linux >= 4.0: resets VmHWM to the current RSS
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        pass


def _child(path: Path, params: dict[str, Any]) -> None:
    """Fit on the embeddings saved at `path`; print a JSON line of figures."""
    t0 = time.perf_counter()
    FaceClusterer().fit(synthetic_faces(200, 1).X)  # imports hdbscan, scipy, hnswlib
    imports = time.perf_counter() - t0
    saved = np.load(path)
    X, labels, junk = saved["X"], saved["labels"], saved["junk"]
    before = _rss_mib("VmRSS")
    _reset_peak()
    t0 = time.perf_counter()
    model = FaceClusterer(**params).fit(X)
    seconds = time.perf_counter() - t0
    peak = _rss_mib("VmHWM")
    real = ~junk
    pred = model.labels_[real]
    b = bcubed(labels[real], pred)
    p = pairwise(labels[real], pred)
    print(
        json.dumps(
            {
                "n": len(X),
                "seconds": seconds,
                "imports": imports,
                "peak_rss_mib": peak,
                "rss_before_fit_mib": before,
                "clusters": int(model.labels_.max() + 1),
                "noise_share": float(np.mean(model.labels_ < 0)),
                "bcubed_f": b.f,
                "pairwise_f": p.f,
                "timings": {k: round(v, 2) for k, v in model.timings_.items()},
            }
        )
    )


def assignment(n: int, seed: int, repeats: int = 50) -> None:
    """Time of assigning new faces to the people of an n-face library (prototypes)."""
    data = synthetic_faces(n, seed)
    # The library's people: the true identities with 2+ faces (as if grouped perfectly).
    counts = np.bincount(data.labels)
    people = np.where(counts[data.labels] >= 2, data.labels, -1)
    t0 = time.perf_counter()
    P, labels = person_prototypes(data.X, people, k=5)
    t_protos = time.perf_counter() - t0
    queries = synthetic_faces(1000, seed + 1).X
    nearest_prototypes(queries[:1], P, labels, prototypes_normalised=True)  # warm
    one = []
    for i in range(repeats):
        t0 = time.perf_counter()
        nearest_prototypes(queries[i : i + 1], P, labels, prototypes_normalised=True)
        one.append(time.perf_counter() - t0)
    t0 = time.perf_counter()
    nearest_prototypes(queries, P, labels, prototypes_normalised=True)
    batch = time.perf_counter() - t0
    print(
        f"library of {n:,} faces, {int(labels.max()) + 1:,} people with 2+ faces: "
        f"{len(P):,} prototypes ({P.nbytes / 2**20:.0f} MiB), built in {t_protos:.1f} s"
    )
    print(
        f"assign 1 face: median {1000 * float(np.median(one)):.1f} ms "
        f"(min {1000 * min(one):.1f}, max {1000 * max(one):.1f}; {repeats} runs); "
        f"1,000 faces at once: {batch:.2f} s"
    )


def _params(pairs: list[str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for text in pairs:
        key, sep, value = text.partition("=")
        if not sep:
            sys.exit(f"--set wants PARAM=VALUE, got {text!r}")
        out[key.strip()] = json.loads(value) if value.strip() != "None" else None
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="PARAM=VALUE",
        help="a FaceClusterer parameter, value as JSON (repeatable)",
    )
    ap.add_argument("--calibrate", action="store_true", help="print distance statistics only")
    ap.add_argument(
        "--assign",
        type=int,
        default=0,
        metavar="N",
        help="time incremental assignment against the people of N faces",
    )
    ap.add_argument("--child", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args()
    params = _params(args.set)
    if args.child:
        _child(args.child, params)
        return
    if args.assign:
        assignment(args.assign, args.seed)
        return
    if args.calibrate:
        for n in args.sizes:
            stats = distance_stats(synthetic_faces(n, args.seed))
            print(n, {k: round(v, 3) for k, v in stats.items()})
        return
    print(f"FaceClusterer({', '.join(f'{k}={v!r}' for k, v in params.items())})")
    print(
        f"{'faces':>9} {'fit s':>7} {'data MiB':>8} {'peak MiB':>8} "
        f"{'clusters':>8} {'noise':>6} {'B3 F':>6} {'pair F':>6}  stages (s); imports (s)"
    )
    for n in args.sizes:
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "faces.npz"
            data = synthetic_faces(n, args.seed)
            np.savez(path, X=data.X, labels=data.labels, junk=data.junk)
            del data
            proc = subprocess.run(
                [sys.executable, __file__, "--child", str(path)] + [f"--set={p}" for p in args.set],
                capture_output=True,
                text=True,
            )
        if proc.returncode != 0:
            print(f"{n:>9} failed (exit {proc.returncode}): {proc.stderr.strip()[-500:]}")
            continue
        r = json.loads(proc.stdout.strip().splitlines()[-1])
        print(
            f"{r['n']:>9} {r['seconds']:>7.1f} {r['rss_before_fit_mib']:>8.0f} "
            f"{r['peak_rss_mib']:>8.0f} "
            f"{r['clusters']:>8} {r['noise_share']:>6.1%} "
            f"{r['bcubed_f']:>6.3f} {r['pairwise_f']:>6.3f}  {r['timings']}; "
            f"{r['imports']:.1f}",
            flush=True,
        )


if __name__ == "__main__":
    main()
