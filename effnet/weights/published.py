"""The ImageNet weights torchvision and timm publish for effnet's models (V1, Lite, V2), and
the preprocessing each published with them (the data config, :mod:`effnet.data_config`).

torchvision: the ``IMAGENET1K_V1`` weights of ``efficientnet_b0`` .. ``b7`` and
``efficientnet_v2_s/m/l``, described by its weights API (``torchvision.models.get_weight``: the
URL, ``transforms()`` and the ImageNet ``categories``). timm: :data:`TIMM_WEIGHTS`, effnet's own
table of the Hugging Face Hub files (``timm/<model>.<tag>``, ``model.safetensors``) with the
preprocessing their ``pretrained_cfg`` publishes (``default_cfgs`` in timm's
``timm/models/efficientnet.py``, timm 1.0.31; for V2 its ``test_input_size``, the official eval
size); effnet never imports timm.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from effnet.constants import IMAGENET_CLASSES, IMAGENET_MEAN, IMAGENET_STD
from effnet.data_config import DataConfig
from effnet.models.default_config import default_config
from effnet.models.registry import get_spec
from effnet.models.spec import NetworkSpec
from effnet.types import Interpolation, PublishedHub, Source
from effnet.weights.class_names import imagenet_class_names
from effnet.weights.timm_keys import from_timm_name, to_timm_name

#: torchvision's ImageNet weights of each model (``get_weight`` names).
TORCHVISION_WEIGHTS: dict[str, str] = {
    **{f"efficientnet_b{i}": f"EfficientNet_B{i}_Weights.IMAGENET1K_V1" for i in range(8)},
    **{f"efficientnet_v2_{v}": f"EfficientNet_V2_{v.upper()}_Weights.IMAGENET1K_V1" for v in "sml"},
}


class TimmWeights(NamedTuple):
    """One timm pretrained model: its Hub repository, its state-dict layout (``timm`` or, for
    the ports of the official TF weights, ``timm_tf``) and its published preprocessing."""

    hub_id: str
    layout: Source
    resolution: int
    crop_pct: float
    interpolation: Interpolation = "bicubic"
    mean: tuple[float, float, float] = IMAGENET_MEAN
    std: tuple[float, float, float] = IMAGENET_STD

    @property
    def url(self) -> str:
        return f"https://huggingface.co/{self.hub_id}/resolve/main/{TIMM_FILE}"


TIMM_FILE = "model.safetensors"
_HALF = (0.5, 0.5, 0.5)
#: timm's pretrained EfficientNets by timm model name (``input_size``, ``crop_pct``,
#: ``interpolation``, ``mean``, ``std`` of each ``pretrained_cfg``; all resize the shorter side
#: and crop the centre, timm's ``crop_mode="center"``). timm's own ImageNet weights are used for
#: B0..B4 and Lite0 (B0: the ``ra_in1k`` tag, ImageNet statistics, as B1..B4; timm's B5 is fed
#: with ``crop_mode="squash"``); ``tf_`` names are its ports of the official TF weights. Of V2,
#: B0..B3 and S (V2-M and L are fed with ``crop_mode="squash"``: torchvision's are used).
TIMM_WEIGHTS: dict[str, TimmWeights] = {
    "efficientnet_b0": TimmWeights("timm/efficientnet_b0.ra_in1k", "timm", 224, 0.875),
    "efficientnet_b1": TimmWeights("timm/efficientnet_b1.ft_in1k", "timm", 224, 0.875),
    "efficientnet_b2": TimmWeights("timm/efficientnet_b2.ra_in1k", "timm", 256, 0.875),
    "efficientnet_b3": TimmWeights("timm/efficientnet_b3.ra2_in1k", "timm", 288, 0.875),
    "efficientnet_b4": TimmWeights("timm/efficientnet_b4.ra2_in1k", "timm", 320, 0.875),
    "efficientnet_lite0": TimmWeights("timm/efficientnet_lite0.ra_in1k", "timm", 224, 0.875),
    "tf_efficientnet_b0": TimmWeights("timm/tf_efficientnet_b0.aa_in1k", "timm_tf", 224, 0.875),
    "tf_efficientnet_b1": TimmWeights("timm/tf_efficientnet_b1.aa_in1k", "timm_tf", 240, 0.882),
    "tf_efficientnet_b2": TimmWeights("timm/tf_efficientnet_b2.aa_in1k", "timm_tf", 260, 0.89),
    "tf_efficientnet_b3": TimmWeights("timm/tf_efficientnet_b3.aa_in1k", "timm_tf", 300, 0.904),
    "tf_efficientnet_b4": TimmWeights("timm/tf_efficientnet_b4.aa_in1k", "timm_tf", 380, 0.922),
    "tf_efficientnet_b5": TimmWeights("timm/tf_efficientnet_b5.aa_in1k", "timm_tf", 456, 0.934),
    "tf_efficientnet_b6": TimmWeights("timm/tf_efficientnet_b6.aa_in1k", "timm_tf", 528, 0.942),
    "tf_efficientnet_b7": TimmWeights("timm/tf_efficientnet_b7.aa_in1k", "timm_tf", 600, 0.949),
    "tf_efficientnet_lite0": TimmWeights(
        "timm/tf_efficientnet_lite0.in1k", "timm_tf", 224, 0.875, "bicubic", _HALF, _HALF
    ),
    "tf_efficientnet_lite1": TimmWeights(
        "timm/tf_efficientnet_lite1.in1k", "timm_tf", 240, 0.882, "bicubic", _HALF, _HALF
    ),
    "tf_efficientnet_lite2": TimmWeights(
        "timm/tf_efficientnet_lite2.in1k", "timm_tf", 260, 0.89, "bicubic", _HALF, _HALF
    ),
    "tf_efficientnet_lite3": TimmWeights(
        "timm/tf_efficientnet_lite3.in1k", "timm_tf", 300, 0.904, "bilinear", _HALF, _HALF
    ),
    "tf_efficientnet_lite4": TimmWeights(
        "timm/tf_efficientnet_lite4.in1k", "timm_tf", 380, 0.92, "bilinear", _HALF, _HALF
    ),
    # V2: evaluated at the official eval size (timm's test_input_size; it trains smaller)
    "tf_efficientnetv2_b0": TimmWeights("timm/tf_efficientnetv2_b0.in1k", "timm_tf", 224, 0.875),
    "tf_efficientnetv2_b1": TimmWeights("timm/tf_efficientnetv2_b1.in1k", "timm_tf", 240, 0.882),
    "tf_efficientnetv2_b2": TimmWeights("timm/tf_efficientnetv2_b2.in1k", "timm_tf", 260, 0.89),
    "tf_efficientnetv2_b3": TimmWeights("timm/tf_efficientnetv2_b3.in1k", "timm_tf", 300, 0.904),
    "tf_efficientnetv2_s": TimmWeights(
        "timm/tf_efficientnetv2_s.in1k", "timm_tf", 384, 1.0, "bicubic", _HALF, _HALF
    ),
}


def published_names(hub: PublishedHub) -> list[str]:
    """effnet's model names with weights published by ``hub``."""
    if hub == "torchvision":
        return list(TORCHVISION_WEIGHTS)
    return sorted({from_timm_name(n) for n in TIMM_WEIGHTS})


