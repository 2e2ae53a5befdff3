"""Base networks as data, mirroring their papers' tables.

EfficientNet-B0 is the paper's Table 1, EfficientNet-Lite its edge form from the official
``efficientnet_lite_builder.py``, EfficientNetV2 the tables of the official V2 code
(``effnetv2_configs.py``); MobileNetV1 (Howard et al. 2017, Table 1),
MobileNetV2 (Sandler et al. 2018, Table 2) and ResNet-50 (He et al. 2016, Table 1) are the
other bases the paper scales in Table 3.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from effnet.models.spec import NetworkSpec, StageSpec
from effnet.models.variants import LITE_VARIANTS, V2_VARIANTS, VARIANTS, Variant


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


def _from_table(
    name: str, stages: tuple[StageSpec, ...], v: Variant, **options: Any
) -> NetworkSpec:
    """A spec with B0's stem (32) and head (1280), one row of a coefficient table and
    drop-path 0.2 (``drop_connect_rate`` in the official builders)."""
    return NetworkSpec(
        name=name,
        stages=stages,
        stem_channels=32,
        head_channels=1280,
        resolution=v.resolution,
        width=v.width,
        depth=v.depth,
        dropout=v.dropout,
        drop_path=0.2,
        **options,
    )


def efficientnet(variant: str) -> NetworkSpec:
    """EfficientNet-``variant`` (b0..b8, l2) from the official coefficient table."""
    return _from_table(
        f"efficientnet_{variant}", EFFICIENTNET_B0_STAGES, VARIANTS[variant], activation="silu"
    )


#: EfficientNet-Lite's stages: B0's without squeeze-excitation (``use_se=False`` in the
#: official ``efficientnet_lite_builder.py``, ``efficientnet_lite``).
EFFICIENTNET_LITE_STAGES = tuple(replace(s, se_ratio=0.0) for s in EFFICIENTNET_B0_STAGES)


def efficientnet_lite(variant: str) -> NetworkSpec:
    """EfficientNet-Lite``N`` (``lite0``..``lite4``) as the official
    ``efficientnet_lite_builder.py`` defines it (``efficientnet_lite``,
    ``efficientnet_lite_params``).

    B0's stages without SE, ReLU6 everywhere (``relu_fn=tf.nn.relu6``), and
    ``fix_head_stem=True``: the stem (32) and head (1280) widths are not scaled, nor are the
    repeats of the first and the last stage (``Model._build`` in ``efficientnet_model.py``).
    BN eps 1e-3 and survival probability 0.8 as in B0. The official Lite input preprocessing is
    ``(x - 127) / 128`` (``MEAN_RGB`` / ``STDDEV_RGB`` in ``efficientnet_lite_builder.py``),
    not the B-series' ImageNet mean and std.
    """
    return _from_table(
        f"efficientnet_{variant}",
        EFFICIENTNET_LITE_STAGES,
        LITE_VARIANTS[variant],
        activation="relu6",
        scale_stem=False,
        scale_head="never",
        fixed_depth_stages=(0, len(EFFICIENTNET_LITE_STAGES) - 1),
    )


def _fused(repeats: int, stride: int, expand: int, out: int) -> StageSpec:
    return StageSpec("fused", repeats, 3, stride, expand, out, 0.0)


def _mb3(repeats: int, stride: int, expand: int, out: int) -> StageSpec:
    return _mb(repeats, 3, stride, expand, out, 0.25)


#: EfficientNetV2's stage tables (``effnetv2_configs.py``: ``v2_base_block`` for B0..B3,
#: ``v2_s_block``, ``v2_m_block``, ``v2_l_block``, ``v2_xl_block``) and stem widths: Fused-MBConv
#: without SE in the early stages, 3x3 MBConv with SE 0.25 after.
V2_STAGES: dict[str, tuple[int, tuple[StageSpec, ...]]] = {
    "base": (32, (_fused(1, 1, 1, 16), _fused(2, 2, 4, 32), _fused(2, 2, 4, 48),
                  _mb3(3, 2, 4, 96), _mb3(5, 1, 6, 112), _mb3(8, 2, 6, 192))),
    "s": (24, (_fused(2, 1, 1, 24), _fused(4, 2, 4, 48), _fused(4, 2, 4, 64),
               _mb3(6, 2, 4, 128), _mb3(9, 1, 6, 160), _mb3(15, 2, 6, 256))),
    "m": (24, (_fused(3, 1, 1, 24), _fused(5, 2, 4, 48), _fused(5, 2, 4, 80),
               _mb3(7, 2, 4, 160), _mb3(14, 1, 6, 176), _mb3(18, 2, 6, 304),
               _mb3(5, 1, 6, 512))),
    "l": (32, (_fused(4, 1, 1, 32), _fused(7, 2, 4, 64), _fused(7, 2, 4, 96),
               _mb3(10, 2, 4, 192), _mb3(19, 1, 6, 224), _mb3(25, 2, 6, 384),
               _mb3(7, 1, 6, 640))),
    "xl": (32, (_fused(4, 1, 1, 32), _fused(8, 2, 4, 64), _fused(8, 2, 4, 96),
                _mb3(16, 2, 4, 192), _mb3(24, 1, 6, 256), _mb3(32, 2, 6, 512),
                _mb3(8, 1, 6, 640))),
}  # fmt: skip


def efficientnet_v2(variant: str) -> NetworkSpec:
    """EfficientNetV2-``variant`` (b0..b3, s, m, l, xl) as the official V2 code builds it
    (``effnetv2_configs.py``, ``effnetv2_model.py``): its stage table and stem, a 1280 head,
    SiLU, survival probability 0.8, and V2's ``round_filters`` (no 10% guard)."""
    v = V2_VARIANTS[variant]
    stem, stages = V2_STAGES["base" if variant.startswith("b") else variant]
    return NetworkSpec(
        name=f"efficientnet_v2_{variant}",
        stages=stages,
        stem_channels=stem,
        head_channels=1280,
        resolution=v.resolution,
        width=v.width,
        depth=v.depth,
        dropout=v.dropout,
        drop_path=0.2,
        activation="silu",
        round_limit=0.0,
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
