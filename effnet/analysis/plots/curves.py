"""Training curves from ``metrics.jsonl``."""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from effnet.analysis.plots.figure import DPI, pyplot, save_figure

if TYPE_CHECKING:
    pass


def read_metrics(path: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """The records of ``metrics.jsonl`` (a run folder or the file); blank lines are skipped."""
    p = Path(path)
    file = p / "metrics.jsonl" if p.is_dir() else p
    if not file.is_file():
        raise FileNotFoundError(f"no metrics.jsonl in {p}" if p.is_dir() else f"not found: {p}")
    records = []
    for n, line in enumerate(file.read_text().splitlines(), start=1):
        if line.strip():
            try:
                records.append(json.loads(line))
            except ValueError:
                raise ValueError(f"{file}:{n} is not valid JSON") from None
    if not records:
        raise ValueError(f"{file} has no records")
    return records


def _series(records: Sequence[Mapping[str, Any]], key: str) -> list[float]:
    return [float(r[key]) if isinstance(r.get(key), int | float) else math.nan for r in records]


def plot_curves(
    records: Sequence[Mapping[str, Any]], path: str | os.PathLike[str], *, title: str = ""
) -> Path:
    """Training curves: every ``*loss*`` key, every ``*top1*`` / ``*top5*`` key (%), and
    ``lr``, against ``epoch`` (else ``step``, else the record index)."""
    if not records:
        raise ValueError("plot_curves needs at least one record")
    plt = pyplot()
    from matplotlib.ticker import MaxNLocator

    xkey = next((k for k in ("epoch", "step") if k in records[0]), None)
    xs = _series(records, xkey) if xkey else list(range(1, len(records) + 1))
    keys = sorted({k for r in records for k, v in r.items() if isinstance(v, int | float)})
    panels = [
        ("loss", "cross-entropy loss", [k for k in keys if "loss" in k]),
        ("accuracy", "accuracy (%)", [k for k in keys if "top1" in k or "top5" in k]),
        ("learning rate", "learning rate", [k for k in keys if k == "lr"]),
    ]
    panels = [p for p in panels if p[2]]
    if not panels:
        raise ValueError("no loss, accuracy or lr values in the records")
    fig, axes = plt.subplots(
        1, len(panels), figsize=(4.4 * len(panels), 3.8), dpi=DPI, squeeze=False
    )
    for ax, (name, ylabel, ks) in zip(axes[0], panels):
        for k in ks:
            ax.plot(xs, _series(records, k), marker=".", label=k)
        ax.set_title(name)
        ax.set_xlabel(xkey or "record")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # epochs and steps are whole
        ax.set_ylabel(ylabel)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return save_figure(fig, path)
