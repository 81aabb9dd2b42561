"""`photogroup export xmp`: sidecars that exiftool (an independent reader) reads back
with the same names and boxes, merged into existing sidecars without losing a tag,
turned photos, --in-place through exiftool, and its refusals."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from photogroup.cli import main
from photogroup.crawl.images import load_upright
from photogroup.pipeline.people import name_person, regroup
from photogroup.pipeline.scan import Scanner
from tests.conftest import ByColour, make_photo
from tests.xmp_helpers import centre, exif_json, exif_write, mwg_arg

SIZE = (320, 240)
RED = (20, 30, 90, 90)
GREEN = (200, 60, 70, 70)


def scan(library, config, detector, embedder, root: Path) -> None:
    """Scans `root` and a second red face elsewhere (a group needs two faces)."""
    make_photo(root.parent / "other" / "twin.png", [("red", 100, 30, 90)], size=SIZE)
    config.quality.min_quality = 0.0
    config.people.min_cluster_size = 1
    Scanner(library, config, detector, embedder).run([root, root.parent / "other"])


def regions(info: dict, size: tuple[int, int]) -> dict[str | None, tuple[float, ...]]:
    """exiftool's RegionInfo -> {name: [x, y, w, h] in pixels of `size`}."""
    out = {}
    for r in info["RegionInfo"]["RegionList"]:
        a = {k: float(v) for k, v in r["Area"].items() if k != "Unit"}
        w, h = a["W"] * size[0], a["H"] * size[1]
        out[r.get("Name")] = (a["X"] * size[0] - w / 2, a["Y"] * size[1] - h / 2, w, h)
    return out


def export(library, *args: str) -> int:
    return main(["--library", str(library.path), "export", "xmp", *args])


def test_named_faces_go_to_a_sidecar_exiftool_reads(library, config, detector, embedder, tmp_path):
    root = tmp_path / "album"
    photo = make_photo(root / "p.jpg", [("red", 20, 30, 90), ("green", 200, 60, 70)], size=SIZE)
    exif_write(photo, mwg_arg(SIZE, [("Ann", centre(RED, SIZE))]))  # Ann from another tool
    scan(library, config, detector, embedder, root)
    regroup(library, config, embedder.id, lambda: ByColour(np.eye(8)[:3]))
    with library.session() as s:
        from sqlalchemy import select

        from photogroup.db.models import Assignment, Face

        green = s.scalar(select(Assignment.person_id).join(Face).where(Face.x > 100))
    assert export(library) == 0
    (info,) = exif_json(root / "p.xmp")
    assert list(regions(info, SIZE)) == ["Ann"]  # the green person has no name yet
    name_person(library, green, "Bob")
    assert export(library) == 0
    (info,) = exif_json(root / "p.xmp")
    got = regions(info, SIZE)
    assert got["Ann"] == pytest.approx(RED, abs=1)
    assert got["Bob"] == pytest.approx(GREEN, abs=1)
    assert info["RegionInfo"]["AppliedToDimensions"] == {"W": 320, "H": 240, "Unit": "pixel"}
    mp = {r["PersonDisplayName"]: r["Rectangle"] for r in info["RegionInfoMP"]["Regions"]}
    assert [float(v) for v in mp["Bob"].split(",")] == pytest.approx(
        [200 / 320, 60 / 240, 70 / 320, 70 / 240], abs=1e-5
    )
    assert sorted(info["PersonInImage"]) == ["Ann", "Bob"]
    assert sorted(info["HierarchicalSubject"]) == ["People|Ann", "People|Bob"]
    assert sorted(info["TagsList"]) == ["People/Ann", "People/Bob"]
    # read back by a scan, the file says what the library says: no new answers
    from photogroup.db.models import Decision

    scan(library, config, detector, embedder, root)
    with library.session() as s:
        assert s.query(Decision).filter(Decision.value == "xmp").count() == 1  # Ann's only


