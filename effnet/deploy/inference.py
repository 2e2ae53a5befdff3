"""Inference fast path: fold BatchNorm into the convolutions, channels_last, frozen TorchScript.

In eval mode a BatchNorm is an affine map per channel, so ``bn(conv(x))`` equals one
convolution with scaled weights and a bias (torch's :func:`~torch.nn.utils.fusion.
fuse_conv_bn_eval`). Folding removes one full read and write of every activation map.
``channels_last`` (NHWC) lets oneDNN / cuDNN run the depthwise convolutions of MBConv without
layout conversions. Scripting and freezing the folded network (:func:`torch.jit.freeze`) then
removes the Python cost of its ~250 module calls, which dominates at batch 1 on one CPU thread.

``backend="onnxruntime"`` instead runs the folded network in an ONNX Runtime session on the CPU
(:mod:`~effnet.deploy.onnxruntime_module`): a graph without Python, whose convolutions ONNX
Runtime's optimisations fuse with what follows them where they can and run in its blocked
channel layout (NCHWc).
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import Literal

import torch
from torch import nn
from torch.nn.utils.fusion import fuse_conv_bn_eval

from effnet.deploy.export import example_input as default_input
from effnet.deploy.export import script_model
from effnet.deploy.onnxruntime_module import onnxruntime_module
from effnet.models.blocks import Bottleneck, DepthwiseSeparable, FusedConv, FusedMBConv, MBConv
from effnet.models.network import FeatureNetwork, Network

#: (conv, norm) attribute pairs applied back to back in each known module's forward.
FOLD_PAIRS: dict[type[nn.Module], tuple[tuple[str, str], ...]] = {
    Network: (("conv_stem", "bn1"), ("conv_head", "bn2")),
    FeatureNetwork: (("conv_stem", "bn1"),),
    MBConv: (("conv_pw", "bn1"), ("conv_dw", "bn2"), ("conv_pwl", "bn3")),
    FusedMBConv: (("conv_exp", "bn1"), ("conv_pwl", "bn2")),
    FusedConv: (("conv", "bn1"),),
    DepthwiseSeparable: (("conv_dw", "bn1"), ("conv_pw", "bn2")),
    Bottleneck: (("conv1", "bn1"), ("conv2", "bn2"), ("conv3", "bn3")),
}


def fold_batchnorm(model: nn.Module) -> int:
    """Fold every BatchNorm of ``model`` into the convolution before it, in place.

    Known effnet modules (see :data:`FOLD_PAIRS`) and ``nn.Sequential`` runs of conv -> BN are
    folded; each BN becomes ``nn.Identity``. Returns the number of BNs folded.
    """
    folded = 0
    for module in model.modules():
        if isinstance(module, nn.Sequential):
            names = list(module._modules)
            pairs = tuple(zip(names, names[1:]))
        else:
            pairs = FOLD_PAIRS.get(type(module), ())
        for conv_name, bn_name in pairs:
            conv, bn = getattr(module, conv_name), getattr(module, bn_name)
            if isinstance(conv, nn.Conv2d) and type(bn) is nn.BatchNorm2d:
                if bn.running_mean is None or bn.running_var is None:
                    raise ValueError("cannot fold a BatchNorm without running statistics")
                setattr(module, conv_name, fuse_conv_bn_eval(conv.eval(), bn.eval()))
                setattr(module, bn_name, nn.Identity())
                folded += 1
    return folded


def _to_channels_last(module: nn.Module, args: tuple[torch.Tensor, ...]) -> tuple[torch.Tensor]:
    return (args[0].contiguous(memory_format=torch.channels_last),)


class _ChannelsLastInput(nn.Module):
    """``model`` fed NHWC input: what a forward pre-hook does, in a scriptable form."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor):  # noqa: ANN201 - a tensor, or a list of feature maps
        return self.model(x.contiguous(memory_format=torch.channels_last))


def _frozen_script(model: nn.Module, channels_last: bool) -> torch.jit.ScriptModule:
    """``model`` scripted and frozen (weights become constants; TorchScript is deprecated
    upstream in favour of ``torch.compile``, which was slower here: its warnings are muted)."""
    wrapped = _ChannelsLastInput(model) if channels_last else model
    try:
        scripted = script_model(wrapped.eval())
    except RuntimeError as e:
        raise RuntimeError(f"{e}; pass script=False for the eager fast path") from e
    return torch.jit.freeze(scripted)


Backend = Literal["torch", "onnxruntime"]


