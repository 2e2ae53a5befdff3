"""``effnet average``: the mean of a run's last epochs' weights (``--keep-last``), as timm's
``avg_checkpoints.py``, into one loadable weights file."""

from __future__ import annotations

import argparse


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "average",
        help="average the weights of a run's last epochs (trained with --keep-last)",
        description="Average the epoch-N.safetensors files a run kept (effnet train "
        "--keep-last K) into one effnet weights file that eval, predict and export load.",
    )
    p.add_argument("folder", metavar="RUN", help="a training run's folder")
    p.add_argument("--last", type=int, default=None, metavar="K", help="the last K (default: all)")
    p.add_argument("--out", default=None, help="output file (default: RUN/averaged.safetensors)")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from effnet.cli import UserError
    from effnet.weights.average import average_weights, epoch_files

    files = epoch_files(args.folder)
    if not files:
        raise UserError(f"{args.folder}: no epoch-N.safetensors (train with --keep-last K)")
    if args.last is not None and args.last < 1:
        raise UserError(f"--last must be >= 1, got {args.last}")
    chosen = files[-args.last :] if args.last else files
    out = average_weights(chosen, args.out or Path(args.folder) / "averaged.safetensors")
    print(f"wrote {out}: the mean of {', '.join(p.name for p in chosen)}")
    return 0
