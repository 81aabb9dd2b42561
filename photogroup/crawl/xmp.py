"""XMP face regions: read them from a photo and its sidecars, and merge ours into a packet.

Two region formats are read:

- the Metadata Working Group's (`mwg-rs:Regions`: Lightroom, digiKam, Picasa, Immich):
  `stArea` x/y are the centre of the box and w/h its size, normalised to the image
  the regions were applied to (`AppliedToDimensions`);
- Microsoft's (`MP:RegionInfo`, Windows Photo Gallery): `MPReg:Rectangle` is
  "left, top, width, height", normalised; `PersonDisplayName` is the name.

Both are relative to the *stored* image (MWG Guidelines 2.0, 5.9: "region metadata
is applied to the stored image"); photogroup keeps faces in the pixels of the
upright photo, so a region is turned by the photo's EXIF orientation. A packet whose
AppliedToDimensions are the upright size of a turned photo (some tools write
regions as displayed) is taken as upright already.

XMP is untrusted input: it is parsed with defusedxml (no DTDs, so no entity
expansion and no external references), packets over MAX_PACKET_BYTES are refused,
and every problem becomes a one-line message for the scan's error list: the photo
is indexed all the same. Pure: no database, no models.
"""

from __future__ import annotations

import math
import os
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any
from xml.etree import ElementTree as ET

from ..core.detect import iou
from ..core.types import Box

#: A packet (embedded or sidecar) larger than this is refused unread. Real ones with
#: hundreds of regions stay under 1 MiB; a JPEG segment holds 64 KiB.
MAX_PACKET_BYTES = 8 * 1024 * 1024

#: A region smaller than this (pixels of the upright photo, shorter side) is ignored.
MIN_REGION_PX = 4.0

#: A region must lie at least this much inside the photo (share of its area).
MIN_INSIDE = 0.5

#: Longest name taken from a region (characters).
MAX_NAME = 200

#: MP's PersonDisplayName for a face the user chose to ignore.
_MP_IGNORED = "ffffffffffffffff"

NS = {
    "x": "adobe:ns:meta/",
    "rdf": "http://www.w3.org/1999/02/22-rdf-syntax-ns#",
    "mwg-rs": "http://www.metadataworkinggroup.com/schemas/regions/",
    "stArea": "http://ns.adobe.com/xmp/sType/Area#",
    "stDim": "http://ns.adobe.com/xap/1.0/sType/Dimensions#",
    "MP": "http://ns.microsoft.com/photo/1.2/",
    "MPRI": "http://ns.microsoft.com/photo/1.2/t/RegionInfo#",
    "MPReg": "http://ns.microsoft.com/photo/1.2/t/Region#",
    "Iptc4xmpExt": "http://iptc.org/std/Iptc4xmpExt/2008-02-29/",
    "lr": "http://ns.adobe.com/lightroom/1.0/",
    "digiKam": "http://www.digikam.org/ns/1.0/",
}

_ORIENTATION = 0x0112


def _q(prefix: str, local: str) -> str:
    return f"{{{NS[prefix]}}}{local}"


RDF_DESCRIPTION = _q("rdf", "Description")
RDF_RDF = _q("rdf", "RDF")
RDF_LI = _q("rdf", "li")
RDF_BAG = _q("rdf", "Bag")
RDF_SEQ = _q("rdf", "Seq")
RDF_PARSE_TYPE = _q("rdf", "parseType")
RDF_ABOUT = _q("rdf", "about")


class XmpProblem(Exception):
    """One packet cannot be used; the message says why (and the scan goes on)."""


@dataclass(frozen=True)
class Region:
    """A face region in pixels of the upright, full-size photo."""

    box: Box
    name: str | None
    format: str
    """"mwg" or "mp"."""
    source: str
    """The file it was read from: the photo itself or a sidecar."""


@dataclass
class XmpRead:
    """The face regions read from a photo and its sidecars, and the problems met."""

    regions: list[Region] = field(default_factory=list)
    problems: list[tuple[str, str]] = field(default_factory=list)
    """(file, message) for each packet or region that could not be used."""


