"""``effnet eval``: top-1 / top-5 accuracy of weights on a folder of labelled images."""

from __future__ import annotations

import argparse
import json

from effnet.cli import validate
from effnet.cli.options import add_runtime_options, add_weights_options, amp_mode, weights_label


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "eval",
        help="top-1/top-5 accuracy of weights on labelled images",
        description="Evaluate weights on DIR: a folder of class folders, a dataset root whose "
        "val/ is used, a CIFAR folder (test set) or 'demo'. Eval transform: the model's data "
        "config: centre crop res/(res+32) (paper §5.2) or the crop fraction stored with the "
        "weights, bicubic resize; for torchvision's and timm's weights their published "
        "preprocessing.",
    )
    add_weights_options(p)
    p.add_argument("--data", required=True, help="DIR with class folders, DIR/val, or 'demo'")
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
    p.add_argument("--per-class", action="store_true", help="also accuracy per class")
    p.add_argument("--strict", action="store_true", help="unreadable images are an error")
    p.add_argument("--json", action="store_true", help='print {"top1": .., "top5": .., "n": ..}')
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:

    from effnet.data.eval_set import eval_dataset
    from effnet.data.preprocess import create_transform
    from effnet.train.distributed import DistInfo, pick_device
    from effnet.train.evaluate import amp_dtype, evaluate
    from effnet.train.loaders import default_workers, eval_loader
    from effnet.weights.loading import load_for_eval

    model, classes, res, crop = load_for_eval(
        args.weights,
        model=args.model,
        source=args.source,
        resolution=args.resolution,
        crop=args.eval_crop,
        pretrained=args.pretrained,
    )
    transform = create_transform(model, resolution=res, crop=crop)
    dataset, skipped = eval_dataset(
        args.data, res, classes, crop=crop, strict=args.strict, transform=transform
    )
    device = pick_device(args.device)
    info = DistInfo(device=device)
    model.to(device)
    amp = amp_dtype(amp_mode(args.amp, args.device), device)
    workers = default_workers(device) if args.workers is None else args.workers
    loader = eval_loader(dataset, batch_size=args.batch_size, info=info, workers=workers)
    result = evaluate(
        model,
        loader,
        device=device,
        info=info,
        amp_dtype=amp,
        per_class=args.per_class,
        num_classes=len(classes),
    )
    out = {"top1": result["top1"], "top5": result["top5"], "n": result["n"]}
    undecodable = len(dataset) - result["n"]  # left out while loading (truncated files)
    if skipped or undecodable:
        out["skipped_images"] = len(skipped) + undecodable
    if args.per_class:
        out["per_class"] = {c: a for c, a in zip(classes, result["per_class"]) if a is not None}
    if args.json:
        print(json.dumps(out))
        return 0
    print(
        f"top1 {out['top1']:.2f}%  top5 {out['top5']:.2f}%  on {out['n']} images "
        f"({weights_label(args, args.weights)}, {res}px)"
    )
    if args.per_class:
        width = max(len(c) for c in out["per_class"])
        for c, a in out["per_class"].items():
            print(f"  {c:<{width}}  {a:6.2f}%")
    return 0
