"""``effnet predict``: the most likely classes of images, files, folders or globs, with
probabilities; printed, or written to a CSV / JSON Lines file."""

from __future__ import annotations

import argparse
import json
import sys

from effnet.cli import validate
from effnet.cli.options import (
    add_inputs,
    add_runtime_options,
    add_weights_options,
    amp_mode,
    inputs,
)


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "predict",
        help="classify images (files, folders, globs) with trained or published weights",
        description="Top-k classes and probabilities for each image: files, folders (searched "
        "recursively) and globs. Class names come from the weights' metadata or a classes.json "
        "beside them; 1000-class weights from torchvision or timm give ImageNet's. Images go "
        "through the model's data config (the resolution and crop stored with effnet weights, "
        "or the preprocessing published with others). Unreadable files are listed, not fatal.",
    )
    add_inputs(
        p,
        "images",
        flag="--image",
        metavar="IMAGE",
        help="image files, folders or globs (also as --image)",
        many=True,
    )
    add_weights_options(p)
    p.add_argument("--topk", type=validate.positive_int, default=5, help="classes per image")
    p.add_argument(
        "--resolution",
        type=validate.resolution,
        default=None,
        help="default: the training resolution stored with the weights, else the model's "
        "data config",
    )
    p.add_argument(
        "--eval-crop",
        type=validate.crop_fraction,
        default=None,
        help=validate.EVAL_CROP_HELP,
    )
    add_runtime_options(p, batch_size=64)
    p.add_argument(
        "--out",
        default=None,
        metavar="FILE.csv|FILE.jsonl",
        help="write the predictions to this file (default: print them)",
    )
    p.add_argument("--json", action="store_true", help="print one JSON list")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from effnet.cli import UserError
    from effnet.deploy.predict import predict
    from effnet.deploy.prediction_file import check_path, write_predictions
    from effnet.train.distributed import pick_device
    from effnet.train.loaders import default_workers
    from effnet.weights.loading import load_for_eval

    images = inputs(args, "images", flag="--image")
    if args.out is not None:
        check_path(args.out)
    model, classes, res, crop = load_for_eval(
        args.weights,
        model=args.model,
        source=args.source,
        resolution=args.resolution,
        crop=args.eval_crop,
        pretrained=args.pretrained,
    )
    device = pick_device(args.device)
    results = predict(
        model,
        images,
        classes=classes,
        topk=args.topk,
        batch_size=args.batch_size,
        workers=default_workers(device) if args.workers is None else args.workers,
        device=device,
        amp=amp_mode(args.amp, args.device),
        resolution=res,
        crop=crop,
        progress=args.out is not None and not args.no_progress and sys.stderr.isatty(),
    )
    if args.out is not None:
        results = write_predictions(results, args.out, topk=args.topk)
    done = broken = 0
    printed = []
    first_error = ""
    for r in results:
        done += 1
        if "error" in r:
            broken += 1
            first_error = first_error or f"{r['image']}: {r['error']}"
        if args.out is not None:
            continue
        if args.json:
            printed.append(r)
        elif "error" in r:
            print(f"{r['image']}: {r['error']}")
        else:
            tops = ", ".join(f"{t['class']} {100 * t['probability']:.1f}%" for t in r["top"])
            print(f"{r['image']}: {tops}")
    if args.json:
        print(json.dumps(printed))
    if args.out is not None:
        unreadable = f" ({broken} unreadable, listed with their error)" if broken else ""
        print(f"wrote {done} predictions to {args.out}{unreadable}")
    elif 0 < broken < done:
        print(f"effnet predict: {broken} of {done} images unreadable", file=sys.stderr)
    if broken == done:
        raise UserError(f"none of the {done} image(s) could be read; {first_error}")
    return 0
