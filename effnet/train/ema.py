"""Exponential moving average of the weights (paper §5.2: decay 0.9999, evaluate the EMA).

Built on :class:`torch.optim.swa_utils.AveragedModel` with ``get_ema_multi_avg_fn``; BN running
statistics are averaged too (``use_buffers=True``) so the EMA model can be evaluated directly.

Short runs: an EMA with decay ``d`` averages over roughly ``1 / (1 - d)`` steps (10,000 for
0.9999), longer than a whole small run, so the EMA would still be close to the random init at
the end. :func:`effective_decay` caps the horizon at a fraction of the run's optimizer steps:
``d_eff = min(d, 1 - 1 / (horizon_fraction * total_steps))``. For the paper's ImageNet run
(~218k steps at batch 2048 x 350 epochs) the cap is far above 0.9999 and changes nothing.
"""

from __future__ import annotations

from torch import nn
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn


def effective_decay(decay: float, total_steps: int, horizon_fraction: float = 0.1) -> float:
    """``decay``, capped so the EMA horizon ``1/(1-d)`` is at most ``horizon_fraction`` of
    ``total_steps`` (and at least one step, i.e. ``d >= 0``)."""
    if not 0.0 <= decay < 1.0:
        raise ValueError(f"EMA decay must be in [0, 1), got {decay}")
    horizon = max(1.0, horizon_fraction * total_steps)
    return min(decay, 1.0 - 1.0 / horizon)


def build_ema(model: nn.Module, decay: float) -> AveragedModel:
    """An EMA copy of ``model`` (unwrap DDP / compile before calling)."""
    ema = AveragedModel(model, multi_avg_fn=get_ema_multi_avg_fn(decay), use_buffers=True)
    ema.eval()
    return ema
