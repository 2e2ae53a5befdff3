"""``effnet summary``: a per-layer table of a model, like Keras' ``model.summary()``."""

from __future__ import annotations

import argparse

from effnet.cli.validate import phi, positive_float, positive_int, resolution


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "summary",
        help="per-layer table: stage, block, output shape, parameters, multiply-adds",
        description="A per-layer table of a registered model, optionally scaled: the stem, "
        "every block, the head and the classifier with their output shape, parameters and "
        "multiply-adds (counted by torch.utils.flop_counter; totals equal 'effnet profile').",
    )
    p.add_argument("name", help="registered model name, e.g. efficientnet_b0")
    p.add_argument("--resolution", type=resolution, help="input resolution (default: the model's)")
    p.add_argument(
        "--phi",
        type=phi,
        help="compound-scale the model by phi first (alpha=1.2, beta=1.1, gamma=1.15)",
    )
    p.add_argument("--width", type=positive_float, default=1.0, help="extra width multiplier")
    p.add_argument("--depth", type=positive_float, default=1.0, help="extra depth multiplier")
    p.add_argument("--num-classes", type=positive_int, default=1000, help="classifier outputs")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    import json

    from effnet.analysis.summary import summarize
    from effnet.models.compound import compound, scale

    if args.resolution is not None and args.resolution < 8:
        raise ValueError(f"--resolution must be at least 8, got {args.resolution}")
    if args.num_classes < 1:
        raise ValueError(f"--num-classes must be at least 1, got {args.num_classes}")
    spec = scale(args.name, width=args.width, depth=args.depth)
    if args.phi is not None:
        spec = compound(spec, args.phi)
    table = summarize(spec, args.resolution, num_classes=args.num_classes)
    if args.json:
        print(json.dumps(table.to_dict(), indent=2))
        return 0
    if args.phi is not None or args.width != 1.0 or args.depth != 1.0:
        print(f"{args.name} scaled: width x{spec.width:.4g}, depth x{spec.depth:.4g}")
    print(table.to_text())
    return 0
