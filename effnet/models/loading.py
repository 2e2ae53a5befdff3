"""Weights for use: one loader for ``eval``, ``predict``, ``cam`` and ``finetune``.

:func:`load_for_eval` returns the model (eval mode), its class names and the eval geometry,
so every verb given the same weights classifies the same pixels: the resolution and the eval
crop a training run stored with its weights (``train_resolution`` / ``eval_crop`` metadata),
unless the caller gives others.
"""

from __future__ import annotations

import os
from pathlib import Path

from effnet.models.class_names import read_class_names
from effnet.models.convert import load_pretrained
from effnet.models.create import create_model
from effnet.models.network import Network
from effnet.models.weights import load_weights, read_metadata
from effnet.types import Source


def stored_eval_settings(weights: str | os.PathLike[str]) -> tuple[int | None, float | None]:
    """``(resolution, eval crop fraction)`` a training run stored with its weights
    (``train_resolution`` / ``eval_crop`` metadata); ``None`` for what is not recorded."""
    try:
        meta = read_metadata(weights)
    except (ValueError, FileNotFoundError):
        return None, None
    res, crop = meta.get("train_resolution"), meta.get("eval_crop")
    return (int(res) if res else None), (float(crop) if crop else None)


def load_model(
    weights: str | os.PathLike[str], *, model: str | None = None, source: Source = "effnet"
) -> tuple[Network, list[str]]:
    """The model and class names for ``weights`` (eval mode). Classes default to ``"0".."n-1"``.

    ``model`` names the architecture: required for other libraries' weights, checked against
    the metadata of effnet files.
    """
    path = Path(weights)
    if not path.is_file():
        raise FileNotFoundError(f"weights not found: {path}")
    if source == "effnet" and path.suffix == ".safetensors":
        net = create_model(model, weights=path) if model else load_weights(path)
    else:
        if model is None:
            raise ValueError(f"--model is required for {source} weights ({path})")
        net = load_pretrained(model, path, source=source)
    assert isinstance(net, Network)
    net.eval()
    classes = read_class_names(path) or [str(i) for i in range(net.num_classes)]
    if len(classes) != net.num_classes:
        raise ValueError(
            f"{len(classes)} class names stored with {path}, but the model has "
            f"{net.num_classes} outputs"
        )
    return net, classes


def load_for_eval(
    weights: str | os.PathLike[str],
    *,
    model: str | None = None,
    source: Source = "effnet",
    resolution: int | None = None,
    crop: float | None = None,
) -> tuple[Network, list[str], int, float | None]:
    """:func:`load_model` plus the eval geometry: ``(model, classes, resolution, crop)``.

    The given ``resolution`` / ``crop`` win over those stored with the weights; the resolution
    falls back to the model's own, the crop to ``None`` (the paper's ``res / (res + 32)``).
    """
    net, classes = load_model(weights, model=model, source=source)
    stored_res, stored_crop = stored_eval_settings(weights)
    res = resolution or stored_res or int(net.spec.resolution)
    return net, classes, res, crop or stored_crop