# --- geometry ------------------------------------------------------------------------


def _point_upright(u: float, v: float, orientation: int) -> tuple[float, float]:
    """A normalised point of the stored image -> the same point of the upright image."""
    return {
        1: (u, v),
        2: (1 - u, v),
        3: (1 - u, 1 - v),
        4: (u, 1 - v),
        5: (v, u),
        6: (1 - v, u),
        7: (1 - v, 1 - u),
        8: (v, 1 - u),
    }.get(orientation, (u, v))


def _point_stored(x: float, y: float, orientation: int) -> tuple[float, float]:
    """The inverse of _point_upright."""
    inverse = {1: 1, 2: 2, 3: 3, 4: 4, 5: 5, 6: 8, 7: 7, 8: 6}
    return _point_upright(x, y, inverse.get(orientation, 1))


def _transform_box(
    box: tuple[float, float, float, float], orientation: int, to_upright: bool
) -> tuple[float, float, float, float]:
    """A normalised [left, top, width, height] box through an orientation."""
    left, top, w, h = box
    move = _point_upright if to_upright else _point_stored
    corners = [move(u, v, orientation) for u in (left, left + w) for v in (top, top + h)]
    xs, ys = [c[0] for c in corners], [c[1] for c in corners]
    return (min(xs), min(ys), max(xs) - min(xs), max(ys) - min(ys))


def upright_box(
    norm: tuple[float, float, float, float], orientation: int, upright_size: tuple[int, int]
) -> Box:
    """A normalised [left, top, w, h] box of the stored image -> upright pixels."""
    x, y, w, h = _transform_box(norm, orientation, to_upright=True)
    uw, uh = upright_size
    return (x * uw, y * uh, w * uw, h * uh)


def stored_box(
    box: Box, orientation: int, upright_size: tuple[int, int]
) -> tuple[float, float, float, float]:
    """An upright pixel box -> a normalised [left, top, w, h] box of the stored image."""
    uw, uh = upright_size
    x, y, w, h = box
    return _transform_box((x / uw, y / uh, w / uw, h / uh), orientation, to_upright=False)


def swaps_sides(orientation: int) -> bool:
    """Whether an EXIF orientation (5 to 8) swaps width and height."""
    return orientation in (5, 6, 7, 8)


# --- names -----------------------------------------------------------------------------

_SPACES = re.compile(r"\s+")
_XML_SPACE = " \t\r\n"
_CONTROL = ("Cc", "Cf", "Cs", "Co", "Cn")


def region_name(raw: str | None) -> tuple[str | None, str | None]:
    """A region's name as photogroup stores it, or (None, why) when it cannot be one.

    The one place where a name from a file is checked (the person rules proper, case
    and duplicates, are the people module's)."""
    if raw is None:
        return None, None
    if any(unicodedata.category(c) in _CONTROL for c in raw if c not in _XML_SPACE):
        shown = raw.strip(_XML_SPACE).encode("unicode_escape").decode("ascii")[:60]
        return None, f"the name {shown!r} holds control characters; the region is read unnamed"
    name = _SPACES.sub(" ", raw).strip()
    if not name:
        return None, None
    if len(name) > MAX_NAME:
        return None, f"a name of {len(name)} characters (at most {MAX_NAME}); read unnamed"
    if name.lower().startswith("person ") and name[7:].strip().isdigit():
        return None, f'"{name}" is a default name, not a name; the region is read unnamed'
    return name, None


# --- reading packets -------------------------------------------------------------------

_START = re.compile(rb"<(?:x:xmpmeta|x:xapmeta|rdf:RDF)[\s>]")
_DTD = re.compile(rb"<!\s*(?:DOCTYPE|ENTITY)", re.IGNORECASE)
_ENDS = (b"</x:xmpmeta>", b"</x:xapmeta>", b"</rdf:RDF>")


