"""photogroup beside the do-it-yourself pipelines its users would otherwise run.

    pip install -e ".[peers]" && pip install --no-deps face-recognition
    python bench/peers.py                  # every set: lfw20 lfw_devtrain five_celebs group_photos
    python bench/peers.py five_celebs lfw20            # some of them
    python bench/peers.py --encode-only --jobs 2 lfw_devtrain   # fill the peers' cache only
    python bench/peers.py --time 100 five_celebs       # both scans timed on the same 100 photos

``face-recognition`` is installed without its dependencies because it requires
``dlib``, which is built from source with a C++ compiler; ``dlib-bin`` (a wheel) and
``face-recognition-models`` (its model files) are the ``peers`` extra.

The pipelines, on the same photos:

- **dlib**: dlib's own clustering example as users copy it: face_recognition's HOG
  detector and dlib's 128-d encodings with face_recognition's defaults
  (``face_locations(image)``: HOG, one upsampling; ``face_encodings(image, boxes)``:
  5-point alignment, one jitter), grouped by
  ``dlib.chinese_whispers_clustering(descriptors, 0.5)``.
- **LibrePhotos**: the same dlib encodings grouped with LibrePhotos' HDBSCAN
  settings, from ``LibrePhotos/librephotos`` ``api/face_classify.py``
  (``create_all_clusters``: ``hdbscan.HDBSCAN(min_cluster_size, min_samples,
  cluster_selection_epsilon, metric="euclidean")``, min_cluster_size 2, 4 above
  1,000 faces, 8 above 10,000, 16 above 100,000 while the user leaves it at 0, and
  min_samples 1) with the user defaults of ``api/models/user.py`` (commit a6fdd1e8:
  ``min_cluster_size=0``, ``min_samples=1``, ``cluster_selection_epsilon=0.05``).
  Those are the settings of LibrePhotos' dlib era, whose 128-d encodings these are.
  LibrePhotos then trains a classifier that proposes a cluster for the faces HDBSCAN
  left out; that proposal is not counted here (a face left out is alone).
- **photogroup**: its own stored embeddings, the cached library that
  ``bench/cluster_quality.py`` scans with photogroup's pipeline
  (``~/.cache/photogroup-bench/<set>.db``, ``_common.load_set``), grouped by
  ``FaceClusterer`` with its defaults and the photos as cannot-link groups, as
  photogroup groups a library.

The peers' detections and encodings are cached in
``~/.cache/photogroup-bench/peers-<folder>.npz`` (written every 200 photos, so an
interrupted run resumes), with the time each photo took (load, detect, encode), so
that a rerun only groups.

Sets (as in bench/cluster_quality.py): five_celebs, lfw_devtrain, lfw20 (lfw_devtrain
restricted to the photos of the 46 people with at least 20 photos; all faces of
those photos are grouped, the other faces in them are strangers) and group_photos
(no identities). In a labelled set each pipeline's labelled face of a photo is the
face *it* detected nearest the photo's centre, labelled with the photo's folder; a
photo where it found no face has no labelled face. P, R, F are BCubed
(photogroup.core.metrics) over the labelled faces, a face left unassigned counting as
a cluster of its own. Columns:

- found: share of the set's photos with a labelled face (a photo whose face a
  pipeline missed is not in its P, R, F);
- F all: F over all the set's photos, a photo with no face found counting as a face
  left alone (the pipelines compared on the same items);
- people: clusters of two or more faces (over all faces);
- mixed: people holding two faces of one photo (certainly two persons);
- photos/s: photos / (seconds to load, detect and encode them + seconds to group).
  The peers' seconds are the sum of each photo's seconds in the cached run (one
  process's time, also with --jobs); photogroup's are its scan runs' seconds per
  photo (the library's scan_runs rows; lfw20 at lfw_devtrain's rate) times the
  photos. Both were measured while other work shared the 2 cores (the load average
  during the peers' run is printed): rough. ``--time N`` times both scans one after
  the other on the same N photos, models warm, wall and CPU seconds.
"""

