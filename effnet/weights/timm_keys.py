"""effnet's MBConv networks under timm's names: state-dict keys and architecture names.

effnet names an MBConv block's layers as timm's ``InvertedResidual`` does (``conv_pw, bn1,
conv_dw, bn2, se.conv_reduce, se.conv_expand, conv_pwl, bn3``); a block without an expansion
conv is timm's ``DepthwiseSeparableConv``, whose layers are ``conv_dw, bn1, se, conv_pw, bn2``
(``timm/models/_efficientnet_blocks.py``). The stem, head and classifier have the same names.
"""

from __future__ import annotations

import re

import torch

from effnet.models.network import Network
from effnet.models.registry import get_spec
from effnet.models.spec import NetworkSpec

_BLOCK = re.compile(r"(blocks\.\d+\.\d+)\.(.+)\.(\w+)$")
_TOP = {"conv_stem", "bn1", "conv_head", "bn2", "classifier"}
_MBCONV = {"conv_pw", "bn1", "conv_dw", "bn2", "se.conv_reduce", "se.conv_expand", "conv_pwl"}
_MBCONV |= {"bn3"}
#: A block without ``conv_pw``: effnet's layer -> timm's ``DepthwiseSeparableConv`` layer.
_SEPARABLE = {"bn2": "bn1", "conv_pwl": "conv_pw", "bn3": "bn2"}
#: effnet's registered names that timm builds under the same name (``timm/models/efficientnet.py``).
_TIMM_FAMILY = re.compile(r"efficientnet_(b[0-8]|l2|lite[0-4])$")


def to_timm_keys(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor] | None:
    """``state`` (an effnet MBConv network's) under timm's keys; ``None`` when the network has
    layers timm's EfficientNet does not (a ResNet base, for one)."""
    expanded = {m.group(1) for k in state if (m := _BLOCK.match(k)) and m.group(2) == "conv_pw"}
    out: dict[str, torch.Tensor] = {}
    for key, value in state.items():
        match = _BLOCK.match(key)
        if match is None:
            if key.split(".", 1)[0] not in _TOP:
                return None
            out[key] = value
            continue
        block, layer, param = match.groups()
        if layer not in _MBCONV:
            return None
        if block not in expanded:
            layer = _SEPARABLE.get(layer, layer)
        out[f"{block}.{layer}.{param}"] = value
    return out


def timm_architecture(model: Network) -> tuple[str, dict[str, object]] | None:
    """``(timm model name, model_args)`` with which ``timm.create_model`` builds ``model``
    (same layers, padding and BN eps), or ``None`` when timm has no such architecture."""
    spec = model.spec
    if not _TIMM_FAMILY.match(spec.name) or not _is_registered(spec):
        return None
    args: dict[str, object] = {"bn_eps": model.bn_eps}
    if model.padding == "same":
        args["pad_type"] = "same"
    if model.in_chans != 3:
        args["in_chans"] = model.in_chans
    return spec.name, args


def _is_registered(spec: NetworkSpec) -> bool:
    try:
        return get_spec(spec.name) == spec
    except (KeyError, ValueError):
        return False


def from_timm_architecture(name: str, model_args: dict[str, object]) -> tuple[str, str, float]:
    """``(effnet model name, padding, BN eps)`` of timm's ``name`` built with ``model_args``:
    ``tf_`` models are ports of the official weights (TF "SAME" padding, eps 1e-3), the others
    use PyTorch's padding and eps 1e-5; ``pad_type`` / ``bn_eps`` in ``model_args`` win.
    Raises ValueError naming what is supported."""
    ported = name.startswith("tf_")
    effnet_name = name.removeprefix("tf_")
    if not _TIMM_FAMILY.match(effnet_name):
        raise ValueError(
            f"timm architecture {name!r} is not one effnet builds; effnet reads timm's "
            "efficientnet_b0..b8, efficientnet_l2, efficientnet_lite0..4 and their tf_ ports"
        )
    pad_type = str(model_args.get("pad_type", "same" if ported else ""))
    eps = model_args.get("bn_eps", 1e-3 if ported else 1e-5)
    return effnet_name, ("same" if pad_type == "same" else "symmetric"), float(eps)  # type: ignore[arg-type]
