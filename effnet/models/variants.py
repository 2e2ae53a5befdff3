"""The released EfficientNet variants B0..B7 (and B8, L2), Lite0..Lite4 and V2: the official
coefficient tables.

The table is ``efficientnet_params`` in the official code (``efficientnet_builder.py``): it
rounds α^φ, β^φ, γ^φ by hand rather than computing them (paper §3.3, eq. 3), so B1..B7 are
read from it, not derived from φ.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Variant:
    """One row of the official table: width and depth multipliers, resolution, dropout."""

    width: float
    depth: float
    resolution: int
    dropout: float
    train_resolution: int | None = None  # V2 trains smaller than it evaluates


#: ``efficientnet_params`` of the official code: (width, depth, resolution, dropout).
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

#: ``efficientnet_lite_params`` of the official Lite code (``efficientnet_lite_builder.py``):
#: (width, depth, resolution, dropout). Lite3 and Lite4 take smaller images than B3 and B4.
LITE_VARIANTS: dict[str, Variant] = {
    "lite0": Variant(1.0, 1.0, 224, 0.2),
    "lite1": Variant(1.0, 1.1, 240, 0.2),
    "lite2": Variant(1.1, 1.2, 260, 0.3),
    "lite3": Variant(1.2, 1.4, 280, 0.3),
    "lite4": Variant(1.4, 1.8, 300, 0.3),
}

#: EfficientNetV2's variants (``effnetv2_configs.py`` of the official V2 code): (width, depth,
#: eval size, dropout, train size). S/M/L/XL are their own stage tables at width and depth 1;
#: B0..B3 scale the base table.
V2_VARIANTS: dict[str, Variant] = {
    "b0": Variant(1.0, 1.0, 224, 0.2, 192),
    "b1": Variant(1.0, 1.1, 240, 0.2, 192),
    "b2": Variant(1.1, 1.2, 260, 0.3, 208),
    "b3": Variant(1.2, 1.4, 300, 0.3, 240),
    "s": Variant(1.0, 1.0, 384, 0.2, 300),
    "m": Variant(1.0, 1.0, 480, 0.3, 384),
    "l": Variant(1.0, 1.0, 480, 0.4, 384),
    "xl": Variant(1.0, 1.0, 512, 0.4, 384),
}
