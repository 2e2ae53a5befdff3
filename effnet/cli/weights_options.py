"""The options that say which weights a verb uses: a file (``--weights PATH``, in the layout
``--source``) or a library's published ImageNet weights (``--pretrained torchvision|timm``),
with ``--model`` naming the architecture. Shared by ``predict``, ``eval`` and ``cam``."""

from __future__ import annotations

import argparse

from effnet.types import PublishedHub, Source, choices

PRETRAINED_HELP = (
    "the ImageNet weights torchvision or timm publish for --model, from that library's "
    "download cache (fetched once if missing), with their published preprocessing"
)


def add_weights_options(p: argparse.ArgumentParser, *, many: bool = False) -> None:
    """``--weights`` (repeatable with ``many``), ``--pretrained``, ``--model``, ``--source``.
    Without ``many`` exactly one of ``--weights`` / ``--pretrained`` is required."""
    if many:
        group: argparse._ActionsContainer = p
        weights_help = "weights file (repeat for models side by side; --source gives the layout)"
    else:
        group = p.add_mutually_exclusive_group(required=True)
        weights_help = "best.safetensors or another weights file (--source gives the layout)"
    group.add_argument(
        "--weights",
        action="append" if many else "store",
        default=None,
        metavar="PATH",
        help=weights_help,
    )
    group.add_argument(
        "--pretrained", choices=choices(PublishedHub), default=None, help=PRETRAINED_HELP
    )
    p.add_argument(
        "--model",
        default=None,
        help="model name (required with --pretrained and for non-effnet --source; checked "
        "against effnet weights)",
    )
    p.add_argument(
        "--source",
        choices=choices(Source),
        default="effnet",
        help="layout of --weights files (default effnet)",
    )


def weights_label(args: argparse.Namespace, weights: str | None = None) -> str:
    """How the weights are named in output: the file, or ``<library> <model>``."""
    if weights is not None:
        return weights
    return f"{args.pretrained} {args.model}"
