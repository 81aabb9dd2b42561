"""Names from XMP as a head start: grouping quality with 10 % of faces named in
sidecars against none, and how a face made from a bare region box embeds.

    python bench/xmp_names.py                  # five_celebs, 10 % named
    python bench/xmp_names.py five_celebs --share 0.2 --seed 1
    python bench/xmp_names.py --rescan 100000  # what the XMP stage costs a rescan

The data set is copied to a temporary folder and scanned (`photogroup scan`, the
real models) twice: once as it is, once after a sidecar (`photo.xmp`, written by
photogroup's own writer, which tests/cli/test_export_xmp.py checks with exiftool)
names the labelled face of a random share of the photos with its folder's name,
on the box the first scan found. The labelled face of a photo is the one nearest
its centre (bench/review_sim.py's Truth); BCubed precision / recall / F over the
labelled faces is printed for both libraries, and for the second also over the
labelled faces that carried no name (the ones the names had to help), with the
share of faces that end with a person of their own folder's name (or another).

Then, for every labelled face, the face is embedded again as if it were a region
no detector found (landmarks placed in its box, pipeline/xmp.py's BOX_LANDMARKS)
and compared with its real embedding: the cosine distance (median, 90th
percentile) and how often the nearest person prototype stays the same.

With --rescan N: a generated tree of N small JPEGs already in the library (rows
written directly, as bench/scan_speed.py --rescan-tree does) is rescanned unchanged
with `[xmp] read = false`, then with reading on: the first time (every photo's XMP
is read once) and again (only fingerprints are compared).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import random
import shutil
import sqlite3
import tempfile
from pathlib import Path

import numpy as np
from _common import dataset, indexed_tree
from review_sim import Truth

from photogroup.cli import main as cli
from photogroup.core.metrics import bcubed, coverage


def photogroup(db: Path, *args: str) -> None:
    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
        code = cli(["--library", str(db), *args])
    if code not in (0, 7):
        raise SystemExit(f"photogroup {' '.join(args)} exited {code}: {out.getvalue()}")


def score(truth: Truth, db: Path, faces: list[int]) -> str:
    conn = sqlite3.connect(db)
    assigned = dict(conn.execute("SELECT face_id, person_id FROM assignments"))
    names = dict(
        conn.execute(
            "SELECT a.face_id, p.name FROM assignments a JOIN people p ON p.id = a.person_id "
            "WHERE p.name IS NOT NULL"
        )
    )
    conn.close()
    t = np.array([truth.identity[f] for f in faces])
    p = np.array([assigned.get(f, -1) for f in faces])
    b3 = bcubed(t, p)
    right = sum(names.get(f) == truth.identity[f] for f in faces)
    wrong = sum(f in names and names[f] != truth.identity[f] for f in faces)
    return (
        f"P {b3.precision:.3f}  R {b3.recall:.3f}  F {b3.f:.3f}  coverage "
        f"{100 * coverage(p):.1f} %  named right {100 * right / len(faces):.1f} %, "
        f"wrong {100 * wrong / len(faces):.1f} %  ({len(faces)} faces)"
    )


def box_embeddings(db: Path, faces: list[int]) -> None:
    from photogroup.core.cluster import nearest_prototypes, person_prototypes
    from photogroup.core.config import load_config
    from photogroup.core.types import Detection
    from photogroup.crawl.images import decode_photo
    from photogroup.pipeline.faces import FaceAnalyser
    from photogroup.pipeline.models import load_models
    from photogroup.pipeline.xmp import BOX_LANDMARKS

    config = load_config()
    detector, embedder = load_models(config, lambda m: None)
    analyser = FaceAnalyser(config, detector, embedder)
    conn = sqlite3.connect(db)
    rows = conn.execute(
        f"SELECT f.id, p.path, f.x, f.y, f.w, f.h, e.vector, a.person_id FROM faces f "
        f"JOIN photos p ON p.id = f.photo_id JOIN embeddings e ON e.face_id = f.id "
        f"LEFT JOIN assignments a ON a.face_id = f.id WHERE f.id IN ({','.join('?' * len(faces))})",
        faces,
    ).fetchall()
    conn.close()
    crops, real, people = [], [], []
    for _fid, path, x, y, w, h, vector, pid in rows:
        decoded = decode_photo(path, config.detection.max_side)
        marks = tuple((x + u * w, y + v * h) for u, v in BOX_LANDMARKS)
        crops.append(analyser.face_data(decoded, Detection((x, y, w, h), marks, 1.0)).crop)
        real.append(np.frombuffer(vector, "<f4"))
        people.append(-1 if pid is None else pid)
    made = analyser.embed(crops)
    real_v = np.stack(real)
    dist = 1.0 - np.sum(made * real_v, axis=1)
    owners_known = np.array(people)
    known = owners_known >= 0
    protos, owners = person_prototypes(real_v[known], owners_known[known], k=5)
    best_real, _ = nearest_prototypes(real_v[known], protos, owners)
    best_made, _ = nearest_prototypes(made[known], protos, owners)
    print(
        f"a labelled face embedded from its box alone ({len(rows)} faces): cosine distance to "
        f"its real embedding median {np.median(dist):.3f}, 90th percentile "
        f"{np.percentile(dist, 90):.3f}; nearest person the same for "
        f"{100 * float(np.mean(best_real == best_made)):.1f} % of {int(known.sum())} assigned faces"
    )


class _NoModel:
    """An unchanged rescan calls no model."""

    id = "none"
    dim = 1
    input_size = 1
    template = np.zeros((5, 2), np.float32)

    def detect(self, images):  # type: ignore[no-untyped-def]
        raise AssertionError("an unchanged rescan detects nothing")

    def embed(self, crops):  # type: ignore[no-untyped-def]
        raise AssertionError("an unchanged rescan embeds nothing")


def rescan(n: int) -> None:
    import time

    from PIL import Image

    from photogroup.core.config import load_config
    from photogroup.db.library import open_library
    from photogroup.pipeline.scan import Scanner

    buf = io.BytesIO()
    Image.new("RGB", (64, 48), "grey").save(buf, "JPEG")
    jpeg = buf.getvalue()
    with tempfile.TemporaryDirectory() as tmp:
        root, db = indexed_tree(Path(tmp), n, jpeg)
        config = load_config()
        seconds = []
        with open_library(db) as library:
            for read in (False, True, True):
                config.xmp.read = read
                t = time.perf_counter()
                Scanner(library, config, _NoModel(), _NoModel()).run([root])  # type: ignore[arg-type]
                seconds.append(time.perf_counter() - t)
        print(
            f"unchanged rescan of {n} photos: {seconds[0]:.1f} s with [xmp] read = false; "
            f"{seconds[1]:.1f} s reading every photo's XMP the first time, "
            f"{seconds[2]:.1f} s after (fingerprints only)"
        )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("dataset", nargs="?", default="five_celebs")
    ap.add_argument("--share", type=float, default=0.10, help="share of photos named in XMP")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--rescan", type=int, default=0, help="time an unchanged rescan of N photos")
    args = ap.parse_args()
    if args.rescan:
        rescan(args.rescan)
        return
    from photogroup.crawl.xmp import FaceToWrite, embedded_packet, merge_faces

    source = dataset(args.dataset)
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        photos = base / "photos"
        shutil.copytree(source, photos, ignore=shutil.ignore_patterns("*.csv", "*.txt", "*.md"))
        plain = base / "plain.db"
        photogroup(plain, "scan", "--no-progress", str(photos))
        truth = Truth(plain)
        conn = sqlite3.connect(plain)
        boxes = {
            fid: (path, (x, y, w, h))
            for fid, path, x, y, w, h in conn.execute(
                "SELECT f.id, p.path, f.x, f.y, f.w, f.h FROM faces f JOIN photos p "
                "ON p.id = f.photo_id"
            )
        }
        conn.close()
        rng = random.Random(args.seed)
        named = rng.sample(truth.labelled, round(args.share * len(truth.labelled)))
        for fid in named:
            path, box = boxes[fid]
            _, size, orientation = embedded_packet(path)
            face = FaceToWrite(box, truth.identity[fid])
            Path(path).with_suffix(".xmp").write_bytes(merge_faces(None, [face], size, orientation))
        with_names = base / "named.db"
        photogroup(with_names, "scan", "--no-progress", str(photos))
        truth2 = Truth(with_names)
        conn = sqlite3.connect(with_names)
        ids2 = {
            (path, (x, y, w, h)): fid
            for fid, path, x, y, w, h in conn.execute(
                "SELECT f.id, p.path, f.x, f.y, f.w, f.h FROM faces f JOIN photos p "
                "ON p.id = f.photo_id"
            )
        }
        n_xmp = conn.execute("SELECT count(*) FROM decisions WHERE value = 'xmp'").fetchone()[0]
        conn.close()
        named2 = {ids2[boxes[f]] for f in named if boxes[f] in ids2}
        rest = [f for f in truth2.labelled if f not in named2]
        print(
            f"{args.dataset}: {len(truth.labelled)} labelled faces; {len(named)} photos "
            f"({100 * args.share:.0f} %) named in sidecars, {n_xmp} XMP answers recorded"
        )
        print(f"no names:            {score(truth, plain, truth.labelled)}")
        print(f"names in XMP:        {score(truth2, with_names, truth2.labelled)}")
        print(f"  faces not named:   {score(truth2, with_names, rest)}")
        box_embeddings(plain, truth.labelled)


if __name__ == "__main__":
    main()
