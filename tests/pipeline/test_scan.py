"""The scan pipeline with fake models: incremental behaviour, moves, failures, orientation."""

from __future__ import annotations

import os
import shutil
import signal
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from sqlalchemy import func, select

from photogroup.db.models import Embedding, Face, Photo, ScanError, ScanRun
from photogroup.pipeline.scan import Scanner, ScanSummary

from ..conftest import FakeDetector, FakeEmbedder, make_photo


def scan(library, config, detector, embedder, *roots: Path, prune: bool = False) -> ScanSummary:
    return Scanner(library, config, detector, embedder).run(list(roots), prune=prune)


def faces_by_path(library) -> dict[str, list[int]]:
    with library.session() as s:
        rows = s.execute(
            select(Photo.path, Face.id).join(Face, Face.photo_id == Photo.id).order_by(Face.id)
        ).all()
    out: dict[str, list[int]] = {}
    for path, fid in rows:
        out.setdefault(path, []).append(fid)
    return out


@pytest.fixture
def album(tmp_path: Path) -> Path:
    root = tmp_path / "album"
    make_photo(root / "a.jpg", [("red", 20, 20, 60), ("green", 200, 40, 50)])
    make_photo(root / "b.png", [("blue", 100, 100, 40)])
    make_photo(root / "sub" / "c.webp", [("red", 10, 150, 48)], fmt="WEBP", lossless=True)
    make_photo(root / "empty.jpg", [])
    (root / "notes.txt").write_text("not a photo")
    (root / "broken.jpg").write_bytes(b"this is not a jpeg")
    return root


def test_first_scan_stores_every_face_and_records_failures(
    library, config, detector, embedder, album
):
    sm = scan(library, config, detector, embedder, album)
    assert (sm.seen, sm.new, sm.failed, sm.faces) == (5, 4, 1, 4)
    assert sm.errors and sm.errors[0][0].endswith("broken.jpg")
    with library.session() as s:
        assert s.scalar(select(func.count(Face.id))) == 4
        assert s.scalar(select(func.count(Embedding.id))) == 4
        emb = s.scalars(select(Embedding)).first()
        vec = np.frombuffer(emb.vector, dtype="<f4")
        assert emb.embedder == "fake-embedder-v1" and vec.shape == (8,)
        assert abs(float(np.linalg.norm(vec)) - 1.0) < 1e-5
        broken = s.scalar(select(Photo).where(Photo.path.endswith("broken.jpg")))
        assert broken.status == "error" and "not an image" in broken.error
        run = s.get(ScanRun, sm.run_id)
        assert run.status == "partial" and run.n_faces == 4 and run.finished_at is not None
        err = s.scalar(select(ScanError).where(ScanError.run_id == sm.run_id))
        assert err.path.endswith("broken.jpg") and err.kind == "not_image"
    # the red face of a.jpg is where it was drawn, in image pixels
    with library.session() as s:
        face = s.scalar(
            select(Face).join(Photo).where(Photo.path.endswith("a.jpg")).order_by(Face.x)
        )
        assert face.x == pytest.approx(20, abs=2) and face.w == pytest.approx(60, abs=3)


def test_unchanged_rescan_decodes_nothing(library, config, detector, embedder, album):
    scan(library, config, detector, embedder, album)
    before = faces_by_path(library)
    detector2, embedder2 = FakeDetector(), FakeEmbedder()
    sm = scan(library, config, detector2, embedder2, album)
    assert (sm.new, sm.changed, sm.decoded, sm.unchanged) == (0, 0, 0, 5)
    assert detector2.calls == 0 and embedder2.calls == 0
    assert faces_by_path(library) == before


def test_moved_file_keeps_its_record_and_faces(library, config, detector, embedder, album):
    scan(library, config, detector, embedder, album)
    before = faces_by_path(library)
    old = str(album / "a.jpg")
    new = album / "renamed" / "moved-a.jpg"
    new.parent.mkdir()
    os.rename(old, new)
    detector2 = FakeDetector()
    sm = scan(library, config, detector2, embedder, album)
    assert (sm.moved, sm.new, sm.missing, sm.decoded) == (1, 0, 0, 0)
    assert detector2.calls == 0
    after = faces_by_path(library)
    assert after[str(new)] == before[old]
    assert old not in after


def test_deleted_file_is_marked_missing_not_deleted(library, config, detector, embedder, album):
    scan(library, config, detector, embedder, album)
    (album / "b.png").unlink()
    sm = scan(library, config, detector, embedder, album)
    assert sm.missing == 1
    with library.session() as s:
        photo = s.scalar(select(Photo).where(Photo.path.endswith("b.png")))
        assert photo.status == "missing" and photo.missing_since is not None
        assert len(photo.faces) == 1
    # it comes back: no decoding, status ok again
    make_photo(album / "b.png", [("blue", 100, 100, 40)])
    sm = scan(library, config, detector, embedder, album)
    assert sm.decoded == 0 and sm.new == 0
    with library.session() as s:
        assert s.scalar(select(Photo.status).where(Photo.path.endswith("b.png"))) == "ok"


