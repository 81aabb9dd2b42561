"""A simulated user answers `photogroup review` from the folder labels; grouping quality
and the learned thresholds are printed as the answers accumulate.

    python bench/review_sim.py lfw20 --answers 50          # checkpoints 0,10,20,50
    python bench/review_sim.py lfw_devtrain --answers 100
    python bench/review_sim.py five_celebs --answers 25 --checkpoints 0,5,10,25

A set of bench/_common.py (lfw20: lfw_devtrain's photos of the 46 people with 20 or
more, every face of those photos) or a data-set folder.
The data set is scanned into the cached library of bench/_common.py, copied
to a temporary file and grouped (`photogroup cluster --full`). Then, through the
scriptable interface only (`photogroup review --json`, `photogroup review --answer
QID yes|no [--name NAME]`, run in-process), the simulated user answers each
question as the labels say:

- the labelled face of a photo (the one nearest its centre) is the folder's person;
  any other face is a stranger of its own;
- a person is whoever most of its labelled faces are;
- "Is this X?": yes when the face is X's person; "Same person?": yes when both are
  the same person; "Is this one person?": no when the faces shown of the two sides
  are mostly different people; "Who is this?": the folder name (photogroup merges
  the person into one already called so), or no for a group of strangers.

At each checkpoint: BCubed precision / recall / F over the labelled faces (an
unassigned face counts as a group of its own), coverage, and the thresholds in
force (`photogroup thresholds --json`). With --regroup-at-checkpoints the library is
grouped again from scratch first (answers must survive it).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import sqlite3
import tempfile
import time
from collections import Counter
from pathlib import Path

import numpy as np
from _common import fresh_copy, load_set, scan, set_library

from photogroup.cli import main as cli
from photogroup.core.metrics import bcubed, coverage


def run(db: Path, *args: str) -> str:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = cli(["--library", str(db), *args])
    if code != 0:
        raise SystemExit(f"photogroup {' '.join(args)} exited {code}: {out.getvalue()}")
    return out.getvalue()


class Truth:
    """Identity of every face from the folder labels (see the module docstring)."""

    def __init__(self, db: Path) -> None:
        conn = sqlite3.connect(db)
        photos = {
            pid: (path, w, h)
            for pid, path, w, h in conn.execute(
                "SELECT id, path, width, height FROM photos WHERE status = 'ok'"
            )
        }
        faces: dict[int, list[tuple[int, float, float, float, float]]] = {}
        for fid, pid, x, y, w, h in conn.execute("SELECT id, photo_id, x, y, w, h FROM faces"):
            faces.setdefault(pid, []).append((fid, x, y, w, h))
        conn.close()
        self.identity: dict[int, str] = {}
        self.labelled: list[int] = []
        for pid, rows in faces.items():
            if pid not in photos:
                continue
            path, width, height = photos[pid]
            cx, cy = (width or 0) / 2, (height or 0) / 2
            best = min(
                rows, key=lambda r: (r[1] + r[3] / 2 - cx) ** 2 + (r[2] + r[4] / 2 - cy) ** 2
            )
            for r in rows:
                self.identity[r[0]] = Path(path).parent.name if r is best else f"stranger:{r[0]}"
            self.labelled.append(best[0])

    def of_person(self, db: Path, pid: int) -> str:
        conn = sqlite3.connect(db)
        faces = [
            f
            for (f,) in conn.execute("SELECT face_id FROM assignments WHERE person_id = ?", (pid,))
        ]
        conn.close()
        real = Counter(
            self.identity[f] for f in faces if not self.identity[f].startswith("stranger")
        )
        if real:
            return real.most_common(1)[0][0]
        return f"strangers:{pid}"

    def score(self, db: Path) -> dict[str, float]:
        conn = sqlite3.connect(db)
        assigned = dict(conn.execute("SELECT face_id, person_id FROM assignments"))
        people = conn.execute("SELECT count(*) FROM people").fetchone()[0]
        conn.close()
        truth = np.array([self.identity[f] for f in self.labelled])
        pred = np.array([assigned.get(f, -1) for f in self.labelled])
        b3 = bcubed(truth, pred)
        return {
            "P": b3.precision,
            "R": b3.recall,
            "F": b3.f,
            "coverage": coverage(pred),
            "people": people,
        }


def decide(truth: Truth, db: Path, q: dict) -> tuple[str, str | None]:
    sides = q["sides"]
    if q["kind"] == "who":
        who = truth.of_person(db, sides[0]["person_id"])
        return ("yes", who) if not who.startswith("strangers") else ("no", None)
    if q["kind"] == "same_person":
        a, b = (truth.of_person(db, s["person_id"]) for s in sides)
        return ("yes" if a == b else "no"), None
    if q["kind"] == "one_person":
        # what the user sees: the faces shown of each side, and who most of them are
        a, b = (
            Counter(truth.identity[f["face_id"]] for f in s["faces"]).most_common(1)[0][0]
            for s in sides
        )
        return ("yes" if a == b else "no"), None
    face = sides[0]["faces"][0]["face_id"]
    person = truth.of_person(db, sides[1]["person_id"])
    return ("yes" if truth.identity[face] == person else "no"), None


def thresholds(db: Path) -> str:
    parts = []
    for line in run(db, "thresholds", "--json").splitlines():
        t = json.loads(line)
        parts.append(f"{t['kind']} {t['in_force']:.3f} ({t['source']}, {t['answers']})")
    return ", ".join(parts)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("dataset")
    ap.add_argument("--answers", type=int, default=100)
    ap.add_argument("--checkpoints", default="0,10,20,50,100,200,400")
    ap.add_argument("--regroup-at-checkpoints", action="store_true")
    args = ap.parse_args()
    root, cached = set_library(args.dataset)
    scan(cached, root)
    keep = sorted({int(p) for p in load_set(args.dataset, scan_first=False).photo})
    checkpoints = sorted(
        {int(c) for c in args.checkpoints.split(",") if int(c) <= args.answers} | {args.answers}
    )
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "review.db"
        fresh_copy(cached, db, keep)
        run(db, "cluster", "--full")
        truth = Truth(db)
        print(f"{args.dataset}: {len(truth.labelled)} labelled faces, {len(truth.identity)} faces")
        print(
            f"{'answers':>7} {'B3 P':>6} {'B3 R':>6} {'B3 F':>6} {'cover':>6} {'people':>6}  "
            "thresholds in force (source, answers)   kinds so far"
        )
        given, kinds, t0 = 0, Counter(), time.perf_counter()
        for target in checkpoints:
            while given < target:
                q = json.loads(run(db, "review", "--json"))
                if q is None:
                    break
                reply, name = decide(truth, db, q)
                extra = ["--name", name] if name else []
                run(db, "review", "--answer", q["id"], reply, *extra)
                kinds[f"{q['kind']}:{reply}"] += 1
                given += 1
            if args.regroup_at_checkpoints and given:
                run(db, "cluster", "--full")
            s = truth.score(db)
            print(
                f"{given:7d} {s['P']:6.3f} {s['R']:6.3f} {s['F']:6.3f} {100 * s['coverage']:5.1f}% "
                f"{s['people']:6d}  {thresholds(db)}   {dict(kinds)}",
                flush=True,
            )
            if given < target:
                print("no questions left")
                break
        print(f"{given} answers in {time.perf_counter() - t0:.0f} s")


if __name__ == "__main__":
    main()
