"""The data config every model carries as ``model.pretrained_cfg``: how to feed it images.

A plain dict, as timm's ``pretrained_cfg``, with the keys

- ``input_size``: ``(C, H, W)`` the weights expect;
- ``crop_pct``: the eval crop's side as a fraction of the shorter image side;
- ``crop_order``: ``"crop_then_resize"`` (the official ``_decode_and_center_crop`` in
  ``preprocessing.py``; effnet's eval transform) or ``"resize_then_crop"`` (torchvision's and
  timm's: shorter side to ``floor(H / crop_pct)``, then a centre crop of ``H``);
- ``interpolation``: ``"bicubic"`` or ``"bilinear"``;
- ``mean``, ``std``: per channel, on 0..1 input;
- ``num_classes``, ``classes`` (names, or ``None``);
- ``source``: whose weights the model holds (a :data:`effnet.types.Source`; ``None`` before any
  are loaded) and ``weights``: where they came from (a file, URL or Hub id; or ``None``).

It is filled from the variant (:func:`default_config`), from an effnet weights file's metadata
(:func:`effnet_config`), or from the preprocessing a library published for its weights
(:mod:`effnet.models.published`). ``effnet.create_transform`` builds the transform from it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from effnet.models.spec import NetworkSpec
from effnet.types import CropOrder, Interpolation, check_choice

DataConfig = dict[str, Any]

#: ImageNet statistics on 0..1 input: ``MEAN_RGB`` / ``STDDEV_RGB`` of the official
#: ``efficientnet_builder.py`` divided by 255 (also what effnet's own training uses).
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
#: EfficientNet-Lite's (x - 127) / 128 on 0..255 input (``MEAN_RGB = [127.0] * 3``,
#: ``STDDEV_RGB = [128.0] * 3`` in the official ``efficientnet_lite_builder.py``), on 0..1 input.
LITE_MEAN = (127.0 / 255,) * 3
LITE_STD = (128.0 / 255,) * 3
#: ``CROP_PADDING`` of the official ``preprocessing.py``: the eval crop is res / (res + 32).
CROP_PADDING = 32


def paper_crop(resolution: int) -> float:
    """The eval crop fraction of the official code at ``resolution``: ``res / (res + 32)``."""
    return resolution / (resolution + CROP_PADDING)


def is_lite(spec: NetworkSpec) -> bool:
    """Whether ``spec`` is an EfficientNet-Lite (``fix_head_stem`` of the official Lite code:
    neither stem nor head follows the width)."""
    return spec.scale_head == "never" and not spec.scale_stem


def _per_channel(values: Sequence[float], in_chans: int) -> tuple[float, ...]:
    values = tuple(float(v) for v in values)
    if len(values) == in_chans:
        return values
    return (sum(values) / len(values),) * in_chans  # e.g. a grey-scale model: the average


def data_config(
    *,
    resolution: int,
    crop_pct: float,
    crop_order: CropOrder,
    interpolation: Interpolation,
    mean: Sequence[float],
    std: Sequence[float],
    num_classes: int,
    classes: Sequence[str] | None = None,
    source: str | None = None,
    weights: str | None = None,
    in_chans: int = 3,
) -> DataConfig:
    """A checked data config (see the module docstring for the keys)."""
    check_choice(CropOrder, crop_order, "crop_order")
    check_choice(Interpolation, interpolation, "interpolation")
    if resolution < 1 or not 0.0 < crop_pct <= 1.0:
        raise ValueError(
            f"need resolution >= 1 and 0 < crop_pct <= 1, got {resolution}, {crop_pct}"
        )
    if classes is not None and len(classes) != num_classes:
        raise ValueError(f"{len(classes)} class names for {num_classes} classes")
    return {
        "input_size": (in_chans, int(resolution), int(resolution)),
        "crop_pct": float(crop_pct),
        "crop_order": crop_order,
        "interpolation": interpolation,
        "mean": _per_channel(mean, in_chans),
        "std": _per_channel(std, in_chans),
        "num_classes": int(num_classes),
        "classes": list(classes) if classes is not None else None,
        "source": source,
        "weights": weights,
    }


def default_config(spec: NetworkSpec, *, num_classes: int, in_chans: int = 3) -> DataConfig:
    """The variant's own preprocessing: its resolution, the paper's crop ``res / (res + 32)``
    taken before a bicubic resize (``_decode_and_center_crop`` in the official
    ``preprocessing.py``), ImageNet mean and std, or (x - 127) / 128 for EfficientNet-Lite."""
    lite = is_lite(spec)
    return data_config(
        resolution=spec.resolution,
        crop_pct=paper_crop(spec.resolution),
        crop_order="crop_then_resize",
        interpolation="bicubic",
        mean=LITE_MEAN if lite else IMAGENET_MEAN,
        std=LITE_STD if lite else IMAGENET_STD,
        num_classes=num_classes,
        in_chans=in_chans,
    )


def _stored_config(meta: Mapping[str, str]) -> DataConfig | None:
    try:
        stored = json.loads(meta["data_config"])
        return stored if isinstance(stored, dict) else None
    except (KeyError, ValueError):
        return None


def _stored_names(meta: Mapping[str, str], num_classes: int) -> list[str] | None:
    for key in ("class_names", "classes"):
        try:
            names = json.loads(meta[key])
        except (KeyError, ValueError):
            continue
        if isinstance(names, list) and len(names) == num_classes:
            return [str(n) for n in names]
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
            base = data_config(
                resolution=int(stored["input_size"][-1]),
                crop_pct=float(stored["crop_pct"]),
                crop_order=stored["crop_order"],
                interpolation=stored["interpolation"],
                mean=stored["mean"],
                std=stored["std"],
                num_classes=num_classes,
                in_chans=in_chans,
            )
        except (KeyError, TypeError, ValueError, IndexError):
            pass  # an unreadable stored config: the variant's defaults
    res, crop = meta.get("train_resolution"), meta.get("eval_crop")
    if res or crop:
        resolution = int(res) if res else int(base["input_size"][-1])
        base = data_config(
            resolution=resolution,
            crop_pct=float(crop) if crop and crop != "None" else paper_crop(resolution),
            crop_order="crop_then_resize",
            interpolation="bicubic",
            mean=IMAGENET_MEAN,
            std=IMAGENET_STD,
            num_classes=num_classes,
            in_chans=in_chans,
        )
    base["classes"] = _stored_names(meta, num_classes)
    base["source"] = "effnet"
    return base


def fixed_crop(cfg: Mapping[str, Any]) -> float | None:
    """The config's crop fraction, or ``None`` where it is the paper's rule ``res / (res + 32)``
    at the config's resolution (which then follows any other resolution asked for)."""
    res, crop = int(cfg["input_size"][-1]), float(cfg["crop_pct"])
    return None if abs(crop - paper_crop(res)) < 1e-6 else crop


def config_json(cfg: Mapping[str, Any]) -> str:
    """The config as the JSON :func:`effnet.save_weights` stores (class names are stored on
    their own, under ``classes``)."""
    return json.dumps({k: v for k, v in cfg.items() if k != "classes"}, sort_keys=True)