from __future__ import annotations

import argparse
import fcntl
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt
from _common import (
    _SUBSETS,
    _UNLABELLED,
    CACHE,
    EXTENSIONS,
    SETS,
    Faces,
    dataset,
    load_set,
    same_photo_clusters,
    set_library,
)

from photogroup.core.metrics import bcubed

CHECKPOINT = 200


@dataclass
class Encoded:
    """The peers' detections and encodings of one photo folder (the cache)."""

    paths: npt.NDArray[np.str_]
    """Photo paths relative to the folder."""
    size: npt.NDArray[np.int64]
    """(n_photos, 2) width, height."""
    face_photo: npt.NDArray[np.int64]
    """Photo index of every face."""
    boxes: npt.NDArray[np.int64]
    """(n_faces, 4) top, right, bottom, left (face_recognition's order)."""
    enc: npt.NDArray[np.float64]
    """(n_faces, 128) dlib encodings."""
    wall: npt.NDArray[np.float64]
    """Seconds each photo took (load, detect, encode)."""
    cpu: npt.NDArray[np.float64]
    """CPU seconds of this process for each photo."""
    load: npt.NDArray[np.float64]
    """1-minute load average sampled at every checkpoint."""

    @classmethod
    def read(cls, path: Path) -> Encoded:
        with np.load(path) as z:
            return cls(**{k: z[k] for k in cls.__dataclass_fields__})

    def write(self, path: Path) -> None:
        tmp = path.with_name(path.name + ".tmp")
        with open(tmp, "wb") as f:
            np.savez(f, **{k: getattr(self, k) for k in self.__dataclass_fields__})
        os.replace(tmp, path)

    @classmethod
    def concat(cls, parts: list[Encoded]) -> Encoded:
        offsets = np.cumsum([0] + [len(e.paths) for e in parts])
        return cls(
            paths=np.concatenate([np.zeros(0, dtype=str)] + [e.paths for e in parts]),
            size=np.concatenate([np.zeros((0, 2), np.int64)] + [e.size for e in parts]),
            face_photo=np.concatenate(
                [np.zeros(0, np.int64)]
                + [e.face_photo + o for e, o in zip(parts, offsets[:-1], strict=True)]
            ),
            boxes=np.concatenate([np.zeros((0, 4), np.int64)] + [e.boxes for e in parts]),
            enc=np.concatenate([np.zeros((0, 128))] + [e.enc for e in parts]),
            wall=np.concatenate([np.zeros(0)] + [e.wall for e in parts]),
            cpu=np.concatenate([np.zeros(0)] + [e.cpu for e in parts]),
            load=np.concatenate([np.zeros(0)] + [e.load for e in parts]),
        )


def _photo_paths(root: Path) -> list[str]:
    return sorted(
        str(p.relative_to(root))
        for p in root.rglob("*")
        if p.suffix.lower() in EXTENSIONS and p.is_file()
    )


def encode_folder(folder: str, jobs: int = 1, people: set[str] | None = None) -> Encoded:
    """face_recognition's detections and encodings of the photos of `folder` (only those
    of `people`, the photos' parent folders, when given), cached in
    ``peers-<folder>.npz``. `jobs` processes share the photos not cached yet, each
    writing a part file every CHECKPOINT photos (an interrupted run resumes from them);
    the parts are merged into the cache."""
    root = dataset(folder)
    cache = CACHE / f"peers-{root.name}.npz"
    cache.parent.mkdir(parents=True, exist_ok=True)

    def missing(done: Encoded) -> list[str]:
        cached = set(done.paths.tolist())
        return [
            p
            for p in _photo_paths(root)
            if p not in cached and (people is None or Path(p).parent.name in people)
        ]

    if cache.exists() and not missing(done := Encoded.read(cache)):
        return done  # the cache is replaced atomically: no lock needed to read it
    with open(cache.with_name(cache.name + ".lock"), "w") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            sys.exit(f"Another process is encoding {root} into {cache}: wait for it to finish.")
        done = _merge_parts(cache)
        todo = missing(done)
        if not todo:
            return done
        print(
            f"peers: detecting and encoding {len(todo)} photos of {root} "
            f"({len(done.paths)} cached in {cache}, {jobs} processes) ...",
            file=sys.stderr,
            flush=True,
        )
        shares = [(root, todo[k::jobs], _part(cache, k)) for k in range(jobs)]
        if jobs == 1:
            _encode(*shares[0])
        else:
            from multiprocessing import Pool

            with Pool(jobs) as pool:
                pool.starmap(_encode, shares)
        return _merge_parts(cache)


