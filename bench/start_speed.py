"""What a user waits for: wall time and peak memory of one photogroup command, each
run as a fresh process (Python start-up and imports included).

    python bench/start_speed.py                    # this tree
    python bench/start_speed.py --before /tmp/base # and another checkout, side by side
    python bench/start_speed.py --repeat 5 --only rescan
    python bench/start_speed.py --phases           # where a cold identify's time goes

Commands: `photogroup --help`; `people` and an unchanged rescan of five_celebs on a
library of five_celebs (scanned once with the real models into
~/.cache/photogroup-bench/start_speed.db, then copied for every run); `identify` of
one five_celebs photo, cold (a fresh process: TensorFlow's import, the models built,
one photo); and `identify` warm, while `photogroup serve` runs on the library (the
client process: the service holds the models). CPU time (user + system) and peak memory (ru_maxrss) are the child's
(os.wait4); on a busy machine the wall time grows and the CPU time much less.
Figures: the median wall and CPU time of --repeat runs and the largest peak.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import REPO, dataset

CACHE = Path.home() / ".cache" / "photogroup-bench"


def run(tree: Path, args: list[str], env: dict[str, str]) -> tuple[float, float, float]:
    """(wall s, CPU s, peak MB) of `python -m photogroup ARGS` with `tree` first on
    the path."""
    child_env = dict(env, PYTHONPATH=str(tree))
    start = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-m", "photogroup", *args],
        env=child_env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        cwd=tree,
    )
    assert proc.stderr is not None
    err = proc.stderr.read()
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode not in (0, 7):
        sys.exit(f"{' '.join(args)} failed ({proc.returncode}) in {tree}:\n{err.decode()[-2000:]}")
    return wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024


#: Where a cold `identify` spends its time, phase by phase, in a fresh process; and
#: the alternative the issue asks about: FaceNet loaded from a saved Keras 3 file
#: instead of built from code with its weights set from the h5 file.
PHASES = r"""
import sys, tempfile, time
from pathlib import Path
t0 = time.perf_counter()
def mark(what, since=[t0]):
    now = time.perf_counter()
    print(f"{what:48} {now - since[0]:6.2f} s", flush=True)
    since[0] = now
