"""The ``effnet profile`` table as bar charts."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from effnet.analysis.plots.figure import DPI, pyplot, save_figure

if TYPE_CHECKING:
    pass


def plot_profile(rows: Sequence[Mapping[str, Any]], path: str | os.PathLike[str]) -> Path:
    """The ``effnet profile`` table as bars per model: parameters (M), multiply-adds (B) and,
    when measured, batch-1 latency (ms)."""
    if not rows:
        raise ValueError("plot_profile needs at least one row")
    plt = pyplot()
    metrics = [
        ("params", 1e6, "parameters (millions)"),
        ("macs", 1e9, "multiply-adds per image (billions)"),
        ("latency_ms", 1.0, "batch-1 latency (ms)"),
    ]
    metrics = [m for m in metrics if any(isinstance(r.get(m[0]), int | float) for r in rows)]
    labels = [
        f"{r['model']}\n{r['resolution']}px" if "resolution" in r else str(r["model"]) for r in rows
    ]
    panel = max(3.5, 1.5 + 0.6 * len(rows))
    fig, axes = plt.subplots(
        1, len(metrics), figsize=(panel * len(metrics), 4.2), dpi=DPI, squeeze=False
    )
    for k, (ax, (key, scale, ylabel)) in enumerate(zip(axes[0], metrics)):
        vals = [float(r[key]) / scale if isinstance(r.get(key), int | float) else 0.0 for r in rows]
        bars = ax.bar(range(len(rows)), vals, color=f"C{k}", label=ylabel.split(" (")[0])
        ax.bar_label(bars, fmt="%.3g", fontsize=7)
        ax.set_ylim(0, 1.25 * max(max(vals), 1e-12))  # room for the labels and the legend
        ax.set_xticks(range(len(rows)), labels, rotation=30, ha="right", fontsize=7)
        ax.set_ylabel(ylabel)
        ax.set_xlabel("model, input resolution")
        ax.grid(axis="y", alpha=0.3)
        ax.legend(fontsize=8, loc="upper left")
    names = [ylabel.split(" (")[0] for _, _, ylabel in metrics]
    fig.suptitle(f"effnet profile: {', '.join(names)} per model")
    fig.tight_layout()
    return save_figure(fig, path)
