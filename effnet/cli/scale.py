"""``effnet scale``: print a compound-scaled family (paper §3.3 step 2) or fit a budget
(paper eq. 2: the largest φ whose model meets every limit)."""

from __future__ import annotations

import argparse
import json
import re

from effnet.cli.options import RawDescriptionHelpFormatter
from effnet.cli.validate import finite_float, phis, positive_int

_SUFFIX = {"": 1.0, "k": 1e3, "m": 1e6, "g": 1e9, "b": 1e9, "t": 1e12}


def parse_number(text: str) -> float:
    """A positive number with an optional k/M/G(=B)/T suffix: ``400M``, ``2e9``, ``1.5G``."""
    m = re.fullmatch(r"\s*([0-9]*\.?[0-9]+(?:[eE][+-]?[0-9]+)?)\s*([kKmMgGbBtT]?)\s*", text)
    if not m:
        raise argparse.ArgumentTypeError(f"not a number: {text!r} (examples: 400M, 2e9, 1.5G, 20m)")
    value = float(m.group(1)) * _SUFFIX[m.group(2).lower()]
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be > 0, got {text!r}")
    return value


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "scale",
        help="print a compound-scaled family, or the largest model within a budget",
        description="Compound scaling (Tan & Le 2019, §3.3): depth alpha^phi, width beta^phi, "
        "resolution gamma^phi. With --phis, print the family (params and multiply-adds measured "
        "on each built model) and optionally plot multiply-adds against 2^phi. With any --max-* "
        "limit, find the largest continuous phi whose model meets every limit.",
        epilog="examples:\n"
        "  effnet scale --base efficientnet_b0 --phis 0:7 --plot law.png\n"
        "  effnet scale --base mobilenet_v2 --alpha 1.2 --beta 1.1 --gamma 1.15 --phis -2,0,2\n"
        "  effnet scale --base efficientnet_b0 --max-macs 1G --max-params 10M --json\n"
        "  effnet scale --base resnet50 --max-latency-ms 50 --max-memory-mb 200",
        formatter_class=RawDescriptionHelpFormatter,
    )
    p.add_argument("--base", default="efficientnet_b0", help="base model (see effnet list)")
    p.add_argument(
        "--alpha", type=finite_float, default=1.2, help="depth coefficient (default 1.2)"
    )
    p.add_argument("--beta", type=finite_float, default=1.1, help="width coefficient (default 1.1)")
    p.add_argument("--gamma", type=finite_float, default=1.15, help="resolution coefficient (1.15)")
    p.add_argument("--phis", type=phis, default=None, help="family: 0,1,2 or 0:7")
    p.add_argument("--plot", default=None, metavar="FILE.png", help="family: plot MACs vs phi")
    g = p.add_argument_group("budget (largest phi meeting every limit)")
    g.add_argument("--max-macs", type=parse_number, help="multiply-adds, e.g. 400M, 1.5G")
    g.add_argument("--max-params", type=parse_number, help="parameters, e.g. 10M")
    g.add_argument("--max-latency-ms", type=parse_number, help="batch-1 latency here (ms)")
    g.add_argument("--max-memory-mb", type=parse_number, help="params + peak activations (MiB)")
    g.add_argument("--threads", type=positive_int, default=None, help="threads for latency")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from effnet.cli import UserError

    limits = {
        "max_macs": args.max_macs,
        "max_params": args.max_params,
        "max_latency_ms": args.max_latency_ms,
        "max_memory_mb": args.max_memory_mb,
    }
    budget = any(v is not None for v in limits.values())
    if budget and args.phis is not None:
        raise UserError("give either --phis (a family) or --max-* limits (a budget), not both")
    if min(args.alpha, args.beta, args.gamma) < 1:
        raise UserError("--alpha, --beta and --gamma must be >= 1 (paper §3.3)")
    coeffs = {"alpha": args.alpha, "beta": args.beta, "gamma": args.gamma}
    if budget:
        from effnet.scaling.budget import solve_budget

        if args.plot:
            raise UserError("--plot goes with --phis")
        result = solve_budget(args.base, **limits, **coeffs, threads=args.threads)
        m = result.measurement.to_dict()
        if args.json:
            print(json.dumps(m, sort_keys=True))
        else:
            c = args.alpha * args.beta**2 * args.gamma**2
            print(
                f"{args.base} compound-scaled to fit the budget ({result.evaluations} models "
                f"measured; alpha*beta^2*gamma^2 = {c:.3f}):"
            )
            print(f"  phi        {m['phi']:.4f}")
            print(f"  depth      {m['depth']:.4f}")
            print(f"  width      {m['width']:.4f}")
            print(f"  resolution {m['resolution']}")
            print(f"  params     {m['params']:,}")
            print(f"  MACs       {m['macs']:,}")
            if "latency_ms" in m:
                print(f"  latency    {m['latency_ms']:.2f} ms (batch 1, this machine)")
            if "memory_mb" in m:
                print(f"  memory     {m['memory_mb']:.1f} MiB (params + peak activations)")
        return 0

    from effnet.analysis.plots import plot_scaling
    from effnet.scaling.law import family, format_table, official_variants

    rows = family(args.base, args.phis if args.phis is not None else [0, 1, 2, 3], **coeffs)
    if args.json:
        print(json.dumps([r.to_dict() for r in rows]))
    else:
        print(f"{args.base}: alpha={args.alpha:g} beta={args.beta:g} gamma={args.gamma:g}")
        print(format_table(rows))
    if args.plot:
        phis = [r.phi for r in rows]
        official = official_variants(args.base, phis)
        path = plot_scaling(rows, args.plot, base=args.base, official=official, **coeffs)
        if not args.json:
            print(f"plot: {path}")
    return 0
