"""``effnet search``: the α, β, γ grid search (paper §3.3 step 1) and single-dimension sweeps
(paper Figures 3 and 8), with streaming results, resume, worker processes and shards."""

from __future__ import annotations

import argparse

from effnet.cli.config_file import add_config_option
from effnet.cli.options import RawDescriptionHelpFormatter, deprecated
from effnet.cli.validate import (
    nonnegative_float,
    phi,
    positive_float,
    positive_int,
    resolution,
)


def _shard(text: str) -> tuple[int, int]:
    try:
        i, n = (int(p) for p in text.split("/"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"--shard takes i/n (e.g. 0/4), got {text!r}") from None
    if not (n >= 1 and 0 <= i < n):
        raise argparse.ArgumentTypeError(f"--shard i/n needs 0 <= i < n, got {text!r}")
    return i, n


def _floats(text: str) -> list[float]:
    try:
        return [float(p) for p in text.split(",") if p.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected comma-separated numbers, got {text!r}"
        ) from None


EPILOG = """\
examples:
  effnet search --base efficientnet_b0 --base-phi -4 --resolution 64 --data demo \\
      --out runs/search --grid-step 0.1 --epochs 2 --max-candidates 6 --jobs 2
  effnet search ... --resume                   # continue a killed search
  effnet search --sweep depth,width,resolution,compound --base efficientnet_b0 \\
      --base-phi -4 --resolution 64 --data demo --out runs/sweep --epochs 2

several machines (a job array; each task runs every n-th candidate, no coordination):
  #SBATCH --array=0-7
  effnet search ... --shard $SLURM_ARRAY_TASK_ID/8 --out runs/search/shard-$SLURM_ARRAY_TASK_ID
  # afterwards, on any machine:
  effnet search --merge runs/search/shard-* --out runs/search
"""


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "search",
        help="grid-search alpha, beta, gamma (or sweep one dimension) by training candidates",
        description="Step 1 of compound scaling (Tan & Le 2019, §3.3): enumerate alpha, beta, "
        "gamma >= 1 with |alpha*beta^2*gamma^2 - 2| <= tolerance, build each phi=1 candidate, "
        "check its multiply-adds, train it briefly, and rank by minival top-1. Results stream "
        "to OUT/results.jsonl; OUT/best.json holds the winner; OUT/search.png plots them.",
        epilog=EPILOG,
        formatter_class=RawDescriptionHelpFormatter,
    )
    add_config_option(p)
    p.add_argument("--base", default="efficientnet_b0", help="base model")
    p.add_argument(
        "--base-phi",
        type=phi,
        default=0.0,
        help="scale the base by compound phi first (e.g. -4 for a CPU-sized B0)",
    )
    p.add_argument(
        "--resolution",
        type=resolution,
        default=None,
        help="base input resolution (default: the model's; 64 suits --data demo)",
    )
    p.add_argument("--data", default=None, help="'demo' or a dataset folder")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--grid-step", type=positive_float, default=0.05, help="grid spacing")
    p.add_argument(
        "--tolerance",
        type=nonnegative_float,
        default=0.1,
        help="keep |alpha*beta^2*gamma^2 - 2| <= this",
    )
    p.add_argument(
        "--macs-tolerance",
        type=nonnegative_float,
        default=0.25,
        help="reject candidates whose measured MACs are off 2x base by more than "
        "this fraction (rounding of small models moves them)",
    )
    p.add_argument("--epochs", type=positive_int, default=3, help="training epochs per candidate")
    p.add_argument("--seed", type=int, default=0, help="seed of every candidate's training")
    p.add_argument(
        "--jobs",
        type=positive_int,
        default=1,
        help="candidates trained in parallel, one process each",
    )
    deprecated(p, "--workers", "--jobs", "jobs", type=positive_int)
    p.add_argument("--resume", action="store_true", help="continue the search in --out")
    p.add_argument(
        "--max-candidates",
        type=positive_int,
        default=None,
        help="evaluate at most N candidates, spread evenly over the grid",
    )
    p.add_argument(
        "--shard",
        type=_shard,
        default=(0, 1),
        metavar="I/N",
        help="run only every N-th candidate starting at I (job arrays)",
    )
    p.add_argument(
        "--sweep",
        default=None,
        metavar="KINDS",
        help="sweep instead of search: comma list of depth,width,resolution,compound",
    )
    p.add_argument(
        "--multipliers",
        type=_floats,
        default=None,
        help="sweep points (phi values for compound); default per kind",
    )
    p.add_argument(
        "--dry-run",
        action="store_true",
        help="no training: a synthetic score, to check the grid and outputs",
    )
    p.add_argument(
        "--merge",
        nargs="+",
        default=None,
        metavar="DIR",
        help="merge the results of shard folders into --out and stop",
    )
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from effnet.analysis.plots import plot_search, plot_sweep
    from effnet.cli import UserError
    from effnet.scaling import search

    if args.merge:
        ranked = search.merge(args.merge, args.out)
        print(f"merged {len(args.merge)} folders into {args.out}: {len(ranked)} finished")
        _report(ranked, args.out, plot_search, plot_sweep)
        return 0
    if args.data is None:
        raise UserError("--data is required ('demo' or a dataset folder)")
    if args.epochs < 1 or args.jobs < 1:
        raise UserError("--epochs and --workers must be >= 1")
    if not args.dry_run and args.data != "demo" and not Path(args.data).expanduser().is_dir():
        raise UserError(f"--data {args.data!r} is not 'demo' or a dataset folder")
    base = search.base_spec(args.base, args.base_phi, args.resolution)  # fails early on a name
    if args.sweep:
        kinds = [k.strip() for k in args.sweep.split(",") if k.strip()]
        cands = search.sweep_candidates(kinds, args.multipliers)
    else:
        cands = search.grid(args.grid_step, args.tolerance)
        if not cands:
            raise UserError(
                f"no alpha, beta, gamma on a {args.grid_step:g} grid within {args.tolerance:g} "
                "of alpha*beta^2*gamma^2 = 2; use a finer --grid-step or larger --tolerance"
            )
    cands = search.select(cands, args.max_candidates, args.shard)
    settings = search.SearchSettings(
        base=args.base,
        base_phi=args.base_phi,
        resolution=base.resolution,
        data=args.data,
        epochs=args.epochs,
        seed=args.seed,
        macs_tolerance=args.macs_tolerance,
    )
    evaluator = search.synthetic_evaluator if args.dry_run else None
    ranked = search.run(
        cands, settings, args.out, workers=args.jobs, resume=args.resume, evaluator=evaluator
    )
    _report(ranked, args.out, plot_search, plot_sweep)
    return 0


def _report(ranked: list, out: str, plot_search, plot_sweep) -> None:  # noqa: ANN001
    from pathlib import Path

    if not ranked:
        print("no finished candidates yet")
        return
    for r in ranked[:5]:
        print(
            f"  top1 {r['top1']:6.2f}  {r['kind']:10s} d={r['alpha']:.3f} w={r['beta']:.3f} "
            f"r={r['gamma']:.3f} {r['resolution']}px  {r['macs'] / 1e6:8.1f}M MACs "
            f"{r['params'] / 1e6:6.2f}M params"
        )
    if any(r["kind"] == "grid" for r in ranked):
        print(f"plot: {plot_search(ranked, Path(out) / 'search.png')}")
        b = next(r for r in ranked if r["kind"] == "grid")
        print(
            f"best: alpha={b['alpha']:g} beta={b['beta']:g} gamma={b['gamma']:g} "
            f"(top1 {b['top1']:.2f}) -> {Path(out) / 'best.json'}"
        )
    if any(r["kind"] != "grid" for r in ranked):
        print(f"plot: {plot_sweep(ranked, Path(out) / 'sweep.png')}")
