"""Data pipeline: time to index a 10,000-file folder, and decode + train-transform throughput.

Measures, in one run on this machine:
  * effnet's index (``effnet data`` / ``effnet train --data``: headers only) of N JPEGs of
    500x375, cold (no index cache) and warm (cache valid), as milliseconds per file beyond a
    tiny folder, against torchvision's ``ImageFolder`` listing the same folder;
  * images per second on one core of decoding plus the paper's training transform (random-area
    crop, flip, AutoAugment, 224 px), effnet's ``ImageFolderDataset`` against torchvision's
    ``ImageFolder`` with the same transform.

    python benchmarks/data_pipeline.py [--files 10000] [--decode 300] [--json out.json]

The folder is generated once under ``$EFFNET_CACHE/bench-jpegs-N`` (minutes for 10,000 files).
This is a benchmark, not a test.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image


def make_folder(root: Path, files: int, classes: int = 10) -> Path:
    """``root/<class>/<i>.jpg``: ``files`` JPEGs of 500x375 with photo-like smooth content."""
    done = root / ".complete"
    if done.exists():
        return root
    shutil.rmtree(root, ignore_errors=True)
    rng = np.random.default_rng(0)
    for i in range(files):
        folder = root / f"class{i % classes:02d}"
        folder.mkdir(parents=True, exist_ok=True)
        small = rng.integers(0, 256, (12, 16, 3), dtype=np.uint8)
        img = Image.fromarray(small).resize((500, 375), Image.BICUBIC)
        img.save(folder / f"{i:06d}.jpg", quality=90)
    done.write_text("ok")
    return root


def timed(fn: object, repeats: int = 3) -> float:
    best = float("inf")
    for _ in range(repeats):
        tic = time.perf_counter()
        fn()  # type: ignore[operator]
        best = min(best, time.perf_counter() - tic)
    return best


def index_figures(root: Path, tiny: Path) -> dict[str, float]:
    from torchvision.datasets import ImageFolder

    from effnet.data import index_cache
    from effnet.data.folder import find_classes, scan_folder

    def effnet_index(folder: Path, cold: bool) -> None:
        if cold:
            index_cache.cache_file(folder, 89_478_485).unlink(missing_ok=True)
        scan_folder(folder, find_classes(folder))

    n = sum(1 for _ in root.rglob("*.jpg"))
    m = sum(1 for _ in tiny.rglob("*.jpg"))
    cold = timed(lambda: effnet_index(root, True))
    cold_tiny = timed(lambda: effnet_index(tiny, True))
    effnet_index(root, True)  # fill the cache
    warm = timed(lambda: effnet_index(root, False))
    warm_tiny = timed(lambda: effnet_index(tiny, False))
    tv = timed(lambda: ImageFolder(str(root)))
    return {
        "files": n,
        "effnet_cold_s": cold,
        "effnet_warm_s": warm,
        "torchvision_imagefolder_s": tv,
        "effnet_cold_ms_per_file": 1e3 * (cold - cold_tiny) / (n - m),
        "effnet_warm_ms_per_file": 1e3 * (warm - warm_tiny) / (n - m),
    }


def decode_figures(root: Path, count: int) -> dict[str, float]:
    import torch
    from torchvision.datasets import ImageFolder

    from effnet.data.folder import ImageFolderDataset, find_classes, scan_folder
    from effnet.data.transforms import train_transform

    torch.set_num_threads(1)
    transform = train_transform(224, "autoaugment")
    classes = find_classes(root)
    samples, _ = scan_folder(root, classes)
    ours = ImageFolderDataset(samples, classes, transform)
    theirs = ImageFolder(str(root), transform=transform)
    step = max(1, len(samples) // count)
    indices = list(range(0, len(samples), step))[:count]
    rates = {"effnet": [], "torchvision": []}
    for _ in range(2):  # interleaved
        for name, ds in (("effnet", ours), ("torchvision", theirs)):
            torch.manual_seed(0)
            tic = time.perf_counter()
            for i in indices:
                ds[i]
            rates[name].append(len(indices) / (time.perf_counter() - tic))
    return {
        "decode_transform_img_s_per_core_effnet": max(rates["effnet"]),
        "decode_transform_img_s_per_core_torchvision": max(rates["torchvision"]),
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--files", type=int, default=10_000)
    p.add_argument("--decode", type=int, default=300, help="images decoded per measurement")
    p.add_argument("--json", default=None)
    args = p.parse_args(argv)
    cache = Path(os.environ.get("EFFNET_CACHE", Path.home() / ".cache" / "effnet"))
    root = make_folder(cache / f"bench-jpegs-{args.files}", args.files)
    tiny = make_folder(cache / "bench-jpegs-20", 20)
    figures = {
        "machine": f"{os.cpu_count()} cores, {sys.platform}",
        **index_figures(root, tiny),
        **decode_figures(root, args.decode),
    }
    for key, value in figures.items():
        print(f"{key}: {value:.4g}" if isinstance(value, float) else f"{key}: {value}")
    if args.json:
        Path(args.json).write_text(json.dumps(figures, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
