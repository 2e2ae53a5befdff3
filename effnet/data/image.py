"""Reading one image file: any format PIL opens, any mode, to a clean RGB image.

Also the checks of a folder's files: :func:`header_problem` (cheap, run when a folder is
indexed) and :func:`check_image` (a decode, for ``--verify`` / ``--strict``).
"""

from __future__ import annotations

import os
import warnings

import numpy as np
from PIL import Image, ImageOps

# PIL's own default bomb threshold (about 89.5M pixels); configurable per call.
DEFAULT_MAX_PIXELS: int = 89_478_485
# Transparent pixels are composited onto black: RGBA, LA, PA and P-with-transparency alike.
BACKGROUND = (0, 0, 0)

_INT_MODES = ("I;16", "I;16L", "I;16B", "I;16N", "I")
_ALPHA_MODES = ("RGBA", "RGBa", "LA", "La", "PA")


def _int_to_l(img: Image.Image) -> Image.Image:
    """16-bit (I;16*) and 32-bit (I) grey to 8 bits by scaling 0..65535 -> 0..255.

    PIL opens 16-bit PNG/TIFF as I;16 or I, so I is read as 16-bit too; values outside
    0..65535 are clipped. Plain ``convert("L")`` would clip at 255 instead of scaling.
    """
    arr = np.asarray(img).astype(np.float64)
    arr = np.clip(arr, 0, 65535) / 257.0
    return Image.fromarray(np.rint(arr).astype(np.uint8))


def _float_to_l(img: Image.Image) -> Image.Image:
    """32-bit float grey to 8 bits: data in 0..1 is scaled by 255, otherwise read as 0..255.

    NaN becomes 0; out-of-range values are clipped.
    """
    arr = np.nan_to_num(np.asarray(img, dtype=np.float64), nan=0.0, posinf=255.0, neginf=0.0)
    if arr.size and arr.min() >= 0.0 and arr.max() <= 1.0:
        arr = arr * 255.0
    return Image.fromarray(np.rint(np.clip(arr, 0, 255)).astype(np.uint8))


def to_rgb(img: Image.Image) -> Image.Image:
    """Convert any PIL mode to RGB: alpha composited on ``BACKGROUND``, 16-bit and float
    grey scaled (not clipped) to 8 bits, palette transparency honoured, CMYK converted."""
    mode = img.mode
    if mode == "RGB":
        return img
    if mode == "P":
        if "transparency" not in img.info:
            return img.convert("RGB")
        img = img.convert("RGBA")
    elif mode in _INT_MODES:
        img = _int_to_l(img)
    elif mode == "F":
        img = _float_to_l(img)
    if img.mode in _ALPHA_MODES:
        rgba = img.convert("RGBA")  # also un-premultiplies RGBa / La
        out = Image.new("RGB", rgba.size, BACKGROUND)
        out.paste(rgba.convert("RGB"), mask=rgba.getchannel("A"))
        return out
    return img.convert("RGB")


def _exif_transpose(img: Image.Image) -> Image.Image:
    try:
        return ImageOps.exif_transpose(img)
    except Exception:  # a malformed EXIF block must not make a readable image unusable
        return img


def load_image(
    path: str | os.PathLike, *, max_pixels: int | None = DEFAULT_MAX_PIXELS
) -> Image.Image:
    """Open ``path``, apply its EXIF orientation and return an RGB image (first frame of
    animations).

    Raises:
        ValueError: the image has more than ``max_pixels`` pixels (checked from the header,
            before decoding).
        OSError: the file cannot be read as an image.
    """
    try:
        with warnings.catch_warnings():  # with a cap of our own, PIL's bomb warning is noise
            if max_pixels is not None:
                warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            img = Image.open(path)
    except Image.DecompressionBombError as e:  # PIL's own hard cap (2x its warning limit)
        raise ValueError(f"{path}: decompression bomb refused: {e}") from None
    with img:
        w, h = img.size
        if max_pixels is not None and w * h > max_pixels:
            raise ValueError(f"{path}: {w}x{h} = {w * h} pixels exceeds max_pixels={max_pixels}")
        img.load()
        return to_rgb(_exif_transpose(img))


def header_problem(
    path: str | os.PathLike, *, max_pixels: int | None = DEFAULT_MAX_PIXELS
) -> str | None:
    """What the file's header shows is wrong, or ``None``: an empty file, not an image PIL
    can identify, or more than ``max_pixels`` pixels. Nothing is decoded, so a truncated
    image passes here; :func:`check_image` decodes. PIL's ``DecompressionBombWarning``
    should be silenced by the caller (the cap is ours)."""
    try:
        if os.path.getsize(path) == 0:
            return "empty file (0 bytes)"
        with Image.open(path) as img:
            w, h = img.size
    except Image.DecompressionBombError as e:
        return f"decompression bomb: {e}"
    except Exception as e:  # PIL raises several types for files it cannot identify
        return f"not an image ({type(e).__name__}: {e})"
    if max_pixels is not None and w * h > max_pixels:
        return f"{w}x{h} = {w * h} pixels exceeds max_pixels={max_pixels}"
    return None


def check_image(
    path: str | os.PathLike, *, max_pixels: int | None = DEFAULT_MAX_PIXELS
) -> str | None:
    """Cheap validity check; returns ``None`` if the file looks usable, else the reason.

    ``Image.open`` + ``verify()`` for every format (PNG's verify checks every chunk's CRC);
    formats whose ``verify`` is a no-op are also decoded, JPEG at 1/8 scale (DCT scaling),
    so truncated files are caught. Images over ``max_pixels`` are refused from the header.
    PIL's ``DecompressionBombWarning`` should be silenced by the caller (the cap is ours).
    """
    try:
        with Image.open(path) as img:
            w, h = img.size
            fmt = img.format
            if max_pixels is not None and w * h > max_pixels:
                return f"{w}x{h} = {w * h} pixels exceeds max_pixels={max_pixels}"
            img.verify()
        if fmt != "PNG":
            with Image.open(path) as img:  # verify() leaves the image unusable: reopen
                if fmt == "JPEG":
                    img.draft(img.mode, (max(1, w // 8), max(1, h // 8)))
                img.load()
    except Image.DecompressionBombError as e:
        return f"decompression bomb: {e}"
    except Exception as e:  # any decoder failure on an untrusted file means "unreadable"
        return f"{type(e).__name__}: {e}"
    return None
