"""The rounding rules of the official code, applied once when a spec's layers are planned.

``round_filters`` and ``round_repeats`` follow the functions of the same names in the official
TensorFlow code (``efficientnet_model.py``); scaled resolutions are rounded to whole pixels.
"""

from __future__ import annotations

import math


def round_filters(
    channels: float, width: float = 1.0, divisor: int = 8, round_limit: float = 0.9
) -> int:
    """Scale a channel count by ``width`` and round to a multiple of ``divisor``.

    The official rule: round to the nearest multiple (at least ``divisor``), and if that loses
    more than ``1 - round_limit`` of the scaled width (10%), add one more ``divisor``.
    EfficientNetV2's ``round_filters`` (``effnetv2_model.py``) has no such guard:
    ``round_limit=0``.
    """
    scaled = channels * width
    rounded = max(divisor, int(scaled + divisor / 2) // divisor * divisor)
    if rounded < round_limit * scaled:
        rounded += divisor
    return int(rounded)


def round_repeats(repeats: int, depth: float = 1.0) -> int:
    """Scale a stage's block count by ``depth``, rounding up (official rule: ``ceil``)."""
    return max(1, int(math.ceil(depth * repeats)))


def round_resolution(resolution: float) -> int:
    """Round a scaled input resolution to an integer number of pixels (at least 8)."""
    return max(8, int(round(resolution)))
