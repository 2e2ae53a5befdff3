"""``effnet data DIR``: the classes, image counts and skipped files of a dataset folder,
indexed exactly as ``effnet train --data DIR`` indexes it (same code, same cache)."""

from __future__ import annotations

import argparse
import json

from effnet.cli.options import add_inputs, inputs


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "data",
        help="index a dataset folder: classes, images per split, skipped files",
        description="Index DIR as 'effnet train --data DIR' does: read every image's header "
        "(no decoding; results cached per file, so a second run reads only what changed) and "
        "print the classes, the images per split and per class, and the files that would be "
        "skipped, with the reason. --verify decodes every image, in parallel processes.",
    )
    add_inputs(
        p,
        "dir",
        flag="--data",
        metavar="DIR",
        help="'demo', a dataset folder, or CIFAR files (also as --data)",
        many=False,
    )
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--verify", action="store_true", help="decode every image (slower)")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from effnet.data.describe import describe_data

    info = describe_data(inputs(args, "dir", flag="--data"), verify=args.verify)
    if args.json:
        print(json.dumps(info, indent=2))
        return 0
    splits = info["splits"]
    val = f", {splits['val']} val images" if splits["val"] is not None else ", no val split"
    print(f"{info['data']}: {len(info['classes'])} classes; {splits['train']} train images{val}")
    width = max(len(c) for c in info["classes"])
    for name in info["classes"]:
        counts = [f"{split} {info['per_class'][split][name]}" for split in info["per_class"]]
        print(f"  {name.ljust(width)}  {', '.join(counts)}")
    skipped = info["skipped"]
    print(f"skipped {len(skipped)} file(s)" + (":" if skipped else ""))
    for item in skipped:
        print(f"  {item['path']}: {item['reason']}")
    return 0
