"""Exponential moving average of the weights (paper §5.2: decay 0.9999, evaluate the EMA).

Built on :class:`torch.optim.swa_utils.AveragedModel` with ``get_ema_multi_avg_fn``; BN running
statistics are averaged too (``use_buffers=True``), as the official code averages its moving
mean / variance, so the EMA model can be evaluated directly.

Averaged BN statistics are not the statistics of the averaged weights. While the weights still
move fast (early in a short run) the two disagree, every layer rescales its input wrongly, and
the EMA model in eval mode can sit at chance while the raw model is far above it.
:func:`recalibrate_bn` recomputes them from a
few training batches, as SWA does (Izmailov et al., 2018); recipes opt in per run.

Short runs: an EMA with decay ``d`` averages over roughly ``1 / (1 - d)`` steps (10,000 for
0.9999), longer than a whole small run, so the EMA would still be close to the random init at
the end. :func:`effective_decay` caps the horizon at a fraction of the run's optimizer steps:
``d_eff = min(d, 1 - 1 / (horizon_fraction * total_steps))``. For the paper's ImageNet run
(~218k steps at batch 2048 x 350 epochs) the cap is far above 0.9999 and changes nothing.

:class:`EMA` updates as ``AveragedModel`` does, without asking the device each step whether it
is the first update (``AveragedModel`` tests its ``n_averaged`` buffer, which makes the host
wait for the GPU every step).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable
from typing import Any

import torch
from torch import nn
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn
from torch.utils._foreach_utils import _group_tensors_by_device_and_dtype

from effnet.models.layers import batch_norms
from effnet.train.distributed import DistInfo, all_reduce_mean_


def effective_decay(decay: float, total_steps: int, horizon_fraction: float = 0.1) -> float:
    """``decay``, capped so the EMA horizon ``1/(1-d)`` is at most ``horizon_fraction`` of
    ``total_steps`` (and at least one step, i.e. ``d >= 0``)."""
    if not 0.0 <= decay < 1.0:
        raise ValueError(f"EMA decay must be in [0, 1), got {decay}")
    horizon = max(1.0, horizon_fraction * total_steps)
    return min(decay, 1.0 - 1.0 / horizon)


class EMA(AveragedModel):
    """:class:`AveragedModel` (``use_buffers=True``, an EMA ``multi_avg_fn``) whose update
    reads ``n_averaged`` from the device once, then counts on the host."""

    def __init__(self, model: nn.Module, decay: float) -> None:
        super().__init__(model, multi_avg_fn=get_ema_multi_avg_fn(decay), use_buffers=True)
        self._updates: int | None = None  # n_averaged on the host; None: not read yet

    def _load_from_state_dict(self, *args: Any, **kwargs: Any) -> None:
        super()._load_from_state_dict(*args, **kwargs)
        self._updates = None

    @torch.no_grad()
    def update_parameters(self, model: nn.Module) -> None:
        """The first update copies ``model``, later ones average into it (``multi_avg_fn``)."""
        if self._updates is None:
            self._updates = int(self.n_averaged)
        mine = list(itertools.chain(self.module.parameters(), self.module.buffers()))
        theirs = [
            t.detach().to(m.device)
            for m, t in zip(mine, itertools.chain(model.parameters(), model.buffers()))
        ]
        if self._updates == 0:
            torch._foreach_copy_([m.detach() for m in mine], theirs)
        else:
            grouped = _group_tensors_by_device_and_dtype([[m.detach() for m in mine], theirs])
            for (device, _), ([own, other], _) in grouped.items():
                self.multi_avg_fn(own, other, self.n_averaged.to(device))  # type: ignore[misc]
        self.n_averaged += 1
        self._updates += 1


def build_ema(model: nn.Module, decay: float) -> EMA:
    """An EMA copy of ``model`` (unwrap DDP / compile before calling)."""
    ema = EMA(model, decay)
    ema.eval()
    return ema


@torch.no_grad()
def recalibrate_bn(
    model: nn.Module,
    batches: Iterable[tuple[torch.Tensor, torch.Tensor]],
    *,
    max_batches: int,
    info: DistInfo | None = None,
    channels_last: bool = False,
) -> int:
    """Recompute the BatchNorm running statistics of ``model`` as the plain average over the
    first ``max_batches`` of ``batches`` (``(images, labels)`` pairs), averaged across
    processes; the model is left in eval mode. Returns the number of images used."""
    info = info or DistInfo()
    norms = batch_norms(model)
    if not norms or max_batches < 1:
        return 0
    momenta = [m.momentum for m in norms]
    saved = [(m.running_mean.clone(), m.running_var.clone()) for m in norms]
    for m in norms:
        m.reset_running_stats()
        m.momentum = None  # cumulative moving average: every batch weighs the same
    model.train()
    seen = 0
    try:
        for x, _ in itertools.islice(batches, max_batches):
            x = x.to(info.device, non_blocking=True)
            if channels_last:
                x = x.contiguous(memory_format=torch.channels_last)
            model(x)
            seen += x.shape[0]
    finally:
        for m, momentum, (mean, var) in zip(norms, momenta, saved):
            m.momentum = momentum
            if seen == 0:  # no batch came (or it failed): keep the statistics it had
                m.running_mean.copy_(mean)
                m.running_var.copy_(var)
        model.eval()
    all_reduce_mean_([t for m in norms for t in (m.running_mean, m.running_var)], info)
    return seen
