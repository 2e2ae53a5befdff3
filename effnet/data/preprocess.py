"""The transform a model's data config asks for: ``effnet.create_transform(model)``.

Every effnet model carries its data config as ``model.pretrained_cfg`` (a plain dict; its
keys are described in ``effnet.models.data_config``): the input size, the eval crop fraction
and whether it is cut before or after the resize, the interpolation, mean and std published
with its weights. This module reads that dict only, so it takes any object with such an
attribute, or the dict itself.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, NamedTuple

from effnet.data.transforms import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    Transform,
    eval_crop_fraction,
    eval_transform,
    train_transform,
)
from effnet.types import AugmentName, CropOrder, Interpolation


class EvalGeometry(NamedTuple):
    """What an eval transform does: side ``resolution``, crop ``fraction`` of the shorter side,
    cut in ``crop_order`` with ``interpolation``, normalised by ``mean`` / ``std``."""

    resolution: int
    fraction: float
    crop_order: CropOrder
    interpolation: Interpolation
    mean: tuple[float, ...]
    std: tuple[float, ...]


def data_config_of(model_or_cfg: object) -> Mapping[str, Any] | None:
    """``model.pretrained_cfg``, the mapping itself, or ``None`` when there is none."""
    if isinstance(model_or_cfg, Mapping):
        return model_or_cfg
    cfg = getattr(model_or_cfg, "pretrained_cfg", None)
    return cfg if isinstance(cfg, Mapping) else None


def eval_geometry(
    model_or_cfg: object, *, resolution: int | None = None, crop: float | None = None
) -> EvalGeometry:
    """The eval geometry of a model or data config, with ``resolution`` / ``crop`` overriding.

    At another resolution than the config's, a crop that is the paper's ``res / (res + 32)``
    follows the new resolution; any other published crop fraction is kept. Without a config:
    effnet's eval transform at ``resolution`` (then required).
    """
    cfg = data_config_of(model_or_cfg)
    if cfg is None:
        if resolution is None:
            raise ValueError("resolution is required for a model without a data config")
        fraction = eval_crop_fraction(resolution, crop)
        return EvalGeometry(
            resolution, fraction, "crop_then_resize", "bicubic", IMAGENET_MEAN, IMAGENET_STD
        )
    own = int(cfg["input_size"][-1])
    res = int(resolution or own)
    if crop is None:
        own_crop = float(cfg["crop_pct"])
        paper = abs(own_crop - eval_crop_fraction(own)) < 1e-6
        crop = eval_crop_fraction(res) if paper else own_crop
    return EvalGeometry(
        res,
        eval_crop_fraction(res, crop),
        cfg["crop_order"],
        cfg["interpolation"],
        tuple(cfg["mean"]),
        tuple(cfg["std"]),
    )


def create_transform(
    model_or_cfg: object,
    *,
    train: bool = False,
    resolution: int | None = None,
    crop: float | None = None,
    augment: AugmentName = "autoaugment",
    crop_scale: tuple[float, float] = (0.08, 1.0),
) -> Transform:
    """The transform for a model (or its ``pretrained_cfg``): PIL RGB image -> (C, H, W).

    ``train=False``: the eval transform the weights were published with (for torchvision's
    weights exactly ``weights.transforms()``: shorter side to ``resize_size``, centre crop,
    its interpolation, mean and std; for effnet's the official crop-then-resize), at
    ``resolution`` / ``crop`` when given (see :func:`eval_geometry`). ``train=True``: the
    recipe's augmentation (:func:`effnet.data.transforms.train_transform`: random-area crop
    ``crop_scale``, flip, ``augment``) at the model's size, normalised as its weights expect.
    """
    geometry = eval_geometry(model_or_cfg, resolution=resolution, crop=crop)
    if train:
        return train_transform(
            geometry.resolution,
            augment,
            crop_scale=crop_scale,
            mean=geometry.mean,
            std=geometry.std,
        )
    return eval_transform(
        geometry.resolution,
        geometry.fraction,
        crop_order=geometry.crop_order,
        interpolation=geometry.interpolation,
        mean=geometry.mean,
        std=geometry.std,
    )
