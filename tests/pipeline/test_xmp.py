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
