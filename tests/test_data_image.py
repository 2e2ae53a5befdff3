"""Reading one image: mode conversion, EXIF orientation, corrupt files, decompression bombs."""

import struct
import zlib

import numpy as np
import pytest
from PIL import Image

from effnet.data import load_image, to_rgb
from effnet.data.image import check_image

FORMATS = ["jpg", "png", "webp", "bmp", "gif", "tiff"]


def rgb(img):
    return np.asarray(to_rgb(img))


def test_16bit_grey_is_scaled_not_clipped():
    arr = np.array([[0, 257 * 128, 65535]], dtype=np.uint16)
    img = Image.fromarray(arr)
    assert img.mode == "I;16"
    out = rgb(img)
    assert out[0, :, 0].tolist() == [0, 128, 255]
    assert rgb(img.convert("I"))[0, :, 0].tolist() == [0, 128, 255]


def test_16bit_png_file_round_trip(tmp_path):
    path = tmp_path / "deep.png"
    Image.fromarray(np.full((4, 4), 257 * 100, np.uint16)).save(path)
    assert np.asarray(load_image(path)).max() == 100


def test_float_grey():
    assert rgb(Image.fromarray(np.array([[0.0, 0.5, 1.0]], np.float32)))[0, :, 1].tolist() == [
        0,
        128,
        255,
    ]
    assert rgb(Image.fromarray(np.array([[np.nan, 300.0, 7.0]], np.float32)))[0, :, 2].tolist() == [
        0,
        255,
        7,
    ]


def test_rgba_transparent_pixels_composite_on_black():
    arr = np.zeros((2, 2, 4), np.uint8)
    arr[..., 0] = 255  # red everywhere, but ...
    arr[0, 0, 3] = 255  # ... only one pixel opaque
    out = rgb(Image.fromarray(arr))
    assert out[0, 0].tolist() == [255, 0, 0]
    assert out[1, 1].tolist() == [0, 0, 0]
    la = Image.fromarray(arr).convert("LA")
    assert rgb(la)[1, 1].tolist() == [0, 0, 0]


def test_palette_transparency_composites(tmp_path):
    img = Image.new("P", (2, 1))
    img.putpalette([255, 255, 255, 0, 255, 0] + [0] * 762)  # index 0 white, 1 green
    img.putpixel((1, 0), 1)
    path = tmp_path / "t.gif"
    img.save(path, transparency=0)
    out = np.asarray(load_image(path))
    assert out[0, 0].tolist() == [0, 0, 0]  # transparent white -> background
    assert out[0, 1].tolist() == [0, 255, 0]


@pytest.mark.parametrize("mode", ["1", "L", "CMYK", "YCbCr", "RGB"])
def test_simple_modes(mode):
    img = Image.new("RGB", (3, 2), (255, 255, 255)).convert(mode)
    out = to_rgb(img)
    assert out.mode == "RGB" and out.size == (3, 2)
    assert np.asarray(out).min() >= 250


def test_exif_orientation_applied(tmp_path):
    img = Image.new("RGB", (20, 10), (10, 20, 30))
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 on display
    path = tmp_path / "rot.jpg"
    img.save(path, exif=exif)
    assert Image.open(path).size == (20, 10)
    assert load_image(path).size == (10, 20)


@pytest.mark.parametrize("ext", FORMATS)
def test_formats_load_and_truncation_is_detected(tmp_path, ext):
    arr = np.random.default_rng(0).integers(0, 256, (60, 80, 3), dtype=np.uint8)
    good = tmp_path / f"good.{ext}"
    Image.fromarray(arr).save(good)
    assert check_image(good) is None
    assert load_image(good).size == (80, 60)
    data = good.read_bytes()
    bad = tmp_path / f"bad.{ext}"
    bad.write_bytes(data[: len(data) // 2])
    assert check_image(bad) is not None


def test_truncated_jpeg_passes_verify_but_not_check(tmp_path):
    arr = np.random.default_rng(1).integers(0, 256, (64, 64, 3), dtype=np.uint8)
    path = tmp_path / "x.jpg"
    Image.fromarray(arr).save(path, quality=90)
    path.write_bytes(path.read_bytes()[:-400])
    with Image.open(path) as img:
        img.verify()  # PIL's JPEG verify is a no-op: the cheap check alone would miss this
    assert "truncated" in check_image(path)


def test_not_images(tmp_path):
    empty = tmp_path / "empty.png"
    empty.write_bytes(b"")
    text = tmp_path / "notes.jpg"
    text.write_text("this is not a jpeg\n")
    assert check_image(empty) is not None
    assert check_image(text) is not None


def png_header_only(width: int, height: int) -> bytes:
    """A PNG claiming ``width x height`` grey pixels: a decompression bomb's header."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        crc = zlib.crc32(kind + body) & 0xFFFFFFFF
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", crc)

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    idat = zlib.compress(b"\x00" * 1024)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


@pytest.mark.filterwarnings("ignore::PIL.Image.DecompressionBombWarning")
@pytest.mark.parametrize("side", [10_000, 30_000])  # over PIL's warning and error thresholds
def test_decompression_bomb_refused_from_header(tmp_path, side):
    path = tmp_path / "bomb.png"
    path.write_bytes(png_header_only(side, side))
    reason = check_image(path)
    assert reason is not None and ("max_pixels" in reason or "bomb" in reason)
    with pytest.raises((ValueError, Image.DecompressionBombError)):
        load_image(path)


def test_pixel_cap_is_configurable(tmp_path):
    path = tmp_path / "big.png"
    Image.new("RGB", (50, 40)).save(path)
    assert "max_pixels" in check_image(path, max_pixels=1999)
    assert check_image(path, max_pixels=2000) is None
    with pytest.raises(ValueError, match="max_pixels"):
        load_image(path, max_pixels=100)
