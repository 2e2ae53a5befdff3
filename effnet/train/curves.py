"""The training-curves PNG: loss and accuracy per epoch, and the learning rate."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from effnet.train.checkpoint import atomic_write


def plot_curves(history: Sequence[dict[str, Any]], path: str | os.PathLike[str]) -> Path:
    """Write ``path`` (PNG) from the per-epoch records of ``metrics.jsonl``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    epochs = [r["epoch"] for r in history]
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.6))
    axes[0].plot(epochs, [r["train_loss"] for r in history], marker=".", label="train")
    if any(r.get("minival_loss") is not None for r in history):
        axes[0].plot(epochs, [r.get("minival_loss") for r in history], marker=".", label="minival")
    axes[0].set_title("loss")
    axes[1].plot(epochs, [r.get("train_top1") for r in history], marker=".", label="train")
    axes[1].plot(
        epochs, [r.get("minival_top1") for r in history], marker=".", label="minival (EMA)"
    )
    axes[1].set_title("top-1 accuracy (%)")
    axes[2].plot(epochs, [r["lr"] for r in history], marker=".")
    axes[2].set_title("learning rate (end of epoch)")
    for ax in axes:
        ax.set_xlabel("epoch")
        ax.grid(alpha=0.3)
    axes[0].legend()
    axes[1].legend()
    fig.tight_layout()

    def write(tmp: Path) -> None:
        fig.savefig(tmp, format="png", dpi=100)

    try:
        return atomic_write(path, write)
    finally:
        plt.close(fig)
