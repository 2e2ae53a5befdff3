"""Networks as data: frozen dataclasses for a stage and a whole network.

A spec holds the *base* network (e.g. the paper's Table 1 for EfficientNet-B0) together with
the width and depth multipliers and the input resolution. Scaling never edits channel counts
in place: it multiplies the multipliers, and the rounding rules of the official code are
applied once, when the concrete layer plan is resolved (see :mod:`effnet.models.plan`). This keeps
``scale(scale(spec, a), b) == scale(spec, a * b)`` free of double rounding.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, replace

from effnet.types import Activation, BlockKind, HeadScaling, check_choice


@dataclass(frozen=True)
class StageSpec:
    """One row of a network table (paper Table 1).

    Args:
        block: ``"mbconv"`` (inverted residual, MobileNetV2 / EfficientNet), ``"fused"``
            (Fused-MBConv, EfficientNetV2 §3.2: one kxk expansion conv in place of the 1x1
            expand and the depthwise conv; with expand 1, a kxk conv alone), ``"dwsep"``
            (depthwise-separable, MobileNetV1) or ``"bottleneck"`` (ResNet).
        repeats: number of blocks in the stage, before depth scaling.
        kernel: depthwise (or middle) kernel size.
        stride: stride of the first block of the stage.
        expand: MBConv expansion ratio; for ``"bottleneck"`` the ratio of the middle width to
            the output width (0.25 in ResNet-50).
        out_channels: output channels before width scaling.
        se_ratio: squeeze-excitation ratio relative to the block input channels (0 = no SE).
    """

    block: BlockKind
    repeats: int
    kernel: int
    stride: int
    expand: float
    out_channels: int
    se_ratio: float = 0.0

    def __post_init__(self) -> None:
        if self.repeats < 1 or self.out_channels < 1 or self.kernel < 1 or self.stride < 1:
            raise ValueError(f"invalid stage {self}")


@dataclass(frozen=True)
class NetworkSpec:
    """A whole network: stem, stages, head, and how it is scaled.

    Args:
        name: a human-readable name (``efficientnet_b0``, ``mobilenet_v2`` ...).
        stages: the base stages.
        stem_channels: stem conv output channels before width scaling.
        head_channels: 1x1 head conv channels before width scaling (0 = no head conv).
        resolution: input resolution the network is meant for.
        width: width multiplier applied with :func:`effnet.models.rounding.round_filters`.
        depth: depth multiplier applied with :func:`effnet.models.rounding.round_repeats`.
        dropout: dropout rate before the classifier.
        drop_path: stochastic-depth rate of the last block (linear in block index).
        activation: activation used everywhere (SiLU = Swish in EfficientNet).
        stem_kernel, stem_stride: the stem convolution.
        stem_pool: a 3x3 stride-2 max-pool after the stem (ResNet).
        scale_head: whether the head conv width follows the width multiplier. MobileNetV2 only
            scales it up (``max(head, round(head * w))``); EfficientNet-Lite never does
            (``fix_head_stem=True`` in the official ``efficientnet_lite_builder.py``).
        divisor: channel counts are rounded to multiples of this.
        scale_stem: whether the stem conv width follows the width multiplier (``False`` in
            EfficientNet-Lite: ``round_filters(32, ..., skip=fix_head_stem)`` keeps 32).
        fixed_depth_stages: indices of stages whose repeats the depth multiplier leaves alone.
            EfficientNet-Lite keeps the first and the last stage's (``Model._build`` in the
            official ``efficientnet_model.py``: ``if self._fix_head_stem and (i == 0 or
            i == len(self._blocks_args) - 1): repeats = block_args.num_repeat``).
        round_limit: the rounding guard of :func:`effnet.models.rounding.round_filters` (0.9;
            EfficientNetV2 has none: 0).
    """

    name: str
    stages: tuple[StageSpec, ...]
    stem_channels: int
    head_channels: int
    resolution: int
    width: float = 1.0
    depth: float = 1.0
    dropout: float = 0.2
    drop_path: float = 0.2
    activation: Activation = "silu"
    stem_kernel: int = 3
    stem_stride: int = 2
    stem_pool: bool = False
    scale_head: HeadScaling = "always"
    divisor: int = 8
    # fields added later keep defaults, so specs written before them still load
    scale_stem: bool = True
    fixed_depth_stages: tuple[int, ...] = ()
    round_limit: float = 0.9

    def __post_init__(self) -> None:
        if not self.stages:
            raise ValueError("a network needs at least one stage")
        check_choice(HeadScaling, self.scale_head, "scale_head")
        # a list (from JSON or a caller) becomes a tuple, so equal specs compare equal
        object.__setattr__(self, "fixed_depth_stages", tuple(self.fixed_depth_stages))
        n = len(self.stages)
        if any(not 0 <= i < n for i in self.fixed_depth_stages):
            raise ValueError(
                f"fixed_depth_stages must index the {n} stages (0..{n - 1}), "
                f"got {self.fixed_depth_stages}"
            )
        if self.width <= 0 or self.depth <= 0 or self.resolution < 8:
            raise ValueError(
                f"invalid scaling: width={self.width}, depth={self.depth}, "
                f"resolution={self.resolution}"
            )

    def replace(self, **changes: object) -> NetworkSpec:
        """A copy with some fields changed (specs are immutable)."""
        return replace(self, **changes)  # type: ignore[arg-type]

    def to_json(self) -> str:
        """A JSON string that :meth:`from_json` turns back into an equal spec."""
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> NetworkSpec:
        data = json.loads(text)
        data["stages"] = tuple(StageSpec(**s) for s in data["stages"])
        return cls(**data)
