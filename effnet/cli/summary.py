"""``effnet summary``: a per-layer table of a model, like Keras' ``model.summary()``."""

from __future__ import annotations

import argparse

from effnet.cli.options import add_inputs, inputs
from effnet.cli.validate import phi, positive_float, positive_int, resolution
from effnet.types import Source, choices


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "summary",
        help="per-layer table: stage, block, output shape, parameters, multiply-adds",
        description="A per-layer table of a registered model, optionally scaled: the stem, "
        "every block, the head and the classifier with their output shape, parameters and "
        "multiply-adds (counted by torch.utils.flop_counter; totals equal 'effnet profile').",
    )
    add_inputs(
        p,
        "name",
        flag="--model",
        metavar="NAME",
        help="registered model name, e.g. efficientnet_b0 (also as --model; optional with "
        "--weights)",
        many=False,
    )
    p.add_argument(
        "--weights",
        metavar="FILE",
        help="take the architecture and class count from this weights file",
    )
    p.add_argument(
        "--source", choices=choices(Source), default="effnet", help="layout of --weights"
    )
    p.add_argument("--resolution", type=resolution, help="input resolution (default: the model's)")
    p.add_argument(
        "--phi",
        type=phi,
        help="compound-scale the model by phi first (alpha=1.2, beta=1.1, gamma=1.15)",
    )
    p.add_argument("--width", type=positive_float, default=1.0, help="extra width multiplier")
    p.add_argument("--depth", type=positive_float, default=1.0, help="extra depth multiplier")
    p.add_argument(
        "--num-classes",
        type=positive_int,
        default=None,
        help="classifier outputs (default: 1000, or the class count of --weights)",
    )
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    import json

    from effnet.analysis.summary import summarize
    from effnet.models.compound import compound, scale

    if args.resolution is not None and args.resolution < 8:
        raise ValueError(f"--resolution must be at least 8, got {args.resolution}")
    name: object = args.name or args.name_flag
    num_classes = args.num_classes
    if args.weights is not None:
        from effnet.weights.loading import load_model

        net, _ = load_model(args.weights, model=name, source=args.source)  # type: ignore[arg-type]
        if num_classes not in (None, net.num_classes):
            raise ValueError(f"{args.weights} has {net.num_classes} classes, not {num_classes}")
        name, num_classes = net.spec, net.num_classes
    else:
        name = inputs(args, "name", flag="--model")
    spec = scale(name, width=args.width, depth=args.depth)  # type: ignore[arg-type]
    if args.phi is not None:
        spec = compound(spec, args.phi)
    table = summarize(spec, args.resolution, num_classes=num_classes or 1000)
    if args.json:
        print(json.dumps(table.to_dict(), indent=2))
        return 0
    if args.phi is not None or args.width != 1.0 or args.depth != 1.0:
        label = name if isinstance(name, str) else name.name  # type: ignore[attr-defined]
        print(f"{label} scaled: width x{spec.width:.4g}, depth x{spec.depth:.4g}")
    print(table.to_text())
    return 0
