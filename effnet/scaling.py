"""Compound scaling (paper §3.3): rounding rules, scaling a spec, and the official variant table.

The rounding rules are those of the official TensorFlow code (``round_filters`` and
``round_repeats`` in ``efficientnet_model.py``); the variant table is the released one, which
rounds α^φ, β^φ, γ^φ by hand (facts §2).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from effnet.spec import NetworkSpec

#: The constants found by the paper's grid search for B0 (§4): α·β²·γ² ≈ 2.
ALPHA, BETA, GAMMA = 1.2, 1.1, 1.15


@dataclass(frozen=True)
class Variant:
    """One row of the official table: width and depth multipliers, resolution, dropout."""

    width: float
    depth: float
    resolution: int
    dropout: float


#: The official EfficientNet variants (facts §2).
VARIANTS: dict[str, Variant] = {
    "b0": Variant(1.0, 1.0, 224, 0.2),
    "b1": Variant(1.0, 1.1, 240, 0.2),
    "b2": Variant(1.1, 1.2, 260, 0.3),
    "b3": Variant(1.2, 1.4, 300, 0.3),
    "b4": Variant(1.4, 1.8, 380, 0.4),
    "b5": Variant(1.6, 2.2, 456, 0.4),
    "b6": Variant(1.8, 2.6, 528, 0.5),
    "b7": Variant(2.0, 3.1, 600, 0.5),
    "b8": Variant(2.2, 3.6, 672, 0.5),
    "l2": Variant(4.3, 5.3, 800, 0.5),
}


def round_filters(channels: float, width: float = 1.0, divisor: int = 8) -> int:
    """Scale a channel count by ``width`` and round to a multiple of ``divisor``.

    The official rule: round to the nearest multiple (at least ``divisor``), and if that loses
    more than 10% of the scaled width, add one more ``divisor``.
    """
    scaled = channels * width
    rounded = max(divisor, int(scaled + divisor / 2) // divisor * divisor)
    if rounded < 0.9 * scaled:
        rounded += divisor
    return int(rounded)


def round_repeats(repeats: int, depth: float = 1.0) -> int:
    """Scale a stage's block count by ``depth``, rounding up (official rule: ``ceil``)."""
    return max(1, int(math.ceil(depth * repeats)))


def round_resolution(resolution: float) -> int:
    """Round a scaled input resolution to an integer number of pixels (at least 8)."""
    return max(8, int(round(resolution)))


def _as_spec(base: str | NetworkSpec) -> NetworkSpec:
    from effnet.registry import get_spec  # the registry imports this module

    return get_spec(base)


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
    spec = _as_spec(spec)
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
