"""``effnet finetune``: transfer pretrained weights to a new dataset (paper §5.2, Table 5).

Loads weights from any source :func:`effnet.load_pretrained` accepts (``--weights FILE
--source S``) or published ImageNet weights (``--pretrained [LIB[.TAG]] --model NAME``, from
the library's download cache), replaces the classifier
for the new class count, and trains with the backbone at a tenth of the head's LR (or frozen,
``--freeze-backbone``). Uses the ``finetune`` preset at the weights' own resolution and eval
crop by default (stored with effnet weights; published with torchvision's and timm's).
"""

from __future__ import annotations

import argparse
from typing import Any

from effnet.cli.train import (
    add_train_args,
    config_from_args,
    init_weights,
    launch_processes,
    train_and_record,
)


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "finetune",
        help="fine-tune pretrained weights on a new dataset",
        description="Fine-tune: new head for the data's classes, backbone at 0.1x LR "
        "(--backbone-lr-scale) or frozen (--freeze-backbone).",
    )
    p.add_argument("--freeze-backbone", action="store_true", help="train the new head only")
    p.add_argument(
        "--backbone-lr-scale",
        type=float,
        default=None,
        help="backbone LR relative to the head (default: the recipe's, 0.1)",
    )
    add_train_args(p, finetune=True)
    p.set_defaults(run=run)


def _published_geometry(config: Any, args: argparse.Namespace) -> Any:
    """The recipe at the resolution and eval crop other libraries' weights were published
    with, unless given (effnet files: train reads what they store)."""
    from effnet.models.registry import get_spec
    from effnet.weights.published import source_config

    if args.resume or args.source == "effnet" or args.model is None:
        return config
    cfg = source_config(get_spec(args.model), args.source, num_classes=0)
    res = args.resolution or cfg.resolution
    crop = args.eval_crop or cfg.fixed_crop()  # None: the paper's res / (res + 32)
    config.recipe = config.recipe.replace(resolution=res, eval_crop=crop)
    return config


def run(args: argparse.Namespace) -> int:
    from effnet.cli import UserError

    given = argparse.Namespace(**vars(args))  # before --pretrained is resolved to a file
    if args.weights is None and not args.pretrained and not args.resume:
        raise UserError("give --weights FILE or --pretrained [LIB[.TAG]] (with --model NAME)")
    init_weights(args)
    status = launch_processes(args, finetune=True)
    if status is not None:
        return status
    config = _published_geometry(config_from_args(args, finetune=True), args)
    if args.backbone_lr_scale is not None:
        if args.backbone_lr_scale < 0:
            raise ValueError(f"--backbone-lr-scale must be >= 0, got {args.backbone_lr_scale}")
        config.recipe = config.recipe.replace(backbone_lr_scale=args.backbone_lr_scale)
    return train_and_record(args, config, given)
