"""The first hour of a new user (issue 16): quiet TensorFlow, fast paths, a wrong path,
progress, compare's numbers, suggestions, help, plurals, summaries that add up."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

import photogroup.pipeline.models as models
from photogroup.cli import main
from photogroup.cli.progress import BarProgress
from photogroup.db.library import open_library
from photogroup.pipeline.scan import Scanner

from ..conftest import DATA, FakeDetector, FakeEmbedder, make_photo

FIVE = DATA / "five_celebs"
TF_NOISE = (
    "absl::InitializeLog",
    "oneDNN custom operations",
    "cpu_feature_guard",
    "op_level_cost_estimator",
    "I0000",
    "W0000",
)


class CountingModels:
    """A model source like LazyModels (named now, built on `load`), with fakes."""

    def __init__(self, detector=None, embedder=None) -> None:
        self._models = (detector or FakeDetector(), embedder or FakeEmbedder())
        self.detector_id = self._models[0].id
        self.embedder_id = self._models[1].id
        self.loads = 0

    @property
    def loaded(self) -> bool:
        return self.loads > 0

    def load(self):
        self.loads += 1
        return self._models


class Recorder:
    """A Progress that records what it is told."""

    def __init__(self) -> None:
        self.events: list[tuple] = []

    def start(self, phase, total):
        self.events.append(("start", phase, total))

    def advance(self, items=1, faces=0):
        self.events.append(("advance", items, faces))

    def message(self, text):
        self.events.append(("message", text))

    def pause(self, text):
        self.events.append(("pause", text))

    def close(self):
        pass


@pytest.fixture
def lazy_fakes(monkeypatch) -> list[CountingModels]:
    """`scan` and `serve` build fake models, lazily; the sources built are listed."""
    made: list[CountingModels] = []

    def make(config, say):
        made.append(CountingModels())
        return made[-1]

    monkeypatch.setattr(models, "LazyModels", make)
    return made


@pytest.fixture
def cli_env(tmp_path, monkeypatch) -> list[str]:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "cfg"))
    monkeypatch.delenv("PHOTOGROUP_CONFIG", raising=False)
    return ["--library", str(tmp_path / "l.db")]


# --- 1. TensorFlow's start-up lines ----------------------------------------------------


def test_tensorflow_start_up_lines_are_dropped_and_errors_kept():
    """The filter around TensorFlow's first import, on the lines TF 2.21 prints."""
    code = (
        "import os, sys\n"
        "from photogroup.ml import quiet_native_stderr\n"
        "with quiet_native_stderr():\n"
        "    os.write(2, b'WARNING: All log messages before absl::InitializeLog() is called"
        " are written to STDERR\\n')\n"
        "    os.write(2, b'I0000 00:00:1795984673.992906    9974 port.cc:153] oneDNN custom"
        " operations are on. You may see slightly different numerical results.\\n')\n"
        "    os.write(2, b'I0000 00:00:1795984674.080301    9974 cpu_feature_guard.cc:227]"
        " This TensorFlow binary is optimized\\n')\n"
        "    os.write(2, b'To enable the following instructions: AVX2 FMA, in other operations,"
        " rebuild TensorFlow with the appropriate compiler flags.\\n')\n"
        "    os.write(2, b'E0000 00:00:1.0 1 cuda.cc:1] a real error\\n')\n"
        "    print('a Python warning', file=sys.stderr)\n"
        "print('after', file=sys.stderr)\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    run = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True
    )
    assert run.stderr.splitlines() == [
        "E0000 00:00:1.0 1 cuda.cc:1] a real error",
        "a Python warning",
        "after",
    ]


