"""Batch prediction over a folder: ``effnet.predict`` against a plain torchvision loop.

Both read the same folder of JPEGs (generated once, as in ``data_pipeline.py``) through the
same eval transform, model, batch size and loader workers; the plain loop is torchvision's
``ImageFolder`` + ``DataLoader`` + ``softmax().topk()``. ``effnet.predict`` also finds the files
recursively, applies EXIF orientation, keeps going past broken files and yields one result per
image. Rounds are interleaved; the best round of each counts.

    python benchmarks/predict_folder.py [--files 10000] [--model efficientnet_b0] [--phi -4]
        [--resolution 64] [--batch-size 64] [--workers 0] [--rounds 2] [--json out.json]

The default model is the demo's (B0 at phi -4, 64 px), so decoding, not the network, dominates
and the comparison measures the pipeline. This is a benchmark, not a test.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from data_pipeline import make_folder  # noqa: E402
from machine import describe  # noqa: E402

TARGET = 0.9  # effnet.predict images/s at least this fraction of the plain loop's


def plain_loop(model, root: Path, transform, batch: int, workers: int) -> int:
    from torch.utils.data import DataLoader
    from torchvision.datasets import ImageFolder

    loader = DataLoader(
        ImageFolder(str(root), transform=transform), batch_size=batch, num_workers=workers
    )
    seen = 0
    with torch.inference_mode():
        for x, _ in loader:
            model(x).softmax(1).topk(5, dim=1)
            seen += len(x)
    return seen


def effnet_predict(model, root: Path, batch: int, workers: int, resolution: int) -> int:
    import effnet

    results = effnet.predict(
        model, [root], batch_size=batch, workers=workers, device="cpu", resolution=resolution
    )
    return sum(1 for r in results if "top" in r)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument(
        "--files", type=int, default=10_000, help="images in the folder (default: 10000)"
    )
    p.add_argument("--model", default="efficientnet_b0", help="(default: efficientnet_b0)")
    p.add_argument(
        "--phi", type=float, default=-4.0, help="compound scaling of --model (default: -4)"
    )
    p.add_argument("--resolution", type=int, default=64, help="(default: 64)")
    p.add_argument("-b", "--batch-size", type=int, default=64, help="(default: 64)")
    p.add_argument("--workers", type=int, default=0, help="loader processes (default: 0)")
    p.add_argument("--rounds", type=int, default=2, help="interleaved rounds (default: 2)")
    p.add_argument("--json", default=None, help="also write the figures to this file")
    args = p.parse_args(argv)

    import effnet

    cache = Path(os.environ.get("EFFNET_CACHE", Path.home() / ".cache" / "effnet"))
    root = make_folder(cache / f"bench-jpegs-{args.files}", args.files)
    spec = effnet.compound(args.model, args.phi) if args.phi else args.model
    model = effnet.create_model(spec, num_classes=10).eval()
    transform = effnet.create_transform(model, resolution=args.resolution)
    rates: dict[str, list[float]] = {"effnet.predict": [], "torchvision loop": []}
    for _ in range(args.rounds):
        for name in rates:
            tic = time.perf_counter()
            if name == "effnet.predict":
                n = effnet_predict(model, root, args.batch_size, args.workers, args.resolution)
            else:
                n = plain_loop(model, root, transform, args.batch_size, args.workers)
            rates[name].append(n / (time.perf_counter() - tic))
            print(f"  {name}: {n} images, {rates[name][-1]:.1f} img/s", flush=True)
    best = {name: max(r) for name, r in rates.items()}
    ratio = best["effnet.predict"] / best["torchvision loop"]
    print(f"machine: {describe()}")
    print(
        f"{args.files} JPEGs 500x375, {args.model} phi {args.phi:g} at {args.resolution} px, "
        f"batch {args.batch_size}, {args.workers} workers"
    )
    for name, value in best.items():
        print(f"{name:<18} {value:8.1f} img/s")
    verdict = "met" if ratio >= TARGET else "MISSED"
    print(f"{verdict}: effnet.predict / torchvision loop = {ratio:.2f} (>= {TARGET})")
    if args.json:
        Path(args.json).write_text(json.dumps({**best, "ratio": ratio, **vars(args)}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
