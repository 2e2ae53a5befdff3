"""The built-in demo dataset: 10 classes of synthetic 64x64 images, generated once and cached.

Six shapes (circle, ring, square, triangle, star, cross) and four textures (stripes, checker,
dots, grid), each with random colours, position, scale, aspect, rotation and a noisy, shaded
background. Colours are drawn independently of the class, so no pixel or colour statistic
gives the class away: a linear model on raw pixels stays near chance while a small CNN
learns it (tests/test_data_demo.py measures the former).

Generated deterministically (fixed seeds, numpy + PIL only) into
``$EFFNET_CACHE/demo-v<VERSION>`` (default ``~/.cache/effnet``), built in a temporary folder
and renamed into place, so an interrupted run never leaves half a dataset.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

VERSION = 1  # bump when the images change: a new folder name makes caches regenerate
SEED = 20190528  # the paper's arXiv date
SIZE = 64
TRAIN_PER_CLASS = 300
VAL_PER_CLASS = 60
SHAPES = ("circle", "ring", "square", "triangle", "star", "cross")
TEXTURES = ("stripes", "checker", "dots", "grid")
CLASSES = SHAPES + TEXTURES
_SUPER = 4  # shapes are drawn at 4x and box-downsampled: anti-aliased edges
_STAMP = "effnet-demo.json"


def _polygon(name: str) -> list[np.ndarray]:
    """Unit-radius outlines (first filled, the rest cut out) of a shape, centred at 0."""
    t = np.linspace(0, 2 * np.pi, 48, endpoint=False)
    circle = np.stack([np.cos(t), np.sin(t)], 1)
    if name == "circle":
        return [circle]
    if name == "ring":
        return [circle, circle * 0.55]
    if name == "square":
        return [np.array([[-1, -1], [1, -1], [1, 1], [-1, 1]]) * 0.8]
    if name == "triangle":
        a = np.pi / 2 + np.arange(3) * 2 * np.pi / 3
        return [np.stack([np.cos(a), np.sin(a)], 1)]
    if name == "star":
        a = np.pi / 2 + np.arange(10) * np.pi / 5
        r = np.where(np.arange(10) % 2 == 0, 1.0, 0.42)
        return [np.stack([r * np.cos(a), r * np.sin(a)], 1)]
    if name == "cross":
        w = 0.3
        return [
            np.array(
                [
                    [-w, -1],
                    [w, -1],
                    [w, -w],
                    [1, -w],
                    [1, w],
                    [w, w],
                    [w, 1],
                    [-w, 1],
                    [-w, w],
                    [-1, w],
                    [-1, -w],
                    [-w, -w],
                ]
            )
        ]
    raise ValueError(name)


def _shape_mask(name: str, rng: np.random.Generator, w: int = SIZE, h: int = SIZE) -> np.ndarray:
    """Anti-aliased 0..1 coverage of one randomly placed, scaled, stretched, rotated shape
    (sizes relative to a SIZE-px image: a larger canvas gets a proportionally larger shape)."""
    r = rng.uniform(10, 22) * min(w, h) / SIZE
    cx, cy = rng.uniform(r * 0.8, np.array([w, h]) - r * 0.8)
    theta = rng.uniform(0, 2 * np.pi)
    stretch = np.array([rng.uniform(0.8, 1.2), 1.0])
    rot = np.array([[np.cos(theta), -np.sin(theta)], [np.sin(theta), np.cos(theta)]])
    canvas = Image.new("L", (w * _SUPER, h * _SUPER), 0)
    draw = ImageDraw.Draw(canvas)
    for k, outline in enumerate(_polygon(name)):
        pts = (outline * stretch * r) @ rot.T + (cx, cy)
        draw.polygon([tuple(p) for p in pts * _SUPER], fill=255 if k == 0 else 0)
    small = canvas.resize((w, h), Image.Resampling.BOX)
    return np.asarray(small, dtype=np.float32) / 255.0


def _texture_mask(name: str, rng: np.random.Generator, w: int = SIZE, h: int = SIZE) -> np.ndarray:
    """A rotated periodic pattern inside a randomly placed disk (sizes relative to SIZE px)."""
    k = min(w, h) / SIZE
    y, x = np.mgrid[0:h, 0:w].astype(np.float32) + 0.5
    r = rng.uniform(15, 26) * k
    cx, cy = rng.uniform(r * 0.7, np.array([w, h]) - r * 0.7)
    theta = rng.uniform(0, np.pi)
    period = rng.uniform(5.0, 9.0) * k
    u = (x - cx) * np.cos(theta) + (y - cy) * np.sin(theta) + rng.uniform(0, period)
    v = -(x - cx) * np.sin(theta) + (y - cy) * np.cos(theta) + rng.uniform(0, period)
    fu, fv = (u / period) % 1.0, (v / period) % 1.0
    if name == "stripes":
        pattern = fu < 0.5
    elif name == "checker":
        pattern = (np.floor(u / period) + np.floor(v / period)) % 2 == 0
    elif name == "dots":
        pattern = (fu - 0.5) ** 2 + (fv - 0.5) ** 2 < 0.32**2
    elif name == "grid":
        pattern = (fu < 0.25) | (fv < 0.25)
    else:
        raise ValueError(name)
    disk = np.clip(r - np.hypot(x - cx, y - cy) + 0.5, 0, 1)  # soft 1-pixel edge
    return pattern.astype(np.float32) * disk


def _colours(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    while True:
        fg, bg = rng.uniform(0, 255, (2, 3))
        if np.linalg.norm(fg - bg) > 110:
            return fg, bg


def render(name: str, rng: np.random.Generator, size: tuple[int, int] = (SIZE, SIZE)) -> np.ndarray:
    """One ``H x W x 3`` uint8 image of class ``name`` (``size = (W, H)``, default the
    dataset's SIZE x SIZE; other sizes give scenes of the same kind, e.g. for CAM figures)."""
    w, h = size
    mask = _texture_mask(name, rng, w, h) if name in TEXTURES else _shape_mask(name, rng, w, h)
    fg, bg = _colours(rng)
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    y, x = y / h - 0.5, x / w - 0.5
    gx, gy = rng.normal(0, 40, 2)  # a shading gradient across the background
    background = bg + (gx * x + gy * y)[..., None]
    img = background * (1 - mask[..., None]) + fg * mask[..., None]
    img = img + rng.normal(0, rng.uniform(6, 20), img.shape)
    return np.clip(np.rint(img), 0, 255).astype(np.uint8)


def generate(
    root: Path, train_per_class: int = TRAIN_PER_CLASS, val_per_class: int = VAL_PER_CLASS
) -> None:
    """Write ``root/{train,val}/<class>/NNNN.png``; same seeds, same images."""
    for split_id, (split, count) in enumerate((("train", train_per_class), ("val", val_per_class))):
        for class_id, name in enumerate(CLASSES):
            folder = root / split / name
            folder.mkdir(parents=True, exist_ok=True)
            rng = np.random.default_rng([SEED, split_id, class_id])
            for i in range(count):
                Image.fromarray(render(name, rng)).save(folder / f"{i:04d}.png", compress_level=1)


def cache_dir() -> Path:
    """``$EFFNET_CACHE``, or ``~/.cache/effnet``."""
    env = os.environ.get("EFFNET_CACHE")
    return Path(env) if env else Path.home() / ".cache" / "effnet"


def _complete(root: Path) -> bool:
    try:
        return json.loads((root / _STAMP).read_text())["version"] == VERSION
    except (OSError, ValueError, KeyError, TypeError):
        return False


def _remove_stale(cache: Path, max_age_s: float = 3600.0) -> None:
    """Delete temporary folders left by generations interrupted over an hour ago."""
    for p in cache.glob(".demo-*"):
        try:
            if time.time() - p.stat().st_mtime > max_age_s:
                shutil.rmtree(p, ignore_errors=True)
        except OSError:
            pass


def demo_root(cache: str | os.PathLike | None = None) -> Path:
    """Root (with ``train/`` and ``val/``) of the demo dataset, generating it on first use.

    Args:
        cache: cache folder; default ``$EFFNET_CACHE`` or ``~/.cache/effnet``.
    """
    cache = Path(cache) if cache is not None else cache_dir()
    final = cache / f"demo-v{VERSION}"
    if _complete(final):
        return final
    cache.mkdir(parents=True, exist_ok=True)
    _remove_stale(cache)
    tmp = Path(tempfile.mkdtemp(prefix=f".demo-v{VERSION}-", dir=cache))
    try:
        generate(tmp, TRAIN_PER_CLASS, VAL_PER_CLASS)
        stamp = {
            "version": VERSION,
            "classes": list(CLASSES),
            "size": SIZE,
            "train_per_class": TRAIN_PER_CLASS,
            "val_per_class": VAL_PER_CLASS,
        }
        (tmp / _STAMP).write_text(json.dumps(stamp))
        if final.exists() and not _complete(final):
            shutil.rmtree(final, ignore_errors=True)  # a broken folder of the same name
        try:
            os.rename(tmp, final)
        except OSError:
            if not _complete(final):  # lost a race to another process: use its copy
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return final