@pytest.mark.slow
def test_a_model_command_prints_no_tensorflow_lines_and_compare_gives_numbers(tmp_path):
    """`compare` of two photos of Madonna in a fresh process: no TensorFlow start-up
    line reaches the user, and the answer comes with its distances and threshold."""
    if not FIVE.is_dir():
        pytest.skip(f"real photos not found at {FIVE}")
    a, b = sorted((FIVE / "madonna").glob("*.jpg"))[:2]
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    env["XDG_CONFIG_HOME"] = str(tmp_path / "cfg")
    run = subprocess.run(
        [sys.executable, "-m", "photogroup", "--library", str(tmp_path / "l.db")]
        + ["compare", str(a), str(b)],
        capture_output=True,
        text=True,
        env=env,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    assert not [n for n in TF_NOISE if n in run.stderr], run.stderr[-3000:]
    assert "distance 0." in run.stdout and "compare_threshold" in run.stdout, run.stdout


# --- 2. fast paths ----------------------------------------------------------------------


def test_models_are_built_only_when_a_photo_needs_them(library, config, tmp_path):
    root = tmp_path / "photos"
    make_photo(root / "a.png", [("red", 20, 30, 60)])
    make_photo(root / "b.png", [("green", 20, 30, 60)])
    source = CountingModels()
    Scanner(library, config, models=source).run([root])
    assert source.loads == 1
    again = CountingModels()
    assert Scanner(library, config, models=again).run([root]).unchanged == 2
    assert again.loads == 0  # an unchanged rescan builds nothing
    # a touched file (same content) and a moved one need no model either
    os.utime(root / "a.png", ns=(1, 1))
    (root / "b.png").rename(root / "c.png")
    touched = CountingModels()
    sm = Scanner(library, config, models=touched).run([root])
    assert (sm.moved, sm.new, sm.changed) == (1, 0, 0) and touched.loads == 0
    make_photo(root / "d.png", [("blue", 20, 30, 60)])
    new = CountingModels()
    assert Scanner(library, config, models=new).run([root]).new == 1
    assert new.loads == 1


def test_an_unchanged_rescan_of_five_celebs_does_not_import_tensorflow(tmp_path):
    """Indexed once (fake models named like the real ones), rescanned by the real
    command in a fresh process: TensorFlow stays out, and the process takes under a
    second of CPU (the wall time on a quiet machine; bench/start_speed.py prints it)."""
    if not FIVE.is_dir():
        pytest.skip(f"real photos not found at {FIVE}")
    from photogroup.core.config import load_config

    db = tmp_path / "l.db"
    config = load_config()
    config.library.database = str(db)
    with open_library(db, create=True) as library:
        sm = Scanner(library, config, FakeDetector(), FakeEmbedder("facenet-keras-v1")).run([FIVE])
    code = (
        "import resource, sys, time\n"
        "t = time.monotonic()\n"
        "from photogroup.cli import main\n"
        "code = main(['--library', sys.argv[1], 'scan', sys.argv[2]])\n"
        "wall = time.monotonic() - t\n"
        "ru = resource.getrusage(resource.RUSAGE_SELF)\n"
        "print('TF', 'tensorflow' in sys.modules, 'CODE', code, 'CPU', ru.ru_utime + ru.ru_stime,"
        " 'WALL', wall)\n"
    )
    env = dict(os.environ, XDG_CONFIG_HOME=str(tmp_path / "cfg"))
    run = subprocess.run(
        [sys.executable, "-c", code, str(db), str(FIVE)], capture_output=True, text=True, env=env
    )
    assert run.returncode == 0, run.stderr[-3000:]
    found = re.search(r"TF (\w+) CODE (\d+) CPU ([\d.]+) WALL ([\d.]+)", run.stdout)
    assert found, run.stdout + run.stderr
    assert found[1] == "False" and found[2] == "0"
    assert f"{sm.seen} photos seen" in run.stderr and f"{sm.seen} unchanged" in run.stderr
    assert "Loading models" not in run.stderr
    assert float(found[3]) <= 1.0, run.stdout


def test_a_path_that_does_not_exist_is_named_before_any_model_loads(
    cli_env, tmp_path, capsys, monkeypatch
):
    def no_models(*args, **kwargs):
        raise AssertionError("models built for a path that does not exist")

    monkeypatch.setattr(models, "LazyModels", no_models)
    monkeypatch.setattr(models, "load_models", no_models)
    photo = make_photo(tmp_path / "real.png", [("red", 20, 30, 60)])
    gone = str(tmp_path / "Pictures")
    for args in (
        ["scan", gone],
        ["identify", gone],
        ["identify", str(photo), gone + ".jpg"],
        ["compare", str(photo), gone + ".jpg"],
        ["draw", gone + ".jpg"],
        ["enroll", "Ann", gone + ".jpg"],
    ):
        assert main([*cli_env, *args]) == 3, args
        err = capsys.readouterr().err
        assert "No such " in err and repr(args[-1]) in err, (args, err)
        assert "unmounted" not in err and "disappeared" not in err


def test_a_configured_root_that_is_missing_is_still_an_unmounted_disk(
    tmp_path, capsys, monkeypatch, lazy_fakes
):
    root = tmp_path / "disk"
    make_photo(root / "a.png", [("red", 20, 30, 60)])
    cfg = tmp_path / "c.toml"
    cfg.write_text(f"[library]\nroots = [{json.dumps(str(root))}]\n")
    lib = ["--config", str(cfg), "--library", str(tmp_path / "l.db")]
    assert main([*lib, "scan", "--no-progress"]) == 0
    root.rename(tmp_path / "elsewhere")  # the disk is unmounted
    capsys.readouterr()
    assert main([*lib, "scan", "--no-progress"]) == 7
    assert "Not found (unmounted?), left as it was" in capsys.readouterr().err
    assert main([*lib, "status", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["photos"] == {"ok": 1}


# --- 3. progress --------------------------------------------------------------------------


def test_models_load_as_a_phase_and_the_bar_moves_per_photo(library, config, tmp_path):
    root = tmp_path / "photos"
    for i in range(9):
        make_photo(root / f"{i}.png", [("red", 20 + i, 30, 60), ("green", 200, 40, 50)])
    config.scan.commit_every = 32  # faces are embedded in batches ...
    progress = Recorder()
    Scanner(library, config, progress=progress, models=CountingModels()).run([root])
    kinds = [e[0] for e in progress.events]
    start = progress.events.index(("start", "scanning", 9))
    pause = progress.events.index(("pause", "loading models"))
    first = kinds.index("advance")
    assert start < pause < progress.events.index(("pause", None)) < first
    # ... and the bar still moves one photo at a time
    assert [e for e in progress.events if e[0] == "advance"] == [("advance", 1, 2)] * 9


def test_the_rate_counts_from_the_first_photo(capsys):
    bar = BarProgress(enabled=True)
    bar.start("scanning", 10)
    bar.pause("loading models")
    assert "loading models …" in capsys.readouterr().err
    time.sleep(0.4)
    bar.pause(None)
    time.sleep(0.4)  # the first photo: TensorFlow warms up
    bar.advance(1, faces=1)
    state = bar._bar.format_dict
    assert state["n"] == 1 and state["initial"] == 1  # the rate is (n - initial) / elapsed
    assert state["elapsed"] < 0.3
    bar.advance(1, faces=1)
    bar.close()
    assert "2/10" in capsys.readouterr().err.split("\r")[-1]


def test_scan_shows_loading_models(cli_env, tmp_path, capsys, lazy_fakes):
    root = tmp_path / "photos"
    make_photo(root / "a.png", [("red", 20, 30, 60)])
    assert main([*cli_env, "scan", "--no-progress", str(root)]) == 0
    err = capsys.readouterr().err
    assert "Loading models …" in err
    # 10: plurals
    assert "1 photo seen" in err and "1 face found" in err, err
    assert main([*cli_env, "scan", "--no-progress", str(root)]) == 0
    assert "Loading models" not in capsys.readouterr().err
    assert [m.loads for m in lazy_fakes] == [1, 0]


# --- 4. compare ---------------------------------------------------------------------------


def test_compare_prints_every_pair_with_its_distance(cli_env, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(models, "load_models", lambda config, say: (FakeDetector(), FakeEmbedder()))
    a = make_photo(tmp_path / "a.png", [("red", 20, 30, 60), ("green", 200, 40, 50)])
    b = make_photo(tmp_path / "b.png", [("red", 100, 30, 70)])
    c = make_photo(tmp_path / "c.png", [("blue", 100, 30, 70)])
    assert main([*cli_env, "compare", str(a), str(b)]) == 0
    out = capsys.readouterr().out
    lines = [line for line in out.splitlines() if line.startswith("A face")]
    assert len(lines) == 2, out
    assert lines[0].endswith("distance 0.000  same person")
    assert re.search(r"distance 0\.\d{3}  not the same person", lines[1])
    assert "up to distance 0.59" in out and "2 faces in" in out and "1 face in" in out
    cfg = tmp_path / "strict.toml"
    cfg.write_text("[people]\ncompare_threshold = 0.2\n")
    strict = ["--config", str(cfg), *cli_env]
    assert main([*strict, "compare", "--json", str(a), str(c)]) == 0
    obj = json.loads(capsys.readouterr().out)
    assert obj["threshold"] == 0.2 and obj["pairs"] == []
    assert sorted((d["a"], d["b"], d["same"]) for d in obj["distances"]) == [
        (1, 1, False),
        (2, 1, False),
    ]
    assert all(d["distance"] > 0.2 for d in obj["distances"])
    assert main([*strict, "compare", str(a), str(c)]) == 0
    assert "the nearest pair is at 0." in capsys.readouterr().out


# --- 10. small things ----------------------------------------------------------------------


def test_a_misspelled_command_gets_a_suggestion(capsys):
    assert main(["peple"]) == 2
    assert "No such command 'peple'. Did you mean 'people'?" in capsys.readouterr().err
    assert main(["frobnicate"]) == 2
    err = capsys.readouterr().err
    assert "No such command 'frobnicate'." in err and "Did you mean" not in err


def test_main_help_shows_whole_descriptions(capsys):
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    commands = out.split("Commands:", 1)[1]
    assert "..." not in commands
    assert "find, align and embed every face." in " ".join(commands.split())


def test_main_help_reads_each_commands_own_help_without_importing_it():
    from photogroup.cli import COMMANDS, _short_help, cli

    ctx = cli.make_context("photogroup", ["--help"], resilient_parsing=True)
    for name in COMMANDS:
        command = cli.get_command(ctx, name)
        assert command is not None
        assert _short_help(name) == command.get_short_help_str(limit=1000), name
    code = (
        "import sys\n"
        "from photogroup.cli import main\n"
        "main(['--help'])\n"
        "from photogroup.cli import COMMANDS\n"
        "print([m for m in sys.modules if m.startswith(('sqlalchemy', 'numpy'))\n"
        "       or m.removeprefix('photogroup.cli.') in COMMANDS], file=sys.stderr)\n"
    )
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert run.stderr.strip().splitlines()[-1] == "[]", run.stderr[-2000:]


def test_cluster_full_summary_adds_up(library, config, detector, embedder, tmp_path, capsys):
    from ..conftest import marker_people

    marker_people(library, config, detector, embedder, tmp_path / "p")
    cfg = tmp_path / "c.toml"
    cfg.write_text("[quality]\nmin_quality = 0.0\n")
    db = str(config.database_path())
    assert main(["--config", str(cfg), "--library", db, "cluster", "--full"]) == 0
    out = capsys.readouterr().out
    found = re.search(
        r"into (\d+) groups? in [\d.]+ s: (\d+) continue \d+ (?:person|people), "
        r"(\d+) new(?:, (\d+) of confirmed faces only)?;",
        out,
    )
    assert found, out
    groups, continued, new, confirmed = (int(x or 0) for x in found.groups())
    assert groups == continued + new + confirmed and groups > 0


# --- warm model commands: identify, compare and draw through `photogroup serve` ---------


@pytest.fixture
def serving(library, config, detector, embedder, tmp_path, monkeypatch):
    """A library of three marker people, served with (fake) warm models; the command
    line's own models would fail."""
    from photogroup.web import client
    from photogroup.web.models import ModelAPI
    from photogroup.web.server import make_server

    from ..conftest import marker_people

    marker_people(library, config, detector, embedder, tmp_path / "people")

    def no_models(*args, **kwargs):
        raise AssertionError("the command loaded its own models while serve runs")

    monkeypatch.setattr(models, "load_models", no_models)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "cfg"))
    server = make_server(library, config, embedder.id, port=0)
    source = CountingModels(FakeDetector(), FakeEmbedder())
    server.model_api = ModelAPI(config, source)
    server.start()
    db = config.database_path()
    endpoint = client.publish(db, server.url, server.csrf, server.access_token, embedder.id)
    yield server, source, ["--library", str(db)]
    endpoint.unlink(missing_ok=True)
    server.stop()


def test_identify_compare_and_draw_go_through_serve(serving, tmp_path, capsys):
    server, source, lib = serving
    photo = make_photo(tmp_path / "q.png", [("green", 30, 30, 90), ("red", 180, 40, 80)])
    assert main([*lib, "identify", "--json", str(photo)]) == 0
    faces = json.loads(capsys.readouterr().out)["faces"]
    assert len(faces) == 2 and all(f["person"] for f in faces)
    assert faces[0]["person"] != faces[1]["person"]
    other = make_photo(tmp_path / "r.png", [("red", 100, 30, 70)])
    assert main([*lib, "compare", str(photo), str(other)]) == 0
    out = capsys.readouterr().out
    assert "A face 2 [180,40,80,80] ~ B face 1 [100,30,70,70]  distance 0.000  same person" in out
    drawn = tmp_path / "drawn.png"
    assert main([*lib, "draw", str(photo), "--out", str(drawn)]) == 0
    assert drawn.is_file() and "2 faces" in capsys.readouterr().out
    assert source.loads == 1  # built once, on the first request, and kept
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"not a photo")
    assert main([*lib, "identify", str(bad)]) == 7
    assert "bad.jpg: cannot read:" in capsys.readouterr().err


def test_the_model_api_keeps_the_token_rules(serving):
    import urllib.error
    import urllib.request

    server, _, _ = serving
    request = urllib.request.Request(
        server.url + "api/models/analyse",
        data=b'{"data": ""}',
        headers={"Content-Type": "application/json", "X-CSRF-Token": "guessed"},
        method="POST",
    )
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=10)
    assert refused.value.code == 403


