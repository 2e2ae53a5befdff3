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
_MBCONV |= {"bn3", "conv_exp", "conv"}  # Fused-MBConv: timm's EdgeResidual and ConvBnAct
#: A block without ``conv_pw``: effnet's layer -> timm's ``DepthwiseSeparableConv`` layer.
_SEPARABLE = {"bn2": "bn1", "conv_pwl": "conv_pw", "bn3": "bn2"}
#: effnet's registered names that timm builds (``timm/models/efficientnet.py``; V2 spelled
#: ``efficientnetv2_`` there).
_TIMM_FAMILY = re.compile(r"efficientnet_(b[0-8]|l2|lite[0-4]|v2_(b[0-3]|s|m|l|xl))$")
#: Names timm has only as ports of the official weights (``tf_``).
_TIMM_PORTS_ONLY = re.compile(r"efficientnet_v2_b[0-3]$")


def from_timm_name(name: str) -> str:
    """timm's model name -> effnet's: ``tf_`` dropped (ports of the official weights differ in
    padding and BN eps only), ``efficientnetv2_`` spelled ``efficientnet_v2_``."""
    return name.removeprefix("tf_").replace("efficientnetv2_", "efficientnet_v2_")


def to_timm_name(name: str, *, ported: bool = False) -> str:
    """effnet's model name -> timm's (its ``tf_`` port with ``ported``)."""
    timm_name = name.replace("efficientnet_v2_", "efficientnetv2_")
    return f"tf_{timm_name}" if ported else timm_name


def to_timm_keys(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor] | None:
    """``state`` (an effnet MBConv network's) under timm's keys; ``None`` when the network has
    layers timm's EfficientNet does not (a ResNet base, for one)."""
    layers: dict[str, set[str]] = {}
    for k in state:
        if m := _BLOCK.match(k):
            layers.setdefault(m.group(1), set()).add(m.group(2))
    separable = {b for b, names in layers.items() if "conv_dw" in names and "conv_pw" not in names}
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
        if block in separable:
            layer = _SEPARABLE.get(layer, layer)
        out[f"{block}.{layer}.{param}"] = value
    return out


def timm_architecture(model: Network) -> tuple[str, dict[str, object]] | None:
    """``(timm model name, model_args)`` with which ``timm.create_model`` builds ``model``
    (same layers, padding and BN eps), or ``None`` when timm has no such architecture."""
    spec = model.spec
    if not _TIMM_FAMILY.match(spec.name) or not _is_registered(spec):
        return None
    ported = bool(_TIMM_PORTS_ONLY.match(spec.name))
    args: dict[str, object] = {"bn_eps": model.bn_eps}
    if model.padding == "same" or ported:  # timm's tf_ models default to "same"
        args["pad_type"] = "same" if model.padding == "same" else ""
    if model.in_chans != 3:
        args["in_chans"] = model.in_chans
    return to_timm_name(spec.name, ported=ported), args


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
    effnet_name = from_timm_name(name)
    if not _TIMM_FAMILY.match(effnet_name):
        raise ValueError(
            f"timm architecture {name!r} is not one effnet builds; effnet reads timm's "
            "efficientnet_b0..b8, efficientnet_l2, efficientnet_lite0..4, efficientnetv2_s/m/l/xl "
            "and their tf_ ports (tf_efficientnetv2_b0..b3 too)"
        )
    pad_type = str(model_args.get("pad_type", "same" if ported else ""))
    eps = model_args.get("bn_eps", 1e-3 if ported else 1e-5)
    return effnet_name, ("same" if pad_type == "same" else "symmetric"), float(eps)  # type: ignore[arg-type]
