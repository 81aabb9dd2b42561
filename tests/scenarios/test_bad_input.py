"""A corpus of bad and unusual files, generated here: every file gets faces or a clear
per-file error stored with the scan run, the scan completes, every other photo is
indexed, and memory stays bounded on a decompression bomb."""

from __future__ import annotations

import io
import json
import os
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import pytest
from PIL import Image
from sqlalchemy import select

from photogroup.cli import main
from photogroup.db.models import Face, Photo, PhotoStatus, ScanError
from photogroup.pipeline.scan import Scanner

from ..conftest import make_photo

FACE = [("red", 40, 40, 80)]


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png_bomb(path: Path, side: int = 100_000) -> None:
    """A tiny PNG that declares side x side pixels (10 G pixels): a decompression bomb."""
    ihdr = struct.pack(">IIBBBBB", side, side, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\x00" * 1024)
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", ihdr)
        + _png_chunk(b"IDAT", idat)
        + _png_chunk(b"IEND", b"")
    )


def build_corpus(root: Path) -> dict[str, str]:
    """Files by name -> what must come of them: 'face' (indexed with >= 1 face),
    'indexed' (indexed, faces or not), or an error kind."""
    root.mkdir(parents=True)
    expect: dict[str, str] = {}

    def photo(name: str, convert: str | None = None, **save: object) -> Path:
        p = make_photo(root / name, FACE, size=(320, 240))
        if convert:
            img = Image.open(p)
            img.convert(convert).save(p, **save)
        return p

    photo("good1.jpg")
    photo("good2.png")
    expect.update({"good1.jpg": "face", "good2.png": "face"})
    (root / "zero.jpg").write_bytes(b"")
    expect["zero.jpg"] = "empty"
    whole = (root / "good1.jpg").read_bytes()
    (root / "truncated.jpg").write_bytes(whole[: len(whole) // 3])
    expect["truncated.jpg"] = "decode|indexed"
    (root / "text.jpg").write_text("Dear diary, today I took no photo.\n")
    expect["text.jpg"] = "not_image"
    png_bomb(root / "bomb.png")
    expect["bomb.png"] = "too_large"
    photo("cmyk.jpg", "CMYK")
    expect["cmyk.jpg"] = "face"
    sixteen = Image.new("I;16", (320, 240), 30000)
    sixteen.save(root / "sixteen-bit.png")
    expect["sixteen-bit.png"] = "indexed"
    photo("palette.png", "P")
    expect["palette.png"] = "face"
    photo("grey.png", "L")
    expect["grey.png"] = "indexed"
    frames = [Image.open(make_photo(root / "f1.png", FACE)), Image.new("RGB", (320, 240), "white")]
    (root / "f1.png").unlink()
    frames[0].save(root / "animated.gif", save_all=True, append_images=frames[1:], duration=100)
    expect["animated.gif"] = "face"
    img = Image.open(root / "good1.jpg")
    buf = io.BytesIO()
    img.save(buf, "JPEG", exif=b"Exif\x00\x00II*\x00\x08\x00\x00\x00\xff\xff garbage")
    (root / "broken-exif.jpg").write_bytes(buf.getvalue())
    expect["broken-exif.jpg"] = "face"
    Image.new("RGB", (1, 1), "white").save(root / "one-pixel.png")
    expect["one-pixel.png"] = "indexed"
    make_photo(root / "panorama.jpg", [("red", 9000, 20, 260)], size=(20000, 300))
    expect["panorama.jpg"] = "indexed"
    secret = photo("no-permission.jpg")
    os.chmod(secret, 0)
    # root reads anything: then the file is simply indexed
    expect["no-permission.jpg"] = "unreadable" if os.geteuid() != 0 else "face"
    photo("deleted-during-scan.jpg")
    expect["deleted-during-scan.jpg"] = "missing"
    os.symlink(root, root / "loop")  # a folder link to its own parent
    bad_name = os.fsencode(str(root)) + b"/caf\xe9-latin1.jpg"
    photo("tmp-latin1.jpg")
    os.rename(os.fsencode(str(root / "tmp-latin1.jpg")), bad_name)
    expect["latin1"] = "bad_name"  # matched by substring: the stored name is escaped
    return expect


@pytest.fixture
def scanned_corpus(library, config, detector, embedder, tmp_path, monkeypatch):
    root = tmp_path / "corpus"
    expect = build_corpus(root)
    victim = root / "deleted-during-scan.jpg"
    real_walk = Scanner._walk

    def walk_then_delete(self, roots):
        entries = real_walk(self, roots)
        victim.unlink(missing_ok=True)  # listed by the walk, gone before it is read
        return entries

    monkeypatch.setattr(Scanner, "_walk", walk_then_delete)
    summary = Scanner(library, config, detector, embedder).run([root])
    return root, expect, summary


def _outcomes(library, root: Path) -> dict[str, tuple[str, str]]:
    """name -> ('face'|'indexed'|error kind, message) for every file of the corpus."""
    out: dict[str, tuple[str, str]] = {}
    with library.session() as s:
        for path, status, faces in s.execute(
            select(
                Photo.path,
                Photo.status,
                select(Face.id).where(Face.photo_id == Photo.id).correlate(Photo).exists(),
            )
        ):
            if status == PhotoStatus.OK:
                out[os.path.basename(path)] = ("face" if faces else "indexed", "")
        for path, kind, message in s.execute(
            select(ScanError.path, ScanError.kind, ScanError.message)
        ):
            out[os.path.basename(path)] = (kind, message)
    return out


def test_every_bad_file_gets_faces_or_a_clear_error(scanned_corpus, library):
    root, expect, summary = scanned_corpus
    got = _outcomes(library, root)
    for name, want in expect.items():
        found = [v for k, v in got.items() if k == name or (name == "latin1" and name in k)]
        kind, message = found[0] if found else ("nothing", "")
        allowed = want.split("|")
        if "face" in allowed or "indexed" in allowed:
            allowed = allowed + (["face"] if "indexed" in allowed else [])
        assert kind in allowed, f"{name}: wanted {want}, got {kind} {message!r}"
        if kind not in ("face", "indexed"):
            assert len(message) > 15, f"{name}: message too thin: {message!r}"
    # the scan completed, partially failed, and the loop was not followed twice
    assert summary.status == "partial" and summary.failure is None
    assert not any("loop" in p for p in got)
    assert summary.failed >= 5


def test_errors_command_lists_them(scanned_corpus, library, config, capsys):
    db = str(config.database_path())
    assert main(["--library", db, "errors", "--json"]) == 0
    listed = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    names = {os.path.basename(e["path"]) for e in listed}
    assert {"zero.jpg", "text.jpg", "bomb.png", "deleted-during-scan.jpg"} <= names
    assert main(["--library", db, "status", "--json"]) == 0
    status = json.loads(capsys.readouterr().out)
    assert status["last_scan"]["status"] == "partial"


def test_a_rescan_keeps_everything_and_retries_nothing_unchanged(
    scanned_corpus, library, config, detector, embedder
):
    root, _, first = scanned_corpus
    before = _outcomes(library, root)
    again = Scanner(library, config, detector, embedder).run([root])
    after = _outcomes(library, root)
    kept = {k: v for k, v in before.items() if v[0] in ("face", "indexed")}
    assert {k: after[k] for k in kept} == kept
    assert again.decoded == 0


def test_memory_stays_bounded_on_the_bomb(tmp_path):
    bomb = tmp_path / "bomb.png"
    png_bomb(bomb)
    code = (
        "import sys\n"
        "from photogroup.crawl.images import decode_photo\n"
        "from photogroup.core.errors import ImageError\n"
        "try:\n"
        "    decode_photo(sys.argv[1], 1024)\n"
        "    print('DECODED')\n"
        "except ImageError as exc:\n"
        "    print('REFUSED', exc.kind)\n"
        # VmHWM: this process's peak (ru_maxrss would include the forking parent's)
        "hwm = [l for l in open('/proc/self/status') if l.startswith('VmHWM')][0]\n"
        "print('MAXRSS_KB', hwm.split()[1])\n"
    )
    run = subprocess.run([sys.executable, "-c", code, str(bomb)], capture_output=True, text=True)
    assert "REFUSED too_large" in run.stdout, run.stdout + run.stderr
    maxrss_mb = int(run.stdout.split("MAXRSS_KB")[1]) / 1024
    assert maxrss_mb < 300, f"{maxrss_mb:.0f} MB for a refused bomb"


def test_a_detector_failure_on_one_photo_is_recorded_and_the_scan_goes_on(
    library, config, detector, tmp_path
):
    """Detection runs in the scan's worker threads; a failure there is recorded against
    that photo only (kind 'detect'), the others are indexed with their faces; an
    unchanged failed photo is read again only by a scan with retry_errors."""
    from ..conftest import FakeEmbedder

    root = tmp_path / "photos"
    root.mkdir()
    for name in ("a.jpg", "b.jpg", "c.jpg", "d.jpg"):
        make_photo(root / name, FACE, fmt="JPEG")
    fail = {"on": True}
    real = detector.detect

    def flaky(images):
        # b.jpg alone is made 321 px wide, so it can be told apart from the others
        if fail["on"] and any(img.shape[1] == 321 for img in images):
            raise RuntimeError("MTCNN failed on image 0 (321x240 px): out of memory")
        return real(images)

    make_photo(root / "b.jpg", FACE, size=(321, 240), fmt="JPEG")
    detector.detect = flaky
    summary = Scanner(library, config, detector, FakeEmbedder()).run([root])
    assert summary.failed == 1 and summary.faces == 3
    found = _outcomes(library, root)
    assert found["b.jpg"][0] == "detect"
    assert "face detection failed: MTCNN failed" in found["b.jpg"][1]
    assert all(found[n] == ("face", "") for n in ("a.jpg", "c.jpg", "d.jpg"))
    fail["on"] = False
    again = Scanner(library, config, detector, FakeEmbedder()).run([root])
    assert again.unchanged == 4 and again.decoded == 0  # unchanged: not retried
    again = Scanner(library, config, detector, FakeEmbedder()).run([root], retry_errors=True)
    assert (again.unchanged, again.decoded, again.failed, again.faces) == (3, 1, 0, 1)
    with library.session() as s:
        photo = s.scalars(select(Photo).where(Photo.path == str(root / "b.jpg"))).one()
        assert photo.status == PhotoStatus.OK and photo.error is None and len(photo.faces) == 1


def test_scan_retry_errors_from_the_command_line(tmp_path, monkeypatch, capsys):
    """`scan` exits 7 when a photo fails; `errors` lists it and says how to retry;
    a plain rescan leaves it, `scan --retry-errors` indexes it once it can be."""
    import photogroup.pipeline.models as models

    from ..conftest import FakeDetector, FakeEmbedder

    root = tmp_path / "photos"
    root.mkdir()
    make_photo(root / "a.jpg", FACE, fmt="JPEG")
    make_photo(root / "b.jpg", FACE, size=(321, 240), fmt="JPEG")
    fail = {"on": True}

    class Flaky(FakeDetector):
        def detect(self, images):
            if fail["on"] and any(img.shape[1] == 321 for img in images):
                raise RuntimeError("out of memory")
            return super().detect(images)

    monkeypatch.setattr(
        models, "LazyModels", lambda config, say: models.ReadyModels(Flaky(), FakeEmbedder())
    )
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "cfg"))
    lib = ["--library", str(tmp_path / "l.db")]
    assert main([*lib, "scan", "--no-progress", str(root)]) == 7
    capsys.readouterr()
    assert main([*lib, "errors"]) == 0
    out, err = capsys.readouterr()
    assert "b.jpg: face detection failed: out of memory [detect]" in out
    assert "photogroup scan --retry-errors" in err
    from photogroup.db.library import open_library

    def indexed() -> set[str]:
        with open_library(tmp_path / "l.db") as library, library.session() as s:
            rows = s.scalars(select(Photo.path).where(Photo.status == PhotoStatus.OK))
            return {os.path.basename(p) for p in rows}

    fail["on"] = False
    assert main([*lib, "scan", "--no-progress", str(root)]) == 0
    assert indexed() == {"a.jpg"}
    assert main([*lib, "scan", "--no-progress", "--retry-errors", str(root)]) == 0
    assert indexed() == {"a.jpg", "b.jpg"}