def test_without_serve_the_command_uses_its_own_models(serving, tmp_path, capsys, monkeypatch):
    from photogroup.web import client

    server, source, lib = serving
    endpoint = client.endpoint_path(Path(lib[1]))
    stale = json.loads(endpoint.read_text())
    stale["pid"] = 2**22 + 12345  # a process that is not there
    endpoint.write_text(json.dumps(stale))
    assert client.find_service(Path(lib[1])) is None
    built = []
    monkeypatch.setattr(
        models,
        "load_models",
        lambda config, say: built.append(1) or (FakeDetector(), FakeEmbedder()),
    )
    photo = make_photo(tmp_path / "q.png", [("blue", 30, 30, 90)])
    assert main([*lib, "identify", str(photo)]) == 0
    assert built == [1] and source.loads == 0


@pytest.mark.slow
def test_warm_identify_through_a_real_serve(tmp_path):
    """Real models in `photogroup serve`: the second identify is answered warm, by a
    client process that never imports TensorFlow, with the answer a cold identify
    gives."""
    if not FIVE.is_dir():
        pytest.skip(f"real photos not found at {FIVE}")
    import shutil
    import signal

    photos = tmp_path / "photos"
    photos.mkdir()
    madonna = sorted((FIVE / "madonna").glob("*.jpg"))[:3]
    for p in madonna:
        shutil.copy(p, photos / p.name)
    env = dict(os.environ, XDG_CONFIG_HOME=str(tmp_path / "cfg"))
    base = [sys.executable, "-m", "photogroup", "--library", str(tmp_path / "l.db")]
    subprocess.run([*base, "scan", "--no-progress", str(photos)], env=env, check=True)
    cold = subprocess.run(
        [*base, "identify", "--json", str(madonna[0])], env=env, capture_output=True, text=True
    )
    assert cold.returncode == 0, cold.stderr[-2000:]
    serve = subprocess.Popen(
        [*base, "serve", "--port", "0"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    code = (
        "import resource, sys, time\n"
        "t = time.monotonic()\n"
        "from photogroup.cli import main\n"
        "code = main(['--library', sys.argv[1], 'identify', '--json', sys.argv[2]])\n"
        "ru = resource.getrusage(resource.RUSAGE_SELF)\n"
        "print('TF', 'tensorflow' in sys.modules, 'CODE', code, 'WALL',"
        " time.monotonic() - t, 'CPU', ru.ru_utime + ru.ru_stime, file=sys.stderr)\n"
    )
    try:
        assert "serving" in serve.stdout.readline()
        runs = [
            subprocess.run(
                [sys.executable, "-c", code, str(tmp_path / "l.db"), str(madonna[0])],
                env=env,
                capture_output=True,
                text=True,
            )
            for _ in range(2)
        ]
    finally:
        serve.send_signal(signal.SIGINT)
        serve.wait(timeout=30)
    for run in runs:
        assert "TF False CODE 0" in run.stderr, run.stderr[-2000:]
        assert json.loads(run.stdout)["faces"] == json.loads(cold.stdout)["faces"]
    found = re.search(r"WALL ([\d.]+) CPU ([\d.]+)", runs[1].stderr)
    assert found and float(found[2]) <= 1.0, runs[1].stderr
    assert not (tmp_path / "l.db.serve-api.json").exists()
