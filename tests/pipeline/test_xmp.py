"""The scan's XMP stage with the fake models: names become confirmed faces, regions no
detector found become faces, changed sidecars are read again, removed regions take
back only what they added, and the user's answers always win."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from sqlalchemy import func, select

from photogroup.db.models import (
    Assignment,
    Decision,
    Embedding,
    Face,
    Person,
    Photo,
    ScanError,
    XmpRegion,
)
from photogroup.pipeline.check import check
from photogroup.pipeline.review import answer, undo
from photogroup.pipeline.scan import Scanner
from tests.conftest import make_photo
from tests.xmp_helpers import centre, mwg_packet

SIZE = (320, 240)
RED = (20, 30, 90, 90)  # the marker face the fake detector finds
EMPTY = (220, 60, 60, 70)  # a region where no detector finds a face


def scan(library, config, detector, embedder, root: Path) -> Scanner:
    scanner = Scanner(library, config, detector, embedder)
    scanner.run([root])
    return scanner


def sidecar(path: Path, regions) -> None:
    path.write_text(mwg_packet(SIZE, [(n, centre(b, SIZE)) for n, b in regions]))
    st = path.stat()  # a rewrite within the same second still counts as a change
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))


@pytest.fixture
def photo(tmp_path: Path) -> Path:
    config_dir = tmp_path / "album"
    return make_photo(config_dir / "p.png", [("red", *RED[:2], RED[2])], size=SIZE)


def faces_of(library, name: str) -> list[tuple[int, str]]:
    with library.session() as s:
        return [
            (fid, origin)
            for fid, origin in s.execute(
                select(Assignment.face_id, Assignment.origin)
                .join(Person, Person.id == Assignment.person_id)
                .where(func.lower(Person.name) == name.lower())
            )
        ]


def test_a_named_region_makes_a_confirmed_face_with_an_xmp_answer(
    library, config, detector, embedder, photo
):
    sidecar(photo.with_suffix(".xmp"), [("Ann Lee", RED)])
    scanner = scan(library, config, detector, embedder, photo.parent)
    assert scanner.xmp is not None
    assert (scanner.xmp.regions, scanner.xmp.matched, scanner.xmp.named) == (1, 1, 1)
    ((face_id, origin),) = faces_of(library, "Ann Lee")
    assert origin == "confirmed"
    with library.session() as s:
        (decision,) = s.scalars(select(Decision))
        assert (decision.kind, decision.face_id, decision.value) == (
            "face_is_person",
            face_id,
            "xmp",
        )
        assert decision.details["origin"] == "xmp"
        assert decision.details["source"] == str(photo.with_suffix(".xmp"))
        assert s.scalar(select(func.count(Face.id))) == 1  # matched, not made
    assert check(library) == []
    from photogroup.pipeline.review import history

    (row,) = history(library)  # as `photogroup undo --list` shows it
    assert row.description == f"named face {face_id} Ann Lee from XMP ({photo.with_suffix('.xmp')})"


def test_a_region_no_detector_found_becomes_an_embedded_face(
    library, config, detector, embedder, photo
):
    sidecar(photo.with_name("p.png.xmp"), [("Ann", RED), ("Bob", EMPTY)])
    scanner = scan(library, config, detector, embedder, photo.parent)
    assert (scanner.xmp.matched, scanner.xmp.made, scanner.xmp.named) == (1, 1, 2)
    ((bob_face, _),) = faces_of(library, "Bob")
    with library.session() as s:
        face = s.get(Face, bob_face)
        assert (face.x, face.y, face.w, face.h) == pytest.approx(EMPTY)
        assert face.quality_signals is not None  # aligned and scored by the scan
        assert s.scalar(select(func.count()).where(Embedding.face_id == bob_face)) == 1
    assert scanner.summary.embedded == 2


def test_the_person_is_found_whatever_the_case(library, config, detector, embedder, photo):
    with library.session() as s:
        s.add(Person(name="ann"))
    sidecar(photo.with_suffix(".xmp"), [("ANN", RED)])
    scan(library, config, detector, embedder, photo.parent)
    with library.session() as s:
        assert [p.name for p in s.scalars(select(Person))] == ["ann"]
    assert len(faces_of(library, "ann")) == 1


def test_a_changed_sidecar_is_read_again_and_a_removed_region_takes_back_only_its_own(
    library, config, detector, embedder, photo
):
    side = photo.with_suffix(".xmp")
    sidecar(side, [("Ann", RED), ("Bob", EMPTY)])
    scan(library, config, detector, embedder, photo.parent)
    assert scan(library, config, detector, embedder, photo.parent).xmp.photos == 0  # unchanged
    sidecar(side, [("Ann", RED)])
    scanner = scan(library, config, detector, embedder, photo.parent)
    assert (scanner.xmp.photos, scanner.xmp.removed, scanner.xmp.named) == (1, 1, 0)
    assert faces_of(library, "Bob") == []
    assert len(faces_of(library, "Ann")) == 1
    with library.session() as s:
        assert s.scalar(select(func.count(Face.id))) == 1  # Bob's made face is gone
        assert s.scalar(select(func.count(XmpRegion.id))) == 1
        bob = s.scalar(select(Person).where(Person.name == "Bob"))
        assert bob is not None  # a named person is never deleted
    # renaming the region in the file moves the face to the new name
    sidecar(side, [("Anna", RED)])
    scan(library, config, detector, embedder, photo.parent)
    assert faces_of(library, "Ann") == [] and len(faces_of(library, "Anna")) == 1
    assert check(library) == []


def test_the_users_answers_win_over_the_file(library, config, detector, embedder, photo):
    side = photo.with_suffix(".xmp")
    sidecar(side, [("Ann", RED)])
    scan(library, config, detector, embedder, photo.parent)
    ((face_id, _),) = faces_of(library, "Ann")
    with library.session() as s:
        ann = s.scalar(select(Person).where(Person.name == "Ann")).id
    # the user says no: the face is not Ann (undoes nothing of the file's)
    answer(library, config, embedder.id, f"face:{face_id}:{ann}", "no")
    sidecar(side, [("Ann", RED)])  # touched: read again, Ann stays rejected
    scanner = scan(library, config, detector, embedder, photo.parent)
    assert scanner.xmp.photos == 1 and scanner.xmp.named == 0
    assert faces_of(library, "Ann") == []


def test_undo_takes_back_an_xmp_answer_for_good(library, config, detector, embedder, photo):
    side = photo.with_suffix(".xmp")
    sidecar(side, [("Ann", RED)])
    scan(library, config, detector, embedder, photo.parent)
    assert "Undone" in undo(library, config, embedder.id)
    assert faces_of(library, "Ann") == []
    sidecar(side, [("Ann", RED)])  # read again, the same region: not applied again
    scan(library, config, detector, embedder, photo.parent)
    assert faces_of(library, "Ann") == []


def test_a_rescanned_photo_keeps_its_xmp_names(library, config, detector, embedder, photo):
    sidecar(photo.with_suffix(".xmp"), [("Ann", RED), ("Bob", EMPTY)])
    scan(library, config, detector, embedder, photo.parent)
    make_photo(photo, [("red", RED[0] + 2, RED[1], RED[2])], size=SIZE)  # edited photo
    scan(library, config, detector, embedder, photo.parent)
    assert len(faces_of(library, "Ann")) == 1 and len(faces_of(library, "Bob")) == 1
    assert check(library) == []


def test_bad_xmp_is_a_per_file_message_and_the_scan_goes_on(
    library, config, detector, embedder, photo
):
    other = make_photo(photo.parent / "q.png", [("green", 100, 50, 80)], size=SIZE)
    photo.with_suffix(".xmp").write_text("<x:xmpmeta><rdf:RDF>")
    sidecar(other.with_suffix(".xmp"), [("Cy", (100, 50, 80, 80)), ("Dee\x85", EMPTY)])
    scanner = scan(library, config, detector, embedder, photo.parent)
    assert scanner.summary.failed == 0 and scanner.xmp.problems == 2
    with library.session() as s:
        errors = {(e.path, e.kind): e.message for e in s.scalars(select(ScanError))}
        assert set(s.scalars(select(Photo.status))) == {"ok"}
    assert "not well-formed" in errors[(str(photo.with_suffix(".xmp")), "xmp")]
    assert "control characters" in errors[(str(other.with_suffix(".xmp")), "xmp")]
    assert len(faces_of(library, "Cy")) == 1


def test_reading_can_be_turned_off(library, config, detector, embedder, photo):
    config.xmp.read = False
    sidecar(photo.with_suffix(".xmp"), [("Ann", RED)])
    assert scan(library, config, detector, embedder, photo.parent).xmp is None
    assert faces_of(library, "Ann") == []


# --- real models on real photos ---------------------------------------------------------


def _write_regions(photo: Path, names: list[str], boxes, stored_size, orientation: int, fmt: str):
    """Regions on annotated faces, written by exiftool in the stored image's frame."""
    from photogroup.crawl.xmp import stored_box
    from tests.xmp_helpers import exif_write, mp_arg, mwg_arg

    upright = (stored_size[1], stored_size[0]) if orientation in (6, 8) else stored_size
    norm = [stored_box(tuple(b), orientation, upright) for b in boxes]
    if fmt == "mp":
        exif_write(photo, mp_arg(list(zip(names, norm, strict=True))))
    else:
        areas = [(x + w / 2, y + h / 2, w, h) for x, y, w, h in norm]
        exif_write(photo, mwg_arg(stored_size, list(zip(names, areas, strict=True))))