def _part(cache: Path, k: int) -> Path:
    return cache.with_name(f"{cache.stem}.part{k}.npz")


def _merge_parts(cache: Path) -> Encoded:
    """The cache with every part file merged into it (the parts are then removed)."""
    parts = sorted(cache.parent.glob(f"{cache.stem}.part*.npz"))
    done = Encoded.read(cache) if cache.exists() else Encoded.concat([])
    if parts:
        done = Encoded.concat([done] + [Encoded.read(p) for p in parts])
        done.write(cache)
        for p in parts:
            p.unlink()
    return done


def _encode(root: Path, todo: list[str], part: Path) -> None:
    """Detect and encode the photos `todo` of `root` into the part file `part`."""
    import face_recognition  # the peers extra; see the module docstring

    paths: list[str] = []
    size: list[tuple[int, int]] = []
    wall: list[float] = []
    cpu: list[float] = []
    face_photo: list[int] = []
    boxes: list[tuple[int, int, int, int]] = []
    enc: list[npt.NDArray[np.float64]] = []
    load: list[float] = []
    t_start = time.perf_counter()
    for i, rel in enumerate(todo, 1):
        t0, c0 = time.perf_counter(), time.process_time()
        image = face_recognition.load_image_file(root / rel)
        found = face_recognition.face_locations(image)
        vectors = face_recognition.face_encodings(image, found)
        wall.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
        size.append((image.shape[1], image.shape[0]))
        for box, vector in zip(found, vectors, strict=True):
            face_photo.append(len(paths))
            boxes.append(box)
            enc.append(vector)
        paths.append(rel)
        if i % CHECKPOINT == 0 or i == len(todo):
            load.append(os.getloadavg()[0])
            Encoded(
                paths=np.asarray(paths, dtype=str),
                size=np.asarray(size, np.int64).reshape(-1, 2),
                face_photo=np.asarray(face_photo, np.int64),
                boxes=np.asarray(boxes, np.int64).reshape(-1, 4),
                enc=np.asarray(enc, np.float64).reshape(-1, 128),
                wall=np.asarray(wall),
                cpu=np.asarray(cpu),
                load=np.asarray(load),
            ).write(part)
            rate = i / (time.perf_counter() - t_start)
            print(
                f"  {part.name}: {i}/{len(todo)} photos, {len(enc)} faces, "
                f"{rate:.1f} photos/s, load {load[-1]:.1f}",
                file=sys.stderr,
                flush=True,
            )


# --- the sets ---------------------------------------------------------------------------


def _folder_of(name: str) -> str:
    return set_library(name)[0].name


def set_people(name: str) -> dict[str, int]:
    """Photos per person (folder) of a labelled set, counted on disk."""
    root = set_library(name)[0]
    counts: dict[str, int] = {}
    for rel in _photo_paths(root):
        person = Path(rel).parent.name
        counts[person] = counts.get(person, 0) + 1
    if name in _SUBSETS:
        least = _SUBSETS[name][1]
        counts = {p: n for p, n in counts.items() if n >= least}
    return counts