def test_unnamed_people_only_with_unnamed_and_one_person_with_person(
    library, config, detector, embedder, tmp_path
):
    root = tmp_path / "album"
    make_photo(root / "p.png", [("red", 20, 30, 90), ("green", 200, 60, 70)], size=SIZE)
    make_photo(root / "q.png", [("red", 100, 30, 90)], size=SIZE)
    scan(library, config, detector, embedder, root)
    regroup(library, config, embedder.id, lambda: ByColour(np.eye(8)[:3]))
    assert export(library) == 0
    assert not (root / "p.xmp").exists()
    assert export(library, "--unnamed") == 0
    (info,) = exif_json(root / "p.xmp")
    assert [r.get("Name") for r in info["RegionInfo"]["RegionList"]] == [None, None]
    assert "PersonInImage" not in info
    from photogroup.db.models import Assignment, Face, Photo

    with library.session() as s:
        from sqlalchemy import select

        red = s.scalar(
            select(Assignment.person_id).join(Face).join(Photo).where(Photo.path.endswith("q.png"))
        )
    name_person(library, red, "Ann")
    (root / "p.xmp").unlink()
    assert export(library, "--person", "ann", "--unnamed") == 0
    assert sorted(p.name for p in root.glob("*.xmp")) == ["p.xmp", "q.xmp"]
    (info,) = exif_json(root / "p.xmp")
    assert list(regions(info, SIZE)) == ["Ann"]
    assert export(library, "--person", "Nobody") == 3


def test_an_existing_sidecar_keeps_every_tag(library, config, detector, embedder, tmp_path):
    root = tmp_path / "album"
    make_photo(root / "p.png", [("red", 20, 30, 90)], size=SIZE)
    side = root / "p.png.xmp"
    side.write_bytes(b"")  # exiftool creates a sidecar from nothing with -o
    side.unlink()
    import subprocess

    from tests.xmp_helpers import exiftool

    subprocess.run(
        [
            exiftool(),
            "-q",
            "-o",
            str(side),
            "-XMP-xmp:Rating=4",
            "-XMP-dc:Subject=beach",
            "-XMP-dc:Subject=summer",
            "-XMP-lr:HierarchicalSubject=Places|Beach",
            "-XMP-exif:GPSLatitude=48.8583",
            "-XMP-exif:GPSLatitudeRef=N",
            "-XMP-exif:GPSLongitude=2.2945",
            "-XMP-exif:GPSLongitudeRef=E",
            "-XMP-dc:Title=Holiday",
            "-XMP-digiKam:TagsList=Places/Beach",
            mwg_arg(SIZE, [("Rex", (0.8, 0.8, 0.1, 0.1))]).replace("Type=Face", "Type=Pet"),
        ],
        check=True,
    )
    before = exif_json(side, args=("-G1",))[0]
    scan(library, config, detector, embedder, root)
    regroup(library, config, embedder.id, lambda: ByColour(np.eye(8)[:3]))
    from photogroup.db.models import Assignment

    with library.session() as s:
        pid = s.query(Assignment.person_id).first()[0]
    name_person(library, pid, "Ann")
    assert export(library) == 0
    assert not (root / "p.xmp").exists()  # merged into the sidecar that was there
    after = exif_json(side, args=("-G1",))[0]
    changed = {
        "XMP-mwg-rs:RegionInfo",
        "XMP-lr:HierarchicalSubject",
        "XMP-digiKam:TagsList",
        "System:FileSize",
        "System:FileModifyDate",
        "System:FileAccessDate",
        "System:FileInodeChangeDate",
    }
    for key, value in before.items():
        if key not in changed:
            assert after.get(key) == value, key
    assert after["XMP-lr:HierarchicalSubject"] == ["Places|Beach", "People|Ann"]
    assert after["XMP-digiKam:TagsList"] == ["Places/Beach", "People/Ann"]
    kinds = {r.get("Name"): r["Type"] for r in after["XMP-mwg-rs:RegionInfo"]["RegionList"]}
    assert kinds == {"Rex": "Pet", "Ann": "Face"}
    assert after["XMP-iptcExt:PersonInImage"] == ["Ann"]