def _packet_slice(data: bytes) -> bytes:
    """The XML of a packet, without the xpacket wrapper, padding or trailing bytes."""
    m = _START.search(data)
    if m is None:
        return data
    start = m.start()
    if data.startswith(b"<rdf:RDF", start):
        end_tag = _ENDS[2]
    else:
        end_tag = _ENDS[0] if data.startswith(b"<x:xmpmeta", start) else _ENDS[1]
    end = data.rfind(end_tag)
    return data[start : end + len(end_tag)] if end > start else data[start:]


def parse_packet(data: bytes | str) -> ET.Element:
    """The root element of an XMP packet, parsed safely. Raises XmpProblem."""
    import defusedxml
    from defusedxml.ElementTree import fromstring

    if isinstance(data, str):
        data = data.encode("utf-8")
    if len(data) > MAX_PACKET_BYTES:
        raise XmpProblem(
            f"an XMP packet of {len(data):,} bytes (at most {MAX_PACKET_BYTES:,}); not read"
        )
    refused = "XMP refused: it declares a DTD or entities (never expanded: entity bombs, "
    if _DTD.search(data):
        raise XmpProblem(refused + "outside files); not read")
    try:
        root: ET.Element = fromstring(_packet_slice(data), forbid_dtd=True)
    except defusedxml.DefusedXmlException as exc:
        raise XmpProblem(refused + f"outside files; {type(exc).__name__}); not read") from None
    except ET.ParseError as exc:
        raise XmpProblem(f"XMP is not well-formed XML ({exc}); not read") from None
    return root


def _descriptions(root: ET.Element) -> list[ET.Element]:
    if root.tag == RDF_DESCRIPTION:
        return [root]
    return list(root.iter(RDF_DESCRIPTION))


def _prop(node: ET.Element, prefix: str, local: str) -> str | ET.Element | None:
    """A property of an RDF resource node: an attribute, or a child element."""
    key = _q(prefix, local)
    if key in node.attrib:
        return node.attrib[key]
    return node.find(key)


def _resource(prop: ET.Element) -> ET.Element:
    """The node holding a struct's fields: the property element itself
    (rdf:parseType="Resource", or fields as attributes) or its rdf:Description."""
    if prop.get(RDF_PARSE_TYPE) == "Resource":
        return prop
    desc = prop.find(RDF_DESCRIPTION)
    return desc if desc is not None else prop


def _field(node: ET.Element, prefix: str, local: str) -> str | None:
    value = _prop(node, prefix, local)
    if value is None or isinstance(value, str):
        return value
    return (value.text or "").strip(_XML_SPACE) or None


def _items(prop: ET.Element) -> list[ET.Element]:
    """The rdf:li of an array property (rdf:Bag or rdf:Seq), as resource nodes."""
    for kind in (RDF_BAG, RDF_SEQ):
        array = prop.find(kind)
        if array is not None:
            return [_resource(li) for li in array.findall(RDF_LI)]
    return []


def _number(text: str | None, what: str) -> float:
    try:
        value = float(text) if text is not None else math.nan
    except ValueError:
        value = math.nan
    if not math.isfinite(value):
        raise XmpProblem(f"a region's {what} is {text!r}, not a number; region skipped")
    return value


@dataclass
class _Raw:
    norm: tuple[float, float, float, float]  # left, top, w, h (normalised)
    name: str | None
    format: str