def peer_faces(name: str, encoded: Encoded) -> tuple[Faces, npt.NDArray[np.float64], float]:
    """The peers' faces of a set (photo = index in the cache), their encodings as dlib
    gives them (float64; Faces.X holds them as float32), and the seconds the set's
    photos took to load, detect and encode."""
    labelled_set = name not in _UNLABELLED
    people = set(set_people(name)) if labelled_set else None
    person = np.asarray([Path(p).parent.name for p in encoded.paths.tolist()])
    keep = np.isin(person, list(people)) if people is not None else np.ones(len(person), bool)
    rows = np.flatnonzero(keep[encoded.face_photo])
    face_photo = encoded.face_photo[rows]
    labelled: list[int] = []
    labels: list[str] = []
    if labelled_set:
        top, right, bottom, left = encoded.boxes[rows].T
        cx = (left + right) / 2 - encoded.size[face_photo, 0] / 2
        cy = (top + bottom) / 2 - encoded.size[face_photo, 1] / 2
        off = cx**2 + cy**2
        for photo in np.unique(face_photo):
            here = np.flatnonzero(face_photo == photo)
            labelled.append(int(here[np.argmin(off[here])]))
            labels.append(str(person[photo]))
    photos = int(keep.sum())
    faces = Faces(
        X=encoded.enc[rows].astype(np.float32),
        photo=face_photo,
        labelled=np.asarray(labelled, np.int64),
        labels=labels,
        photos=photos,
        photos_without_face=photos - len(np.unique(face_photo)),
    )
    return faces, encoded.enc[rows], float(encoded.wall[keep].sum())


def photogroup_scan_seconds(name: str) -> float:
    """Seconds per photo of photogroup's scans of the set's cached library (finished
    scan runs that decoded photos)."""
    from sqlalchemy import select

    from photogroup.db.library import open_library
    from photogroup.db.models import ScanRun

    db = set_library(name)[1]
    library = open_library(db, create=False)
    try:
        with library.session() as s:
            runs = s.execute(
                select(ScanRun.started_at, ScanRun.finished_at, ScanRun.n_decoded).where(
                    ScanRun.finished_at.is_not(None), ScanRun.n_decoded > 0
                )
            ).all()
    finally:
        library.close()
    photos = sum(r.n_decoded for r in runs)
    seconds = sum((r.finished_at - r.started_at).total_seconds() for r in runs)
    return seconds / photos if photos else float("nan")


# --- the groupings ----------------------------------------------------------------------


def chinese_whispers(X: npt.NDArray[np.float64]) -> npt.NDArray[np.int64]:
    """dlib's example: chinese_whispers_clustering(descriptors, 0.5)."""
    import dlib

    if len(X) == 0:
        return np.zeros(0, np.int64)
    descriptors = [dlib.vector(row.tolist()) for row in X]
    return np.asarray(dlib.chinese_whispers_clustering(descriptors, 0.5), np.int64)


def librephotos_min_cluster_size(n_faces: int) -> int:
    """LibrePhotos' min_cluster_size while the user leaves it at 0."""
    if n_faces > 100_000:
        return 16
    if n_faces > 10_000:
        return 8
    if n_faces > 1_000:
        return 4
    return 2


def librephotos(X: npt.NDArray[np.float64]) -> npt.NDArray[np.int64]:
    """LibrePhotos' HDBSCAN with its default user settings (-1: left out)."""
    from hdbscan import HDBSCAN

    if len(X) < 2:
        return np.full(len(X), -1, np.int64)
    model = HDBSCAN(
        min_cluster_size=librephotos_min_cluster_size(len(X)),
        min_samples=1,
        cluster_selection_epsilon=0.05,
        metric="euclidean",
    ).fit(X)
    return np.asarray(model.labels_, np.int64)


def photogroup_grouping(faces: Faces) -> npt.NDArray[np.int64]:
    """FaceClusterer with its defaults, the photos as cannot-link groups (as photogroup
    groups a library)."""
    from photogroup.core.cluster import FaceClusterer

    return np.asarray(FaceClusterer().fit(faces.X, groups=faces.photo).labels_, np.int64)


# --- measures ---------------------------------------------------------------------------


def people(labels: npt.NDArray[np.int64]) -> int:
    """Clusters of two or more faces (dlib's singletons and HDBSCAN's noise are not)."""
    _, sizes = np.unique(labels[labels >= 0], return_counts=True)
    return int(np.sum(sizes >= 2))


