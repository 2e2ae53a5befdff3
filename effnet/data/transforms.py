"""Train and eval transforms of the EfficientNet recipe (Tan & Le, 2019, §5.2).

Train: random-area crop (8%..100% of the image, aspect 3/4..4/3), horizontal flip,
AutoAugment (ImageNet policy) or RandAugment, bicubic resize, ImageNet normalisation.
Eval: centre crop of side ``res / (res + 32) * min(H, W)`` of the original image, then a
bicubic resize to ``res`` (the official ``preprocessing.py``, CROP_PADDING = 32). A recipe may
set its own crop fraction instead (:func:`eval_crop_fraction`); runs store it with their weights.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import torch
from PIL import Image
from torchvision import transforms as T

from effnet.constants import IMAGENET_MEAN, IMAGENET_STD, eval_crop_fraction
from effnet.data.augment import augment_step, parse_augment
from effnet.types import AugmentName, CropOrder, Interpolation, check_choice

Transform = Callable[[Image.Image], torch.Tensor]
_PIL_FILTER = {"bicubic": Image.Resampling.BICUBIC, "bilinear": Image.Resampling.BILINEAR}
_TV_FILTER = {"bicubic": T.InterpolationMode.BICUBIC, "bilinear": T.InterpolationMode.BILINEAR}


def center_crop_box(size: tuple[int, int], fraction: float) -> tuple[int, int, int, int]:
    """``(left, top, right, bottom)`` of the centred square of side ``int(fraction *
    min(W, H))`` (at least 1 px) in an image of ``size = (W, H)``; offsets as the official
    ``_decode_and_center_crop``: ``(H - side + 1) // 2``."""
    w, h = size
    side = max(1, int(fraction * min(w, h)))
    top, left = (h - side + 1) // 2, (w - side + 1) // 2
    return left, top, left + side, top + side


class CenterCropFraction:
    """Crop the centre square of side ``int(fraction * min(H, W))``, then resize to ``size``.

    Mirrors the official ``_decode_and_center_crop``: the crop is taken from the original image
    (offsets ``(H - side + 1) // 2``), then resized bicubically. At least one pixel is kept.

    Args:
        size: output side in pixels.
        fraction: crop side as a fraction of the shorter image side, ``size / (size + 32)``
            for the paper's recipe.
        interpolation: the resize filter (bicubic in the official code).
    """

    def __init__(
        self, size: int, fraction: float, interpolation: Interpolation = "bicubic"
    ) -> None:
        if size < 1 or not 0.0 < fraction <= 1.0:
            raise ValueError(f"need size >= 1 and 0 < fraction <= 1, got {size}, {fraction}")
        check_choice(Interpolation, interpolation, "interpolation")
        self.size = size
        self.fraction = fraction
        self.interpolation = interpolation

    def __call__(self, img: Image.Image) -> Image.Image:
        img = img.crop(center_crop_box(img.size, self.fraction))
        return img.resize((self.size, self.size), _PIL_FILTER[self.interpolation])

    def __repr__(self) -> str:
        return f"{type(self).__name__}(size={self.size}, fraction={self.fraction:.4f})"


def resize_size(resolution: int, fraction: float) -> int:
    """The shorter side a resize-then-crop transform resizes to: ``floor(res / fraction)``
    (timm's ``scale_size``; torchvision's ``resize_size`` of its EfficientNet weights)."""
    return int(math.floor(resolution / fraction + 1e-6))  # 224 / (224 / 256) is 256, not 255


def _normalize(mean: Sequence[float], std: Sequence[float]) -> list[Callable]:
    return [T.ToTensor(), T.Normalize(tuple(mean), tuple(std))]


def eval_transform(
    resolution: int,
    crop: float | None = None,
    *,
    crop_order: CropOrder = "crop_then_resize",
    interpolation: Interpolation = "bicubic",
    mean: Sequence[float] = IMAGENET_MEAN,
    std: Sequence[float] = IMAGENET_STD,
) -> Transform:
    """Centre crop of ``crop`` (default the paper's ``resolution / (resolution + 32)``) of the
    shorter side, bicubic resize, ImageNet normalisation (``_decode_and_center_crop`` with
    ``CROP_PADDING = 32`` in the official ``preprocessing.py``). Input: an RGB PIL image;
    output: (3, res, res) float.

    ``crop_order="resize_then_crop"`` resizes the shorter side to :func:`resize_size` first and
    then crops ``resolution`` (as torchvision's and timm's eval transforms do); ``interpolation``,
    ``mean`` and ``std`` follow other weights' published preprocessing.
    """
    check_choice(CropOrder, crop_order, "crop_order")
    fraction = eval_crop_fraction(resolution, crop)
    if crop_order == "resize_then_crop":
        steps: list[Callable] = [
            T.Resize(resize_size(resolution, fraction), interpolation=_TV_FILTER[interpolation]),
            T.CenterCrop(resolution),
        ]
    else:
        steps = [CenterCropFraction(resolution, fraction, interpolation)]
    return T.Compose([*steps, *_normalize(mean, std)])


def train_transform(
    resolution: int,
    augment: AugmentName = "autoaugment",
    *,
    crop_scale: tuple[float, float] = (0.08, 1.0),
    mean: Sequence[float] = IMAGENET_MEAN,
    std: Sequence[float] = IMAGENET_STD,
    reprob: float = 0.0,
) -> Transform:
    """Random-area crop (``crop_scale`` of the area, aspect 3/4..4/3, bicubic), horizontal
    flip, then the ``augment`` policy (:mod:`effnet.data.augment`: AutoAugment's ImageNet
    policy, RandAugment, TrivialAugmentWide, AugMix or nothing); ImageNet normalisation (paper
    §5.2; ``_decode_and_random_crop`` in the official ``preprocessing.py``); then random erasing
    with probability ``reprob`` (torchvision's ``RandomErasing``, as timm's ``--reprob``).

    ``crop_scale=(0.08, 1.0)`` is the paper's; a milder lower bound (e.g. 0.35) suits tiny
    images such as the demo set. ``mean`` / ``std``: other weights' normalisation.
    """
    if resolution < 1:
        raise ValueError(f"resolution must be >= 1, got {resolution}")
    lo, hi = crop_scale
    if not 0.0 < lo <= hi <= 1.0:
        raise ValueError(f"crop_scale must satisfy 0 < lo <= hi <= 1, got {crop_scale}")
    steps: list[Callable] = [
        T.RandomResizedCrop(
            resolution,
            scale=(lo, hi),
            ratio=(3 / 4, 4 / 3),
            interpolation=T.InterpolationMode.BICUBIC,
        ),
        T.RandomHorizontalFlip(),
    ]
    policy = augment_step(parse_augment(augment))
    if policy is not None:
        steps.append(policy)
    if not 0.0 <= reprob <= 1.0:
        raise ValueError(f"reprob must be in [0, 1], got {reprob}")
    erasing = [T.RandomErasing(p=reprob)] if reprob > 0 else []
    return T.Compose([*steps, *_normalize(mean, std), *erasing])


def set_randaugment_magnitude(dataset: object, magnitude: int) -> bool:
    """Set the magnitude of the RandAugment in ``dataset.transform`` (progressive
    regularisation, EfficientNetV2 §4); False when it has none."""
    found = False
    transform = getattr(dataset, "transform", None)
    for step in getattr(transform, "transforms", [transform]):
        if isinstance(step, T.RandAugment):
            step.magnitude = int(magnitude)
            found = True
    return found
