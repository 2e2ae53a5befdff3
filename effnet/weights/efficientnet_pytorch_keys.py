"""The key layout of the ``efficientnet_pytorch`` package, and of ``efficientnet_lite_pytorch``
(which shares it for EfficientNet-Lite), mapped to effnet's by name.

That layout names the layers of the official TF code (``efficientnet_model.py``): the stem
``_conv_stem`` / ``_bn0``; per block ``_blocks.N`` (N counts blocks over all stages)
``_expand_conv`` / ``_bn0``, ``_depthwise_conv`` / ``_bn1``, ``_se_reduce`` / ``_se_expand``,
``_project_conv`` / ``_bn2`` (``MBConvBlock``); the head ``_conv_head`` / ``_bn1``; the
classifier ``_fc``. Its models use TF "SAME" padding and BN eps 1e-3, as the official code does.
Tensors are paired by name, not by order, so a file whose entries are stored in another order
loads too.
"""

from __future__ import annotations

import torch

from effnet.models.network import Network
from effnet.weights.io import StateDict, WeightsMismatchError, describe_mismatch

#: Modules of an effnet MBConv block -> their names in an ``efficientnet_pytorch`` block.
BLOCK_KEYS = {
    "conv_pw": "_expand_conv",
    "bn1": "_bn0",
    "conv_dw": "_depthwise_conv",
    "bn2": "_bn1",
    "se.conv_reduce": "_se_reduce",
    "se.conv_expand": "_se_expand",
    "conv_pwl": "_project_conv",
    "bn3": "_bn2",
}
#: Modules outside the blocks.
TOP_KEYS = {
    "conv_stem": "_conv_stem",
    "bn1": "_bn0",
    "conv_head": "_conv_head",
    "bn2": "_bn1",
    "classifier": "_fc",
}
#: The classifier weight, whose rows give the number of classes.
CLASSIFIER_WEIGHT = "_fc.weight"


def efficientnet_pytorch_keys(model: Network) -> dict[str, str]:
    """effnet key -> ``efficientnet_pytorch`` key, for every tensor of ``model``.

    Only MBConv networks (EfficientNet B*, Lite*) have that layout; other models raise
    :class:`WeightsMismatchError`.
    """
    kinds = sorted({b.kind for b in model.plan.blocks} - {"mbconv"})
    if kinds:
        raise WeightsMismatchError(
            f"the efficientnet_pytorch layout holds MBConv networks only; {model.spec.name} "
            f"has {', '.join(kinds)} blocks"
        )
    index: dict[str, int] = {}
    for s, stage in enumerate(model.blocks):
        for j in range(len(stage)):
            index[f"blocks.{s}.{j}"] = len(index)
    keys = {}
    for key in model.state_dict():
        module, _, leaf = key.rpartition(".")
        if module.startswith("blocks."):
            _, s, j, inner = module.split(".", 3)
            theirs = f"_blocks.{index[f'blocks.{s}.{j}']}.{BLOCK_KEYS[inner]}"
        else:
            theirs = TOP_KEYS[module]
        keys[key] = f"{theirs}.{leaf}"
    return keys


def convert_efficientnet_pytorch(model: Network, state: StateDict) -> dict[str, torch.Tensor]:
    """Translate an ``efficientnet_pytorch`` state dict to ``model``'s keys.

    Every tensor of the model must be in ``state`` with its shape (BN's
    ``num_batches_tracked`` counters may be absent), and ``state`` must hold nothing else;
    otherwise :class:`WeightsMismatchError` lists every missing key, unexpected key and shape
    disagreement, under the source's names.
    """
    own = model.state_dict()
    keys = efficientnet_pytorch_keys(model)
    out: dict[str, torch.Tensor] = {}
    missing, shapes = [], []
    for ours, theirs in keys.items():
        if theirs not in state:
            if ours.endswith("num_batches_tracked"):
                out[ours] = own[ours]
            else:
                missing.append(theirs)
            continue
        value = state[theirs]
        if value.shape != own[ours].shape:
            shapes.append(f"{theirs}: file {tuple(value.shape)} vs model {tuple(own[ours].shape)}")
        out[ours] = value
    wanted = set(keys.values())
    unexpected = [k for k in state if k not in wanted]
    if missing or unexpected or shapes:
        raise WeightsMismatchError(describe_mismatch(missing, unexpected, shapes))
    return out