@dataclass
class Row:
    pipeline: str
    photos: int
    faces: int
    found: float
    p: float
    r: float
    f: float
    f_all: float
    people: int
    mixed: int
    photos_per_s: float
    note: str = ""


def measure(
    pipeline: str,
    faces: Faces,
    labels: npt.NDArray[np.int64],
    seconds: float,
    truth: dict[str, int] | None,
    set_photos: int,
) -> Row:
    """One row of the table: `labels` over all faces, `seconds` to scan and group."""
    p = r = f = f_all = found = float("nan")
    if truth is not None:
        pred = labels[faces.labelled]
        score = bcubed(np.asarray(faces.labels), pred)
        p, r, f = score.precision, score.recall, score.f
        # Every photo of the set: the ones without a labelled face are faces left alone.
        have: dict[str, int] = {}
        for label in faces.labels:
            have[label] = have.get(label, 0) + 1
        missed = [person for person, n in truth.items() for _ in range(n - have.get(person, 0))]
        all_truth = np.asarray(faces.labels + missed)
        all_pred = np.concatenate([pred, np.full(len(missed), -1, np.int64)])
        f_all = bcubed(all_truth, all_pred).f
        found = len(faces.labels) / set_photos
    return Row(
        pipeline=pipeline,
        photos=set_photos,
        faces=len(faces.X),
        found=found,
        p=p,
        r=r,
        f=f,
        f_all=f_all,
        people=people(labels),
        mixed=same_photo_clusters(labels, faces.photo),
        photos_per_s=set_photos / seconds if seconds else float("nan"),
    )


HEADER = (
    f"{'pipeline':<12} {'faces':>6} {'found':>6} {'P':>6} {'R':>6} {'F':>6} {'F all':>6} "
    f"{'people':>6} {'mixed':>5} {'photos/s':>8}"
)


def _fmt(row: Row) -> str:
    def num(x: float, spec: str) -> str:
        return "-".rjust(int(spec.split(".")[0])) if np.isnan(x) else format(x, spec)

    return (
        f"{row.pipeline:<12} {row.faces:6d} {num(row.found, '6.1%')} {num(row.p, '6.3f')} "
        f"{num(row.r, '6.3f')} {num(row.f, '6.3f')} {num(row.f_all, '6.3f')} "
        f"{row.people:6d} {row.mixed:5d} {num(row.photos_per_s, '8.1f')}"
    )


def run_set(name: str, scan: bool, jobs: int) -> list[Row]:
    truth = set_people(name) if name not in _UNLABELLED else None
    encoded = encode_folder(_folder_of(name), jobs, set(truth) if truth is not None else None)
    faces, enc, peer_seconds = peer_faces(name, encoded)
    set_photos = faces.photos
    # Imported before the clocks start: an import is not grouping time.
    import dlib  # noqa: F401
    import hdbscan  # noqa: F401

    import photogroup.core.cluster  # noqa: F401

    rows = []
    for pipeline, group in (("dlib", chinese_whispers), ("LibrePhotos", librephotos)):
        t0 = time.perf_counter()
        labels = group(enc)
        seconds = peer_seconds + time.perf_counter() - t0
        rows.append(measure(pipeline, faces, labels, seconds, truth, set_photos))
    ours = load_set(name, scan_first=scan)
    t0 = time.perf_counter()
    labels = photogroup_grouping(ours)
    seconds = set_photos * photogroup_scan_seconds(name) + time.perf_counter() - t0
    rows.append(measure("photogroup", ours, labels, seconds, truth, set_photos))
    if truth is not None and set(ours.labels) != set(truth):
        rows[-1].note = (
            f"photogroup's {name} holds {len(set(ours.labels))} people, the photo folders "
            f"{len(truth)}: the others' photos count as missed in its 'F all'"
        )
    return rows


