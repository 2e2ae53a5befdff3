"""The 2^φ law (§3.3): multiply-adds and parameters of a compound-scaled family against φ."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

import numpy as np

from effnet.analysis.plots.figure import DPI, pyplot, save_figure


class FamilyPoint(Protocol):
    """What the chart reads of one family member (as :class:`effnet.scaling.law.FamilyMember`
    holds it)."""

    phi: float
    resolution: int
    params: int
    macs: int


def plot_scaling(
    rows: Sequence[FamilyPoint],
    path: str | os.PathLike[str],
    *,
    base: str = "efficientnet_b0",
    alpha: float = 1.2,
    beta: float = 1.1,
    gamma: float = 1.15,
    official: Sequence[tuple[str, int, int, int]] = (),
) -> Path:
    """Multiply-adds (log2 axis) and parameters against φ for ``compound(base, φ)``
    (:func:`effnet.scaling.law.family`), with the ideal (α·β²·γ²)^φ growth and the paper's 2^φ
    rule of thumb (§3.3) drawn from the φ nearest 0. ``official``: (name, φ, MACs, params) of
    released variants to mark (:func:`effnet.scaling.law.official_variants`)."""
    if not rows:
        raise ValueError("plot_scaling needs at least one φ")
    plt = pyplot()
    rows = sorted(rows, key=lambda r: r.phi)
    phis = np.array([r.phi for r in rows], dtype=float)
    ref = min(rows, key=lambda r: abs(r.phi))
    step = alpha * beta**2 * gamma**2
    fig, (ax_m, ax_p) = plt.subplots(1, 2, figsize=(11.0, 4.5), dpi=DPI)
    grid = np.linspace(phis.min(), phis.max(), 50)
    ax_m.plot(phis, [r.macs / 1e9 for r in rows], "o-", label=f"compound({base}, φ), counted")
    ax_m.plot(
        grid, ref.macs / 1e9 * step ** (grid - ref.phi), "--", label=f"(α·β²·γ²)^φ = {step:.3f}^φ"
    )
    ax_m.plot(grid, ref.macs / 1e9 * 2.0 ** (grid - ref.phi), ":", color="gray", label="2^φ")
    ax_p.plot(phis, [r.params / 1e6 for r in rows], "o-", label=f"compound({base}, φ), counted")
    for r in rows:
        ax_m.annotate(
            f"{r.resolution}px",
            (r.phi, r.macs / 1e9),
            textcoords="offset points",
            xytext=(-10, 7),
            fontsize=7,
        )
    if official:
        phis_o = [o[1] for o in official]
        for ax, values in (
            (ax_m, [o[2] / 1e9 for o in official]),
            (ax_p, [o[3] / 1e6 for o in official]),
        ):
            ax.plot(phis_o, values, "s", mfc="none", color="C3", label="official variants")
        for name, phi, macs, _ in official:
            ax_m.annotate(
                name.split("_")[-1].upper(),
                (phi, macs / 1e9),
                textcoords="offset points",
                xytext=(6, -10),
                fontsize=7,
                color="C3",
            )
    ax_m.set_yscale("log", base=2)
    ax_m.set_ylabel("multiply-adds per image (billions, log2 scale)")
    ax_m.set_title(f"Multiply-adds vs φ (α={alpha}, β={beta}, γ={gamma})")
    ax_p.set_ylabel("parameters (millions)")
    ax_p.set_title("Parameters vs φ")
    for ax in (ax_m, ax_p):
        ax.set_xlabel("compound coefficient φ")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    return save_figure(fig, path)
