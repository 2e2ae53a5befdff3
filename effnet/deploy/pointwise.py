"""1x1 convolution + bias + activation as one native operator (CPU inference).

At batch 1 on one thread, B0's 1x1 convolutions are about half its time, and PyTorch spends as
much on the bias copy and the separate activation pass over each output as on the matrix product
(``benchmarks/compare.py``). :class:`PointwiseConv` runs all three in one pass
(``effnet/deploy/kernels/``); :func:`effnet.deploy.native_blocks.fuse_native` swaps
it into a BN-folded network, which :func:`effnet.deploy.inference.optimize_for_inference` does
with ``native=True``.
"""

from __future__ import annotations

import torch
from torch import nn

from effnet.deploy import native

#: activation module -> the kernel's code (0: none)
ACTIVATIONS: dict[type[nn.Module], int] = {nn.SiLU: 1, nn.ReLU: 2, nn.ReLU6: 3}
GROUP = 64  # output channels per packed weight group (the kernel's tile width)


def pack_weight(conv: nn.Conv2d) -> tuple[torch.Tensor, torch.Tensor]:
    """A 1x1 conv's weight as ``[groups, in, 64]`` and its bias as ``[groups * 64]``, zero-padded
    (the layout the kernel streams)."""
    out_ch, in_ch = conv.weight.shape[:2]
    groups = -(-out_ch // GROUP)
    w = torch.zeros(in_ch, groups * GROUP)
    w[:, :out_ch] = conv.weight.detach().reshape(out_ch, in_ch).t().float()
    b = torch.zeros(groups * GROUP)
    if conv.bias is not None:
        b[:out_ch] = conv.bias.detach().float()
    return w.reshape(in_ch, groups, GROUP).transpose(0, 1).contiguous(), b


def is_pointwise(conv: nn.Module) -> bool:
    """A plain 1x1, stride-1, ungrouped, unpadded ``nn.Conv2d``."""
    return (
        type(conv) is nn.Conv2d
        and conv.kernel_size == (1, 1)
        and conv.stride == (1, 1)
        and conv.groups == 1
        and conv.dilation == (1, 1)
        and conv.padding in ((0, 0), "valid")
    )


class PointwiseConv(nn.Module):
    """``act(conv(x))`` for a 1x1 ``conv``, by the native kernel for float32 CPU input (PyTorch's
    conv and activation for other dtypes and devices)."""

    def __init__(self, conv: nn.Conv2d, activation: nn.Module | None = None) -> None:
        super().__init__()
        if not is_pointwise(conv):
            raise ValueError(f"PointwiseConv needs a plain 1x1 nn.Conv2d, got {conv}")
        act = 0 if activation is None else ACTIVATIONS.get(type(activation))
        if act is None:
            raise ValueError(
                f"PointwiseConv supports {[a.__name__ for a in ACTIVATIONS]}, got {activation}"
            )
        native.load(verbose=True)  # says so when it compiles (once per machine)
        weight, bias = pack_weight(conv)
        self.register_buffer("weight", weight)
        self.register_buffer("bias", bias)
        self.out_channels = conv.out_channels
        self.act = act
        self.conv = conv
        self.activation = activation if activation is not None else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if torch.ops.effnet_native.use_native(x):
            return torch.ops.effnet_native.pointwise_conv(
                x, self.weight, self.bias, self.out_channels, self.act
            )
        return self.activation(self.conv(x))