def time_slice(name: str, n: int) -> None:
    """photos/s of both scans on the same first `n` photos of a set, one after the
    other in this process: photogroup's Scanner into a fresh temporary library and the
    peers' detection and encoding. Each is warmed first on other photos (models loaded,
    functions traced), so the figures are the steady state; CPU seconds count every
    thread of the process."""
    import tempfile

    import face_recognition

    from photogroup.core.config import load_config
    from photogroup.db.library import open_library
    from photogroup.pipeline.models import load_models
    from photogroup.pipeline.scan import Scanner

    src = set_library(name)[0]
    files = _photo_paths(src)
    if len(files) < n + 10:
        sys.exit(f"--time {n}: {src} has {len(files)} photos; give at most {len(files) - 10}.")
    config = load_config()
    detector, embedder = load_models(config, lambda message: None)
    with tempfile.TemporaryDirectory() as tmp:
        slices = {}
        for tag, chosen in (("warm", files[-10:]), ("timed", files[:n])):
            folder = Path(tmp) / tag
            for rel in chosen:
                (folder / rel).parent.mkdir(parents=True, exist_ok=True)
                (folder / rel).symlink_to(src / rel)
            slices[tag] = folder
        results = []
        for tag in ("warm", "timed"):
            library = open_library(Path(tmp) / f"{tag}.db")
            try:
                t0, c0 = time.perf_counter(), time.process_time()
                Scanner(library, config, detector, embedder).run([slices[tag]])
                results.append((time.perf_counter() - t0, time.process_time() - c0))
            finally:
                library.close()
        ours = results[-1]
        for rel in files[-3:]:
            face_recognition.face_encodings(face_recognition.load_image_file(src / rel))
        t0, c0 = time.perf_counter(), time.process_time()
        for rel in files[:n]:
            image = face_recognition.load_image_file(src / rel)
            face_recognition.face_encodings(image, face_recognition.face_locations(image))
        theirs = (time.perf_counter() - t0, time.process_time() - c0)
    print(
        f"\n{name}: the first {n} photos, load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores"
    )
    print(f"{'scan':<40} {'photos/s':>8} {'CPU s/photo':>11}")
    for label, (wall, cpu) in (
        ("photogroup (Scanner, fresh library)", ours),
        ("face_recognition HOG + dlib encodings", theirs),
    ):
        print(f"{label:<40} {n / wall:8.1f} {cpu / n:11.3f}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("sets", nargs="*", metavar="SET", help=f"default: {' '.join(SETS)}")
    ap.add_argument(
        "--encode-only", action="store_true", help="fill the peers' cache of the sets and stop"
    )
    ap.add_argument(
        "--no-scan",
        action="store_true",
        help="use photogroup's cached libraries as they are (no scan to complete them)",
    )
    ap.add_argument(
        "--jobs",
        type=int,
        default=1,
        metavar="N",
        help="processes that detect and encode the photos not cached yet (default 1)",
    )
    ap.add_argument(
        "--time",
        type=int,
        default=0,
        metavar="N",
        help="instead of the table: time both scans on the same first N photos of each set",
    )
    args = ap.parse_args()
    names = args.sets or list(SETS)
    for name in names:
        if name not in SETS:
            sys.exit(f"Unknown set {name!r}: choose from {', '.join(SETS)}.")
    if args.time:
        for name in names:
            time_slice(name, args.time)
        return
    if args.encode_only:
        for name in names:
            people = set(set_people(name)) if name not in _UNLABELLED else None
            encode_folder(_folder_of(name), args.jobs, people)
        return
    for name in names:
        rows = run_set(name, scan=not args.no_scan, jobs=args.jobs)
        load = Encoded.read(CACHE / f"peers-{_folder_of(name)}.npz").load
        print(
            f"\n{name}: {rows[0].photos} photos (load average during the peers' run: "
            f"{np.mean(load):.1f} on 2 cores)"
        )
        print(HEADER)
        for row in rows:
            print(_fmt(row), flush=True)
        for row in rows:
            if row.note:
                print(f"note: {row.note}")
    print(
        "\nphotos/s: load, detect, encode and group, measured on a shared 2-core machine "
        "(see the docstring)."
    )


if __name__ == "__main__":
    main()