@pytest.mark.slow
def test_names_from_other_tools_become_confirmed_faces_and_go_back_out(tmp_path, monkeypatch):
    """exiftool writes MWG and MP regions (and turned photos, orientation 6 and 8) into
    copies of real group photos; a scan with the real models makes them confirmed,
    named faces; `export xmp` writes sidecars exiftool reads back with the same names
    and boxes within a pixel."""
    import json

    from PIL import Image

    from photogroup.cli import main
    from photogroup.core.detect import iou
    from photogroup.db.library import open_library
    from tests.conftest import DATA
    from tests.xmp_helpers import exif_json

    group = DATA / "group_photos"
    if not group.is_dir():
        pytest.skip(f"real photos not found at {group} (set PHOTOGROUP_DATA)")
    truth = json.loads((group / "annotations.json").read_text())
    root = tmp_path / "photos"
    root.mkdir()
    expected: dict[str, tuple[str, tuple[float, ...]]] = {}  # name -> (photo, upright box)
    cases = [
        ("dlib_2008_002506.jpg", ["Ann Lee", "Bob", "Cy"], 1, "mwg"),
        ("dlib_2008_001322.jpg", ["ann lee", "Eve", "Fay"], 1, "mp"),
        ("dlib_2009_004587.jpg", ["Gus", "Hal"], 6, "mwg"),
        ("dlib_2008_001009.jpg", ["Ivy", "Jo"], 8, "mwg"),
    ]
    for name, names, orientation, fmt in cases:
        boxes = sorted(truth[name]["boxes_xywh"], key=lambda b: b[0])
        target = root / name
        if orientation == 1:
            target.write_bytes((group / name).read_bytes())
            stored_size = Image.open(target).size
        else:
            turn = Image.Transpose.ROTATE_90 if orientation == 6 else Image.Transpose.ROTATE_270
            img = Image.open(group / name).transpose(turn)
            exif = img.getexif()
            exif[0x0112] = orientation
            img.save(target, quality=95, exif=exif)
            stored_size = img.size
        _write_regions(target, names, boxes, stored_size, orientation, fmt)
        for n, b in zip(names, boxes, strict=True):
            expected[n] = (str(target), tuple(b))
    # a hand-drawn region on a face too small for the detector (12 x 15 px)
    band = "wider_0_Parade_marchingband_1_629.jpg"
    (root / band).write_bytes((group / band).read_bytes())
    _write_regions(root / band, ["Dee"], [[109, 373, 13, 15]], (1024, 768), 1, "mwg")
    expected["Dee"] = (str(root / band), (109, 373, 13, 15))

    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "cfg"))
    db = str(tmp_path / "library.db")
    assert main(["--library", db, "scan", "--no-progress", str(root)]) == 0
    with open_library(db) as lib, lib.session() as s:
        rows = s.execute(
            select(Person.name, Face.x, Face.y, Face.w, Face.h, Photo.path, Assignment.origin)
            .join(Assignment, Assignment.person_id == Person.id)
            .join(Face, Face.id == Assignment.face_id)
            .join(Photo, Photo.id == Face.photo_id)
            .where(Person.name.is_not(None))
        ).all()
        regions = list(s.scalars(select(XmpRegion)))
        decisions = s.scalar(select(func.count(Decision.id)).where(Decision.value == "xmp"))
    names: dict[str, list] = {}
    for name, x, y, w, h, path, origin in rows:
        assert origin == "confirmed"
        names.setdefault(name.casefold(), []).append((path, (x, y, w, h)))
    assert sorted(names) == sorted({n.casefold() for n in expected})
    assert len(names["ann lee"]) == 2 and decisions == 11  # one person, found by either case
    where = {(n.casefold(), path): box for n, (path, box) in expected.items()}
    for name, faces in names.items():
        for path, box in faces:
            assert iou(box, where[(name, path)]) >= 0.3, (name, box, where[(name, path)])
    made = [r for r in regions if r.made_face]
    assert [r.name for r in made] == ["Dee"]  # every other region lies on a detected face

    assert main(["--library", db, "export", "xmp"]) == 0
    assert main(["--library", db, "check"]) == 0
    for name, *_ in [*cases, (band,)]:
        photo = root / name
        (info,) = exif_json(photo.with_suffix(".xmp"))
        stored = (
            info["RegionInfo"]["AppliedToDimensions"]["W"],
            info["RegionInfo"]["AppliedToDimensions"]["H"],
        )
        (original,) = exif_json(photo)
        assert stored == Image.open(photo).size  # the stored image's, turned or not
        got = {}
        for r in info["RegionInfo"]["RegionList"]:
            a = {k: float(v) for k, v in r["Area"].items() if k != "Unit"}
            got[r["Name"]] = (
                a["X"] * stored[0],
                a["Y"] * stored[1],
                a["W"] * stored[0],
                a["H"] * stored[1],
            )
        if "RegionInfo" in original:
            want = {}
            for r in original["RegionInfo"]["RegionList"]:
                a = {k: float(v) for k, v in r["Area"].items() if k != "Unit"}
                want[r["Name"]] = (
                    a["X"] * stored[0],
                    a["Y"] * stored[1],
                    a["W"] * stored[0],
                    a["H"] * stored[1],
                )
        else:  # MP regions: top-left based
            want = {}
            for r in original["RegionInfoMP"]["Regions"]:
                x, y, w, h = (float(v) for v in r["Rectangle"].split(","))
                want[r["PersonDisplayName"]] = (
                    (x + w / 2) * stored[0],
                    (y + h / 2) * stored[1],
                    w * stored[0],
                    h * stored[1],
                )
        got = {k.casefold(): v for k, v in got.items()}
        want = {k.casefold(): v for k, v in want.items()}
        assert set(got) == set(want), name
        for n in want:
            assert got[n] == pytest.approx(want[n], abs=1.0), (name, n)
        assert sorted(p.casefold() for p in info["PersonInImage"]) == sorted(want)


