"""The rounding rules of the official code, applied once when a spec's layers are planned.

``round_filters`` and ``round_repeats`` follow the functions of the same names in the official
TensorFlow code (``efficientnet_model.py``); scaled resolutions are rounded to whole pixels.
"""

from __future__ import annotations

import math


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
