"""The "minival" hold-out: a seeded, stratified split of the training set.

The paper (§5.2) holds out 25,000 ImageNet training images as minival, picks the
checkpoint on it (early stopping) and reports that checkpoint on the validation set.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

PAPER_MINIVAL_IMAGES = 25_000  # held out of ImageNet's 1.28M training images


def minival_count(n: int, size: int | float) -> int:
    """Number of images to hold out of ``n``: ``size`` is a fraction if < 1, else a count."""
    if size < 0:
        raise ValueError(f"minival_size must be >= 0, got {size}")
    if size < 1:
        return int(round(n * size))
    if size != int(size):
        raise ValueError(f"minival_size >= 1 is a count and must be whole, got {size}")
    return int(size)


def stratified_split(
    labels: Sequence[int], size: int | float, seed: int = 0
) -> tuple[list[int], list[int]]:
    """Split indices of ``labels`` into ``(train, minival)``, each class in proportion.

    ``size`` is a fraction (< 1) or a count (>= 1). Per-class shares are allotted by largest
    remainder, then drawn by a permutation seeded with ``seed``: the same inputs always give the
    same split. Both lists are sorted.

    Raises:
        ValueError: the split would leave some class with no training image.
    """
    y = np.asarray(labels, dtype=np.int64)
    n = len(y)
    k = minival_count(n, size)
    if k == 0:
        return list(range(n)), []
    if k >= n:
        raise ValueError(f"minival_size={size} would hold out {k} of {n} training images")
    classes, counts = np.unique(y, return_counts=True)
    quota = counts * (k / n)
    take = np.floor(quota).astype(np.int64)
    # largest remainder, ties to the larger class then the smaller label: deterministic
    order = np.lexsort((classes, -counts, -(quota - take)))
    take[order[: k - int(take.sum())]] += 1
    short = [int(c) for c, t, m in zip(classes, take, counts) if t >= m]
    if short:
        raise ValueError(
            f"minival_size={size} would leave class(es) {short[:10]} with no training image; "
            "use a smaller minival_size"
        )
    rng = np.random.default_rng(seed)
    minival: list[int] = []
    for c, t in zip(classes, take):
        members = np.flatnonzero(y == c)
        minival.extend(rng.permutation(members)[:t].tolist())
    held = set(minival)
    return [i for i in range(n) if i not in held], sorted(minival)
