"""Base networks as data, mirroring their papers' tables.

EfficientNet-B0 is the paper's Table 1; MobileNetV1 (Howard et al. 2017, Table 1),
MobileNetV2 (Sandler et al. 2018, Table 2) and ResNet-50 (He et al. 2016, Table 1) are the
other bases the paper scales in Table 3.
"""

from __future__ import annotations

from effnet.models.spec import NetworkSpec, StageSpec
from effnet.models.variants import VARIANTS


def _mb(repeats: int, kernel: int, stride: int, expand: int, out: int, se: float) -> StageSpec:
    return StageSpec("mbconv", repeats, kernel, stride, expand, out, se)


#: Paper Table 1: MBConv stages of EfficientNet-B0 (SE ratio 0.25 on every block).
EFFICIENTNET_B0_STAGES = (
    _mb(1, 3, 1, 1, 16, 0.25),
    _mb(2, 3, 2, 6, 24, 0.25),
    _mb(2, 5, 2, 6, 40, 0.25),
    _mb(3, 3, 2, 6, 80, 0.25),
    _mb(3, 5, 1, 6, 112, 0.25),
    _mb(4, 5, 2, 6, 192, 0.25),
    _mb(1, 3, 1, 6, 320, 0.25),
)


def efficientnet(variant: str) -> NetworkSpec:
    """EfficientNet-``variant`` (b0..b8, l2) from the official coefficient table."""
    v = VARIANTS[variant]
    return NetworkSpec(
        name=f"efficientnet_{variant}",
        stages=EFFICIENTNET_B0_STAGES,
        stem_channels=32,
        head_channels=1280,
        resolution=v.resolution,
        width=v.width,
        depth=v.depth,
        dropout=v.dropout,
        drop_path=0.2,
        activation="silu",
    )


def mobilenet_v1() -> NetworkSpec:
    """MobileNetV1 1.0-224: 13 depthwise-separable blocks, ReLU, no head conv."""
    dw = "dwsep"
    return NetworkSpec(
        name="mobilenet_v1",
        stages=(
            StageSpec(dw, 1, 3, 1, 1, 64),
            StageSpec(dw, 2, 3, 2, 1, 128),
            StageSpec(dw, 2, 3, 2, 1, 256),
            StageSpec(dw, 6, 3, 2, 1, 512),
            StageSpec(dw, 2, 3, 2, 1, 1024),
        ),
        stem_channels=32,
        head_channels=0,
        resolution=224,
        dropout=0.2,
        drop_path=0.0,
        activation="relu",
    )


def mobilenet_v2() -> NetworkSpec:
    """MobileNetV2 1.0-224: inverted residuals without SE, ReLU6, a 1280 head never scaled down."""
    return NetworkSpec(
        name="mobilenet_v2",
        stages=(
            _mb(1, 3, 1, 1, 16, 0.0),
            _mb(2, 3, 2, 6, 24, 0.0),
            _mb(3, 3, 2, 6, 32, 0.0),
            _mb(4, 3, 2, 6, 64, 0.0),
            _mb(3, 3, 1, 6, 96, 0.0),
            _mb(3, 3, 2, 6, 160, 0.0),
            _mb(1, 3, 1, 6, 320, 0.0),
        ),
        stem_channels=32,
        head_channels=1280,
        resolution=224,
        dropout=0.2,
        drop_path=0.0,
        activation="relu6",
        scale_head="up_only",
    )


def resnet50() -> NetworkSpec:
    """ResNet-50: 7x7 stem + max-pool, bottleneck stages of 3, 4, 6, 3 blocks, ReLU."""
    return NetworkSpec(
        name="resnet50",
        stages=(
            StageSpec("bottleneck", 3, 3, 1, 0.25, 256),
            StageSpec("bottleneck", 4, 3, 2, 0.25, 512),
            StageSpec("bottleneck", 6, 3, 2, 0.25, 1024),
            StageSpec("bottleneck", 3, 3, 2, 0.25, 2048),
        ),
        stem_channels=64,
        head_channels=0,
        resolution=224,
        dropout=0.0,
        drop_path=0.0,
        activation="relu",
        stem_kernel=7,
        stem_pool=True,
    )
