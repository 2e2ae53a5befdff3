"""A compound-scaled family and the 2^φ law (paper §3.3, eq. 3; step 2 of the method).

With depth α^φ, width β^φ and resolution γ^φ, multiply-adds grow as (α·β²·γ²)^φ before
rounding; the paper picks α·β²·γ² ≈ 2 so that they grow by about 2^φ. For B0's constants
(1.2, 1.1, 1.15) the product is 1.9203, so the unrounded law is 1.92^φ, which falls behind
2^φ by (1.92/2)^φ = 0.96^φ (0.75 at φ = 7), while ceil-rounding of repeats and the
multiples-of-8 rule push the measured figures up. :func:`family` measures each member;
:func:`effnet.analysis.plots.plot_scaling` draws them against (α·β²·γ²)^φ and 2^φ.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

from effnet.analysis.cost import model_cost
from effnet.models.compound import ALPHA, BETA, GAMMA, compound
from effnet.models.registry import get_spec
from effnet.models.spec import NetworkSpec


def spec_cost(spec: NetworkSpec, num_classes: int = 1000) -> tuple[int, int]:
    """``(params, multiply-adds)`` of ``spec`` at its resolution
    (:func:`effnet.analysis.cost.model_cost`, on the ``meta`` device)."""
    cost = model_cost(spec, num_classes=num_classes)
    return cost.params, cost.macs


@dataclass(frozen=True)
class FamilyMember:
    """One φ of a family with its measured size and cost.

    ``law_2`` is measured MACs / (2^φ · base MACs); ``law_c`` the same against
    (α·β²·γ²)^φ · base MACs.
    """

    phi: float
    depth: float
    width: float
    resolution: int
    params: int
    macs: int
    law_2: float
    law_c: float

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def family(
    base: str | NetworkSpec,
    phis: Sequence[float],
    *,
    alpha: float = ALPHA,
    beta: float = BETA,
    gamma: float = GAMMA,
) -> list[FamilyMember]:
    """Build ``compound(base, φ)`` for each φ and measure params and multiply-adds
    (:func:`spec_cost`)."""
    spec0 = get_spec(base)
    _, base_macs = spec_cost(spec0)
    c = alpha * beta**2 * gamma**2
    rows = []
    for phi in phis:
        spec = compound(spec0, phi, alpha=alpha, beta=beta, gamma=gamma)
        params, macs = spec_cost(spec)
        rows.append(
            FamilyMember(
                phi=float(phi),
                depth=spec.depth,
                width=spec.width,
                resolution=spec.resolution,
                params=params,
                macs=macs,
                law_2=macs / (base_macs * 2.0**phi),
                law_c=macs / (base_macs * c**phi),
            )
        )
    return rows


def format_table(rows: Sequence[FamilyMember]) -> str:
    """A Markdown table of a family (MACs in billions, params in millions)."""
    lines = [
        "| phi | depth | width | resolution | params (M) | MACs (B) | MACs / (2^phi base) "
        "| MACs / ((a b^2 g^2)^phi base) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r.phi:g} | {r.depth:.3f} | {r.width:.3f} | {r.resolution} "
            f"| {r.params / 1e6:.2f} | {r.macs / 1e9:.3f} | {r.law_2:.3f} | {r.law_c:.3f} |"
        )
    return "\n".join(lines)


def official_variants(base: str, phis: Sequence[float]) -> list[tuple[str, int, int, int]]:
    """``(name, φ, MACs, params)`` of the released B1..B7 within ``phis``' range, to compare
    with a family (empty unless ``base`` is ``efficientnet_b0``)."""
    if base != "efficientnet_b0" or not phis:
        return []
    out = []
    for i in range(1, 8):
        if min(phis) <= i <= max(phis):
            params, macs = spec_cost(get_spec(f"efficientnet_b{i}"))
            out.append((f"efficientnet_b{i}", i, macs, params))
    return out
