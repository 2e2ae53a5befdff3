"""``effnet search``: the α, β, γ grid search (paper §3.3 step 1) and single-dimension sweeps
(paper Figures 3 and 8) on an Optuna study that any number of workers share."""

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
  effnet search ...                            # the same command again resumes (or joins) it
  effnet search ... --seeds 3 --pruner median  # 95% intervals; stop hopeless candidates
  effnet search --sweep depth,width,resolution,compound --macs-ratios 2,4 \\
      --base efficientnet_b0 --base-phi -4 --resolution 64 --data demo --out runs/sweep
  optuna-dashboard sqlite:///runs/search/study.db

several machines: one study in a shared database; run the same command on each
  (a Slurm array, a loop over hosts); they share the candidates, none is trained twice:
  effnet search ... --storage postgresql://USER:PASSWORD@HOST/DB --out runs/search
"""


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "search",
        help="grid-search alpha, beta, gamma (or sweep one dimension) by training candidates",
        description="Step 1 of compound scaling (Tan & Le 2019, §3.3): enumerate alpha, beta, "
        "gamma >= 1 with |alpha*beta^2*gamma^2 - 2| <= tolerance, build each phi=1 candidate, "
        "check its multiply-adds, train it briefly, and rank by minival top-1. All workers "
        "running this command share one Optuna study (OUT/study.db, or --storage), and the "
        "same command resumes it. OUT/results.jsonl, OUT/best.json (the winner, and the "
        "candidates it does not beat beyond seed noise) and OUT/search.png are rewritten "
        "from the study after every trial.",
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
        "--seeds",
        type=positive_int,
        default=1,
        help="train each candidate N times (seeds SEED..SEED+N-1): mean and 95%% interval",
    )
    p.add_argument(
        "--jobs",
        type=positive_int,
        default=1,
        help="worker processes on this machine (more can join from anywhere: same command)",
    )
    p.add_argument(
        "--storage",
        default=None,
        metavar="URL",
        help="the study's database: postgresql://... for several machines, or "
        "journal:PATH (a journal file on a shared file system; default: sqlite OUT/study.db)",
    )
    p.add_argument("--study", default="effnet-search", help="study name in the storage")
    p.add_argument(
        "--sampler",
        choices=("grid", "tpe"),
        default="grid",
        help="grid: every candidate of the grid; tpe: --trials candidates chosen by TPE on "
        "the same constrained space",
    )
    p.add_argument(
        "--trials", type=positive_int, default=None, help="tpe: how many candidates to train"
    )
    p.add_argument(
        "--pruner",
        choices=("none", "median", "hyperband"),
        default="none",
        help="stop candidates whose per-epoch minival top-1 is hopeless (Optuna's pruners)",
    )
    p.add_argument(
        "--heartbeat",
        type=positive_float,
        default=60.0,
        metavar="SECONDS",
        help="running trials beat this often; a trial silent 3x as long is taken over by "
        "another worker",
    )
    deprecated(p, "--workers", "--jobs", "jobs", type=positive_int)
    p.add_argument("--resume", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--shard", default=None, help=argparse.SUPPRESS)
    p.add_argument("--merge", nargs="+", default=None, help=argparse.SUPPRESS)
    p.add_argument(
        "--max-candidates",
        type=positive_int,
        default=None,
        help="evaluate at most N candidates, spread evenly over the grid",
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
        "--macs-ratios",
        type=_floats,
        default=None,
        metavar="R1,R2",
        help="sweep points instead: for each kind, the multiplier whose network costs "
        "R times the base's multiply-adds (paper Figure 8 compares at equal FLOPS)",
    )
    p.add_argument(
        "--dry-run",
        action="store_true",
        help="no training: a synthetic score, to check the grid and outputs",
    )
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from effnet.cli import UserError
    from effnet.scaling import search

    if args.shard or args.merge:
        raise UserError(
            "--shard and --merge were removed in 0.5.0: a search is one Optuna study; run the "
            "same command on every machine with --storage URL (see effnet search --help)"
        )
    if args.resume:
        print("effnet: --resume is no longer needed: the same command resumes the search")
    if args.data is None:
        raise UserError("--data is required ('demo' or a dataset folder)")
    if not args.dry_run and args.data != "demo" and not Path(args.data).expanduser().is_dir():
        raise UserError(f"--data {args.data!r} is not 'demo' or a dataset folder")
    if args.sampler == "tpe" and (args.sweep or not args.trials):
        raise UserError("--sampler tpe searches alpha, beta, gamma and needs --trials N")
    base = search.base_spec(args.base, args.base_phi, args.resolution)  # fails early on a name
    if args.sweep:
        kinds = [k.strip() for k in args.sweep.split(",") if k.strip()]
        if args.macs_ratios:
            print(f"finding the multipliers for {args.macs_ratios} x the base's multiply-adds")
            cands = search.matched_candidates(base, kinds, args.macs_ratios)
        else:
            cands = search.sweep_candidates(kinds, args.multipliers)
    else:
        cands = search.grid(args.grid_step, args.tolerance)
        if not cands:
            raise UserError(
                f"no alpha, beta, gamma on a {args.grid_step:g} grid within {args.tolerance:g} "
                "of alpha*beta^2*gamma^2 = 2; use a finer --grid-step or larger --tolerance"
            )
    cands = search.select(cands, args.max_candidates)
    settings = search.SearchSettings(
        base=args.base,
        base_phi=args.base_phi,
        resolution=base.resolution,
        data=args.data,
        epochs=args.epochs,
        seed=args.seed,
        macs_tolerance=args.macs_tolerance,
        seeds=args.seeds,
        sampler=args.sampler,
        trials=args.trials,
        grid_step=args.grid_step,
    )
    try:
        ranked = search.run(
            cands,
            settings,
            args.out,
            workers=args.jobs,
            storage=args.storage,
            study_name=args.study,
            pruner=args.pruner,
            heartbeat=args.heartbeat,
            evaluator=search.synthetic_evaluator if args.dry_run else None,
        )
    except ValueError as exc:
        raise UserError(str(exc)) from None
    _report(ranked, args.out)
    from effnet.scaling.study import describe, storage_url

    url = storage_url(args.storage, args.out)
    if not url.startswith("journal:"):
        print(f"the study: optuna-dashboard {describe(url)}")
    return 0


def _report(ranked: list, out: str) -> None:
    from pathlib import Path

    from effnet.scaling.results import noise_note
    from effnet.scaling.stats import not_beaten

    if not ranked:
        print("no finished candidates yet")
        return
    for r in ranked[:5]:
        ci = f" +-{r['top1_ci']:.2f}" if r.get("top1_ci") is not None else ""
        print(
            f"  top1 {r['top1']:6.2f}{ci}  {r['kind']:10s} d={r['alpha']:.3f} w={r['beta']:.3f} "
            f"r={r['gamma']:.3f} {r['resolution']}px  {r['macs'] / 1e6:8.1f}M MACs "
            f"{r['params'] / 1e6:6.2f}M params"
        )
    out = Path(out)
    for name in ("search.png", "sweep.png"):
        if (out / name).exists():
            print(f"plot: {out / name}")
    b = ranked[0]
    print(
        f"best: alpha={b['alpha']:g} beta={b['beta']:g} gamma={b['gamma']:g} "
        f"(top1 {b['top1']:.2f}) -> {out / 'best.json'}"
    )
    print(noise_note(ranked, not_beaten(ranked)))
