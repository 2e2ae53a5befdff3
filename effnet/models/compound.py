"""Compound scaling of a spec (paper §3.3, eq. 3): depth α^φ, width β^φ, resolution γ^φ.

Scaling multiplies a spec's multipliers and never edits channel counts: the rounding rules
(:mod:`effnet.models.rounding`) are applied once, when the layers are planned, so
``scale(scale(spec, a), b) == scale(spec, a * b)``.
"""

from __future__ import annotations

import math

from effnet.models.registry import get_spec
from effnet.models.rounding import round_resolution
from effnet.models.spec import NetworkSpec

#: The constants found by the paper's grid search for B0 (§3.3, step 1): α·β²·γ² ≈ 2.
ALPHA, BETA, GAMMA = 1.2, 1.1, 1.15


def scale(
    spec: str | NetworkSpec,
    *,
    depth: float = 1.0,
    width: float = 1.0,
    resolution: float = 1.0,
) -> NetworkSpec:
    """Return ``spec`` scaled by the given multipliers (paper eq. 3 with free d, w, r).

    ``spec`` is a spec or a registered name. Multipliers compose: the spec keeps the base
    table and the accumulated multipliers, and rounding happens once, when the layers are
    planned.
    """
    spec = get_spec(spec)
    if not all(math.isfinite(m) and 0 < m <= 1e3 for m in (depth, width, resolution)):
        raise ValueError(
            f"scaling multipliers must be positive and finite (at most 1000), got "
            f"depth={depth}, width={width}, resolution={resolution}"
        )
    return spec.replace(
        depth=spec.depth * depth,
        width=spec.width * width,
        resolution=round_resolution(spec.resolution * resolution),
    )


def compound(
    spec: str | NetworkSpec,
    phi: float,
    *,
    alpha: float = ALPHA,
    beta: float = BETA,
    gamma: float = GAMMA,
) -> NetworkSpec:
    """Compound scaling (paper eq. 3): depth α^φ, width β^φ, resolution γ^φ.

    ``spec`` is a spec or a registered name; ``phi`` may be fractional or negative
    (scaling down).
    """
    if not math.isfinite(phi) or not all(math.isfinite(c) and c > 0 for c in (alpha, beta, gamma)):
        raise ValueError(
            f"phi must be finite and alpha, beta, gamma positive, got phi={phi}, "
            f"alpha={alpha}, beta={beta}, gamma={gamma}"
        )
    try:
        depth, width, resolution = alpha**phi, beta**phi, gamma**phi
    except OverflowError:
        raise ValueError(f"phi={phi} must be smaller: it overflows the multipliers") from None
    return scale(spec, depth=depth, width=width, resolution=resolution)
