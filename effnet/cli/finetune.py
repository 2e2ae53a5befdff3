"""``effnet finetune``: transfer pretrained weights to a new dataset (paper §5.2, Table 5).

Loads weights from any source :func:`effnet.load_pretrained` accepts, replaces the classifier
for the new class count, and trains with the backbone at a tenth of the head's LR (or frozen,
``--freeze-backbone``). Uses the ``small`` preset at the model's own resolution by default.
"""

from __future__ import annotations

import argparse

from effnet.cli.train import add_train_args, config_from_args
from effnet.types import Source, choices


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "finetune",
        help="fine-tune pretrained weights on a new dataset",
        description="Fine-tune: new head for the data's classes, backbone at 0.1x LR "
        "(--backbone-lr-scale) or frozen (--freeze-backbone).",
    )
    p.add_argument(
        "--from",
        dest="init_from",
        required=True,
        metavar="PATH",
        help="pretrained weights (.safetensors from effnet, or a torchvision/timm "
        "state dict with --source and --model)",
    )
    p.add_argument(
        "--source",
        choices=choices(Source),
        default="effnet",
        help="layout of the weights (default effnet)",
    )
    p.add_argument("--freeze-backbone", action="store_true", help="train the new head only")
    p.add_argument(
        "--backbone-lr-scale",
        type=float,
        default=None,
        help="backbone LR relative to the head (default 0.1)",
    )
    add_train_args(p, finetune=True)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from effnet.cli import UserError
    from effnet.train.loop import train

    config = config_from_args(args, finetune=True)
    if args.backbone_lr_scale is not None:
        if args.backbone_lr_scale < 0:
            raise ValueError(f"--backbone-lr-scale must be >= 0, got {args.backbone_lr_scale}")
        config.recipe = config.recipe.replace(backbone_lr_scale=args.backbone_lr_scale)
    try:
        result = train(config)
    except OSError as exc:  # e.g. a full disk while saving: the previous files are intact
        if isinstance(exc, FileNotFoundError):
            raise
        raise UserError(str(exc)) from None
    return 130 if result.interrupted else 0
