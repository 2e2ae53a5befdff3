"""The data config of an effnet weights file, read from its safetensors metadata."""

from __future__ import annotations

import json
from collections.abc import Mapping

from effnet.constants import IMAGENET_MEAN, IMAGENET_STD, eval_crop_fraction
from effnet.data_config import DataConfig
from effnet.models.default_config import default_config
from effnet.models.spec import NetworkSpec


def _stored_config(meta: Mapping[str, str]) -> dict | None:
    try:
        stored = json.loads(meta["data_config"])
        return stored if isinstance(stored, dict) else None
    except (KeyError, ValueError):
        return None


def _stored_names(meta: Mapping[str, str], num_classes: int) -> tuple[str, ...] | None:
    for key in ("class_names", "classes"):
        try:
            names = json.loads(meta[key])
        except (KeyError, ValueError):
            continue
        if isinstance(names, list) and len(names) == num_classes:
            return tuple(str(n) for n in names)
    return None


def effnet_config(
    spec: NetworkSpec, meta: Mapping[str, str], *, num_classes: int, in_chans: int = 3
) -> DataConfig:
    """The data config of an effnet weights file, from its metadata.

    A training run's file (``train_resolution`` / ``eval_crop``) is fed as that run evaluated:
    effnet's eval transform (crop then bicubic resize, ImageNet mean and std) at the stored
    resolution and crop. Otherwise the config :func:`effnet.save_weights` stored
    (``data_config``), else the variant's defaults. Class names come from ``class_names`` /
    ``classes``.
    """
    base = default_config(spec, num_classes=num_classes, in_chans=in_chans)
    stored = _stored_config(meta)
    if stored is not None:
        try:
            base = DataConfig.square(
                int(stored["input_size"][-1]),
                in_chans=in_chans,
                crop_pct=float(stored["crop_pct"]),
                crop_order=stored["crop_order"],
                interpolation=stored["interpolation"],
                mean=stored["mean"],
                std=stored["std"],
                num_classes=num_classes,
            )
        except (KeyError, TypeError, ValueError, IndexError):
            pass  # an unreadable stored config: the variant's defaults
    res, crop = meta.get("train_resolution"), meta.get("eval_crop")
    if res or crop:
        resolution = int(res) if res else base.resolution
        base = DataConfig.square(
            resolution,
            in_chans=in_chans,
            crop_pct=eval_crop_fraction(
                resolution, float(crop) if crop and crop != "None" else None
            ),
            crop_order="crop_then_resize",
            interpolation="bicubic",
            mean=IMAGENET_MEAN,
            std=IMAGENET_STD,
            num_classes=num_classes,
        )
    return base.replace(classes=_stored_names(meta, num_classes), source="effnet")