def _mwg_regions(
    desc: ET.Element, problems: list[str]
) -> tuple[list[_Raw], tuple[int, int] | None]:
    regions = _prop(desc, "mwg-rs", "Regions")
    if not isinstance(regions, ET.Element):
        return [], None
    node = _resource(regions)
    applied: tuple[int, int] | None = None
    dims = _prop(node, "mwg-rs", "AppliedToDimensions")
    if isinstance(dims, ET.Element):
        d = _resource(dims)
        try:
            w, h = _number(_field(d, "stDim", "w"), "w"), _number(_field(d, "stDim", "h"), "h")
            if w > 0 and h > 0:
                applied = (round(w), round(h))
        except XmpProblem:
            applied = None
    found: list[_Raw] = []
    listing = _prop(node, "mwg-rs", "RegionList")
    for item in _items(listing) if isinstance(listing, ET.Element) else []:
        kind = _field(item, "mwg-rs", "Type")
        if kind is not None and kind.strip().lower() != "face":
            continue  # pets, focus points, barcodes
        area = _prop(item, "mwg-rs", "Area")
        if not isinstance(area, ET.Element):
            continue
        a = _resource(area)
        try:
            cx, cy = _number(_field(a, "stArea", "x"), "x"), _number(_field(a, "stArea", "y"), "y")
            w, h = _number(_field(a, "stArea", "w"), "w"), _number(_field(a, "stArea", "h"), "h")
        except XmpProblem as exc:
            problems.append(str(exc))
            continue
        unit = (_field(a, "stArea", "unit") or "normalized").lower()
        if unit == "pixel" and applied is not None:
            cx, w = cx / applied[0], w / applied[0]
            cy, h = cy / applied[1], h / applied[1]
        found.append(_Raw((cx - w / 2, cy - h / 2, w, h), _field(item, "mwg-rs", "Name"), "mwg"))
    return found, applied


def _mp_regions(desc: ET.Element, problems: list[str]) -> list[_Raw]:
    info = _prop(desc, "MP", "RegionInfo")
    if not isinstance(info, ET.Element):
        return []
    listing = _prop(_resource(info), "MPRI", "Regions")
    found: list[_Raw] = []
    for item in _items(listing) if isinstance(listing, ET.Element) else []:
        rect = _field(item, "MPReg", "Rectangle")
        if rect is None:
            continue
        parts = [p.strip() for p in rect.split(",")]
        if len(parts) != 4:
            problems.append(f"an MP rectangle {rect[:60]!r} is not 'x, y, w, h'; region skipped")
            continue
        try:
            left, top, w, h = (_number(p, "rectangle") for p in parts)
        except XmpProblem as exc:
            problems.append(str(exc))
            continue
        name = _field(item, "MPReg", "PersonDisplayName")
        if name == _MP_IGNORED:
            continue
        found.append(_Raw((left, top, w, h), name, "mp"))
    return found


def regions_of_packet(
    data: bytes | str,
    source: str,
    raw_size: tuple[int, int],
    orientation: int = 1,
) -> XmpRead:
    """The face regions of one packet, in upright pixels. `raw_size` is the stored
    image's (width, height), `orientation` its EXIF orientation."""
    out = XmpRead()
    try:
        root = parse_packet(data)
    except XmpProblem as exc:
        out.problems.append((source, str(exc)))
        return out
    raw_w, raw_h = raw_size
    upright_size = (raw_h, raw_w) if swaps_sides(orientation) else (raw_w, raw_h)
    problems: list[str] = []
    for desc in _descriptions(root):
        mwg, applied = _mwg_regions(desc, problems)
        mwg_orientation = orientation
        if (
            applied is not None
            and swaps_sides(orientation)
            and raw_w != raw_h
            and _same_shape(applied, upright_size)
            and not _same_shape(applied, (raw_w, raw_h))
        ):
            mwg_orientation = 1  # written as displayed
        for raw in mwg:
            _add(out, raw, mwg_orientation, upright_size, source, problems)
        for raw in _mp_regions(desc, problems):
            _add(out, raw, orientation, upright_size, source, problems)
    out.problems.extend((source, p) for p in problems)
    return out


def _same_shape(a: tuple[int, int], b: tuple[int, int]) -> bool:
    return abs(a[0] * b[1] - a[1] * b[0]) <= 0.02 * a[0] * b[1]


