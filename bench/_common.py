"""Shared by the bench scripts: where the real photos are, the cached libraries they
are scanned into, and the faces of the grouping sets (no bench script imports
another one; they all import this).

Grouping sets (``load_set``):

- ``five_celebs``: 5 people, ~23 small web photos each, much pose/age spread.
- ``lfw_devtrain``: LFW's development-training split, 4,038 people, mostly seen once.
- ``lfw20``: lfw_devtrain restricted to the photos of the 46 people with at least
  20 photos (2,370 photos): what a family library is, few people with many photos.
  All faces of those photos are grouped; the other faces in them are strangers
  (unlabelled).
- ``group_photos``: 40 photos of 1 to ~50 faces, no identities: only "no person
  holds two faces of one photo" and the number of clusters can be measured.

Every face carries its photo id (``Faces.photo``). In a labelled set the face
nearest the photo's centre is the labelled face (label: the photo's folder).
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

REPO = Path(__file__).resolve().parent.parent
DATA = Path(os.environ.get("PHOTOGROUP_DATA", REPO.parent / "shared" / "data" / "faces"))
CACHE = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "photogroup-bench"
EXTENSIONS = (".jpg", ".jpeg", ".png")

#: The grouping sets, in the order `--set all` measures them.
SETS = ("lfw20", "lfw_devtrain", "five_celebs", "group_photos")
#: Sets measured on a subset of another set's library: name -> (source, min photos).
_SUBSETS = {"lfw20": ("lfw_devtrain", 20)}
#: Sets without identities (flat folders of photos).
_UNLABELLED = {"group_photos"}


def dataset(name: str) -> Path:
    """A folder of ../shared/data/faces (or $PHOTOGROUP_DATA), or a path given as is."""
    path = Path(name)
    if not path.is_dir():
        path = DATA / name
    if not path.is_dir():
        sys.exit(f"No data set {name!r}: looked for {path}. Set PHOTOGROUP_DATA.")
    return path


@dataclass
class Faces:
    X: npt.NDArray[np.float32]
    """Embeddings of all faces."""
    photo: npt.NDArray[np.int64]
    """Photo id of every face (row of X)."""
    labelled: npt.NDArray[np.int64]
    """Row in X of each photo's labelled face (empty for an unlabelled set)."""
    labels: list[str]
    """Person of each labelled face."""
    photos: int
    photos_without_face: int


def link_first(src: Path, limit: int, dest: Path) -> Path:
    """The first `limit` photos of `src` (sorted paths) linked into `dest`."""
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


def load_faces(db: Path, labelled: bool = True) -> Faces:
    """All embeddings of the latest scan's embedder, their photos, and (when
    `labelled`) each photo's central face labelled with the photo's folder."""
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
    central: list[int] = []
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
        central.append(best)
        labels.append(Path(path).parent.name)
    with_face = len(central)
    if not labelled:
        central, labels = [], []
    return Faces(
        X=X.astype(np.float32),
        photo=np.asarray([r.photo_id for r in rows], dtype=np.int64),
        labelled=np.asarray(central, dtype=np.int64),
        labels=labels,
        photos=len(photos),
        photos_without_face=len(photos) - with_face,
    )


def restrict_to_people(faces: Faces, min_photos: int) -> Faces:
    """Only the photos whose labelled person has at least `min_photos` labelled photos;
    every face of those photos is kept (the others in them are unlabelled strangers)."""
    names, counts = np.unique(np.asarray(faces.labels), return_counts=True)
    frequent = set(names[counts >= min_photos].tolist())
    keep_label = np.asarray([label in frequent for label in faces.labels], dtype=bool)
    photos = np.unique(faces.photo[faces.labelled[keep_label]])
    rows = np.flatnonzero(np.isin(faces.photo, photos))
    new_row = np.full(len(faces.X), -1, dtype=np.int64)
    new_row[rows] = np.arange(len(rows))
    return Faces(
        X=faces.X[rows],
        photo=faces.photo[rows],
        labelled=new_row[faces.labelled[keep_label]],
        labels=[label for label, k in zip(faces.labels, keep_label, strict=True) if k],
        photos=len(photos),
        photos_without_face=0,
    )


