"""What ``effnet data DIR`` prints: a folder indexed exactly as ``effnet train --data DIR``
indexes it (the same code and the same cache), without building transforms or splits."""

from __future__ import annotations

import os
from typing import Any

from effnet.data.build import find_pools
from effnet.data.image import DEFAULT_MAX_PIXELS


def describe_data(
    data: str | os.PathLike, *, verify: bool = False, max_pixels: int | None = DEFAULT_MAX_PIXELS
) -> dict[str, Any]:
    """``{"data", "classes", "splits": {"train": n, "val": n or None}, "per_class":
    {split: {class: n}}, "skipped": [{"path", "reason"}]}`` for ``data`` (headers only, or
    every file decoded with ``verify``)."""
    train, val, problems = find_pools(data, lambda img: img, verify, max_pixels)
    classes = list(train.classes)

    def per_class(pool: Any) -> dict[str, int]:
        counts = dict.fromkeys(classes, 0)
        for label in pool.targets:
            counts[classes[label]] += 1
        return counts

    return {
        "data": str(data),
        "classes": classes,
        "splits": {"train": len(train), "val": len(val) if val is not None else None},
        "per_class": {"train": per_class(train), **({"val": per_class(val)} if val else {})},
        "skipped": [{"path": p, "reason": r} for p, r in problems.items()],
    }
