"""Network blocks: MBConv (EfficientNet, MobileNetV2), Fused-MBConv (EfficientNetV2),
depthwise-separable (MobileNetV1) and the ResNet bottleneck. Each forward reads as a flat
sequence of named submodules."""

from __future__ import annotations

import torch
from torch import nn

from effnet.models.layers import (
    DropPath,
    NormLayer,
    Padding,
    SqueezeExcite,
    create_conv2d,
    make_activation,
)
from effnet.models.plan import BlockPlan


class MBConv(nn.Module):
    """Mobile inverted bottleneck with squeeze-excitation (paper Table 1 and §4;
    ``MBConvBlock`` in the official ``efficientnet_model.py``).

    1x1 expand conv + BN + act (absent when expand = 1) -> depthwise kxk conv + BN + act -> SE
    -> 1x1 project conv + BN (linear) -> identity skip with drop-path when shapes allow.
    """

    def __init__(
        self, plan: BlockPlan, activation: str, norm_layer: NormLayer, padding: Padding
    ) -> None:
        super().__init__()
        mid = plan.mid_channels
        self.has_skip = plan.stride == 1 and plan.in_channels == plan.out_channels
        if mid != plan.in_channels:
            self.conv_pw = nn.Conv2d(plan.in_channels, mid, 1, bias=False)
            self.bn1 = norm_layer(mid)
            self.act1 = make_activation(activation)
        else:
            self.conv_pw = self.bn1 = self.act1 = nn.Identity()
        self.conv_dw = create_conv2d(
            mid, mid, plan.kernel, stride=plan.stride, groups=mid, padding=padding
        )
        self.bn2 = norm_layer(mid)
        self.act2 = make_activation(activation)
        self.se = (
            SqueezeExcite(mid, plan.se_channels, activation) if plan.se_channels else nn.Identity()
        )
        self.conv_pwl = nn.Conv2d(mid, plan.out_channels, 1, bias=False)
        self.bn3 = norm_layer(plan.out_channels)
        self.drop_path = DropPath(plan.drop_path) if self.has_skip else nn.Identity()

    def zero_init_last(self) -> None:
        """Start a residual block as the identity: its last BN scale is zero (as timm's
        ``zero_init_last``); a block without a skip is left as it is."""
        if self.has_skip:
            nn.init.zeros_(self.bn3.weight)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shortcut = x
        x = self.act1(self.bn1(self.conv_pw(x)))  # (N, mid, H, W)
        x = self.act2(self.bn2(self.conv_dw(x)))  # (N, mid, H/s, W/s)
        x = self.se(x)
        x = self.bn3(self.conv_pwl(x))  # (N, out, H/s, W/s)
        if self.has_skip:
            x = self.drop_path(x)
            x += shortcut  # in place: neither BN nor drop-path needs its output for backward
        return x


class FusedMBConv(nn.Module):
    """Fused-MBConv with an expansion (EfficientNetV2 §3.2, Fig. 2; ``FusedMBConvBlock`` in the
    official ``effnetv2_model.py``): kxk expansion conv (with the stride) + BN + act -> SE
    (none in V2's tables) -> 1x1 project conv + BN (linear) -> identity skip with drop-path when
    shapes allow. Layer names as timm's ``EdgeResidual``."""

    def __init__(
        self, plan: BlockPlan, activation: str, norm_layer: NormLayer, padding: Padding
    ) -> None:
        super().__init__()
        mid = plan.mid_channels
        self.has_skip = plan.stride == 1 and plan.in_channels == plan.out_channels
        self.conv_exp = create_conv2d(
            plan.in_channels, mid, plan.kernel, stride=plan.stride, padding=padding
        )
        self.bn1 = norm_layer(mid)
        self.act1 = make_activation(activation)
        self.se = (
            SqueezeExcite(mid, plan.se_channels, activation) if plan.se_channels else nn.Identity()
        )
        self.conv_pwl = nn.Conv2d(mid, plan.out_channels, 1, bias=False)
        self.bn2 = norm_layer(plan.out_channels)
        self.drop_path = DropPath(plan.drop_path) if self.has_skip else nn.Identity()

    def zero_init_last(self) -> None:
        """Start a residual block as the identity (its last BN scale at zero)."""
        if self.has_skip:
            nn.init.zeros_(self.bn2.weight)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shortcut = x
        x = self.act1(self.bn1(self.conv_exp(x)))  # (N, mid, H/s, W/s)
        x = self.se(x)
        x = self.bn2(self.conv_pwl(x))  # (N, out, H/s, W/s)
        if self.has_skip:
            x = self.drop_path(x)
            x += shortcut
        return x


