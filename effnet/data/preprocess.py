"""The transform a model's data config asks for: ``effnet.create_transform(model)``.

Every effnet model carries its data config as ``model.pretrained_cfg`` (a
:class:`~effnet.data_config.DataConfig`): the input size, the eval crop fraction
and whether it is cut before or after the resize, the interpolation, mean and std published
with its weights. This module reads that config only, so it takes any object with such an
attribute, or the config itself.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import NamedTuple

from effnet.constants import IMAGENET_MEAN, IMAGENET_STD, eval_crop_fraction
from effnet.data.transforms import Transform, eval_transform, train_transform
from effnet.data_config import FIELDS as DATA_CONFIG_FIELDS
from effnet.data_config import DataConfig
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


def data_config_of(model_or_cfg: object) -> DataConfig | None:
    """``model.pretrained_cfg``, the config itself (a mapping with its fields is read as one),
    or ``None`` when there is none."""
    cfg = getattr(model_or_cfg, "pretrained_cfg", model_or_cfg)
    if isinstance(cfg, DataConfig) or not isinstance(cfg, Mapping):
        return cfg if isinstance(cfg, DataConfig) else None
    return DataConfig(**{k: cfg[k] for k in DATA_CONFIG_FIELDS if k in cfg})


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
    res = int(resolution or cfg.resolution)
    fraction = eval_crop_fraction(res, crop if crop is not None else cfg.fixed_crop())
    return EvalGeometry(res, fraction, cfg.crop_order, cfg.interpolation, cfg.mean, cfg.std)


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
