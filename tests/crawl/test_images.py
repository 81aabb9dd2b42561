"""Decoding every supported format, upright and RGB; clear errors for bad files."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from photogroup.core.errors import ImageError
from photogroup.crawl.images import decode_photo


def _square(size=(64, 48)) -> np.ndarray:
    arr = np.full((size[1], size[0], 3), 40, dtype=np.uint8)
    arr[10:20, 30:40] = (250, 10, 10)
    return arr


@pytest.mark.parametrize(
    "name,fmt,kwargs",
    [
        ("p.jpg", "JPEG", {"quality": 95}),
        ("p.png", "PNG", {}),
        ("p.webp", "WEBP", {"lossless": True}),
        ("p.bmp", "BMP", {}),
        ("p.tiff", "TIFF", {}),
    ],
)
def test_formats_decode_to_rgb(tmp_path, name, fmt, kwargs):
    path = tmp_path / name
    Image.fromarray(_square()).save(path, format=fmt, **kwargs)
    d = decode_photo(str(path), max_side=1024)
    assert d.image.shape == (48, 64, 3) and d.image.dtype == np.uint8
    assert (d.width, d.height, d.scale) == (64, 48, 1.0)
    assert d.image[15, 35, 0] > 200 and d.image[15, 35, 1] < 60
    assert len(d.content_hash) == 64


def test_heic(tmp_path):
    pillow_heif = pytest.importorskip("pillow_heif")
    if not pillow_heif.libheif_info().get("HEIF"):
        pytest.skip("this libheif has no HEIF encoder")
    pillow_heif.register_heif_opener()
    path = tmp_path / "p.heic"
    Image.fromarray(_square((128, 96))).save(path, quality=95)
    d = decode_photo(str(path), max_side=1024)
    assert (d.width, d.height) == (128, 96) and d.image.shape == (96, 128, 3)


def test_gif_first_frame(tmp_path):
    frames = [Image.fromarray(_square()), Image.new("RGB", (64, 48), (0, 0, 255))]
    path = tmp_path / "anim.gif"
    frames[0].save(path, save_all=True, append_images=frames[1:], duration=100, loop=0)
    d = decode_photo(str(path), max_side=1024)
    assert d.image[15, 35, 0] > 180  # the red square of frame 0, not the blue frame 1


def test_odd_modes(tmp_path):
    grey = tmp_path / "g.png"
    Image.fromarray(_square()[:, :, 0]).save(grey)
    assert decode_photo(str(grey), 1024).image.shape == (48, 64, 3)
    deep = tmp_path / "d16.png"
    Image.fromarray((np.arange(64 * 48).reshape(48, 64) * 20).astype(np.uint16)).save(deep)
    img = decode_photo(str(deep), 1024).image
    assert img.shape == (48, 64, 3) and img.max() > 200
    cmyk = tmp_path / "c.jpg"
    Image.fromarray(_square()).convert("CMYK").save(cmyk)
    assert decode_photo(str(cmyk), 1024).image.shape == (48, 64, 3)
    rgba = tmp_path / "a.png"
    Image.fromarray(np.zeros((48, 64, 4), dtype=np.uint8)).save(rgba)
    assert decode_photo(str(rgba), 1024).image[0, 0].tolist() == [255, 255, 255]


@pytest.mark.parametrize(
    "content,kind",
    [(b"", "empty"), (b"hello, I am text", "not_image")],
)
def test_bad_files_give_image_errors(tmp_path, content, kind):
    path = tmp_path / "bad.jpg"
    path.write_bytes(content)
    with pytest.raises(ImageError) as err:
        decode_photo(str(path), 1024)
    assert err.value.kind == kind and str(path) in str(err.value)


def test_truncated_jpeg(tmp_path):
    path = tmp_path / "t.jpg"
    Image.fromarray(_square((400, 300))).save(path, quality=95)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 3])
    with pytest.raises(ImageError, match="t.jpg"):
        decode_photo(str(path), 1024)


def test_decompression_bomb_is_refused_without_decoding(tmp_path):
    path = tmp_path / "bomb.png"
    Image.new("1", (30000, 30000)).save(path)  # tiny file, 900 megapixels declared
    with pytest.raises(ImageError) as err:
        decode_photo(str(path), 1024)
    assert err.value.kind == "too_large"


def test_draft_reduces_large_jpegs(tmp_path):
    path = tmp_path / "big.jpg"
    Image.fromarray(_square((4000, 3000))).save(path, quality=90)
    d = decode_photo(str(path), max_side=1000)
    assert (d.width, d.height) == (4000, 3000)
    assert 1000 <= d.image.shape[1] < 4000 and d.scale == d.image.shape[1] / 4000


@pytest.mark.parametrize("suffix", [".png", ".webp"])
def test_other_large_formats_are_reduced_after_decoding(tmp_path, suffix):
    """Formats without DCT scaling come out between max_side and twice it, with the
    scale that maps them to the full-size upright photo (here rotated by EXIF)."""
    path = tmp_path / f"big{suffix}"
    image = Image.fromarray(_square((4000, 3000)))
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees: upright it is 3000 x 4000
    image.save(path, exif=exif)
    d = decode_photo(str(path), max_side=1000)
    assert (d.width, d.height) == (3000, 4000)
    assert d.image.shape[:2] == (1000, 750)  # 4000 // 1000: reduced by 4
    assert d.scale == 0.25
    small = decode_photo(str(path), max_side=2500)  # under twice max_side: as decoded
    assert small.image.shape[:2] == (4000, 3000) and small.scale == 1.0


def test_palette_images_are_decoded_whole(tmp_path):
    path = tmp_path / "palette.png"
    Image.fromarray(_square((2400, 1000))).convert("P").save(path)
    d = decode_photo(str(path), max_side=1000)
    assert d.image.shape[:2] == (1000, 2400) and d.scale == 1.0


def test_broken_exif_time_is_ignored(tmp_path):
    exif = Image.Exif()
    exif.get_ifd(0x8769)[0x9003] = "0000:00:00 00:00:00"
    path = tmp_path / "e.jpg"
    Image.fromarray(_square()).save(path, exif=exif)
    assert decode_photo(str(path), 1024).taken_at is None
