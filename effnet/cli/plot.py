"""``effnet plot``: the paper's charts for your runs (Fig. 1 / 5 accuracy, the 2^φ law, curves)."""

from __future__ import annotations

import argparse

from effnet.cli import validate


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "plot",
        help="charts: accuracy vs MACs/params, MACs vs phi, training curves",
        description="Draw a PNG chart. accuracy: top-1 against multiply-adds (Fig. 5) or "
        "parameters (Fig. 1) for run folders / summary.json / 'effnet eval --json' files. "
        "scaling: multiply-adds and parameters of compound(BASE, phi) against phi (the 2^phi "
        "law). curves: loss, accuracy and learning rate from a run's metrics.jsonl.",
    )
    kinds = p.add_subparsers(dest="chart", metavar="CHART")
    kinds.required = True

    acc = kinds.add_parser("accuracy", help="top-1 vs multiply-adds or parameters (Fig. 1/5)")
    acc.add_argument(
        "runs",
        nargs="+",
        metavar="RUN_DIR_OR_JSON",
        help="run folders (with summary.json) or JSON files",
    )
    acc.add_argument(
        "--x",
        choices=("macs", "params"),
        default="macs",
        help="x axis: multiply-adds (default, Fig. 5) or parameters (Fig. 1)",
    )
    acc.add_argument("--out", required=True, metavar="FILE.png")

    curves = kinds.add_parser("curves", help="training curves from metrics.jsonl")
    curves.add_argument("run_dir", metavar="RUN_DIR_OR_JSONL")
    curves.add_argument("--out", required=True, metavar="FILE.png")

    law = kinds.add_parser("scaling", help="multiply-adds and parameters against phi")
    law.add_argument("--base", default="efficientnet_b0", help="registered base model")
    law.add_argument(
        "--phis",
        type=validate.phis,
        default="0:7",
        help="a range 0:7 or -2:2:0.5, or a comma list; write --phis=-2:2 when it starts with '-'",
    )
    law.add_argument("--alpha", type=float, default=1.2)
    law.add_argument("--beta", type=float, default=1.1)
    law.add_argument("--gamma", type=float, default=1.15)
    law.add_argument(
        "--no-official",
        action="store_true",
        help="do not mark the official B1..B7 (only drawn for efficientnet_b0)",
    )
    law.add_argument("--out", required=True, metavar="FILE.png")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from effnet.analysis import plots

    if args.chart == "accuracy":
        points = [plots.load_accuracy_point(r) for r in args.runs]
        out = plots.plot_accuracy(points, args.out, x=args.x)
        for pt in points:
            print(
                f"{pt.label}: {pt.model}, top-1 {pt.top1:.2f}%, "
                f"{pt.macs / 1e6:.1f} M MACs, {pt.params / 1e6:.3f} M params"
            )
    elif args.chart == "curves":
        records = plots.read_metrics(args.run_dir)
        run = Path(args.run_dir)
        name = run.name if run.is_dir() else run.parent.name or run.stem
        out = plots.plot_curves(records, args.out, title=f"training curves: {name}")
    else:
        from effnet.scaling.law import family, official_variants

        phis = args.phis
        rows = family(args.base, phis, alpha=args.alpha, beta=args.beta, gamma=args.gamma)
        official = [] if args.no_official else official_variants(args.base, phis)
        out = plots.plot_scaling(
            rows,
            args.out,
            base=args.base,
            alpha=args.alpha,
            beta=args.beta,
            gamma=args.gamma,
            official=official,
        )
        for r in rows:
            print(
                f"phi {r.phi:g}: {r.resolution}px, {r.macs / 1e9:.3f} B MACs, "
                f"{r.params / 1e6:.2f} M params"
            )
    print(f"wrote {out}")
    return 0