def test_missing_root_is_reported_and_nothing_marked_missing(
    library, config, detector, embedder, album, tmp_path
):
    scan(library, config, detector, embedder, album)
    moved_away = tmp_path / "unmounted"
    shutil.move(album, moved_away)
    sm = scan(library, config, detector, embedder, album)
    assert sm.missing_roots == [str(album)] and sm.missing == 0
    with library.session() as s:
        assert s.scalar(select(func.count()).where(Photo.status == "missing")) == 0


def test_empty_root_needs_prune(library, config, detector, embedder, album):
    scan(library, config, detector, embedder, album)
    for p in sorted(album.rglob("*"), reverse=True):
        p.rmdir() if p.is_dir() else p.unlink()
    sm = scan(library, config, detector, embedder, album)
    assert sm.missing == 0 and sm.kept_roots == [str(album)]
    sm = scan(library, config, detector, embedder, album, prune=True)
    assert sm.missing == 5


def test_changed_content_is_reprocessed_and_faces_in_place_keep_ids(
    library, config, detector, embedder, album
):
    scan(library, config, detector, embedder, album)
    path = album / "a.jpg"
    before = faces_by_path(library)[str(path)]
    # same red face, green face removed, blue face added
    make_photo(path, [("red", 22, 20, 60), ("blue", 150, 150, 40)])
    os.utime(path, ns=(1_700_000_000_000_000_000, 1_700_000_000_000_000_000))
    sm = scan(library, config, detector, embedder, album)
    assert sm.changed == 1 and sm.decoded == 1
    after = faces_by_path(library)[str(path)]
    assert len(after) == 2
    assert before[0] in after  # red kept its id
    assert before[1] not in after  # green is gone


def test_touched_file_with_same_content_is_not_decoded(library, config, detector, embedder, album):
    scan(library, config, detector, embedder, album)
    os.utime(album / "b.png", ns=(1_600_000_000_000_000_000, 1_600_000_000_000_000_000))
    sm = scan(library, config, detector, embedder, album)
    assert sm.decoded == 0 and sm.unchanged == 5


def test_exif_orientation_gives_upright_boxes(library, config, detector, embedder, tmp_path):
    # Stored sideways: 240 wide x 320 high raw, EXIF orientation 6 (rotate 90 CW to view).
    raw = np.full((320, 240, 3), 128, dtype=np.uint8)
    raw[10:50, 180:220] = (255, 0, 0)  # raw x 180..220, y 10..50
    exif = Image.Exif()
    exif[0x0112] = 6
    path = tmp_path / "rot" / "sideways.jpg"
    path.parent.mkdir()
    Image.fromarray(raw).save(path, exif=exif, quality=95)
    scan(library, config, detector, embedder, path.parent)
    with library.session() as s:
        photo = s.scalar(select(Photo))
        assert (photo.width, photo.height) == (320, 240)
        face = photo.faces[0]
    # Orientation 6: upright (x', y') = (H_raw - 1 - y, x): x' in 270..310, y' in 180..220
    assert face.x == pytest.approx(270, abs=3) and face.y == pytest.approx(180, abs=3)
    assert face.w == pytest.approx(40, abs=3) and face.h == pytest.approx(40, abs=3)


def test_capture_time_from_exif(library, config, detector, embedder, tmp_path):
    exif = Image.Exif()
    ifd = exif.get_ifd(0x8769)
    ifd[0x9003] = "2019:07:14 16:20:05"
    path = make_photo(tmp_path / "t" / "dated.jpg", [("red", 10, 10, 40)], exif=exif)
    scan(library, config, detector, embedder, path.parent)
    with library.session() as s:
        photo = s.scalar(select(Photo))
        assert photo.taken_at.isoformat() == "2019-07-14T16:20:05"
        assert photo.file_time is not None


def test_large_jpeg_is_decoded_reduced_and_boxes_mapped_back(
    library, config, detector, embedder, tmp_path
):
    config.detection.max_side = 400
    path = make_photo(
        tmp_path / "big" / "big.jpg", [("red", 1200, 800, 320)], size=(2400, 1600), quality=95
    )
    scan(library, config, detector, embedder, path.parent)
    with library.session() as s:
        photo = s.scalar(select(Photo))
        face = photo.faces[0]
    assert (photo.width, photo.height) == (2400, 1600)
    assert face.x == pytest.approx(1200, abs=12) and face.w == pytest.approx(320, abs=16)


def test_switching_embedder_reembeds_without_detecting(library, config, detector, embedder, album):
    scan(library, config, detector, embedder, album)
    detector2 = FakeDetector()
    other = FakeEmbedder(id="fake-embedder-v2")
    sm = scan(library, config, detector2, other, album)
    assert detector2.calls == 0 and sm.decoded == 0
    assert sm.embedded == 4 and other.faces == 4
    with library.session() as s:
        counts = dict(
            s.execute(select(Embedding.embedder, func.count()).group_by(Embedding.embedder)).all()
        )
    assert counts == {"fake-embedder-v1": 4, "fake-embedder-v2": 4}


