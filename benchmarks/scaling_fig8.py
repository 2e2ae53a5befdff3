"""The paper's Figure 8 (and Table 3) on the demo data: compound scaling against scaling depth,
width or resolution alone, at equal multiply-adds, with seed noise measured.

From the demo model's base (B0 at φ = -4, 64 px), each method scales to about 2× and 4× the
base's multiply-adds (``effnet.scaling.matched_candidates``: the multiplier whose rounded
network costs that much); the base and the eight scaled networks are each trained ``--seeds``
times for ``--epochs`` epochs with the small recipe, on one Optuna study
(``effnet.scaling.search.run``), so an interrupted run resumes where it stopped when the same
command runs again. Prints a markdown table (MACs, params, mean minival and val top-1 with a
95% interval per method and size), writes ``--plot`` and appends the table, dated and with the
machine, to ``--results``.

    python benchmarks/scaling_fig8.py                    # about an hour on a 2-core CPU
    python benchmarks/scaling_fig8.py --epochs 1 --seeds 2 --out /tmp/fig8-quick  # a check
"""

from __future__ import annotations

import argparse
import datetime
import statistics
import sys
import time
from pathlib import Path

from machine import describe

from effnet.analysis.plots import plot_sweep
from effnet.scaling import search
from effnet.scaling.stats import mean_interval

METHODS = ("compound", "depth", "width", "resolution")


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--epochs", type=int, default=8, help="training epochs per network")
    p.add_argument("--seeds", type=int, default=3, help="trainings per network")
    p.add_argument("--ratios", default="2,4", help="multiply-add ratios to the base")
    p.add_argument("--jobs", type=int, default=2, help="worker processes")
    p.add_argument("--out", default="runs/fig8", help="the study and the runs")
    p.add_argument("--plot", default="docs/images/scaling_fig8.png")
    p.add_argument("--results", default="benchmarks/RESULTS.md")
    args = p.parse_args()

    ratios = [float(r) for r in args.ratios.split(",")]
    base = search.base_spec("efficientnet_b0", -4.0, 64)
    reference = search.Candidate("compound", 1.0, 1.0, 1.0, 0.0)  # the base itself
    cands = [reference, *search.matched_candidates(base, METHODS, ratios)]
    settings = search.SearchSettings(
        base="efficientnet_b0",
        base_phi=-4.0,
        resolution=64,
        data="demo",
        epochs=args.epochs,
        seed=0,
        macs_tolerance=None,
        seeds=args.seeds,
    )
    start = time.perf_counter()
    ranked = search.run(cands, settings, args.out, workers=args.jobs)
    minutes = (time.perf_counter() - start) / 60
    by_key = {r["key"]: r for r in ranked}
    missing = [c.key for c in cands if c.key not in by_key]
    if missing:
        print(f"not finished: {missing}; run the same command again to go on", file=sys.stderr)
        return 1

    rows = []
    for c in cands:
        r = by_key[c.key]
        method = "base" if c is reference else c.kind
        vals = [v for v in _val_runs(args.out, c.key)]
        val_mean, val_ci = mean_interval(vals) if vals else (float("nan"), None)
        rows.append({**r, "method": method, "val_mean": val_mean, "val_ci": val_ci})
    table = _table(rows, args, minutes)
    print(table)
    plot_rows = []
    for method in METHODS:
        for r in rows:
            if r["method"] in ("base", method):
                label = "base" if r["method"] == "base" else f"{r['macs_ratio']:.1f}x"
                plot_rows.append({**r, "kind": method, "label": label})
    print(f"plot: {plot_sweep(plot_rows, args.plot)}")
    with open(args.results, "a") as f:
        f.write(f"\n## {datetime.date.today()}: scaling_fig8.py\n\n{table}\n")
    return 0


def _val_runs(out: str, key: str) -> list[float]:
    """Each seed's val top-1 of the minival-best weights (from the candidate's summary)."""
    import json

    folder = Path(out) / "candidates" / key.replace(":", "_")
    values = []
    for summary in sorted(folder.glob("seed-*/summary.json")):
        v = json.loads(summary.read_text()).get("val_top1")
        if v is not None:
            values.append(float(v))
    return values


def _table(rows: list[dict], args: argparse.Namespace, minutes: float) -> str:
    def ci(mean: float, half: float | None) -> str:
        return f"{mean:.2f}" + (f" ± {half:.2f}" if half is not None else "")

    lines = [
        f"Machine: {describe()}. `python benchmarks/scaling_fig8.py --epochs {args.epochs} "
        f"--seeds {args.seeds}`: demo data (10 classes, 64 px base), small recipe, "
        f"{args.epochs} epochs, seeds 0..{args.seeds - 1}; ± is the 95% t interval of the mean; "
        f"this run's wall time {minutes:.0f} min (resumed runs count only their last part).",
        "",
        "| method | MACs × base | multiplier | MACs | params | minival top-1 | val top-1 |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        mult = "—" if r["method"] == "base" else f"{r['value']:g}"
        if r["method"] == "compound" and mult != "—":
            mult = f"φ={mult}"
        lines.append(
            f"| {r['method']} | {r['macs_ratio']:.2f} | {mult} | {r['macs'] / 1e6:.1f} M | "
            f"{r['params'] / 1e6:.2f} M | {ci(r['top1'], r.get('top1_ci'))} | "
            f"{ci(r['val_mean'], r['val_ci'])} |"
        )
    spread = statistics.pstdev([r["top1"] for r in rows])
    lines.append("")
    lines.append(f"Spread of the nine means (population sd): {spread:.2f} points.")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
