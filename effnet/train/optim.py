"""RMSProp with TensorFlow semantics, as used to train EfficientNet (paper §5.2).

PyTorch's :class:`torch.optim.RMSprop` differs from ``tf.train.RMSPropOptimizer`` in two ways
that matter for the paper's hyper-parameters (epsilon 1e-3 is large):

* TF adds epsilon *inside* the square root: ``g / sqrt(ms + eps)``; torch uses ``sqrt(ms) + eps``.
* TF initialises the square average to 1; torch initialises it to 0, which makes the first
  steps ~1/sqrt(1 - rho) = 3x larger.

TF also folds the learning rate into the momentum buffer (``mom = m * mom + lr * g / rms``),
so a learning-rate change does not rescale the momentum already accumulated.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import torch
from torch import nn
from torch.optim import Optimizer

from effnet.types import OptimizerName, check_choice


class RMSpropTF(Optimizer):
    """RMSProp exactly as TensorFlow 1.x ``RMSPropOptimizer`` computes it.

    Per parameter, with gradient ``g`` (plus ``weight_decay * p``, L2 as in the paper)::

        ms  = rho * ms + (1 - rho) * g^2          # ms starts at 1
        mom = momentum * mom + lr * g / sqrt(ms + eps)
        p   = p - mom

    Args:
        params: parameters or parameter groups.
        lr: learning rate (the paper: 0.016 per 256 images, §5.2).
        rho: decay of the square average (paper: 0.9).
        momentum: momentum (paper: 0.9).
        eps: added to the square average inside the square root (paper: 1e-3).
        weight_decay: L2 coefficient added to the gradient (paper: 1e-5).
    """

    def __init__(
        self,
        params: Iterable[torch.Tensor] | Iterable[dict[str, Any]],
        lr: float = 0.016,
        rho: float = 0.9,
        momentum: float = 0.9,
        eps: float = 1e-3,
        weight_decay: float = 0.0,
    ) -> None:
        if lr < 0.0:
            raise ValueError(f"invalid learning rate {lr}")
        if not 0.0 <= rho < 1.0:
            raise ValueError(f"invalid rho {rho}: must be in [0, 1)")
        if momentum < 0.0:
            raise ValueError(f"invalid momentum {momentum}")
        if eps < 0.0:
            raise ValueError(f"invalid eps {eps}")
        if weight_decay < 0.0:
            raise ValueError(f"invalid weight_decay {weight_decay}")
        defaults = dict(lr=lr, rho=rho, momentum=momentum, eps=eps, weight_decay=weight_decay)
        super().__init__(params, defaults)

    @torch.no_grad()
    def step(self, closure: Callable[[], float] | None = None) -> float | None:  # type: ignore[override]
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            lr, rho, mom_coef = group["lr"], group["rho"], group["momentum"]
            eps, wd = group["eps"], group["weight_decay"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                if p.grad.is_sparse:
                    raise RuntimeError("RMSpropTF does not support sparse gradients")
                grad = p.grad
                if wd != 0.0:
                    grad = grad.add(p, alpha=wd)
                state = self.state[p]
                if not state:
                    state["step"] = torch.zeros((), dtype=torch.float32)
                    state["square_avg"] = torch.ones_like(p, memory_format=torch.preserve_format)
                    if mom_coef > 0:
                        state["momentum_buffer"] = torch.zeros_like(
                            p, memory_format=torch.preserve_format
                        )
                state["step"] += 1
                square_avg = state["square_avg"]
                square_avg.mul_(rho).addcmul_(grad, grad, value=1.0 - rho)
                rms = square_avg.add(eps).sqrt_()
                if mom_coef > 0:
                    buf = state["momentum_buffer"]
                    buf.mul_(mom_coef).addcdiv_(grad, rms, value=lr)
                    p.sub_(buf)
                else:
                    p.addcdiv_(grad, rms, value=-lr)
        return loss


def _no_decay(name: str, param: nn.Parameter, norm_param_ids: set[int]) -> bool:
    return param.ndim <= 1 or id(param) in norm_param_ids or name.endswith(".bias")


def param_groups(
    model: nn.Module,
    weight_decay: float,
    *,
    head_params: set[int] | None = None,
    backbone_lr_scale: float = 1.0,
    layer_decay: float | None = None,
) -> list[dict[str, Any]]:
    """Split trainable parameters into decay / no-decay groups (paper §5.2: weight decay 1e-5).

    Biases and all normalisation-layer parameters get no weight decay. With ``head_params``
    (ids of the classifier's parameters) and ``backbone_lr_scale != 1`` the backbone groups
    carry ``lr_scale`` so a fine-tune can train it more gently than the new head.
    Each group gets an ``lr_scale`` key that the schedule multiplies into the base LR.

    ``layer_decay`` (timm's ``--layer-decay``) scales the LR per depth from the head down: the
    head (``conv_head``, ``bn2``, ``classifier``) 1, the last stage ``layer_decay``, the one
    before ``layer_decay**2``, ... the stem the smallest.
    """
    norm_ids = {
        id(p)
        for m in model.modules()
        if isinstance(m, nn.modules.batchnorm._NormBase | nn.GroupNorm | nn.LayerNorm)
        for p in m.parameters(recurse=False)
    }
    stages = len(getattr(model, "blocks", ())) if layer_decay is not None else 0
    buckets: dict[tuple[bool, bool, int], list[nn.Parameter]] = {}
    for name, p in model.named_parameters():
        if not p.requires_grad:
            continue
        is_head = head_params is not None and id(p) in head_params
        depth = _depth_from_head(name, stages) if layer_decay is not None else 0
        key = (_no_decay(name, p, norm_ids), is_head or head_params is None, depth)
        buckets.setdefault(key, []).append(p)
    groups = []
    for (no_decay, is_head, depth), params in sorted(buckets.items()):
        scale = 1.0 if is_head else backbone_lr_scale
        groups.append(
            {
                "params": params,
                "weight_decay": 0.0 if no_decay else weight_decay,
                "lr_scale": scale * (layer_decay**depth if layer_decay is not None else 1.0),
            }
        )
    return groups


def _depth_from_head(name: str, stages: int) -> int:
    """0 for the head, 1 for the last stage, ..., ``stages + 1`` for the stem."""
    parts = name.split(".")
    if parts[0] == "blocks" and len(parts) > 1 and parts[1].isdigit():
        return stages - int(parts[1])
    if parts[0] in ("conv_stem", "bn1", "stem_pool"):
        return stages + 1
    return 0


def build_optimizer(
    name: OptimizerName,
    groups: list[dict[str, Any]],
    lr: float,
    *,
    eps: float | None = None,
) -> Optimizer:
    """``"rmsprop_tf"`` (paper §5.2: rho 0.9, momentum 0.9, eps 1e-3), or one torch ships:
    ``"adamw"``, ``"sgd"`` (momentum 0.9, Nesterov), ``"radam"``, ``"nadam"``, ``"adafactor"``.

    Weight decay comes from each group; AdamW, RAdam and NAdam decouple it (as AdamW defines
    it), Adafactor applies its own decoupled form.
    """
    check_choice(OptimizerName, name, "optimizer")
    for g in groups:
        g["lr"] = lr * g.get("lr_scale", 1.0)
    if name == "rmsprop_tf":
        return RMSpropTF(groups, lr=lr, rho=0.9, momentum=0.9, eps=1e-3 if eps is None else eps)
    if name == "adamw":
        return torch.optim.AdamW(groups, lr=lr, eps=1e-8 if eps is None else eps)
    if name == "radam":
        return torch.optim.RAdam(
            groups, lr=lr, eps=1e-8 if eps is None else eps, decoupled_weight_decay=True
        )
    if name == "nadam":
        return torch.optim.NAdam(
            groups, lr=lr, eps=1e-8 if eps is None else eps, decoupled_weight_decay=True
        )
    if name == "adafactor":
        return torch.optim.Adafactor(groups, lr=lr)
    return torch.optim.SGD(groups, lr=lr, momentum=0.9, nesterov=True)