def test_min_face_size_and_confidence_are_applied_after_detection(
    library, config, detector, embedder, tmp_path
):
    config.detection.min_face_size = 30
    root = tmp_path / "sizes"
    make_photo(root / "p.png", [("red", 10, 10, 20), ("green", 100, 100, 50)])
    sm = scan(library, config, detector, embedder, root)
    assert sm.faces == 1


def test_ctrl_c_keeps_finished_photos(library, config, embedder, tmp_path, monkeypatch):
    """Ctrl-C (a real SIGINT, so KeyboardInterrupt in the main thread) arrives while the
    4th photo is handed over by the worker threads: the 3 finished photos are kept."""
    root = tmp_path / "many"
    for i in range(6):
        make_photo(root / f"p{i}.png", [("red", 10 + i, 10, 40)])
    config.scan.commit_every = 1
    real_handle = Scanner._handle
    handled = []

    def handle_then_ctrl_c(self, result):
        if len(handled) == 3:
            signal.raise_signal(signal.SIGINT)
        handled.append(result.item.entry.path)
        return real_handle(self, result)

    monkeypatch.setattr(Scanner, "_handle", handle_then_ctrl_c)
    with pytest.raises(KeyboardInterrupt):
        scan(library, config, FakeDetector(), embedder, root)
    monkeypatch.undo()
    with library.session() as s:
        assert s.scalar(select(func.count(Photo.id))) == 3
        assert s.scalar(select(func.count(Face.id))) == 3
        run = s.scalar(select(ScanRun))
        assert run.status == "interrupted"
    sm = scan(library, config, FakeDetector(), embedder, root)
    assert (sm.new, sm.unchanged) == (3, 3)


class ExplodingDetector(FakeDetector):
    def detect(self, images):
        if images[0].shape[1] == 321:
            raise RuntimeError("model blew up")
        return super().detect(images)


def test_detector_failure_on_one_photo_does_not_stop_the_scan(library, config, embedder, tmp_path):
    root = tmp_path / "mixed"
    make_photo(root / "bad.png", [("red", 10, 10, 40)], size=(321, 240))
    make_photo(root / "good.png", [("red", 10, 10, 40)])
    sm = scan(library, config, ExplodingDetector(), embedder, root)
    assert sm.new == 1 and sm.failed == 1
    assert "model blew up" in sm.errors[0][1]


def test_two_copies_of_a_vanished_photo(library, config, detector, embedder, album):
    scan(library, config, detector, embedder, album)
    shutil.copy(album / "b.png", album / "copy1.png")
    os.rename(album / "b.png", album / "copy2.png")
    sm = scan(library, config, detector, embedder, album)
    assert sm.moved == 1 and sm.new == 1 and sm.missing == 0


class BrokenEmbedder(FakeEmbedder):
    def embed(self, crops):
        raise RuntimeError("out of memory in the model")


def test_a_scan_ended_by_an_unexpected_error_is_recorded_as_failed(
    library, config, detector, album
):
    with pytest.raises(RuntimeError):
        scan(library, config, detector, BrokenEmbedder(), album)
    with library.session() as s:
        run = s.scalar(select(ScanRun))
        assert run.status == "failed" and "out of memory" in run.message


def test_missing_or_emptied_root_never_deletes_names_or_decisions(
    library, config, detector, embedder, tmp_path
):
    from photogroup.db.models import Decision, Person
    from photogroup.pipeline.people import name_person, regroup
    from photogroup.pipeline.review import answer

    config.quality.min_quality = 0.0
    root = tmp_path / "disk"
    for i in range(4):
        make_photo(root / f"p{i}.png", [("red", 20 + 10 * i, 30, 80)], size=(320, 240))
    scan(library, config, detector, embedder, root)
    regroup(library, config, embedder.id)
    with library.session() as s:
        pid = s.scalar(select(Person.id))
        face = s.scalar(select(Face.id))
    name_person(library, pid, "Ann")
    answer(library, config, embedder.id, f"face:{face}:{pid}", "yes")

    def kept() -> tuple[list, int, int]:
        with library.session() as s:
            names = [p.name for p in s.scalars(select(Person))]
            decisions = s.scalar(select(func.count(Decision.id)))
            ok = s.scalar(select(func.count(Photo.id)).where(Photo.status == "ok"))
        return names, decisions, ok

    assert kept() == (["Ann"], 2, 4)
    shutil.move(root, tmp_path / "unplugged")  # the disk is unmounted
    sm = scan(library, config, detector, embedder, root)
    assert sm.missing_roots == [str(root)] and kept() == (["Ann"], 2, 4)
    root.mkdir()  # the mount point is back, empty
    sm = scan(library, config, detector, embedder, root)
    assert sm.kept_roots and kept() == (["Ann"], 2, 4)
    # only --prune marks the photos missing; the name and the answers stay
    scan(library, config, detector, embedder, root, prune=True)
    regroup(library, config, embedder.id)
    assert kept() == (["Ann"], 2, 0)
