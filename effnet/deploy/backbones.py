"""effnet networks as backbones for torchvision's detectors and segmenters.

:func:`backbone_with_fpn` gives what torchvision's RetinaNet, FCOS, Faster R-CNN and Mask
R-CNN take as ``backbone``: a module with an integer ``out_channels`` whose forward returns an
``OrderedDict`` of feature maps, a feature pyramid (Lin et al. 2017) over chosen levels of the
network plus an extra pooled level. EfficientDet (Tan et al. 2020) puts its BiFPN on the same
levels (strides 8, 16, 32 and pooled ones above). :func:`segmentation_backbone` gives the
``{"out", "aux"}`` maps torchvision's DeepLabV3 and FCN heads read.
"""

from __future__ import annotations

import os
from collections import OrderedDict
from collections.abc import Sequence

import torch
from torch import nn
from torchvision.ops import FeaturePyramidNetwork
from torchvision.ops.feature_pyramid_network import LastLevelMaxPool, LastLevelP6P7
from torchvision.ops.misc import FrozenBatchNorm2d

from effnet.models.network import FeatureNetwork, Network, feature_levels
from effnet.models.spec import NetworkSpec
from effnet.types import BackboneNorm, FpnExtra, Source, check_choice
from effnet.weights.create import create_model
from effnet.weights.loading import load_model


def build_network(
    name: str | NetworkSpec,
    weights: str | os.PathLike[str] | None = None,
    source: Source | None = None,
    pretrained: bool | str | None = None,
) -> Network:
    """``name`` with a library's published ImageNet weights (``pretrained``), the weights of
    ``weights`` (any source :func:`effnet.load_pretrained` reads), or freshly initialised."""
    if pretrained:
        if weights is not None or source is not None:
            raise ValueError("give pretrained, or weights (and source), not both")
        return create_model(name, pretrained=pretrained)  # type: ignore[return-value]
    if weights is None:
        if source is not None:
            raise ValueError("source names the layout of a weights file: give weights too")
        return create_model(name)  # type: ignore[return-value]
    if not isinstance(name, str):
        raise ValueError("weights load into a registered model name, not a spec")
    return load_model(weights, model=name, source=source or "effnet")[0]


def freeze_batch_norm(module: nn.Module) -> nn.Module:
    """Replace every ``BatchNorm2d`` inside ``module`` by torchvision's ``FrozenBatchNorm2d``
    with the same statistics, affine parameters and epsilon (in place; returns ``module``)."""
    for name, child in module.named_children():
        if isinstance(child, nn.BatchNorm2d):
            frozen = FrozenBatchNorm2d(child.num_features, eps=child.eps)
            with torch.no_grad():
                frozen.weight.copy_(child.weight)
                frozen.bias.copy_(child.bias)
                frozen.running_mean.copy_(child.running_mean)
                frozen.running_var.copy_(child.running_var)
            setattr(module, name, frozen)
        else:
            freeze_batch_norm(child)
    return module


def freeze_early_levels(features: FeatureNetwork, network: Network, trainable: int) -> None:
    """Stop gradients to all but the last ``trainable`` feature levels of ``network`` (the stem
    belongs to the first level), as torchvision's ResNet backbones do with
    ``trainable_layers``."""
    levels = feature_levels(network)
    if not 0 <= trainable <= len(levels):
        raise ValueError(f"trainable_layers must be in 0..{len(levels)}, got {trainable}")
    frozen_levels = len(levels) - trainable
    if frozen_levels == 0:
        return
    last_frozen_stage = int(levels[frozen_levels - 1]["stage"])
    parts: list[nn.Module] = [features.conv_stem, features.bn1]
    parts += list(features.blocks)[: last_frozen_stage + 1]
    for part in parts:
        part.requires_grad_(False)


class BackboneWithFPN(nn.Module):
    """Feature maps of an effnet network through a feature pyramid; ``out_channels`` maps each.

    ``forward`` returns an ``OrderedDict``: ``"0"``, ``"1"``, ... for the selected levels from
    fine to coarse, then ``"pool"`` (``extra="maxpool"``) or ``"p6"``, ``"p7"``
    (``extra="p6p7"``).
    """

    def __init__(
        self, features: FeatureNetwork, out_channels: int = 256, extra: FpnExtra = "maxpool"
    ) -> None:
        super().__init__()
        check_choice(FpnExtra, extra, "extra")
        blocks = {"maxpool": LastLevelMaxPool(), "p6p7": LastLevelP6P7(out_channels, out_channels)}
        self.body = features
        self.fpn = FeaturePyramidNetwork(
            features.feature_channels, out_channels, extra_blocks=blocks.get(extra)
        )
        self.out_channels = out_channels

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        maps = self.body(x)
        return self.fpn(OrderedDict((str(i), m) for i, m in enumerate(maps)))


