"""``effnet profile``: parameters, multiply-adds and batch-1 latency per model (paper Table 2)."""

from __future__ import annotations

import argparse
import json

from effnet.cli.validate import positive_int, resolution


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "profile",
        help="parameters, multiply-adds and latency of models",
        description="A table of model, resolution, parameters, multiply-adds and batch-1 "
        "latency on this machine (B0..B7 by default).",
    )
    p.add_argument(
        "--models",
        default=",".join(f"efficientnet_b{i}" for i in range(8)),
        help="comma-separated model names (default: efficientnet_b0..b7)",
    )
    p.add_argument(
        "--resolution", type=resolution, default=None, help="override every model's resolution"
    )
    p.add_argument(
        "--threads",
        type=positive_int,
        default=1,
        help="threads for the latency measurement (default 1: the paper's Table 4 protocol)",
    )
    p.add_argument("--no-latency", action="store_true", help="skip the latency measurement")
    p.add_argument("--json", action="store_true", help="print a JSON list instead of a table")
    p.add_argument("--plot", metavar="FILE.png", help="also draw the table as a bar chart (PNG)")
    p.set_defaults(run=run)


def profile_rows(
    names: list[str], resolution: int | None, threads: int | None, latency: bool
) -> list[dict[str, object]]:
    from tqdm import tqdm

    from effnet import create_model, get_spec, measure_latency
    from effnet.analysis.cost import model_cost

    specs = [get_spec(n) for n in names]  # fail on a bad name before any work
    rows = []
    for spec in tqdm(specs, desc="profiling", unit="model", leave=False):
        res = resolution or spec.resolution
        cost = model_cost(spec, res)  # counted on the meta device: shapes only
        rows.append(
            {
                "model": spec.name,
                "resolution": res,
                "params": cost.params,
                "macs": cost.macs,
                "latency_ms": measure_latency(
                    create_model(spec).eval(), res, threads=threads, min_run_time=0.5
                )
                if latency
                else None,
            }
        )
    return rows


def format_table(rows: list[dict[str, object]]) -> str:
    lines = [f"{'model':<18}{'res':>5}{'params (M)':>12}{'MACs (G)':>10}{'latency (ms)':>14}"]
    for r in rows:
        lat = f"{r['latency_ms']:.1f}" if r["latency_ms"] is not None else "-"
        lines.append(
            f"{r['model']:<18}{r['resolution']:>5}{r['params'] / 1e6:>12.3f}"
            f"{r['macs'] / 1e9:>10.3f}{lat:>14}"
        )
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    names = [n.strip() for n in args.models.split(",") if n.strip()]
    if not names:
        raise ValueError("--models is empty")
    if args.resolution is not None and args.resolution < 8:
        raise ValueError(f"--resolution must be at least 8, got {args.resolution}")
    rows = profile_rows(names, args.resolution, args.threads, not args.no_latency)
    print(json.dumps(rows, indent=2) if args.json else format_table(rows))
    if args.plot:
        import sys

        from effnet.analysis.plots import plot_profile

        print(f"wrote {plot_profile(rows, args.plot)}", file=sys.stderr)
    return 0