class FusedConv(nn.Module):
    """Fused-MBConv with expansion ratio 1 (official ``FusedMBConvBlock`` without
    ``_expand_conv``): a kxk conv to the output + BN + act, identity skip with drop-path when
    shapes allow. Layer names as timm's ``ConvBnAct``."""

    def __init__(
        self, plan: BlockPlan, activation: str, norm_layer: NormLayer, padding: Padding
    ) -> None:
        super().__init__()
        self.has_skip = plan.stride == 1 and plan.in_channels == plan.out_channels
        self.conv = create_conv2d(
            plan.in_channels, plan.out_channels, plan.kernel, stride=plan.stride, padding=padding
        )
        self.bn1 = norm_layer(plan.out_channels)
        self.act1 = make_activation(activation)
        self.drop_path = DropPath(plan.drop_path) if self.has_skip else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shortcut = x
        x = self.act1(self.bn1(self.conv(x)))
        if self.has_skip:
            x = self.drop_path(x) + shortcut
        return x


class DepthwiseSeparable(nn.Module):
    """MobileNetV1's block (Howard et al. 2017): depthwise kxk + BN + act, 1x1 + BN + act."""

    def __init__(
        self, plan: BlockPlan, activation: str, norm_layer: NormLayer, padding: Padding
    ) -> None:
        super().__init__()
        c = plan.in_channels
        self.conv_dw = create_conv2d(
            c, c, plan.kernel, stride=plan.stride, groups=c, padding=padding
        )
        self.bn1 = norm_layer(c)
        self.act1 = make_activation(activation)
        self.conv_pw = nn.Conv2d(c, plan.out_channels, 1, bias=False)
        self.bn2 = norm_layer(plan.out_channels)
        self.act2 = make_activation(activation)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.act1(self.bn1(self.conv_dw(x)))
        return self.act2(self.bn2(self.conv_pw(x)))


class Bottleneck(nn.Module):
    """ResNet's bottleneck (He et al. 2016), stride on the 3x3 conv (the "v1.5" form that
    torchvision uses): 1x1 reduce, kxk, 1x1 expand, projection shortcut when shapes change."""

    def __init__(
        self, plan: BlockPlan, activation: str, norm_layer: NormLayer, padding: Padding
    ) -> None:
        super().__init__()
        mid, out = plan.mid_channels, plan.out_channels
        self.conv1 = nn.Conv2d(plan.in_channels, mid, 1, bias=False)
        self.bn1 = norm_layer(mid)
        self.act1 = make_activation(activation)
        self.conv2 = create_conv2d(mid, mid, plan.kernel, stride=plan.stride, padding=padding)
        self.bn2 = norm_layer(mid)
        self.act2 = make_activation(activation)
        self.conv3 = nn.Conv2d(mid, out, 1, bias=False)
        self.bn3 = norm_layer(out)
        if plan.stride != 1 or plan.in_channels != out:
            self.downsample: nn.Module = nn.Sequential(
                nn.Conv2d(plan.in_channels, out, 1, stride=plan.stride, bias=False),
                norm_layer(out),
            )
        else:
            self.downsample = nn.Identity()
        self.drop_path = DropPath(plan.drop_path)
        self.act3 = make_activation(activation)

    def zero_init_last(self) -> None:
        """Start the residual branch at zero: its last BN scale is zero (as timm's
        ``zero_init_last``)."""
        nn.init.zeros_(self.bn3.weight)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shortcut = self.downsample(x)
        x = self.act1(self.bn1(self.conv1(x)))
        x = self.act2(self.bn2(self.conv2(x)))
        x = self.bn3(self.conv3(x))
        return self.act3(self.drop_path(x) + shortcut)


BLOCKS: dict[str, type[nn.Module]] = {
    "mbconv": MBConv,
    "fused": FusedMBConv,
    "dwsep": DepthwiseSeparable,
    "bottleneck": Bottleneck,
}


def make_block(
    plan: BlockPlan, activation: str, norm_layer: NormLayer, padding: Padding
) -> nn.Module:
    """The block ``plan`` describes (a Fused-MBConv without expansion is :class:`FusedConv`)."""
    if plan.kind == "fused" and plan.mid_channels == plan.in_channels:
        return FusedConv(plan, activation, norm_layer, padding)
    return BLOCKS[plan.kind](plan, activation, norm_layer, padding)
