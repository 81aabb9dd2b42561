"""Reading XMP face regions: both formats, both RDF spellings, orientation, sidecars,
every image format, and bad packets that must give a message and never an exception."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image, ImageOps

from photogroup.crawl.xmp import (
    MAX_PACKET_BYTES,
    read_photo_regions,
    region_name,
    regions_of_packet,
    stored_box,
    upright_box,
)
from tests.xmp_helpers import exif_write, mp_arg, mwg_arg, mwg_packet

SIZE = (600, 400)
# Ann: a 60x80 box at (300, 100); Bob: 100x100 at (50, 250) (pixels)
ANN = (0.55, 0.35, 0.1, 0.2)
BOB = (100 / 600, 300 / 400, 100 / 600, 100 / 400)


def _boxes(read):
    return {r.name: tuple(round(v, 1) for v in r.box) for r in read.regions}


@pytest.mark.parametrize("attributes", [False, True], ids=["elements", "attributes"])
def test_mwg_regions_in_both_rdf_spellings(attributes):
    packet = mwg_packet(SIZE, [("Ann", ANN), ("Bob", BOB)], attributes=attributes)
    read = regions_of_packet(packet, "p.jpg", SIZE)
    assert read.problems == []
    assert _boxes(read) == {"Ann": (300.0, 100.0, 60.0, 80.0), "Bob": (50.0, 250.0, 100.0, 100.0)}
    assert {r.format for r in read.regions} == {"mwg"}


def test_orientation_maps_regions_like_pillow_turns_pixels():
    """For all eight EXIF orientations: a box marked in the stored pixels lands where
    Pillow's exif_transpose puts those pixels, and back again."""
    w, h = 60, 40
    stored = np.zeros((h, w), np.uint8)
    stored[5:15, 10:30] = 255
    for orientation in range(1, 9):
        img = Image.fromarray(stored)
        exif = img.getexif()
        exif[0x0112] = orientation
        buf = io.BytesIO()
        img.save(buf, "PNG", exif=exif)
        upright = np.asarray(ImageOps.exif_transpose(Image.open(buf)))
        ys, xs = np.nonzero(upright > 128)
        expected = (xs.min(), ys.min(), xs.max() - xs.min() + 1, ys.max() - ys.min() + 1)
        size = (upright.shape[1], upright.shape[0])
        box = upright_box((10 / w, 5 / h, 20 / w, 10 / h), orientation, size)
        assert box == pytest.approx(expected), orientation
        back = stored_box(box, orientation, size)
        assert back == pytest.approx((10 / w, 5 / h, 20 / w, 10 / h)), orientation


@pytest.mark.parametrize("orientation", [6, 8])
def test_regions_of_a_turned_photo_end_in_upright_pixels(orientation):
    # Stored 600x400, shown 400x600. Ann's region in the stored image:
    read = regions_of_packet(mwg_packet(SIZE, [("Ann", ANN)]), "p.jpg", SIZE, orientation)
    ((x, y, w, h),) = [r.box for r in read.regions]
    assert (w, h) == pytest.approx((80, 60))  # turned a quarter
    if orientation == 6:  # 90 degrees clockwise: stored top-left goes top-right
        assert (x, y) == pytest.approx((400 - 100 - 80, 300))
    else:
        assert (x, y) == pytest.approx((100, 600 - 300 - 60))


def test_regions_written_as_displayed_are_not_turned_twice():
    """AppliedToDimensions of the upright size (400x600) on a photo stored 600x400
    with orientation 6: the tool wrote the regions as it showed the photo."""
    packet = mwg_packet((400, 600), [("Ann", (0.5, 0.5, 0.2, 0.1))])
    read = regions_of_packet(packet, "p.jpg", SIZE, 6)
    assert _boxes(read) == {"Ann": (160.0, 270.0, 80.0, 60.0)}


def test_microsoft_regions_are_top_left_based(tmp_path):
    photo = tmp_path / "p.jpg"
    Image.new("RGB", SIZE, "grey").save(photo)
    exif_write(
        photo, mp_arg([("Ann", (0.5, 0.25, 0.1, 0.2)), ("ffffffffffffffff", (0, 0, 0.1, 0.1))])
    )
    read = read_photo_regions(str(photo))
    assert read.problems == []
    assert _boxes(read) == {"Ann": (300.0, 100.0, 60.0, 80.0)}  # the ignored face is left out
    assert read.regions[0].format == "mp"


