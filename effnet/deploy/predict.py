"""Classify image files with a loaded model: the top classes and their probabilities."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import nn

from effnet.data.image import load_image
from effnet.data.preprocess import create_transform


@torch.no_grad()
def predict_images(
    model: nn.Module,
    paths: list[str],
    classes: list[str],
    *,
    topk: int = 5,
    resolution: int | None = None,
    crop: float | None = None,
) -> list[dict[str, Any]]:
    """Top-``topk`` ``{"class", "index", "probability"}`` for each image file, through the
    model's eval transform (:func:`effnet.create_transform`: its data config) at ``resolution``
    with crop fraction ``crop`` when given."""
    if resolution is None and getattr(model, "pretrained_cfg", None) is None:
        resolution = model.spec.resolution  # type: ignore[union-attr]
    transform = create_transform(model, resolution=resolution, crop=crop)
    model.eval()
    results = []
    for p in paths:
        if not Path(p).is_file():
            raise FileNotFoundError(f"image not found: {p}")
        try:
            x = transform(load_image(p))[None]
        except (OSError, ValueError) as exc:
            raise ValueError(f"cannot read image {p}: {exc}") from None
        probs = model(x).float().softmax(1)[0]
        values, indices = probs.topk(min(topk, probs.numel()))
        results.append(
            {
                "image": str(p),
                "top": [
                    {"class": classes[i], "index": int(i), "probability": float(v)}
                    for v, i in zip(values.tolist(), indices.tolist())
                ],
            }
        )
    return results
