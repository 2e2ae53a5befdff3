"""Plots of a search (accuracy against α, β, γ) and of sweeps (accuracy against multiply-adds,
the paper's Figures 3 and 8)."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from effnet.analysis.plots.figure import pyplot, save_figure


def plot_search(rows: Sequence[dict[str, Any]], path: str | os.PathLike[str]) -> Path:
    """Three panels: top-1 against α (depth), β (width) and γ (resolution) for every finished
    grid candidate, coloured by α·β²·γ²; the best one circled."""
    ok = [r for r in rows if r.get("status") == "ok" and r.get("kind") == "grid"]
    if not ok:
        raise ValueError("no finished grid candidates to plot")
    plt = pyplot()
    best = max(ok, key=lambda r: r["top1"])
    fig, axes = plt.subplots(1, 3, figsize=(12, 3.8), dpi=110, sharey=True)
    sc = None
    for ax, (field, label) in zip(
        axes,
        [("alpha", "alpha (depth)"), ("beta", "beta (width)"), ("gamma", "gamma (resolution)")],
    ):
        sc = ax.scatter(
            [r[field] for r in ok],
            [r["top1"] for r in ok],
            c=[r["product"] for r in ok],
            cmap="viridis",
            s=28,
        )
        ax.scatter([best[field]], [best["top1"]], s=140, facecolors="none", edgecolors="red")
        ax.set_xlabel(label)
        ax.grid(True, alpha=0.3)
    axes[0].set_ylabel("top-1 (%)")
    fig.colorbar(sc, ax=list(axes), label="alpha * beta^2 * gamma^2")
    fig.suptitle(
        f"phi=1 candidates ({len(ok)}); best a={best['alpha']:g} b={best['beta']:g} "
        f"g={best['gamma']:g}: {best['top1']:.2f}%"
    )
    return save_figure(fig, path, dpi=fig.dpi)


def plot_sweep(rows: Sequence[dict[str, Any]], path: str | os.PathLike[str]) -> Path:
    """Top-1 against multiply-adds, one line per sweep kind (paper Figures 3 and 8), with
    error bars where rows carry a 95% interval (``top1_ci``) and ``label`` annotating a point
    where given (default: its multiplier, or φ)."""
    ok = [r for r in rows if r.get("status") == "ok" and r.get("kind") != "grid"]
    if not ok:
        raise ValueError("no finished sweep points to plot")
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6.4, 4.4), dpi=110)
    for kind in sorted({r["kind"] for r in ok}):
        pts = sorted((r for r in ok if r["kind"] == kind), key=lambda r: r["macs"])
        x = [r["macs"] / 1e6 for r in pts]
        y = [r["top1"] for r in pts]
        ci = [r.get("top1_ci") or 0.0 for r in pts]
        if any(ci):  # several seeds: the 95% interval of each mean
            ax.errorbar(x, y, yerr=ci, fmt="o-", capsize=3, label=kind, alpha=0.85)
        else:
            ax.plot(x, y, "o-", label=kind)
        for r in pts:
            default = f"{'phi=' if kind == 'compound' else ''}{r['value']:g}"
            ax.annotate(
                r.get("label", default),
                (r["macs"] / 1e6, r["top1"]),
                textcoords="offset points",
                xytext=(3, 3),
                fontsize=7,
            )
    ax.set_xscale("log")
    ax.xaxis.set_major_formatter(plt.matplotlib.ticker.ScalarFormatter())
    ax.xaxis.set_minor_formatter(plt.matplotlib.ticker.ScalarFormatter())
    ax.set_xlabel("multiply-adds (millions, log scale)")
    ax.set_ylabel("top-1 (%)")
    ax.set_title("accuracy vs multiply-adds by scaling dimension")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    fig.tight_layout()
    return save_figure(fig, path, dpi=fig.dpi)