def _add(
    out: XmpRead,
    raw: _Raw,
    orientation: int,
    upright_size: tuple[int, int],
    source: str,
    problems: list[str],
) -> None:
    left, top, w, h = raw.norm
    label = f" ({raw.name[:40]!r})" if raw.name else ""
    if w <= 0 or h <= 0:
        problems.append(f"a region{label} has no area (w={w:g}, h={h:g}); skipped")
        return
    inside_w = max(0.0, min(left + w, 1.0) - max(left, 0.0))
    inside_h = max(0.0, min(top + h, 1.0) - max(top, 0.0))
    if inside_w * inside_h < MIN_INSIDE * w * h:
        problems.append(
            f"a region{label} lies outside the photo ({left:.3g}, {top:.3g}, {w:.3g}, {h:.3g} "
            "normalised); skipped"
        )
        return
    clipped = (max(left, 0.0), max(top, 0.0), inside_w, inside_h)
    box = upright_box(clipped, orientation, upright_size)
    if min(box[2], box[3]) < MIN_REGION_PX:
        problems.append(f"a region{label} of {box[2]:.0f}x{box[3]:.0f} px is too small; skipped")
        return
    name, why = region_name(raw.name)
    if why:
        problems.append(why)
    out.regions.append(Region(tuple(round(v, 2) for v in box), name, raw.format, source))  # type: ignore[arg-type]


# --- files -----------------------------------------------------------------------------


def sidecar_paths(photo: str) -> list[str]:
    """The sidecars that may belong to `photo`, in the order they are read:
    `photo.xmp` (Lightroom, digiKam's option), then `photo.jpg.xmp` (digiKam,
    darktable), each also with an upper-case extension."""
    stem, _ = os.path.splitext(photo)
    return [stem + ".xmp", stem + ".XMP", photo + ".xmp", photo + ".XMP"]


def existing_sidecars(photo: str) -> list[str]:
    """The sidecar paths of `photo` that exist, each file once (case-insensitive file systems)."""
    found = []
    seen: set[tuple[int, int]] = set()
    for path in sidecar_paths(photo):
        try:
            st = os.stat(path)
        except OSError:
            continue
        key = (st.st_dev, st.st_ino)  # case-insensitive file systems
        if key not in seen:
            seen.add(key)
            found.append(path)
    return found


def read_sidecar(path: str) -> bytes:
    """A sidecar's bytes; XmpProblem when it is too large or cannot be read."""
    try:
        size = os.path.getsize(path)
        if size > MAX_PACKET_BYTES:
            raise XmpProblem(
                f"the sidecar is {size:,} bytes (at most {MAX_PACKET_BYTES:,}); not read"
            )
        with open(path, "rb") as fh:
            return fh.read(MAX_PACKET_BYTES + 1)
    except OSError as exc:
        raise XmpProblem(f"cannot read the sidecar: {exc.strerror or exc}") from None


def embedded_packet(path: str) -> tuple[bytes | None, tuple[int, int], int]:
    """(the XMP packet embedded in the photo or None, stored (width, height), EXIF
    orientation), from the file's header (no pixels are decoded). The orientation
    is the one photogroup's decoding applies. Raises XmpProblem."""
    from PIL import Image

    from .images import _register_heif

    _register_heif()
    try:
        with Image.open(path) as img:
            size = img.size
            exif = img.getexif()
            orientation = int(exif.get(_ORIENTATION, 1)) if exif else 1
            packet: Any = img.info.get("xmp") or img.info.get("XML:com.adobe.xmp")
            if packet is None and getattr(img, "tag_v2", None) is not None:
                packet = img.tag_v2.get(700)  # type: ignore[attr-defined]
    except Exception as exc:  # unreadable here means the scan reports the photo itself
        raise XmpProblem(f"cannot read the photo's header for XMP: {exc}") from None
    if isinstance(packet, str):
        packet = packet.encode("utf-8")
    if packet is None and path.lower().endswith(".gif"):
        packet = _scan_bytes(path)
    return (bytes(packet) if packet else None), size, orientation


def _scan_bytes(path: str) -> bytes | None:
    """An XMP packet found by its markers in a file Pillow gives none for (GIF)."""
    if os.path.getsize(path) > 4 * MAX_PACKET_BYTES:
        return None
    with open(path, "rb") as fh:
        data = fh.read()
    m = _START.search(data)
    return _packet_slice(data[m.start() :]) if m else None