def _check_close(ref: object, out: object) -> None:
    """``out`` equals ``ref`` (a tensor, or a sequence of tensors) within 1e-4."""
    pairs = list(zip(ref, out, strict=True)) if isinstance(ref, Sequence) else [(ref, out)]
    for r, o in pairs:
        if not torch.allclose(r, o, rtol=1e-4, atol=1e-4):
            err = (r - o).abs().max().item()
            raise RuntimeError(f"optimized model differs from eager by {err:.3g} (> 1e-4)")


def optimize_for_inference(
    model: nn.Module,
    example_input: torch.Tensor | None = None,
    *,
    channels_last: bool = True,
    script: bool | None = None,
    compile: bool = False,
    backend: Backend = "torch",
) -> nn.Module:
    """An eval-only copy of ``model`` made fast for inference; ``model`` is left untouched.

    Folds every BatchNorm into its convolution, then (``backend="torch"``) optionally converts
    weights and inputs to ``channels_last`` and scripts and freezes the result (or wraps it in
    :func:`torch.compile`), or (``backend="onnxruntime"``) exports it to ONNX in memory and
    returns a module running it in ONNX Runtime (CPU; torch tensors in and out). Outputs equal
    the eager model's within float32 rounding (1e-4).

    Args:
        model: an effnet :class:`~effnet.models.network.Network` (or any module of conv -> BN runs).
        example_input: if given, the result is run on it once and checked against ``model``
            (and, with ``compile=True``, this triggers the compilation). With
            ``backend="onnxruntime"`` it also sets the traced input size (default: a
            :class:`~effnet.models.network.Network`'s resolution).
        channels_last: use the NHWC memory format (faster on CPU with oneDNN and on GPU).
            ``backend="torch"`` only: ONNX Runtime picks its own layout.
        script: return a frozen TorchScript module (``forward`` only; the fastest at small
            batches on CPU; the default); ``False``: the folded eager module
            (``forward_features`` etc. kept, the input converted by a forward pre-hook).
            Ignored with ``compile``. ``backend="torch"`` only.
        compile: wrap in :func:`torch.compile` with inductor's weight freezing (needs a C++
            compiler on CPU; the first call compiles, about a minute for B0 on 2 cores).
            ``backend="torch"`` only.
        backend: ``"torch"``, or ``"onnxruntime"``: a session with every graph optimisation,
            ``torch.get_num_threads()`` intra-op threads (read when it is built), a dynamic
            batch axis, and dynamic height and width unless the model uses TF "SAME" padding
            (see :func:`~effnet.deploy.onnxruntime_module.onnxruntime_module`). Needs
            ``pip install onnxruntime onnx onnxscript``.

    Raises:
        ValueError: an unknown ``backend``, ``script`` or ``compile`` with
            ``backend="onnxruntime"``, or a model ONNX Runtime cannot take.
        ImportError: ``backend="onnxruntime"`` without ONNX Runtime or the ONNX exporter.
        RuntimeError: the result differs from ``model`` on ``example_input``.
    """
    if backend not in ("torch", "onnxruntime"):
        raise ValueError(f"unknown backend {backend!r}; expected 'torch' or 'onnxruntime'")
    if backend == "onnxruntime" and (compile or script is not None):
        option = "compile=True" if compile else f"script={script}"
        raise ValueError(f"{option} is a torch-backend option; backend='onnxruntime' takes neither")
    if backend == "onnxruntime" and example_input is None and not hasattr(model, "spec"):
        raise ValueError(f"backend='onnxruntime' needs example_input for a {type(model).__name__}")
    fast = copy.deepcopy(model).eval()
    for p in fast.parameters():
        p.requires_grad_(False)
    fold_batchnorm(fast)
    if backend == "onnxruntime":
        example = default_input(fast) if example_input is None else example_input
        fast = onnxruntime_module(fast.to("cpu", torch.float32), example)
    else:
        if channels_last:
            fast = fast.to(memory_format=torch.channels_last)
        if script is not False and not compile:
            fast = _frozen_script(fast, channels_last)
        elif channels_last:
            fast.register_forward_pre_hook(_to_channels_last)
        if compile:
            # freezing: weights become constants, so inductor pre-packs them for oneDNN / cuDNN
            fast = torch.compile(fast, options={"freezing": True})
    if example_input is not None:
        was_training = model.training
        model.eval()
        with torch.no_grad():
            ref, out = model(example_input), fast(example_input)
        model.train(was_training)
        _check_close(ref, out)
    return fast
