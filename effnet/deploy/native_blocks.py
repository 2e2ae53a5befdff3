"""MBConv as three native operators, and the swap of native modules into a folded network.

An MBConv block (paper Table 1, §4) at inference is: 1x1 expand conv + Swish, depthwise kxk conv
+ Swish, squeeze-excitation (global mean, two small FCs, sigmoid gate multiplying every channel),
1x1 project conv, skip. PyTorch makes a pass over the block's widest tensor for each of the
depthwise conv, its Swish, the SE mean and the gate multiply. :class:`NativeMBConv` runs the
expand conv with its Swish as one operator, the depthwise conv with its Swish and the SE mean as
another, and applies the gate inside the project conv (``effnet/deploy/kernels/``).
"""

from __future__ import annotations

import torch
from torch import nn

from effnet.deploy import native
from effnet.deploy.pointwise import ACTIVATIONS, PointwiseConv, is_pointwise, pack_weight
from effnet.models.blocks import DepthwiseSeparable, MBConv
from effnet.models.layers import SqueezeExcite
from effnet.models.network import Network

DEPTHWISE_KERNELS = (3, 5, 7)


def is_native_depthwise(conv: nn.Module) -> bool:
    """A depthwise ``nn.Conv2d`` the kernel runs: square k in 3/5/7, stride 1 or 2, PyTorch's
    symmetric ``k // 2`` padding (TF "SAME" convs are another class and are left alone)."""
    if type(conv) is not nn.Conv2d:
        return False
    k = conv.kernel_size[0]
    return (
        conv.kernel_size == (k, k)
        and k in DEPTHWISE_KERNELS
        and conv.groups == conv.in_channels == conv.out_channels
        and conv.stride in ((1, 1), (2, 2))
        and conv.padding == (k // 2, k // 2)
        and conv.dilation == (1, 1)
    )


def pack_depthwise(conv: nn.Conv2d) -> tuple[torch.Tensor, torch.Tensor]:
    """A depthwise conv's weight as ``[k*k, C rounded up to 16]`` (tap-major, channels
    contiguous) and its bias, zero-padded."""
    c, k = conv.out_channels, conv.kernel_size[0]
    cpad = -(-c // 16) * 16
    w = torch.zeros(k * k, cpad)
    w[:, :c] = conv.weight.detach().reshape(c, k * k).t().float()
    b = torch.zeros(cpad)
    if conv.bias is not None:
        b[:c] = conv.bias.detach().float()
    return w.contiguous(), b


def _activation_code(act: nn.Module) -> int | None:
    return ACTIVATIONS.get(type(act))


def can_fuse_mbconv(block: MBConv) -> bool:
    """Folded (BNs are ``nn.Identity``) with convs and activations the kernels run."""
    expand = not isinstance(block.conv_pw, nn.Identity)
    se = block.se
    return (
        all(isinstance(getattr(block, n), nn.Identity) for n in ("bn1", "bn2", "bn3"))
        and (not expand or (is_pointwise(block.conv_pw) and _activation_code(block.act1)))
        and is_native_depthwise(block.conv_dw)
        and _activation_code(block.act2) is not None
        and is_pointwise(block.conv_pwl)
        and (isinstance(se, nn.Identity) or (type(se) is SqueezeExcite))
    )


class NativeMBConv(nn.Module):
    """A BN-folded :class:`MBConv` run by the native kernels for float32 CPU input, by the block
    itself for other dtypes and devices."""

    def __init__(self, block: MBConv) -> None:
        super().__init__()
        if not can_fuse_mbconv(block):
            raise ValueError("NativeMBConv needs a BN-folded MBConv with plain convs")
        native.load(verbose=True)
        self.block = block
        self.has_expand = not isinstance(block.conv_pw, nn.Identity)
        self.has_se = not isinstance(block.se, nn.Identity)
        self.has_skip = block.has_skip
        mid = block.conv_dw.out_channels
        self.mid = mid
        self.out_channels = block.conv_pwl.out_channels
        self.kernel = block.conv_dw.kernel_size[0]
        self.stride = block.conv_dw.stride[0]
        self.expand_act = _activation_code(block.act1) if self.has_expand else 0
        self.dw_act = _activation_code(block.act2)
        pw = pack_weight(block.conv_pw) if self.has_expand else (torch.zeros(0), torch.zeros(0))
        self.register_buffer("pw_weight", pw[0])
        self.register_buffer("pw_bias", pw[1])
        dw = pack_depthwise(block.conv_dw)
        self.register_buffer("dw_weight", dw[0])
        self.register_buffer("dw_bias", dw[1])
        pwl = pack_weight(block.conv_pwl)
        self.register_buffer("pwl_weight", pwl[0])
        self.register_buffer("pwl_bias", pwl[1])
        if self.has_se:
            se = block.se
            self.se_reduce = nn.Linear(mid, se.conv_reduce.out_channels)
            self.se_expand = nn.Linear(se.conv_reduce.out_channels, mid)
            with torch.no_grad():
                for fc, conv in (
                    (self.se_reduce, se.conv_reduce),
                    (self.se_expand, se.conv_expand),
                ):
                    fc.weight.copy_(conv.weight.flatten(1))
                    fc.bias.copy_(conv.bias)
            self.se_act = se.act
        else:
            self.se_reduce = self.se_expand = self.se_act = nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not torch.ops.effnet_native.use_native(x):
            return self.block(x)
        shortcut = x
        if self.has_expand:
            x = torch.ops.effnet_native.pointwise_conv(
                x, self.pw_weight, self.pw_bias, self.mid, self.expand_act
            )
        y, mean = torch.ops.effnet_native.depthwise_conv(
            x, self.dw_weight, self.dw_bias, self.kernel, self.stride, self.dw_act, self.has_se
        )
        gate: torch.Tensor | None = None
        if self.has_se:
            gate = torch.sigmoid(self.se_expand(self.se_act(self.se_reduce(mean.flatten(1)))))
        out = torch.ops.effnet_native.pointwise_conv(
            y, self.pwl_weight, self.pwl_bias, self.out_channels, 0, gate
        )
        if self.has_skip:
            out.add_(shortcut)
        return out


def _fuse_native(module: nn.Module, conv_name: str, act_name: str | None) -> bool:
    conv = getattr(module, conv_name)
    act = getattr(module, act_name) if act_name else None
    if not is_pointwise(conv) or (act is not None and type(act) not in ACTIVATIONS):
        return False
    setattr(module, conv_name, PointwiseConv(conv, act))
    if act_name:
        setattr(module, act_name, nn.Identity())
    return True


def fuse_native(model: nn.Module) -> int:
    """Swap native modules into a BN-folded effnet network, in place; returns how many.

    Each :class:`MBConv` the kernels can run becomes a :class:`NativeMBConv`; the pointwise conv
    (+ activation) of :class:`DepthwiseSeparable` and the head conv (+ activation) of
    :class:`Network` become :class:`~effnet.deploy.pointwise.PointwiseConv`. Run it after
    :func:`~effnet.deploy.inference.fold_batchnorm`: unfolded parts are left as they are.
    """
    fused = 0
    for parent in list(model.modules()):
        for name, child in list(parent.named_children()):
            if isinstance(child, MBConv) and can_fuse_mbconv(child):
                setattr(parent, name, NativeMBConv(child))
                fused += 1
        if isinstance(parent, DepthwiseSeparable) and isinstance(parent.bn2, nn.Identity):
            fused += _fuse_native(parent, "conv_pw", "act2")
        if isinstance(parent, Network) and isinstance(parent.bn2, nn.Identity):
            fused += _fuse_native(parent, "conv_head", "act2")
    return fused