def read_photo_regions(path: str, sidecars: Iterable[str] | None = None) -> XmpRead:
    """Every face region of a photo: embedded, then in its sidecars, duplicates
    (the same face in MWG and MP, or in the photo and a sidecar) counted once."""
    out = XmpRead()
    try:
        packet, size, orientation = embedded_packet(path)
    except XmpProblem as exc:
        out.problems.append((path, str(exc)))
        return out
    reads: list[XmpRead] = []
    if packet:
        reads.append(regions_of_packet(packet, path, size, orientation))
    for sidecar in existing_sidecars(path) if sidecars is None else sidecars:
        try:
            data = read_sidecar(sidecar)
        except XmpProblem as exc:
            out.problems.append((sidecar, str(exc)))
            continue
        reads.append(regions_of_packet(data, sidecar, size, orientation))
    # A sidecar is newer than the photo's own packet in every workflow that keeps
    # both: its regions come first, and MWG before MP.
    ordered = [r for read in reversed(reads) for r in sorted(read.regions, key=_mp_last)]
    for read in reads:
        out.problems.extend(read.problems)
    out.regions = dedupe(ordered)
    return out


def _mp_last(region: Region) -> int:
    return 1 if region.format == "mp" else 0


def dedupe(regions: list[Region], overlap: float = 0.5) -> list[Region]:
    """Regions in order, without later ones that cover an earlier one (IoU >= overlap);
    an unnamed earlier region takes a later one's name."""
    kept: list[Region] = []
    for region in regions:
        for i, k in enumerate(kept):
            if iou(k.box, region.box) >= overlap:
                if k.name is None and region.name is not None:
                    kept[i] = Region(k.box, region.name, k.format, k.source)
                break
        else:
            kept.append(region)
    return kept


# --- writing ---------------------------------------------------------------------------

#: Where the names go besides the regions, as digiKam and Lightroom write face tags.
PEOPLE_TAG_LR = "People|{}"
PEOPLE_TAG_DIGIKAM = "People/{}"
_PACKET_ID = "W5M0MpCehiHzreSzNTczkc9d"
_XMLNS = re.compile(rb"""xmlns:([A-Za-z_][\w.-]*)\s*=\s*["']([^"']+)["']""")


@dataclass(frozen=True)
class FaceToWrite:
    """A face to write into a photo's XMP as a region, named or not."""

    box: Box
    """Upright pixels of the full-size photo."""
    name: str | None


def _register_prefixes(existing: bytes | None) -> None:
    """ElementTree writes the prefixes it knows: those the packet used, then ours (a
    packet cannot take "rdf" or "x" for another namespace)."""
    pairs = []
    if existing:
        pairs += [(p.decode(), u.decode("utf-8", "replace")) for p, u in _XMLNS.findall(existing)]
    pairs += list(NS.items())
    for prefix, uri in pairs:
        try:
            ET.register_namespace(prefix, uri)
        except ValueError:  # a reserved prefix ("ns0", "xml"): ElementTree names it
            pass


def _sub(parent: ET.Element, prefix: str, local: str, text: str | None = None) -> ET.Element:
    el = ET.SubElement(parent, _q(prefix, local))
    if text is not None:
        el.text = text
    return el


def _struct(parent: ET.Element, prefix: str, local: str) -> ET.Element:
    el = _sub(parent, prefix, local)
    el.set(RDF_PARSE_TYPE, "Resource")
    return el


def _num(v: float) -> str:
    return f"{v:.6f}".rstrip("0").rstrip(".") or "0"


def _old_items(
    desc: ET.Element, prefix: str, local: str, inner: tuple[str, str] | None
) -> list[ET.Element]:
    """The rdf:li elements of a region list property, and the property removed."""
    items: list[ET.Element] = []
    for prop in desc.findall(_q(prefix, local)):
        node = _resource(prop)
        listing = _prop(node, *inner) if inner else prop
        if isinstance(listing, ET.Element):
            for kind in (RDF_BAG, RDF_SEQ):
                array = listing.find(kind)
                if array is not None:
                    items.extend(array.findall(RDF_LI))
        desc.remove(prop)
    return items


