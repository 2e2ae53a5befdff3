"""``effnet list``: the model names ``create_model`` and every verb accept, as timm's
``list_models``; with ``--pretrained``, the ``name.tag`` of every published weights file."""

from __future__ import annotations

import argparse
import json


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "list",
        help="model names (and published weights with --pretrained)",
        description="List registered model names matching PATTERN (shell wildcards, e.g. "
        "'*lite*'); with --pretrained, the NAME.TAG of each published weights file (timm's "
        "tags; .tv_in1k for torchvision's), each model's default first.",
    )
    p.add_argument("pattern", nargs="*", metavar="PATTERN", help="wildcards (default: all)")
    p.add_argument("--pretrained", action="store_true", help="published weights (NAME.TAG) instead")
    p.add_argument("--json", action="store_true", help="print one JSON list")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from effnet.weights.tags import list_models, published_weights

    names = list_models(args.pattern, pretrained=args.pretrained)
    if args.json:
        print(json.dumps(names))
        return 0
    if not names:
        print(f"no model matches {' '.join(args.pattern)}")
        return 1
    if not args.pretrained:
        print("\n".join(names))
        return 0
    published = {w.name: w for w in published_weights()}
    defaults = {w.model: w.name for w in reversed(published_weights())}
    width = max(len(n) for n in names)
    for name in names:
        w = published[name]
        default = "  (default)" if defaults[w.model] == name else ""
        print(f"{name:<{width}}  {w.hub}{default}")
    return 0
