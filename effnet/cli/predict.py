"""``effnet predict``: the most likely classes of images, with probabilities."""

from __future__ import annotations

import argparse
import json

from effnet.cli import validate
from effnet.cli.weights_options import add_weights_options


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "predict",
        help="classify images with trained or published weights",
        description="Top-k classes and probabilities for each IMAGE. Class names come from the "
        "weights' metadata or a classes.json beside them; 1000-class weights from torchvision "
        "or timm give ImageNet's. Images go through the model's data config (the resolution "
        "and crop stored with effnet weights, or the preprocessing published with others).",
    )
    p.add_argument("images", nargs="+", metavar="IMAGE")
    add_weights_options(p)
    p.add_argument("--topk", type=int, default=5)
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
    p.add_argument("--json", action="store_true", help="print one JSON list")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from effnet.deploy.predict import predict_images
    from effnet.weights.loading import load_for_eval

    if args.topk < 1:
        raise ValueError(f"--topk must be >= 1, got {args.topk}")
    model, classes, res, crop = load_for_eval(
        args.weights,
        model=args.model,
        source=args.source,
        resolution=args.resolution,
        crop=args.eval_crop,
        pretrained=args.pretrained,
    )
    results = predict_images(model, args.images, classes, topk=args.topk, resolution=res, crop=crop)
    if args.json:
        print(json.dumps(results))
        return 0
    for r in results:
        tops = ", ".join(f"{t['class']} {100 * t['probability']:.1f}%" for t in r["top"])
        print(f"{r['image']}: {tops}")
    return 0