def _bag_values(descs: list[ET.Element], prefix: str, local: str) -> list[str]:
    """The values of an array property, wherever it is, and the property removed."""
    values: list[str] = []
    key = _q(prefix, local)
    for desc in descs:
        if key in desc.attrib:
            values.append(desc.attrib.pop(key))
        for prop in desc.findall(key):
            for kind in (RDF_BAG, RDF_SEQ, _q("rdf", "Alt")):
                array = prop.find(kind)
                if array is not None:
                    values.extend((li.text or "").strip() for li in array.findall(RDF_LI))
            desc.remove(prop)
    return [v for v in values if v]


def _write_bag(
    desc: ET.Element, prefix: str, local: str, values: list[str], kind: str = RDF_BAG
) -> None:
    if not values:
        return
    array = ET.SubElement(_sub(desc, prefix, local), kind)
    for v in values:
        ET.SubElement(array, RDF_LI).text = v


def merge_faces(
    existing: bytes | None,
    faces: list[FaceToWrite],
    raw_size: tuple[int, int],
    orientation: int = 1,
) -> bytes:
    """A packet that holds everything `existing` held, with `faces` as MWG and
    Microsoft face regions, and their names in Iptc4xmpExt:PersonInImage,
    lr:hierarchicalSubject ("People|Name") and digiKam:TagsList ("People/Name").

    Regions of `existing` that lie on none of `faces` (other faces, pets, focus
    points) are kept as they were; a face region that `faces` covers is replaced,
    and its old name leaves the name lists. Raises XmpProblem when `existing`
    cannot be read (it is never overwritten then)."""
    _register_prefixes(existing)
    if existing:
        root = parse_packet(existing)
        rdf = root if root.tag == RDF_RDF else root.find(RDF_RDF)
        if rdf is None:
            raise XmpProblem("the XMP has no rdf:RDF element; not changed")
    else:
        root = ET.Element(_q("x", "xmpmeta"))
        rdf = ET.SubElement(root, RDF_RDF)
    raw_w, raw_h = raw_size
    upright = (raw_h, raw_w) if swaps_sides(orientation) else (raw_w, raw_h)
    stored = [stored_box(f.box, orientation, upright) for f in faces]

    def covered(read: XmpRead) -> bool:
        return any(iou(r.box, f.box) >= 0.5 for r in read.regions for f in faces)

    descs = rdf.findall(RDF_DESCRIPTION)
    replaced: set[str] = set()
    kept_mwg: list[ET.Element] = []
    kept_mp: list[ET.Element] = []
    for desc in descs:
        for li in _old_items(desc, "mwg-rs", "Regions", ("mwg-rs", "RegionList")):
            read = _read_item(li, "mwg", raw_size, orientation)
            if read is not None and covered(read):
                replaced.update(r.name for r in read.regions if r.name)
            else:
                kept_mwg.append(li)
        info = desc.find(_q("MP", "RegionInfo"))
        if info is not None:
            for li in _old_items(_resource(info), "MPRI", "Regions", None):
                read = _read_item(li, "mp", raw_size, orientation)
                if read is not None and covered(read):
                    replaced.update(r.name for r in read.regions if r.name)
                else:
                    kept_mp.append(li)
            desc.remove(info)
    target = descs[0] if descs else ET.SubElement(rdf, RDF_DESCRIPTION, {RDF_ABOUT: ""})

    regions = _struct(target, "mwg-rs", "Regions")
    dims = _struct(regions, "mwg-rs", "AppliedToDimensions")
    _sub(dims, "stDim", "w", str(raw_w))
    _sub(dims, "stDim", "h", str(raw_h))
    _sub(dims, "stDim", "unit", "pixel")
    bag = ET.SubElement(_sub(regions, "mwg-rs", "RegionList"), RDF_BAG)
    bag.extend(kept_mwg)
    for face, (left, top, w, h) in zip(faces, stored, strict=True):
        li = ET.SubElement(bag, RDF_LI, {RDF_PARSE_TYPE: "Resource"})
        area = _struct(li, "mwg-rs", "Area")
        for key, value in (("x", left + w / 2), ("y", top + h / 2), ("w", w), ("h", h)):
            _sub(area, "stArea", key, _num(value))
        _sub(area, "stArea", "unit", "normalized")
        _sub(li, "mwg-rs", "Type", "Face")
        if face.name:
            _sub(li, "mwg-rs", "Name", face.name)

    mp_list = ET.SubElement(_sub(_struct(target, "MP", "RegionInfo"), "MPRI", "Regions"), RDF_BAG)
    mp_list.extend(kept_mp)
    for face, (left, top, w, h) in zip(faces, stored, strict=True):
        li = ET.SubElement(mp_list, RDF_LI, {RDF_PARSE_TYPE: "Resource"})
        _sub(li, "MPReg", "Rectangle", ", ".join(_num(v) for v in (left, top, w, h)))
        if face.name:
            _sub(li, "MPReg", "PersonDisplayName", face.name)

    names = list(dict.fromkeys(f.name for f in faces if f.name))
    gone = replaced - set(names)
    for prefix, local, form, kind in (
        ("Iptc4xmpExt", "PersonInImage", "{}", RDF_BAG),
        ("lr", "hierarchicalSubject", PEOPLE_TAG_LR, RDF_BAG),
        ("digiKam", "TagsList", PEOPLE_TAG_DIGIKAM, RDF_SEQ),
    ):
        old = [
            v for v in _bag_values(descs, prefix, local) if v not in {form.format(n) for n in gone}
        ]
        new = old + [form.format(n) for n in names if form.format(n) not in old]
        _write_bag(target, prefix, local, new, kind)

    begin = ET.ProcessingInstruction("xpacket", f'begin="\ufeff" id="{_PACKET_ID}"')
    end = ET.ProcessingInstruction("xpacket", 'end="w"')
    body = b"".join(ET.tostring(e, encoding="utf-8", xml_declaration=False) for e in (begin, root))
    return body + b"\n" + ET.tostring(end, encoding="utf-8") + b"\n"


