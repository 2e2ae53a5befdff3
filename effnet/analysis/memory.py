"""Peak memory of a batch-1 inference forward, measured tensor by tensor (paper eq. 2's
``Memory(N)``).

A :class:`~torch.utils._python_dispatch.TorchDispatchMode` sees every tensor each aten op
creates, adds its storage's bytes when it first appears and subtracts them when the last tensor
viewing that storage is garbage-collected. Allocator slack and framework buffers are not
counted.
"""

from __future__ import annotations

import weakref

import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_flatten


class _LiveBytes(TorchDispatchMode):
    """Tracks the bytes of tensor storages alive while it is active (see the module docstring)."""

    def __init__(self) -> None:
        super().__init__()
        self.live = 0
        self.peak = 0
        self._refs: dict[int, int] = {}
        self._size: dict[int, int] = {}

    def add(self, t: torch.Tensor) -> None:
        storage = t.untyped_storage()
        key, nbytes = storage.data_ptr(), storage.nbytes()
        if nbytes == 0:
            return
        if key not in self._refs:
            self._refs[key], self._size[key] = 0, nbytes
            self.live += nbytes
            self.peak = max(self.peak, self.live)
        self._refs[key] += 1
        weakref.finalize(t, self._drop, key)

    def _drop(self, key: int) -> None:
        self._refs[key] -= 1
        if self._refs[key] == 0:
            del self._refs[key]
            self.live -= self._size.pop(key)

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):  # noqa: ANN001, ANN204
        out = func(*args, **(kwargs or {}))
        for t in tree_flatten(out)[0]:
            if isinstance(t, torch.Tensor):
                self.add(t)
        return out


@torch.no_grad()
def peak_memory_bytes(model: torch.nn.Module, resolution: int) -> tuple[int, int]:
    """``(parameter bytes, peak activation bytes)`` of a batch-1 inference forward."""
    model.eval()
    param_bytes = sum(p.numel() * p.element_size() for p in model.parameters())
    x = torch.zeros(1, getattr(model, "in_chans", 3), resolution, resolution)
    mode = _LiveBytes()
    with mode:
        mode.add(x)
        y = model(x)
        del y, x
    return param_bytes, mode.peak