@pytest.mark.parametrize("fmt", ["jpg", "png", "webp", "tif", "heic", "gif"])
def test_regions_embedded_in_every_format_exiftool_writes(tmp_path, fmt):
    import pillow_heif

    pillow_heif.register_heif_opener()
    photo = tmp_path / f"p.{fmt}"
    Image.new("RGB", SIZE, "grey").save(photo)
    exif_write(photo, mwg_arg(SIZE, [("Ann", ANN)]))
    read = read_photo_regions(str(photo))
    assert read.problems == []
    assert _boxes(read) == {"Ann": (300.0, 100.0, 60.0, 80.0)}


def test_both_sidecar_names_are_read_and_one_face_counts_once(tmp_path):
    photo = tmp_path / "p.jpg"
    Image.new("RGB", SIZE, "grey").save(photo)
    exif_write(photo, mwg_arg(SIZE, [("Ann", ANN)]), mp_arg([("Ann", (0.5, 0.25, 0.1, 0.2))]))
    (tmp_path / "p.xmp").write_text(mwg_packet(SIZE, [("Bob", BOB)]))
    (tmp_path / "p.jpg.xmp").write_text(mwg_packet(SIZE, [("Cy", (0.9, 0.1, 0.1, 0.1))]))
    read = read_photo_regions(str(photo))
    assert sorted(r.name for r in read.regions) == ["Ann", "Bob", "Cy"]
    sources = {r.name: r.source for r in read.regions}
    assert sources["Bob"] == str(tmp_path / "p.xmp")
    assert sources["Cy"] == str(tmp_path / "p.jpg.xmp")


def test_a_sidecar_names_an_unnamed_embedded_region(tmp_path):
    photo = tmp_path / "p.jpg"
    Image.new("RGB", SIZE, "grey").save(photo)
    exif_write(photo, mwg_arg(SIZE, [(None, ANN)]))
    (tmp_path / "p.xmp").write_text(mwg_packet(SIZE, [("Ann", ANN)]))
    assert [r.name for r in read_photo_regions(str(photo)).regions] == ["Ann"]


BOMB = (
    '<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
    '<!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">'
    '<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]>'
    '<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF '
    'xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
    '<rdf:Description xmlns:mwg-rs="http://www.metadataworkinggroup.com/schemas/regions/" '
    'mwg-rs:Name="&lol3;"/></rdf:RDF></x:xmpmeta>'
)
EXTERNAL = (
    '<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]>'
    '<x:xmpmeta xmlns:x="adobe:ns:meta/">&e;</x:xmpmeta>'
)


@pytest.mark.parametrize(
    "packet, expected",
    [
        ("<x:xmpmeta xmlns:x='adobe:ns:meta/'><rdf:RDF>", "not well-formed"),
        (BOMB, "DTD"),
        (EXTERNAL, "DTD"),
        (mwg_packet(SIZE, [("Ann", (1.5, 1.5, 0.1, 0.1))]), "outside the photo"),
        (mwg_packet(SIZE, [("Ann", (0.5, 0.5, 0.0, 0.1))]), "no area"),
        (mwg_packet(SIZE, [("Ann", ("nan", 0.5, 0.1, 0.1))]), "not a number"),
        (mwg_packet(SIZE, [("Ann", ("x", 0.5, 0.1, 0.1))]), "not a number"),
        (mwg_packet(SIZE, [("Ann\u202eLee\x85", ANN)]), "control characters"),
    ],
    ids=[
        "malformed",
        "entity-bomb",
        "external-entity",
        "outside",
        "no-area",
        "nan",
        "text",
        "control",
    ],
)
def test_bad_packets_give_a_message_not_an_exception(packet, expected):
    read = regions_of_packet(packet, "p.jpg", SIZE)
    assert len(read.problems) == 1
    source, message = read.problems[0]
    assert source == "p.jpg" and expected in message
    # a region with a bad name is still a face, unnamed
    assert [r.name for r in read.regions] == ([None] if expected == "control characters" else [])


def test_a_huge_sidecar_is_refused_unread(tmp_path):
    photo = tmp_path / "p.jpg"
    Image.new("RGB", SIZE, "grey").save(photo)
    sidecar = tmp_path / "p.xmp"
    packet = mwg_packet(SIZE, [("Ann", ANN)])
    sidecar.write_text(packet.replace("<rdf:RDF", "<rdf:RDF" + " " * (50 * 1024 * 1024), 1))
    (tmp_path / "p.jpg.xmp").write_text(mwg_packet(SIZE, [("Bob", BOB)]))
    read = read_photo_regions(str(photo))
    assert [r.name for r in read.regions] == ["Bob"]  # the other sidecar still counts
    assert read.problems == [
        (
            str(sidecar),
            f"the sidecar is {sidecar.stat().st_size:,} bytes "
            f"(at most {MAX_PACKET_BYTES:,}); not read",
        )
    ]