def _read_item(
    li: ET.Element, fmt: str, raw_size: tuple[int, int], orientation: int
) -> XmpRead | None:
    """One old region (an rdf:li) read as photogroup reads regions, None if it is
    not a face."""
    node = _resource(li)
    problems: list[str] = []
    raws: list[_Raw] = []
    if fmt == "mwg":
        kind = _field(node, "mwg-rs", "Type")
        area = _prop(node, "mwg-rs", "Area")
        if (kind is not None and kind.lower() != "face") or not isinstance(area, ET.Element):
            return None
        a = _resource(area)
        try:
            cx, cy = _number(_field(a, "stArea", "x"), "x"), _number(_field(a, "stArea", "y"), "y")
            w, h = _number(_field(a, "stArea", "w"), "w"), _number(_field(a, "stArea", "h"), "h")
        except XmpProblem:
            return None
        raws.append(_Raw((cx - w / 2, cy - h / 2, w, h), _field(node, "mwg-rs", "Name"), fmt))
    else:
        rect = _field(node, "MPReg", "Rectangle")
        try:
            left, top, w, h = (_number(p, "rectangle") for p in (rect or "").split(","))
        except (XmpProblem, ValueError):
            return None
        raws.append(_Raw((left, top, w, h), _field(node, "MPReg", "PersonDisplayName"), fmt))
    out = XmpRead()
    raw_w, raw_h = raw_size
    upright = (raw_h, raw_w) if swaps_sides(orientation) else (raw_w, raw_h)
    for raw in raws:
        _add(out, raw, orientation, upright, "", problems)
    return out