def _unsupported(name: str, hub: PublishedHub) -> ValueError:
    return ValueError(
        f"{hub} publishes no weights effnet maps for {name!r}; pretrained={hub!r} takes "
        f"{', '.join(published_names(hub))} (other files: --weights PATH --source S)"
    )


def torchvision_weights(name: str) -> Any:
    """torchvision's weights enum entry for ``name`` (``.url``, ``.transforms()``, ``.meta``)."""
    if name not in TORCHVISION_WEIGHTS:
        raise _unsupported(name, "torchvision")
    from torchvision.models import get_weight

    return get_weight(TORCHVISION_WEIGHTS[name])


def timm_weights(name: str) -> tuple[str, TimmWeights]:
    """``(timm model name, entry)`` for ``name``: timm's own weights where it has them, else
    its port of the official TF weights (``tf_`` + name)."""
    for timm_name in (to_timm_name(name), to_timm_name(name, ported=True)):
        if timm_name in TIMM_WEIGHTS:
            return timm_name, TIMM_WEIGHTS[timm_name]
    raise _unsupported(name, "timm")


def _imagenet_names(num_classes: int) -> list[str] | None:
    return imagenet_class_names() if num_classes == IMAGENET_CLASSES else None


def torchvision_config(name: str, *, num_classes: int = IMAGENET_CLASSES) -> DataConfig:
    """What ``weights.transforms()`` of torchvision's weights for ``name`` does: shorter side
    to ``resize_size``, centre crop ``crop_size``, its interpolation, mean and std."""
    weights = torchvision_weights(name)
    tf = weights.transforms()
    crop, resize = int(tf.crop_size[0]), int(tf.resize_size[0])
    return DataConfig.square(
        crop,
        crop_pct=crop / resize,
        crop_order="resize_then_crop",
        interpolation=tf.interpolation.value,
        mean=tf.mean,
        std=tf.std,
        num_classes=num_classes,
        classes=list(weights.meta["categories"]) if num_classes == IMAGENET_CLASSES else None,
        source="torchvision",
        weights=weights.url,
    )


def timm_config(entry: TimmWeights, *, num_classes: int = IMAGENET_CLASSES) -> DataConfig:
    """What timm's eval transform for ``entry``'s ``pretrained_cfg`` does: shorter side to
    ``floor(size / crop_pct)``, centre crop ``size``, its interpolation, mean and std."""
    return DataConfig.square(
        entry.resolution,
        crop_pct=entry.crop_pct,
        crop_order="resize_then_crop",
        interpolation=entry.interpolation,
        mean=entry.mean,
        std=entry.std,
        num_classes=num_classes,
        classes=_imagenet_names(num_classes),
        source=entry.layout,
        weights=entry.hub_id,
    )


def _registered(spec: NetworkSpec) -> str | None:
    try:
        return spec.name if get_spec(spec.name) == spec else None
    except (KeyError, ValueError):
        return None


def source_config(spec: NetworkSpec, source: Source, *, num_classes: int) -> DataConfig:
    """The data config of ``spec`` loaded from a ``source`` state dict: the preprocessing
    published with that library's weights for the registered model where known, else the
    variant's (``efficientnet_pytorch`` holds the official weights: the official
    preprocessing). 1000-class weights get ImageNet's class names."""
    name = _registered(spec) or ""
    timm_name = to_timm_name(name, ported=source == "timm_tf")
    if source == "torchvision" and name in TORCHVISION_WEIGHTS:
        cfg = torchvision_config(name, num_classes=num_classes)
    elif source in ("timm", "timm_tf") and timm_name in TIMM_WEIGHTS:
        cfg = timm_config(TIMM_WEIGHTS[timm_name], num_classes=num_classes)
    else:
        cfg = default_config(spec, num_classes=num_classes)
        cfg = cfg.replace(classes=_imagenet_names(num_classes))
    return cfg.replace(source=source)