def test_a_huge_embedded_packet_is_refused(tmp_path):
    packet = mwg_packet(SIZE, [("Ann", ANN)]) + " " * (MAX_PACKET_BYTES + 1)
    read = regions_of_packet(packet, "p.png", SIZE)
    assert read.regions == [] and "not read" in read.problems[0][1]


def test_an_unreadable_photo_is_a_message(tmp_path):
    photo = tmp_path / "p.jpg"
    photo.write_bytes(b"not an image")
    read = read_photo_regions(str(photo))
    assert read.regions == [] and "cannot read the photo's header" in read.problems[0][1]


@pytest.mark.parametrize(
    "raw, name, why",
    [
        ("  Ann   Lee ", "Ann Lee", None),
        ("", None, None),
        ("Ann\x00", None, "control characters"),
        ("Ann\u202eLee", None, "control characters"),  # right-to-left override
        ("Person 12", None, "default name"),
        ("A" * 201, None, "characters"),
    ],
)
def test_region_names(raw, name, why):
    got, problem = region_name(raw)
    assert got == name
    assert (problem is None) if why is None else (why in problem)


def test_non_face_regions_are_left_out():
    packet = mwg_packet(SIZE, [("Rex", ANN)]).replace(
        "<mwg-rs:Type>Face</mwg-rs:Type>", "<mwg-rs:Type>Pet</mwg-rs:Type>"
    )
    assert regions_of_packet(packet, "p.jpg", SIZE).regions == []


@pytest.mark.parametrize("orientation", [1, 6, 8])
def test_merged_faces_read_back_where_they_were(orientation):
    from photogroup.crawl.xmp import FaceToWrite, merge_faces

    faces = [
        FaceToWrite((30.0, 40.0, 80.0, 60.0), "Ann"),
        FaceToWrite((200.0, 300.0, 50.0, 50.0), None),
    ]
    packet = merge_faces(None, faces, SIZE, orientation)
    read = regions_of_packet(packet, "p.xmp", SIZE, orientation)
    assert read.problems == []
    mwg = [(r.name, r.box) for r in read.regions if r.format == "mwg"]
    mp = [(r.name, r.box) for r in read.regions if r.format == "mp"]
    assert mwg == mp == [("Ann", (30.0, 40.0, 80.0, 60.0)), (None, (200.0, 300.0, 50.0, 50.0))]


def test_a_renamed_face_replaces_its_region_and_its_old_name():
    from photogroup.crawl.xmp import FaceToWrite, merge_faces

    first = merge_faces(None, [FaceToWrite((300, 100, 60, 80), "Ann")], SIZE)
    second = merge_faces(first, [FaceToWrite((301, 101, 60, 80), "Anna")], SIZE)
    read = regions_of_packet(second, "p.xmp", SIZE)
    assert {r.name for r in read.regions} == {"Anna"} and len(read.regions) == 2  # MWG + MP
    assert b"People|Ann<" not in second and b"People|Anna<" in second
    assert b"People/Anna<" in second and b">Ann<" not in second


def test_a_packet_cannot_take_our_prefixes():
    """A sidecar that binds "rdf" to another namespace still gets well-formed, correct
    RDF back (ElementTree's prefix registry is process-wide)."""
    from photogroup.crawl.xmp import FaceToWrite, merge_faces

    odd = (
        b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><r:RDF xmlns:r="http://www.w3.org/1999/02/'
        b'22-rdf-syntax-ns#" xmlns:rdf="urn:not-rdf"><r:Description r:about=""/></r:RDF>'
        b"</x:xmpmeta>"
    )
    packet = merge_faces(odd, [FaceToWrite((300, 100, 60, 80), "Ann")], SIZE)
    assert (
        b"<rdf:RDF" in packet
        and b'xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"' in packet
    )
    assert {r.name for r in regions_of_packet(packet, "p", SIZE).regions} == {"Ann"}


def test_a_50_mb_packet_embedded_in_a_png_is_refused_and_the_photo_still_decodes(tmp_path):
    from PIL import PngImagePlugin

    from photogroup.crawl.images import decode_photo

    info = PngImagePlugin.PngInfo()
    info.add_itxt("XML:com.adobe.xmp", mwg_packet(SIZE, [("Ann", ANN)]) + " " * (50 << 20))
    photo = tmp_path / "p.png"
    Image.new("RGB", SIZE, "grey").save(photo, pnginfo=info)
    read = read_photo_regions(str(photo))
    assert read.regions == []
    assert read.problems == [(str(photo), read.problems[0][1])]
    assert "(at most 8,388,608); not read" in read.problems[0][1]
    assert decode_photo(str(photo), 1024).width == SIZE[0]