import photogroup.ml  # TensorFlow's start-up lines filtered, as in photogroup's commands
from photogroup.core.config import load_config
from photogroup.pipeline.faces import FaceAnalyser
from photogroup.pipeline.identify import Gallery, identify
from photogroup.db.library import open_library
mark("photogroup's imports (SQLAlchemy, numpy, PIL)")
import tensorflow as tf
mark("import TensorFlow")
import keras
from photogroup.ml import facenet
from photogroup.ml.h5weights import load_weights_by_name
from photogroup.ml.weights import facenet_weights
path = facenet_weights(None)
model = facenet.build_inception_resnet_v1((160, 160, 3))
mark("FaceNet built from code")
load_weights_by_name(model, path)
mark("FaceNet weights set from the h5 file")
saved = Path(tempfile.mkdtemp()) / "facenet.keras"
model.save(saved)
mark("(FaceNet saved as a Keras 3 file, once)")
keras.saving.load_model(saved, compile=False, safe_mode=False)
mark("FaceNet loaded from the Keras 3 file instead")
from photogroup.pipeline.models import load_models, warm_up
config = load_config()
models = load_models(config)
warm_up(models)
mark("photogroup's models built (MTCNN + FaceNet)")
library = open_library(Path(sys.argv[1]))
gallery = Gallery.of_library(library, config, models[1].id)
mark("the library's people read")
analyser = FaceAnalyser(config, *models)
identify(analyser, gallery, [sys.argv[2]])
mark("identify, first photo (tracing included)")
identify(analyser, gallery, [sys.argv[2]])
mark("identify, the same photo again (warm)")
"""


def phases(tree: Path, db: Path, photo: Path, env: dict[str, str]) -> None:
    subprocess.run(
        [sys.executable, "-c", PHASES, str(db), str(photo)],
        env=dict(env, PYTHONPATH=str(tree)),
        cwd=tree,
        check=True,
    )


WARM = "identify 1 photo, warm (serve)"


def warm_identify(
    source: Path, work: Path, photo: Path, env: dict[str, str], repeat: int
) -> tuple[float, float, float]:
    """`identify` while `photogroup serve` runs on the library (this tree): the first
    call builds the models in the service and is not counted."""
    import signal

    db = work / "warm.db"
    shutil.copy(source, db)
    serve = subprocess.Popen(
        [sys.executable, "-m", "photogroup", "--library", str(db), "serve", "--port", "0"],
        env=dict(env, PYTHONPATH=str(REPO)),
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert serve.stdout is not None and "serving" in serve.stdout.readline()
        run(REPO, ["--library", str(db), "identify", str(photo)], env)  # warms the service
        figures = [run(REPO, ["--library", str(db), "identify", str(photo)], env)]
        figures += [
            run(REPO, ["--library", str(db), "identify", str(photo)], env)
            for _ in range(repeat - 1)
        ]
    finally:
        serve.send_signal(signal.SIGINT)
        serve.wait(timeout=30)
    walls = [f[0] for f in figures]
    result = (
        statistics.median(walls),
        statistics.median(f[1] for f in figures),
        max(f[2] for f in figures),
    )
    print(
        f"after  {WARM:30} wall {result[0]:6.2f} s  CPU {result[1]:6.2f} s  {result[2]:5.0f} MB"
        f"   (walls: {', '.join(f'{w:.2f}' for w in walls)}; the client process)",
        file=sys.stderr,
    )
    return result


def library(five: Path, env: dict[str, str]) -> Path:
    """five_celebs scanned once with the real models (this tree)."""
    db = CACHE / "start_speed.db"
    if not db.exists():
        CACHE.mkdir(parents=True, exist_ok=True)
        print(f"Scanning {five} once into {db} (real models) ...", file=sys.stderr)
        tmp = db.with_suffix(".tmp.db")
        run(REPO, ["--library", str(tmp), "scan", "--no-progress", str(five)], env)
        tmp.rename(db)
    return db


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--before", type=Path, help="another checkout to measure too")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--data", default="five_celebs")
    ap.add_argument("--only", help="only the commands whose label contains this")
    ap.add_argument("--phases", action="store_true", help="time a cold identify's phases")
    args = ap.parse_args()
    five = dataset(args.data).resolve()
    photo = sorted((five / "madonna").glob("*.jpg"))[0]
    work = Path(tempfile.mkdtemp(prefix="photogroup-start-"))
    env = {k: v for k, v in os.environ.items() if k not in ("PHOTOGROUP_LIBRARY", "PYTHONPATH")}
    env["XDG_CONFIG_HOME"] = str(work / "config")  # the default configuration
    source = library(five, env)
    if args.phases:
        db = work / "phases.db"
        shutil.copy(source, db)
        phases(REPO, db, photo, env)
        shutil.rmtree(work, ignore_errors=True)
        return
    trees = [("after", REPO)] + ([("before", args.before.resolve())] if args.before else [])
    commands: list[tuple[str, list[str]]] = [
        ("--help", ["--help"]),
        ("people", ["people"]),
        ("unchanged rescan (118 photos)", ["scan", "--no-progress", str(five)]),
        ("identify 1 photo, cold", ["identify", str(photo)]),
    ]
    commands = [c for c in commands if not args.only or args.only in c[0]]
    results: dict[tuple[str, str], tuple[float, float, float]] = {}
    try:
        for label, args_ in commands:
            for name, tree in trees:
                walls, cpus, peaks = [], [], []
                for _ in range(args.repeat):
                    db = work / f"{name}.db"
                    shutil.copy(source, db)
                    wall, cpu, peak = run(tree, ["--library", str(db), *args_], env)
                    walls.append(wall)
                    cpus.append(cpu)
                    peaks.append(peak)
                figures = (statistics.median(walls), statistics.median(cpus), max(peaks))
                results[(label, name)] = figures
                print(
                    f"{name:6} {label:30} wall {figures[0]:6.2f} s  CPU {figures[1]:6.2f} s  "
                    f"{figures[2]:5.0f} MB   (walls: {', '.join(f'{w:.2f}' for w in walls)})",
                    file=sys.stderr,
                )
        if not args.only or args.only in WARM:
            results[(WARM, "after")] = warm_identify(source, work, photo, env, args.repeat)
            commands.append((WARM, []))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    names = [n for n, _ in trees][::-1]
    print()
    print("| command | " + " | ".join(f"{n}: wall / CPU / peak" for n in names) + " |")
    print("|---|" + "---|" * len(names))
    for label, _ in commands:
        cells = [
            "{:.2f} s / {:.2f} s / {:.0f} MB".format(*results[(label, n)])
            if (label, n) in results
            else "-"
            for n in names
        ]
        print(f"| `{label}` | " + " | ".join(cells) + " |")
    print(f"\nmedian of {args.repeat} runs; {os.cpu_count()} CPUs; load {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
