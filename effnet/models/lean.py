"""Memory-lean training: recompute activations in the backward pass instead of storing them.

``create_model(..., memory_efficient=True)`` runs every block under activation checkpointing
(:func:`torch.utils.checkpoint.checkpoint`, ``use_reentrant=False``): the forward keeps only
each block's input, and the backward recomputes the block before differentiating it. The cost
is one extra forward pass; the gain is most of the activation memory, since an MBConv's
expanded (x6) maps, not its inputs, dominate EfficientNet's memory.

Two details keep the gradients, and the training run, identical to the normal mode:

* the random state is restored before the recomputation (checkpoint's default), so drop-path
  draws the same masks;
* BatchNorm's running statistics are updated once per step, not twice: during the
  recomputation each BN's momentum is set to 0 and its batch counter restored.

A memory-efficient SiLU (an autograd function saving only its input and recomputing the
sigmoid in backward) is *not* used: PyTorch's own ``silu`` already saves only its input, so it
would save nothing; what is saved for backward shrinks only with per-block checkpointing.

The module tree, and so the ``state_dict`` keys, are unchanged: weights interchange freely
between the normal and the lean model.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch
from torch import nn
from torch.utils.checkpoint import checkpoint

from effnet.models.layers import batch_norms


@contextlib.contextmanager
def frozen_bn_stats(module: nn.Module) -> Iterator[None]:
    """Within the context, training-mode BNs of ``module`` normalise with batch statistics but
    leave their running statistics (and batch counters) untouched."""
    saved = []
    for bn in batch_norms(module):
        if bn.track_running_stats:
            count = None if bn.num_batches_tracked is None else bn.num_batches_tracked.clone()
            saved.append((bn, bn.momentum, count))
            # momentum 0: running = running * (1 - 0) + batch * 0, exactly unchanged
            bn.momentum = 0.0
    try:
        yield
    finally:
        for bn, momentum, count in saved:
            bn.momentum = momentum
            if count is not None:
                bn.num_batches_tracked.copy_(count)


class CheckpointSequential(nn.Sequential):
    """An ``nn.Sequential`` whose children run under activation checkpointing while training
    with gradients enabled; otherwise a plain ``nn.Sequential`` (same children, same keys)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not (self.training and torch.is_grad_enabled()) or torch.compiler.is_compiling():
            # under torch.compile use the compiler's own recomputation instead
            # (torch._functorch.config.activation_memory_budget)
            return super().forward(x)
        for block in self:
            x = checkpoint(
                block,
                x,
                use_reentrant=False,
                context_fn=lambda b=block: (contextlib.nullcontext(), frozen_bn_stats(b)),
            )
        return x


def make_memory_efficient(model: nn.Module, enable: bool = True) -> nn.Module:
    """Switch an effnet ``Network`` to lean training in place (and return it); ``enable=False``
    switches back.

    Every stage in ``model.blocks`` becomes a :class:`CheckpointSequential` (or a plain
    ``nn.Sequential``) holding the same block modules, so parameters, buffers and
    ``state_dict`` keys are unchanged.
    """
    stages = getattr(model, "blocks", None)
    if not isinstance(stages, nn.Sequential):
        raise TypeError(
            f"expected a model with a `blocks` nn.Sequential, got {type(model).__name__}"
        )
    kind = CheckpointSequential if enable else nn.Sequential
    for name, stage in list(stages.named_children()):
        if isinstance(stage, nn.Sequential) and type(stage) is not kind:
            swapped = kind(*stage)
            swapped.train(stage.training)
            stages._modules[name] = swapped
    model.memory_efficient = enable
    return model
