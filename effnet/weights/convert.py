"""State dicts made by other libraries: torchvision's, timm's and ``efficientnet_pytorch``'s
EfficientNets.

:func:`load_pretrained` builds the model configured like the source (BN eps, padding) and
translates the source's keys to effnet's: in order for torchvision and timm
(:func:`convert_by_layout`), by name for ``efficientnet_pytorch``
(:mod:`effnet.weights.efficientnet_pytorch_keys`).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

import torch
from torch import nn

from effnet.models.network import Network
from effnet.models.registry import get_spec
from effnet.types import Source, check_choice
from effnet.weights.efficientnet_pytorch_keys import (
    CLASSIFIER_WEIGHT,
    convert_efficientnet_pytorch,
)
from effnet.weights.io import (
    StateDict,
    WeightsMismatchError,
    load_state_dict_strict,
    load_weights,
    read_tensors,
)
from effnet.weights.key_order import in_module_order
from effnet.weights.published import source_config

#: How each source builds its EfficientNets: (BN eps, padding). torchvision uses eps 1e-3 from
#: B5 on and in V2; timm's ``tf_`` models are ports of the official TF weights (TF "SAME"
#: padding), and so are ``efficientnet_pytorch``'s (its ``Conv2dStaticSamePadding``,
#: ``batch_norm_epsilon`` 1e-3). timm's Lite models use the same values as its B-series.
_SOURCE_CONFIG: dict[str, tuple[float, str]] = {
    "timm": (1e-5, "symmetric"),
    "timm_tf": (1e-3, "same"),
    "efficientnet_pytorch": (1e-3, "same"),
}
_TORCHVISION_EPS_1E3 = {"efficientnet_b5", "efficientnet_b6", "efficientnet_b7"}


def _ordered_entries(state: StateDict) -> list[tuple[str, torch.Tensor]]:
    return [(k, v) for k, v in state.items() if not k.endswith("num_batches_tracked")]


def convert_by_layout(model: nn.Module, state: StateDict) -> dict[str, torch.Tensor]:
    """Translate a torchvision or timm EfficientNet state dict to effnet's keys.

    Both libraries register the layers of a block in the paper's order (expand conv, BN,
    depthwise conv, BN, SE reduce, SE expand, project conv, BN), as effnet does, so entries
    correspond one to one in order. Each pair must agree in shape and in kind (the key's last
    part: weight, bias, running_mean, running_var); otherwise every disagreement is listed.
    """
    ours = _ordered_entries(model.state_dict())
    theirs = _ordered_entries(state)
    problems = []
    if len(ours) != len(theirs):
        problems.append(f"the model has {len(ours)} tensors, the state dict {len(theirs)}")
    out: dict[str, torch.Tensor] = {}
    for (k_ours, v_ours), (k_theirs, v_theirs) in zip(ours, theirs):
        same_kind = k_ours.rsplit(".", 1)[-1] == k_theirs.rsplit(".", 1)[-1]
        if not same_kind or v_ours.shape != v_theirs.shape:
            problems.append(f"{k_theirs} {tuple(v_theirs.shape)} -> {k_ours} {tuple(v_ours.shape)}")
        out[k_ours] = v_theirs
    if problems:
        raise WeightsMismatchError(
            "weights do not match the model: "
            + "; ".join(problems[:20])
            + (f" ... (+{len(problems) - 20})" if len(problems) > 20 else "")
        )
    for key, value in model.state_dict().items():  # counters the source may not keep
        out.setdefault(key, value)
    return out


def _num_classes(state: StateDict, source: str) -> int:
    key = {"torchvision": "classifier.1.weight", "efficientnet_pytorch": CLASSIFIER_WEIGHT}.get(
        source, "classifier.weight"
    )
    if key not in state:
        raise WeightsMismatchError(f"no classifier weight {key!r} in the {source} state dict")
    return int(state[key].shape[0])


def load_pretrained(
    name: str,
    weights: str | os.PathLike[str] | StateDict,
    *,
    source: Source = "effnet",
    drop_rate: float | None = None,
    drop_path_rate: float | None = None,
) -> Network:
    """Build ``name`` and load weights made by effnet, torchvision, timm or
    ``efficientnet_pytorch``; returns eval mode.

    The model is configured like the source (BN eps, padding) so that it gives the same
    logits: torchvision's ``efficientnet_bN``, timm's ``efficientnet_bN`` /
    ``efficientnet_liteN``, timm's ``tf_efficientnet_bN`` / ``tf_efficientnet_liteN`` (ports of
    the official weights: TF "SAME" padding, eps 1e-3), and ``efficientnet_pytorch``'s
    ``efficientnet-bN`` / ``efficientnet_lite_pytorch``'s ``efficientnet-liteN`` (TF "SAME"
    padding, eps 1e-3). Those two pad for one image size fixed when the model is built (its
    native resolution by default); effnet pads each input as TF does, which is the same at
    that size.

    ``model.pretrained_cfg`` is the preprocessing the source published with its weights for
    ``name`` (:func:`effnet.weights.published.source_config`); an effnet file's is its own.
    """
    check_choice(Source, source, "source")
    drops = {"drop_rate": drop_rate, "drop_path_rate": drop_path_rate}
    if source == "effnet" and not isinstance(weights, Mapping):
        return load_weights(weights, name=name, **drops).eval()
    state = weights if isinstance(weights, Mapping) else read_tensors(Path(weights))
    spec = get_spec(name)
    if source == "effnet":
        model = Network(spec, num_classes=_num_classes(state, source), **drops)
        load_state_dict_strict(model, state)
        model.pretrained_cfg = model.pretrained_cfg.replace(source="effnet")
        return model.eval()
    if source == "torchvision":
        eps_1e3 = spec.name in _TORCHVISION_EPS_1E3 or spec.name.startswith("efficientnet_v2_")
        eps, padding = (1e-3 if eps_1e3 else 1e-5), "symmetric"
    else:
        eps, padding = _SOURCE_CONFIG[source]
    model = Network(
        spec,
        num_classes=_num_classes(state, source),
        padding=padding,
        bn_eps=eps,  # type: ignore[arg-type]
        **drops,
    )
    if source == "efficientnet_pytorch":
        converted = convert_efficientnet_pytorch(model, state)
    else:  # a safetensors file keeps its keys sorted by name, not in module order
        converted = convert_by_layout(model, in_module_order(state, source))
    model.load_state_dict(converted, strict=True)
    model.pretrained_cfg = source_config(spec, source, num_classes=model.num_classes)
    if not isinstance(weights, Mapping):
        model.pretrained_cfg = model.pretrained_cfg.replace(weights=str(weights))
    return model.eval()
