"""Small building blocks: convolutions with TF "SAME" padding, squeeze-excitation, drop-path."""

from __future__ import annotations

import math
from collections.abc import Callable
from functools import partial

import torch
import torch.nn.functional as F
from torch import nn

from effnet.types import Padding

NormLayer = Callable[[int], nn.Module]
BatchNorm = nn.modules.batchnorm._BatchNorm


def batch_norms(module: nn.Module) -> list[BatchNorm]:
    """Every BatchNorm layer of ``module``, in registration order."""
    return [m for m in module.modules() if isinstance(m, BatchNorm)]


def tf_batchnorm(eps: float = 1e-3) -> NormLayer:
    """BatchNorm as the official code configures it (``batch_norm_momentum=0.99``,
    ``batch_norm_epsilon=1e-3`` in ``efficientnet_builder.py``).

    TF's momentum 0.99 weighs the *old* running mean; PyTorch's momentum weighs the *new*
    batch, so the same behaviour is ``momentum=0.01`` here.
    """
    return partial(nn.BatchNorm2d, eps=eps, momentum=0.01)


def make_activation(name: str) -> nn.Module:
    """``silu`` (Swish, paper §4), ``relu`` or ``relu6``."""
    if name == "silu":
        return nn.SiLU(inplace=True)
    if name == "relu":
        return nn.ReLU(inplace=True)
    if name == "relu6":
        return nn.ReLU6(inplace=True)
    raise ValueError(f"unknown activation {name!r}; expected silu, relu or relu6")


def same_padding(size: int, kernel: int, stride: int, dilation: int = 1) -> tuple[int, int]:
    """TF "SAME" padding for one spatial dimension: (before, after); the extra pixel goes after."""
    out = math.ceil(size / stride)
    total = max((out - 1) * stride + (kernel - 1) * dilation + 1 - size, 0)
    return total // 2, total - total // 2


class Conv2dSame(nn.Conv2d):
    """A convolution with TF "SAME" padding, computed per input size (so any H != W works).

    Used only where the padding is asymmetric (stride > 1 or even kernels); elsewhere "SAME"
    equals symmetric padding and a plain :class:`nn.Conv2d` is built instead.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        ih, iw = x.shape[-2:]
        top, bottom = same_padding(ih, self.kernel_size[0], self.stride[0], self.dilation[0])
        left, right = same_padding(iw, self.kernel_size[1], self.stride[1], self.dilation[1])
        if top or bottom or left or right:
            x = F.pad(x, (left, right, top, bottom))
        return F.conv2d(x, self.weight, self.bias, self.stride, 0, self.dilation, self.groups)


def create_conv2d(
    in_channels: int,
    out_channels: int,
    kernel: int,
    *,
    stride: int = 1,
    groups: int = 1,
    bias: bool = False,
    padding: Padding = "symmetric",
) -> nn.Conv2d:
    """A conv with either PyTorch symmetric padding (``k // 2``) or TF "SAME" padding."""
    if padding == "same" and (stride > 1 or kernel % 2 == 0):
        return Conv2dSame(in_channels, out_channels, kernel, stride, 0, groups=groups, bias=bias)
    if padding not in ("same", "symmetric"):
        raise ValueError(f"padding must be 'symmetric' or 'same', got {padding!r}")
    return nn.Conv2d(
        in_channels, out_channels, kernel, stride, kernel // 2, groups=groups, bias=bias
    )


class SqueezeExcite(nn.Module):
    """Squeeze-and-excitation (Hu et al. 2018) as used in MBConv (paper §4).

    Global mean -> 1x1 reduce conv -> activation -> 1x1 expand conv -> sigmoid gate. The squeeze
    width is set by the caller from the block's *input* channels
    (``max(1, int(input_filters * se_ratio))`` in the official ``MBConvBlock._build``).
    """

    def __init__(self, channels: int, squeeze_channels: int, activation: str = "silu") -> None:
        super().__init__()
        self.conv_reduce = nn.Conv2d(channels, squeeze_channels, 1, bias=True)
        self.act = make_activation(activation)
        self.conv_expand = nn.Conv2d(squeeze_channels, channels, 1, bias=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s = x.mean((2, 3), keepdim=True)  # (N, C, 1, 1)
        s = self.conv_expand(self.act(self.conv_reduce(s)))
        return x * s.sigmoid()


class DropPath(nn.Module):
    """Stochastic depth (Huang et al. 2016): drop the residual branch per sample in training.

    Survivors are divided by the survival probability so the expectation is unchanged.
    """

    def __init__(self, rate: float = 0.0) -> None:
        super().__init__()
        if not 0.0 <= rate < 1.0:
            raise ValueError(f"drop-path rate must be in [0, 1), got {rate}")
        self.rate = rate

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.rate == 0.0:
            return x
        keep = 1.0 - self.rate
        mask = x.new_empty([x.shape[0]] + [1] * (x.dim() - 1)).bernoulli_(keep)
        return x * mask.div_(keep)  # scale the (N, 1, 1, 1) mask, not the whole map

    def extra_repr(self) -> str:
        return f"rate={self.rate:.4f}"
