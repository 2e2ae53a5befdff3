"""The module order of torchvision's and timm's EfficientNet state dicts, recovered from the
keys alone.

:func:`effnet.weights.convert.convert_by_layout` pairs tensors in module order, but a
safetensors file stores its keys sorted by name (timm's ``model.safetensors`` on the Hugging
Face Hub, or any state dict saved with ``safetensors``). The order is rebuilt from the names:
timm's ``DepthwiseSeparableConv`` registers ``conv_dw, bn1, se, conv_pw, bn2``, its
``InvertedResidual`` ``conv_pw, bn1, conv_dw, bn2, se, conv_pwl, bn3``, and for EfficientNetV2's
Fused-MBConv its ``EdgeResidual`` ``conv_exp, bn1, se, conv_pwl, bn2`` and ``ConvBnAct`` ``conv,
bn1`` (``timm/models/_efficientnet_blocks.py``); torchvision's keys are numbered in module order
(``features.<i>...``, then ``classifier``).
"""

from __future__ import annotations

import re

from effnet.weights.io import StateDict

_PARAM = {"weight": 0, "bias": 1, "running_mean": 2, "running_var": 3, "num_batches_tracked": 4}
_TIMM_TOP = {"conv_stem": 0, "bn1": 1, "blocks": 2, "conv_head": 3, "bn2": 4, "classifier": 5}
_TIMM_DS = ("conv_dw", "bn1", "se.conv_reduce", "se.conv_expand", "conv_pw", "bn2")
_TIMM_IR = ("conv_pw", "bn1", "conv_dw", "bn2", "se.conv_reduce", "se.conv_expand", "conv_pwl")
_TIMM_IR += ("bn3",)
_TIMM_EDGE = ("conv_exp", "bn1", "se.conv_reduce", "se.conv_expand", "conv_pwl", "bn2")
_TIMM_CONV = ("conv", "bn1")
_TIMM_BLOCK = re.compile(r"blocks\.(\d+)\.(\d+)\.(.+)\.(\w+)$")
_TV_TOP = {"features": 0, "classifier": 1}


def _timm_rank(key: str, layouts: dict[tuple[str, str], tuple[str, ...]]) -> tuple[int, ...] | None:
    top, _, rest = key.partition(".")
    if top not in _TIMM_TOP:
        return None
    param = _PARAM.get(key.rsplit(".", 1)[-1])
    if param is None:
        return None
    if top != "blocks":
        return (_TIMM_TOP[top], 0, 0, 0, param)
    match = _TIMM_BLOCK.match(key)
    if match is None:
        return None
    stage, block, layer = match.group(1), match.group(2), match.group(3)
    layers = layouts.get((stage, block), _TIMM_DS)
    if layer not in layers:
        return None
    return (_TIMM_TOP[top], int(stage), int(block), layers.index(layer), param)


def _torchvision_rank(key: str) -> tuple[int, ...] | None:
    parts = key.split(".")
    if parts[0] not in _TV_TOP or parts[-1] not in _PARAM:
        return None
    numbers = []
    for part in parts[1:-1]:
        if part.isdigit():
            numbers.append(int(part))
        elif part in ("block", "fc1", "fc2"):  # fc1 then fc2: SqueezeExcitation's order
            numbers.append({"block": 0, "fc1": 0, "fc2": 1}[part])
        else:
            return None
    return (_TV_TOP[parts[0]], *numbers, _PARAM[parts[-1]])


def in_module_order(state: StateDict, source: str) -> StateDict:
    """``state`` with its entries in the module order of ``source`` (``torchvision``,
    ``timm`` or ``timm_tf``); unchanged when a key does not follow that library's naming."""
    if source == "torchvision":
        ranks = {k: _torchvision_rank(k) for k in state}
    else:
        marks = {"conv_exp": _TIMM_EDGE, "conv": _TIMM_CONV, "conv_pwl": _TIMM_IR}
        layouts: dict[tuple[str, str], tuple[str, ...]] = {}
        for k in state:  # a block's layout by the layer only it has (EdgeResidual wins)
            if (m := _TIMM_BLOCK.match(k)) and m.group(3) in marks:
                block = (m.group(1), m.group(2))
                if layouts.get(block) is not _TIMM_EDGE:
                    layouts[block] = marks[m.group(3)]
        ranks = {k: _timm_rank(k, layouts) for k in state}
    if any(r is None for r in ranks.values()):
        return state
    return {k: state[k] for k in sorted(state, key=lambda k: ranks[k])}  # type: ignore[arg-type,return-value]
