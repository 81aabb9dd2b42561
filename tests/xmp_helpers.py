"""XMP test helpers: packets written as other tools write them, and exiftool.

The packets here are test fixtures (what Lightroom, digiKam and Windows Photo
Gallery put in files); photogroup itself never builds XML from strings.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

#: .ci/run installs exiftool and sets this: a missing exiftool fails the run, never skips.
REQUIRED = os.environ.get("PHOTOGROUP_EXIFTOOL_TESTS") == "require"


def exiftool() -> str:
    path = shutil.which("exiftool")
    if path is None:
        message = "exiftool is not installed (apt-get install libimage-exiftool-perl)"
        if REQUIRED:
            pytest.fail(message)
        pytest.skip(message)
    return path


def exif_json(*paths: Path, args: tuple[str, ...] = ()) -> list[dict]:
    out = subprocess.run(
        [exiftool(), "-json", "-struct", *args, *map(str, paths)],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return json.loads(out)


def exif_write(path: Path, *assignments: str) -> None:
    subprocess.run(
        [exiftool(), "-q", "-overwrite_original", *assignments, str(path)],
        check=True,
        capture_output=True,
        text=True,
    )


def mwg_arg(size: tuple[int, int], regions: list[tuple[str | None, tuple[float, ...]]]) -> str:
    """exiftool's -RegionInfo= value: regions as (name, (cx, cy, w, h) normalised)."""

    def one(name: str | None, area: tuple[float, ...]) -> str:
        x, y, w, h = area
        named = f",Name={name}" if name else ""
        return f"{{Area={{X={x},Y={y},W={w},H={h},Unit=normalized}}{named},Type=Face}}"

    items = ",".join(one(n, a) for n, a in regions)
    return (
        f"-RegionInfo={{AppliedToDimensions={{W={size[0]},H={size[1]},Unit=pixel}},"
        f"RegionList=[{items}]}}"
    )


def mp_arg(regions: list[tuple[str, tuple[float, ...]]]) -> str:
    """exiftool's -RegionInfoMP= value: (name, (left, top, w, h) normalised)."""
    rects = [(n, "|, ".join(f"{v:.6f}" for v in r)) for n, r in regions]
    items = ",".join(f"{{PersonDisplayName={n},Rectangle={r}}}" for n, r in rects)
    return f"-RegionInfoMP={{Regions=[{items}]}}"


def mwg_packet(
    size: tuple[int, int],
    regions: list[tuple[str | None, tuple[float, float, float, float]]],
    attributes: bool = False,
) -> str:
    """An MWG packet as Lightroom (elements) or digiKam/exiv2 (attributes) writes it."""
    items = []
    for name, (x, y, w, h) in regions:
        named = f'mwg-rs:Name="{name}" ' if name is not None else ""
        if attributes:
            items.append(
                f'<rdf:li><rdf:Description {named}mwg-rs:Type="Face">'
                f'<mwg-rs:Area stArea:x="{x}" stArea:y="{y}" stArea:w="{w}" stArea:h="{h}" '
                f'stArea:unit="normalized"/></rdf:Description></rdf:li>'
            )
        else:
            name_el = f"<mwg-rs:Name>{name}</mwg-rs:Name>" if name is not None else ""
            items.append(
                '<rdf:li rdf:parseType="Resource"><mwg-rs:Type>Face</mwg-rs:Type>'
                f'{name_el}<mwg-rs:Area rdf:parseType="Resource"><stArea:x>{x}</stArea:x>'
                f"<stArea:y>{y}</stArea:y><stArea:w>{w}</stArea:w><stArea:h>{h}</stArea:h>"
                "<stArea:unit>normalized</stArea:unit></mwg-rs:Area></rdf:li>"
            )
    return (
        '<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>'
        '<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF '
        'xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
        '<rdf:Description rdf:about="" '
        'xmlns:mwg-rs="http://www.metadataworkinggroup.com/schemas/regions/" '
        'xmlns:stArea="http://ns.adobe.com/xmp/sType/Area#" '
        'xmlns:stDim="http://ns.adobe.com/xap/1.0/sType/Dimensions#">'
        '<mwg-rs:Regions rdf:parseType="Resource">'
        f'<mwg-rs:AppliedToDimensions stDim:w="{size[0]}" stDim:h="{size[1]}" stDim:unit="pixel"/>'
        f"<mwg-rs:RegionList><rdf:Bag>{''.join(items)}</rdf:Bag></mwg-rs:RegionList>"
        "</mwg-rs:Regions></rdf:Description></rdf:RDF></x:xmpmeta>"
        '<?xpacket end="w"?>'
    )


def centre(box: tuple[float, float, float, float], size: tuple[int, int]) -> tuple[float, ...]:
    """A pixel [x, y, w, h] box -> MWG's normalised centre, width and height."""
    x, y, w, h = box
    W, H = size
    return ((x + w / 2) / W, (y + h / 2) / H, w / W, h / H)
