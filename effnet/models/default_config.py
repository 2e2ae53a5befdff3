"""The data config a freshly built network carries: its variant's own preprocessing."""

from __future__ import annotations

from effnet.constants import IMAGENET_MEAN, IMAGENET_STD, LITE_MEAN, LITE_STD, eval_crop_fraction
from effnet.data_config import DataConfig
from effnet.models.spec import NetworkSpec


def is_lite(spec: NetworkSpec) -> bool:
    """Whether ``spec`` is an EfficientNet-Lite (``fix_head_stem`` of the official Lite code:
    neither stem nor head follows the width)."""
    return spec.scale_head == "never" and not spec.scale_stem


def default_config(spec: NetworkSpec, *, num_classes: int, in_chans: int = 3) -> DataConfig:
    """The variant's resolution, the official crop ``res / (res + 32)`` taken before a bicubic
    resize (``_decode_and_center_crop`` in ``preprocessing.py``), ImageNet mean and std, or
    (x - 127) / 128 for EfficientNet-Lite."""
    lite = is_lite(spec)
    return DataConfig.square(
        spec.resolution,
        in_chans=in_chans,
        crop_pct=eval_crop_fraction(spec.resolution),
        crop_order="crop_then_resize",
        interpolation="bicubic",
        mean=LITE_MEAN if lite else IMAGENET_MEAN,
        std=LITE_STD if lite else IMAGENET_STD,
        num_classes=num_classes,
    )