@pytest.mark.parametrize("orientation", [6, 8])
def test_turned_photos_round_trip(library, config, detector, embedder, tmp_path, orientation):
    """Regions of the stored image, as every tool writes them, become faces in upright
    pixels, and are written back exactly where they were read."""
    root = tmp_path / "album"
    upright = make_photo(tmp_path / "upright.png", [("red", 30, 20, 60)], size=(120, 200))
    face_upright = (30, 20, 60, 60)
    turn = Image.Transpose.ROTATE_90 if orientation == 6 else Image.Transpose.ROTATE_270
    stored = Image.open(upright).transpose(turn)  # what a camera held sideways stores
    exif = stored.getexif()
    exif[0x0112] = orientation
    root.mkdir()
    photo = root / "p.jpg"
    stored.save(photo, quality=95, exif=exif)
    assert load_upright(photo).shape[:2] == (200, 120)
    # the region, in the stored image's frame, as exiftool writes it
    stored_size = stored.size  # (200, 120)
    from photogroup.crawl.xmp import stored_box

    left, top, w, h = stored_box(face_upright, orientation, (120, 200))
    exif_write(photo, mwg_arg(stored_size, [("Ann", (left + w / 2, top + h / 2, w, h))]))
    before = exif_json(photo)[0]["RegionInfo"]
    scan(library, config, detector, embedder, root)
    from photogroup.db.models import Face, Photo

    with library.session() as s:
        (face,) = s.query(Face).join(Photo).filter(Photo.path == str(photo)).all()
        assert (face.x, face.y, face.w, face.h) == pytest.approx(face_upright, abs=2)
    assert export(library) == 0
    after = exif_json(root / "p.xmp")[0]["RegionInfo"]
    assert after["AppliedToDimensions"] == before["AppliedToDimensions"]
    got = regions({"RegionInfo": after}, stored_size)
    want = regions({"RegionInfo": before}, stored_size)
    assert got["Ann"] == pytest.approx(want["Ann"], abs=1)


def test_in_place_writes_the_photos_xmp_and_nothing_else(
    library, config, detector, embedder, tmp_path
):
    root = tmp_path / "album"
    photo = make_photo(root / "p.jpg", [("red", 20, 30, 90)], size=SIZE, quality=95)
    exif_write(photo, "-XMP-dc:Subject=beach", "-XMP-xmp:Rating=5")
    pixels = load_upright(photo)
    old_mtime = photo.stat().st_mtime_ns
    scan(library, config, detector, embedder, root)
    regroup(library, config, embedder.id, lambda: ByColour(np.eye(8)[:3]))
    from photogroup.db.models import Assignment

    with library.session() as s:
        pid = s.query(Assignment.person_id).first()[0]
    name_person(library, pid, "Ann")
    assert export(library, "--in-place") == 0
    assert not list(root.glob("*.xmp"))
    (info,) = exif_json(photo)
    assert regions(info, SIZE)["Ann"] == pytest.approx(RED, abs=1)
    assert info["Subject"] == ["beach"] and info["Rating"] == 5
    assert np.array_equal(load_upright(photo), pixels)
    assert photo.stat().st_mtime_ns // 1_000_000_000 == old_mtime // 1_000_000_000


def test_in_place_without_exiftool_says_how_to_get_it(
    library, config, detector, embedder, tmp_path, monkeypatch, capsys
):
    root = tmp_path / "album"
    make_photo(root / "p.jpg", [("red", 20, 30, 90)], size=SIZE)
    scan(library, config, detector, embedder, root)
    monkeypatch.setenv("PATH", str(tmp_path / "empty-bin"))
    assert export(library, "--in-place") == 2
    assert "apt-get install libimage-exiftool-perl" in capsys.readouterr().err


def test_a_sidecar_that_cannot_be_read_is_left_alone(
    library, config, detector, embedder, tmp_path, capsys
):
    root = tmp_path / "album"
    make_photo(root / "p.png", [("red", 20, 30, 90)], size=SIZE)
    scan(library, config, detector, embedder, root)
    regroup(library, config, embedder.id, lambda: ByColour(np.eye(8)[:3]))
    from photogroup.db.models import Assignment

    with library.session() as s:
        pid = s.query(Assignment.person_id).first()[0]
    name_person(library, pid, "Ann")
    (root / "p.xmp").write_text("<x:xmpmeta>broken")
    assert export(library) == 7
    assert (root / "p.xmp").read_text() == "<x:xmpmeta>broken"
    assert "not well-formed" in capsys.readouterr().err
    assert os.path.exists(root / "p.xmp")