def backbone_with_fpn(
    name: str | NetworkSpec,
    *,
    pretrained: bool | str | None = None,
    weights: str | os.PathLike[str] | None = None,
    source: Source | None = None,
    out_channels: int = 256,
    out_indices: Sequence[int] = (1, 2, 3, 4),
    extra: FpnExtra = "maxpool",
    trainable_layers: int = 3,
    norm: BackboneNorm = "frozen",
) -> BackboneWithFPN:
    """A detection backbone: ``name``'s feature levels ``out_indices`` through an FPN.

    Args:
        name: a registered model name or a spec.
        pretrained: ``"torchvision"`` or ``"timm"``: that library's published ImageNet
            weights (as ``create_model(name, pretrained=...)``).
        weights, source: a weights file and its layout (as ``effnet finetune`` reads them);
            default a freshly initialised network.
        out_channels: channels of every pyramid level.
        out_indices: feature levels (``model.feature_info``; strides 2, 4, 8, 16, 32 for
            EfficientNet). The default (strides 4..32) plus ``extra="maxpool"`` gives the five
            maps Faster R-CNN and Mask R-CNN expect; RetinaNet and FCOS expect
            ``out_indices=(2, 3, 4), extra="p6p7"`` (strides 8..128).
        extra: the level(s) above the last: ``maxpool`` (stride x2), ``p6p7`` (two stride-2
            convs) or ``none``.
        trainable_layers: how many of the network's feature levels, from the deepest, train
            (the rest, stem first, are frozen); 0..5 for EfficientNet.
        norm: ``frozen`` (torchvision's ``FrozenBatchNorm2d``, the detection default: small
            per-GPU batches cannot estimate BN statistics) or ``batch`` (BN trains).
    """
    check_choice(BackboneNorm, norm, "norm")
    network = build_network(name, weights, source, pretrained)
    features = FeatureNetwork(network, out_indices)
    freeze_early_levels(features, network, trainable_layers)
    if norm == "frozen":
        freeze_batch_norm(features)
    return BackboneWithFPN(features, out_channels, extra)


class SegmentationBackbone(nn.Module):
    """The coarsest selected feature map as ``"out"`` (and, with ``aux``, the one before it as
    ``"aux"``) in an ``OrderedDict``, as torchvision's segmentation models read a backbone.
    ``out_channels`` / ``aux_channels`` size their heads."""

    def __init__(self, features: FeatureNetwork, aux: bool = False) -> None:
        super().__init__()
        if aux and len(features.feature_channels) < 2:
            raise ValueError("an aux output needs two feature levels")
        self.body = features
        self.aux = aux
        self.out_channels = features.feature_channels[-1]
        self.aux_channels = features.feature_channels[-2] if aux else 0

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        maps = self.body(x)
        out = OrderedDict([("out", maps[-1])])
        if self.aux:
            out["aux"] = maps[-2]
        return out


def segmentation_backbone(
    name: str | NetworkSpec,
    *,
    pretrained: bool | str | None = None,
    weights: str | os.PathLike[str] | None = None,
    source: Source | None = None,
    aux: bool = False,
    norm: BackboneNorm = "batch",
) -> SegmentationBackbone:
    """A backbone for torchvision's ``DeepLabV3`` / ``FCN``: the stride-32 map as ``"out"``
    (with ``aux``, the stride-16 one as ``"aux"`` for an auxiliary head).

    Example::

        from torchvision.models.segmentation.deeplabv3 import DeepLabHead, DeepLabV3
        from torchvision.models.segmentation.fcn import FCNHead

        backbone = effnet.segmentation_backbone("efficientnet_b0", aux=True)
        model = DeepLabV3(
            backbone,
            DeepLabHead(backbone.out_channels, num_classes),
            FCNHead(backbone.aux_channels, num_classes),
        )
    """
    check_choice(BackboneNorm, norm, "norm")
    network = build_network(name, weights, source, pretrained)
    last = len(feature_levels(network)) - 1
    features = FeatureNetwork(network, (last - 1, last) if aux else (last,))
    if norm == "frozen":
        freeze_batch_norm(features)
    return SegmentationBackbone(features, aux)
