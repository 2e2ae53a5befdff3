"""Numbers of the official code that both the network's data config and the data pipeline use,
defined once."""

from __future__ import annotations

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
#: Classes of ImageNet-1k, what every published EfficientNet checkpoint classifies.
IMAGENET_CLASSES = 1000


def eval_crop_fraction(resolution: int, crop: float | None = None) -> float:
    """The eval crop's side as a fraction of the shorter image side: ``crop`` when given, else
    the official ``res / (res + CROP_PADDING)`` (``_decode_and_center_crop`` in
    ``preprocessing.py``; 0.875 at 224 px)."""
    if crop is None:
        return resolution / (resolution + CROP_PADDING)
    if not 0.0 < crop <= 1.0:
        raise ValueError(f"eval crop fraction must be in (0, 1], got {crop}")
    return float(crop)