def set_library(name: str, limit: int = 0) -> tuple[Path, Path]:
    """(photo folder, cached library) of a grouping set or data-set folder.

    A subset set (lfw20) uses its source's library. With `limit` the first N photos
    are linked into a folder next to the library and scanned into a library of
    their own.
    """
    source = _SUBSETS.get(name, (name, 0))[0]
    src = dataset(source)
    tag = src.name + (f"-limit{limit}" if limit else "")
    db = CACHE / f"{tag}.db"
    db.parent.mkdir(parents=True, exist_ok=True)
    root = link_first(src, limit, CACHE / f"{tag}-photos") if limit else src
    return root, db


def load_set(name: str, limit: int = 0, scan_first: bool = True, db: Path | None = None) -> Faces:
    """The faces of a grouping set (see the module docstring), scanning it first
    into its cached library unless `scan_first` is False."""
    root, cached = set_library(name, limit)
    db = (db or cached).expanduser()
    if scan_first:
        scan(db, root)
    faces = load_faces(db, labelled=name not in _UNLABELLED)
    if name in _SUBSETS:
        faces = restrict_to_people(faces, _SUBSETS[name][1])
    return faces


def same_photo_clusters(labels: npt.NDArray[np.int64], photo: npt.NDArray[np.int64]) -> int:
    """How many clusters (label >= 0) hold two or more faces of one photo."""
    grouped = labels >= 0
    pairs = np.unique(np.column_stack([labels[grouped], photo[grouped]]), axis=0)
    _, per_cluster = np.unique(labels[grouped], return_counts=True)
    _, distinct = np.unique(pairs[:, 0], return_counts=True)
    return int(np.sum(per_cluster != distinct))


def fresh_copy(cached: Path, db: Path, photos: list[int]) -> None:
    """Copy a cached library to `db` with no answers, people or thresholds, holding
    only `photos` (the photos of a set: their faces and embeddings go with them)."""
    import shutil
    import sqlite3

    shutil.copy(cached, db)
    conn = sqlite3.connect(db)
    conn.execute("PRAGMA foreign_keys = ON")
    with conn:
        for table in ("assignments", "decisions", "thresholds"):
            conn.execute(f"DELETE FROM {table}")
        conn.execute("DELETE FROM people")
        conn.execute("CREATE TEMP TABLE keep (id INTEGER PRIMARY KEY)")
        conn.executemany("INSERT INTO keep VALUES (?)", [(p,) for p in photos])
        conn.execute("DELETE FROM photos WHERE id NOT IN (SELECT id FROM keep)")
    conn.close()


def indexed_tree(tmp: Path, n: int, content: bytes = b"\xff\xd8") -> tuple[Path, Path]:
    """(root, library) of n generated files (`content` plus a number each, in folders
    of 100) whose photo rows are written straight into a new library, as an earlier
    scan would have left them: what an unchanged rescan of a large tree reads."""
    import sqlite3

    from photogroup.db.library import open_library

    root = tmp / "tree"
    rows = []
    for i in range(n):
        d = root / f"{i // 10000:02d}" / f"{(i // 100) % 100:02d}"
        if i % 100 == 0:
            d.mkdir(parents=True, exist_ok=True)
        p = d / f"IMG_{i:06d}.jpg"
        p.write_bytes(content + i.to_bytes(4, "little"))
        st = p.stat()
        rows.append((str(p), str(root), st.st_size, st.st_mtime_ns, f"{i:064x}"))
    db = tmp / "tree.db"
    open_library(db).close()
    conn = sqlite3.connect(db)
    with conn:
        conn.executemany(
            "INSERT INTO photos (path, root, size, mtime_ns, content_hash, status, "
            "first_seen_at, detector) VALUES (?, ?, ?, ?, ?, 'ok', '2024-01-01', 'mtcnn')",
            rows,
        )
    conn.close()
    return root, db
