"""Resolve a :class:`~effnet.models.spec.NetworkSpec` into concrete layers: the rounding rules
(:mod:`effnet.models.rounding`) are applied here, once."""

from __future__ import annotations

from dataclasses import dataclass

from effnet.models.rounding import round_filters, round_repeats
from effnet.models.spec import NetworkSpec
from effnet.types import BlockKind


@dataclass(frozen=True)
class BlockPlan:
    """One concrete block: its channels, stride and stochastic-depth rate."""

    kind: BlockKind
    stage: int
    in_channels: int
    out_channels: int
    mid_channels: int
    kernel: int
    stride: int
    se_channels: int
    drop_path: float


@dataclass(frozen=True)
class NetworkPlan:
    """All concrete layer sizes of a network."""

    stem_channels: int
    blocks: tuple[BlockPlan, ...]
    head_channels: int  # 0: no head conv

    @property
    def num_features(self) -> int:
        """Channels entering the classifier."""
        return self.head_channels or self.blocks[-1].out_channels


def plan_network(spec: NetworkSpec, drop_path: float | None = None) -> NetworkPlan:
    """Apply width/depth rounding to every stage and lay out the blocks.

    Stochastic depth grows linearly with the global block index i of n: ``rate · i / n``
    (``drop_rate *= float(idx) / len(self._blocks)`` in the official
    ``efficientnet_model.py``, ``Model.call``). Only blocks with an identity skip use it.

    A spec may leave the stem width (``scale_stem``), the head width (``scale_head``) or some
    stages' repeats (``fixed_depth_stages``) unscaled, as EfficientNet-Lite does
    (``fix_head_stem`` in the official ``efficientnet_model.py``, ``Model._build``): the stem
    and head keep their channels exactly, and the first block takes the stem's width.
    """
    rate = spec.drop_path if drop_path is None else drop_path
    w, d = spec.width, spec.depth
    stem = spec.stem_channels
    if spec.scale_stem:
        stem = round_filters(stem, w, spec.divisor, spec.round_limit)
    repeats = [
        s.repeats if i in spec.fixed_depth_stages else round_repeats(s.repeats, d)
        for i, s in enumerate(spec.stages)
    ]
    total = sum(repeats)
    blocks: list[BlockPlan] = []
    in_ch = stem
    for stage_index, (stage, n) in enumerate(zip(spec.stages, repeats)):
        out_ch = round_filters(stage.out_channels, w, spec.divisor, spec.round_limit)
        for j in range(n):
            stride = stage.stride if j == 0 else 1
            if stage.block in ("mbconv", "fused"):
                mid = int(in_ch * stage.expand)
            elif stage.block == "bottleneck":
                mid = round_filters(
                    stage.out_channels * stage.expand, w, spec.divisor, spec.round_limit
                )
            else:
                mid = in_ch
            se = max(1, int(in_ch * stage.se_ratio)) if stage.se_ratio > 0 else 0
            blocks.append(
                BlockPlan(
                    kind=stage.block,
                    stage=stage_index,
                    in_channels=in_ch,
                    out_channels=out_ch,
                    mid_channels=mid,
                    kernel=stage.kernel,
                    stride=stride,
                    se_channels=se,
                    drop_path=rate * len(blocks) / total,
                )
            )
            in_ch = out_ch
    head = 0
    if spec.head_channels:
        head = round_filters(spec.head_channels, w, spec.divisor, spec.round_limit)
        if spec.scale_head == "up_only":
            head = max(spec.head_channels, head)
        elif spec.scale_head == "never":
            head = spec.head_channels
    return NetworkPlan(stem_channels=stem, blocks=tuple(blocks), head_channels=head)
