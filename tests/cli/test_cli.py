"""The command line: export format, exit codes, fast start without TensorFlow."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from photogroup.cli import main
from photogroup.core.errors import ScanLockedError
from photogroup.pipeline.lock import scan_lock
from photogroup.pipeline.people import regroup
from photogroup.pipeline.scan import Scanner

from ..conftest import make_photo


@pytest.fixture
def scanned(library, config, detector, embedder, tmp_path) -> Path:
    root = tmp_path / "photos"
    make_photo(root / "a.png", [("red", 20, 30, 60), ("green", 200, 40, 50)])
    make_photo(root / "b.png", [])
    Scanner(library, config, detector, embedder).run([root])
    return config.database_path()


def test_export_faces_writes_json_lines(scanned, capsys, tmp_path):
    assert main(["--library", str(scanned), "export", "faces"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 2
    objs = [json.loads(line) for line in lines]
    for obj in objs:
        assert set(obj) == {"face_id", "photo", "box", "landmarks", "score", "person_id", "person"}
        assert obj["photo"] == str(tmp_path / "photos" / "a.png")
        assert len(obj["box"]) == 4 and len(obj["landmarks"]) == 5
        assert all(len(p) == 2 for p in obj["landmarks"])
        assert obj["person_id"] is None and obj["person"] is None
    red = min(objs, key=lambda o: o["box"][0])
    assert red["box"] == pytest.approx([20, 30, 60, 60], abs=1)


def test_export_with_embeddings(scanned, capsys):
    assert main(["--library", str(scanned), "export", "faces", "--embeddings"]) == 0
    obj = json.loads(capsys.readouterr().out.splitlines()[0])
    assert len(obj["embedding"]) == 8
    assert sum(v * v for v in obj["embedding"]) == pytest.approx(1.0, abs=1e-4)


def test_export_without_a_library_is_a_clear_error(tmp_path, capsys):
    code = main(["--library", str(tmp_path / "none.db"), "export", "faces"])
    assert code == 5
    err = capsys.readouterr().err
    assert "none.db" in err and "photogroup scan" in err


def test_scan_without_roots_is_a_usage_error(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "cfg"))
    assert main(["--library", str(tmp_path / "l.db"), "scan"]) == 2
    assert "[library] roots" in capsys.readouterr().err


def test_second_scan_exits_at_once_while_one_runs(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "cfg"))
    db = tmp_path / "l.db"
    with scan_lock(db):
        code = main(["--library", str(db), "scan", str(tmp_path)])
    assert code == ScanLockedError.exit_code
    assert "Another scan" in capsys.readouterr().err


def test_bad_config_value_exit_code(tmp_path, capsys):
    cfg = tmp_path / "c.toml"
    cfg.write_text("[embedding]\nbatch_size = 0\n")
    assert main(["--config", str(cfg), "--library", str(tmp_path / "l.db"), "export", "faces"]) == 2
    assert "batch_size" in capsys.readouterr().err


def test_unknown_model_is_named(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "cfg"))
    cfg = tmp_path / "c.toml"
    cfg.write_text('[embedding]\nmodel = "arcface"\n')
    (tmp_path / "p").mkdir()
    code = main(
        ["--config", str(cfg), "--library", str(tmp_path / "l.db"), "scan", str(tmp_path / "p")]
    )
    assert code == 2
    assert "'arcface'" in capsys.readouterr().err


def test_help_and_export_do_not_import_tensorflow(scanned):
    code = (
        "import sys\n"
        "from photogroup.cli import main\n"
        "for args in (['--help'], ['scan', '--help'], ['export', 'faces', '--help'],\n"
        "             ['--library', sys.argv[1], 'export', 'faces', '--embeddings'],\n"
        "             ['--library', sys.argv[1], 'export', 'xmp', '--unnamed']):\n"
        "    try:\n"
        "        main(args)\n"
        "    except SystemExit:\n"
        "        pass\n"
        "heavy = [m for m in ('tensorflow', 'keras', 'mtcnn') if m in sys.modules]\n"
        "print('HEAVY', heavy, file=sys.stderr)\n"
        "sys.exit(1 if heavy else 0)\n"
    )
    run = subprocess.run([sys.executable, "-c", code, str(scanned)], capture_output=True, text=True)
    assert "HEAVY []" in run.stderr, run.stderr[-2000:]
    assert run.returncode == 0


def test_status_and_errors(library, config, detector, embedder, tmp_path, capsys):
    root = tmp_path / "photos"
    make_photo(root / "a.png", [("red", 20, 30, 60)])
    (root / "broken.jpg").write_bytes(b"nope")
    Scanner(library, config, detector, embedder).run([root])
    db = str(config.database_path())
    assert main(["--library", db, "status", "--json"]) == 0
    st = json.loads(capsys.readouterr().out)
    assert st["photos"] == {"ok": 1, "error": 1} and st["faces"] == 1
    assert st["last_scan"]["failed"] == 1 and st["last_scan"]["status"] == "partial"
    assert main(["--library", db, "errors"]) == 0
    out = capsys.readouterr().out
    assert "broken.jpg" in out and "not an image" in out


def test_people_and_photos_do_not_import_tensorflow(scanned):
    code = (
        "import sys\n"
        "from photogroup.cli import main\n"
        "main(['--library', sys.argv[1], 'cluster', '--full'])\n"
        "main(['--library', sys.argv[1], 'people', '--json', '--all'])\n"
        "main(['--library', sys.argv[1], 'photos', '--person', '1'])\n"
        "heavy = [m for m in ('tensorflow', 'keras', 'mtcnn') if m in sys.modules]\n"
        "print('HEAVY', heavy, file=sys.stderr)\n"
    )
    run = subprocess.run([sys.executable, "-c", code, str(scanned)], capture_output=True, text=True)
    assert "HEAVY []" in run.stderr, run.stderr[-2000:]


def test_listings_start_without_sqlalchemy_or_numpy(library, config, detector, embedder, tmp_path):
    """people and photos read through the standard-library reader: the heavy imports
    (SQLAlchemy, Alembic, numpy, TensorFlow) are not paid by a user asking a question."""
    root = tmp_path / "photos"
    for i in range(3):
        make_photo(root / f"{i}.png", [("red", 20 + 10 * i, 30, 100)], size=(320, 240))
    Scanner(library, config, detector, embedder).run([root])
    config.quality.min_quality = 0.0  # flat marker squares have no sharpness
    assert regroup(library, config, embedder.id).clusters == 1
    scanned = config.database_path()
    code = (
        "import sys\n"
        "from photogroup.cli import main\n"
        "for args in (['people', '--json', '--all'], ['photos', '--person', '1'],\n"
        "             ['photos', '--person', 'Person 1', '--from', '2000', '--json']):\n"
        "    assert main(['--library', sys.argv[1], *args]) == 0, args\n"
        "heavy = [m for m in ('sqlalchemy', 'alembic', 'numpy', 'tensorflow') if m in sys.modules]\n"
        "print('HEAVY', heavy, file=sys.stderr)\n"
    )
    run = subprocess.run([sys.executable, "-c", code, str(scanned)], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr[-2000:]
    assert "HEAVY []" in run.stderr, run.stderr[-2000:]
    people = [json.loads(line) for line in run.stdout.splitlines() if line.startswith("{")]
    assert people and people[0]["faces"] >= 1 and people[0]["cover"]["photo"]
