"""The cost of a network: parameters and multiply-adds at a resolution (paper Tables 2-3).

One function, :func:`model_cost`, serves profile, summary, the scaling law, the budget solver,
the search and the plots. Multiply-adds (the paper's "FLOPs") are counted by
:class:`torch.utils.flop_counter.FlopCounterMode` over one batch-1 forward in eval mode
(convolutions and matrix products; it reports 2 FLOPs per multiply-add). A spec or a name is
built on PyTorch's ``meta`` device: shapes only, no memory and no arithmetic, so the largest
variants cost no more to count than the smallest.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from effnet.models.network import Network
from effnet.models.registry import get_spec
from effnet.models.spec import NetworkSpec

Resolution = int | tuple[int, int]


@dataclass(frozen=True)
class Cost:
    """Parameters and multiply-adds of one batch-1 forward.

    ``module_macs`` maps each module path (``""`` for the whole model, ``blocks.1.0`` ...) to
    the multiply-adds done inside it.
    """

    params: int
    macs: int
    module_macs: dict[str, int] = field(default_factory=dict, repr=False)


def as_model(model: nn.Module | NetworkSpec | str, num_classes: int = 1000) -> nn.Module:
    """``model`` itself, or the network of a spec / registered name built on the meta device."""
    if isinstance(model, nn.Module):
        return model
    with torch.device("meta"):
        return Network(get_spec(model), num_classes=num_classes)


def input_shape(model: nn.Module, resolution: Resolution | None) -> tuple[int, int, int, int]:
    """``(1, in_chans, H, W)`` for ``resolution`` (default: the model's spec resolution)."""
    if resolution is None:
        spec = getattr(model, "spec", None)
        if spec is None:
            raise ValueError("resolution is required for a model without a spec")
        resolution = spec.resolution
    h, w = (resolution, resolution) if isinstance(resolution, int) else resolution
    if h < 1 or w < 1:
        raise ValueError(f"resolution must be positive, got {resolution}")
    return (1, getattr(model, "in_chans", 3), h, w)


@torch.no_grad()
def model_cost(
    model: nn.Module | NetworkSpec | str,
    resolution: Resolution | None = None,
    *,
    num_classes: int = 1000,
) -> Cost:
    """Parameters and multiply-adds of ``model`` for one image at ``resolution``.

    Args:
        model: a built module (counted on the device its parameters live on, ``meta``
            included), or a spec / registered name (built on ``meta`` with ``num_classes``).
        resolution: side or (height, width); default the spec's resolution.
    """
    net = as_model(model, num_classes)
    first = next(net.parameters(), None)
    device = first.device if first is not None else torch.device("cpu")
    x = torch.zeros(input_shape(net, resolution), device=device)
    counter = FlopCounterMode(display=False)
    was_training = net.training
    net.eval()
    try:
        with counter:
            net(x)
    finally:
        net.train(was_training)
    root = type(net).__name__
    module_macs = {
        name[len(root) + 1 :] if name != root else "": sum(counts.values()) // 2
        for name, counts in counter.get_flop_counts().items()
        if name == root or name.startswith(root + ".")
    }
    params = sum(p.numel() for p in net.parameters())
    return Cost(params=params, macs=counter.get_total_flops() // 2, module_macs=module_macs)