def test_a_library_named_only_by_xmp_is_still_grouped(
    library, config, detector, embedder, tmp_path, monkeypatch
):
    """People made from XMP names hold a face or two each; the first grouping still
    groups everything (assigning to them alone left a third of five_celebs out)."""
    import numpy as np

    from photogroup.pipeline import people
    from tests.conftest import ByColour

    root = tmp_path / "album"
    for i in range(3):
        for colour in ("red", "green"):
            make_photo(root / f"{colour}{i}.png", [(colour, 20 + 15 * i, 30, 90)], size=SIZE)
    sidecar(root / "red0.xmp", [("Ann", (20, 30, 90, 90))])
    config.quality.min_quality = 0.0
    scan(library, config, detector, embedder, root)
    monkeypatch.setattr(people, "make_clusterer", lambda config: ByColour(np.eye(8)[:3]))
    summary = people.assign_new_faces(library, config, embedder.id)
    assert summary.regrouped is not None
    assert len(faces_of(library, "Ann")) == 3
    with library.session() as s:
        assert s.scalar(select(func.count(Assignment.face_id))) == 6


def test_write_sidecar_keeps_sidecars_in_step_with_names(
    library, config, detector, embedder, tmp_path
):
    """[xmp] write = "sidecar": what changed since the last export is written after a
    scan; a rename rewrites the person's sidecars; what was written is not read
    back as new answers."""
    import numpy as np

    from photogroup.crawl.xmp import read_photo_regions
    from photogroup.pipeline.people import name_person, regroup
    from photogroup.pipeline.xmp import sync_sidecars
    from tests.conftest import ByColour

    config.xmp.write = "sidecar"
    config.quality.min_quality = 0.0
    config.people.min_cluster_size = 1
    root = tmp_path / "album"
    for i in range(2):
        make_photo(root / f"red{i}.png", [("red", 20 + 15 * i, 30, 90)], size=SIZE)
    make_photo(root / "green.png", [("green", 100, 30, 90)], size=SIZE)
    scan(library, config, detector, embedder, root)
    regroup(library, config, embedder.id, lambda: ByColour(np.eye(8)[:3]))
    assert sync_sidecars(library, config).photos == 0  # nobody has a name yet
    with library.session() as s:
        red = s.scalar(
            select(Assignment.person_id)
            .join(Face)
            .join(Photo)
            .where(Photo.path.endswith("red0.png"))
        )
    name_person(library, red, "Ann")
    first = sync_sidecars(library, config)
    assert (first.photos, first.faces) == (2, 2)
    assert sorted(p.name for p in root.glob("*.xmp")) == ["red0.xmp", "red1.xmp"]
    assert sync_sidecars(library, config).photos == 0  # nothing changed since
    name_person(library, red, "Anna")
    assert sync_sidecars(library, config).photos == 2
    assert [r.name for r in read_photo_regions(str(root / "red1.png")).regions] == ["Anna"]
    rescan = scan(library, config, detector, embedder, root)
    assert rescan.xmp.photos == 0  # our own writing is not read back as news
    with library.session() as s:
        assert s.scalar(select(func.count(Decision.id)).where(Decision.value == "xmp")) == 0
