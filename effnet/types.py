"""The closed sets of names effnet accepts, each defined once as a ``Literal``.

Runtime checks and command-line ``choices`` derive from these with :func:`choices`, so a new
value is added in one place.
"""

from __future__ import annotations

from typing import Literal, get_args

#: Block types of a stage (paper Table 1: MBConv; EfficientNetV2's Fused-MBConv; MobileNetV1's
#: depthwise-separable conv; ResNet's bottleneck).
BlockKind = Literal["mbconv", "fused", "dwsep", "bottleneck"]
#: Activations (Swish = SiLU in EfficientNet, paper §4).
Activation = Literal["silu", "relu", "relu6"]
#: How a network's head conv width follows the width multiplier: always (EfficientNet), only
#: upwards (MobileNetV2), or never (EfficientNet-Lite's ``fix_head_stem``).
HeadScaling = Literal["always", "up_only", "never"]
#: Convolution padding: PyTorch's symmetric one, or TensorFlow's "SAME".
Padding = Literal["symmetric", "same"]
#: Libraries whose weight layouts :func:`effnet.load_pretrained` reads.
Source = Literal["effnet", "torchvision", "timm", "timm_tf", "efficientnet_pytorch"]
#: Libraries whose published ImageNet weights ``create_model(name, pretrained=...)`` fetches
#: (torchvision's weights API and download cache; timm's files on the Hugging Face Hub).
PublishedHub = Literal["torchvision", "timm"]
#: How an eval transform cuts the centre square: crop a fraction of the shorter side, then
#: resize (the official ``_decode_and_center_crop``; effnet's), or resize the shorter side to
#: ``res / crop_pct``, then crop ``res`` (torchvision's and timm's).
CropOrder = Literal["crop_then_resize", "resize_then_crop"]
#: Resampling filters of a data config.
Interpolation = Literal["bicubic", "bilinear"]
#: Optimizers of a recipe (``rmsprop_tf`` is the paper's, §5.2).
OptimizerName = Literal["rmsprop_tf", "adamw", "sgd", "radam", "nadam", "adafactor"]
#: Learning-rate schedules (``staircase`` is the paper's, §5.2).
ScheduleName = Literal[
    "staircase", "cosine", "step", "multistep", "exponential", "constant", "plateau"
]
#: Training-time augmentation policies (``autoaugment`` is the paper's, §5.2).
#: A train-time augmentation policy by name (:func:`effnet.data.augment.parse_augment`:
#: ``none``, ``autoaugment``, ``randaugment`` / ``rand-mM-nN``, ``trivialaugment``, ``augmix``).
AugmentName = str
#: What a training run does on a NaN/Inf loss.
NanPolicy = Literal["stop", "skip"]
#: Mixed-precision modes of a training run.
AmpMode = Literal["bf16", "fp16"]
#: Devices a run or an evaluation may ask for.
DeviceName = Literal["cpu", "cuda"]
#: Class activation map methods (Zhou et al. 2016; Grad-CAM, Selvaraju et al. 2017).
CamMethod = Literal["cam", "gradcam"]
#: BatchNorm of a detection / segmentation backbone: torchvision's FrozenBatchNorm2d, or trained.
BackboneNorm = Literal["frozen", "batch"]
#: Levels a feature pyramid adds above its last: max-pooled (Faster R-CNN), P6 and P7
#: (RetinaNet, FCOS), or none.
FpnExtra = Literal["maxpool", "p6p7", "none"]
#: File formats of ``effnet export``.
ExportFormat = Literal["onnx", "torchscript", "exported"]


def choices(kind: object) -> tuple[str, ...]:
    """The values of a ``Literal`` type, in order (for ``argparse`` choices and checks)."""
    return tuple(get_args(kind))


def check_choice(kind: object, value: object, what: str) -> None:
    """Raise ``ValueError`` naming ``what`` unless ``value`` is one of ``kind``'s values."""
    allowed = choices(kind)
    if value not in allowed:
        raise ValueError(f"{what} must be one of {', '.join(allowed)}; got {value!r}")
