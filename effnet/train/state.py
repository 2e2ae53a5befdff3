"""Where a training run stands: the counters ``last.ckpt`` records beside the weights.

``last.ckpt`` is one flat dict (``"format": 1``): the model, EMA, optimizer, schedule, scaler
and RNG states (see :meth:`effnet.train.setup.Run.checkpoint`) and, at the same level, the
fields of :class:`RunState`. That layout has not changed since effnet 0.1, so
:meth:`RunState.from_dict` reads a checkpoint written by any 0.x version.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any

import torch

#: The ``"format"`` entry of ``last.ckpt``.
CKPT_FORMAT = 1


def empty_partial() -> dict[str, float]:
    """The running sums of an epoch before its first batch."""
    return {"loss": 0.0, "correct": 0.0, "seen": 0.0, "seconds": 0.0}


@dataclass
class RunState:
    """The progress of a run.

    Attributes:
        epoch: epochs completed.
        micro_in_epoch: micro-batches done in the current epoch (a resumed run skips them).
        step: optimizer steps done.
        skipped_steps: steps skipped for a non-finite loss (``nan_policy="skip"``).
        best_top1, best_epoch: the best minival top-1 so far (-1 before any) and its epoch:
            the minival held out of the training set selects the weights (paper §5.2).
        stale_epochs: epochs since the best one (early stopping).
        partial: running sums of the current epoch on this process: ``loss`` (summed over
            images), ``correct``, ``seen`` (images) and ``seconds``.
        train_images, train_seconds: over the whole run (all processes), for the throughput.
        history: one record per completed epoch (the lines of ``metrics.jsonl``).
    """

    epoch: int = 0
    micro_in_epoch: int = 0
    step: int = 0
    skipped_steps: int = 0
    best_top1: float = -1.0
    best_epoch: int = 0
    stale_epochs: int = 0
    partial: dict[str, float] = field(default_factory=empty_partial)
    train_images: float = 0.0
    train_seconds: float = 0.0
    history: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """The fields as plain values (the state part of ``last.ckpt``)."""
        d = {f.name: getattr(self, f.name) for f in fields(self)}
        d["partial"] = dict(self.partial)
        d["history"] = [dict(r) for r in self.history]
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> RunState:
        """The state in ``d``: a :meth:`to_dict` or a whole ``last.ckpt`` dict (other keys
        are ignored)."""
        return cls(
            epoch=int(d["epoch"]),
            micro_in_epoch=int(d["micro_in_epoch"]),
            step=int(d["step"]),
            skipped_steps=int(d["skipped_steps"]),
            best_top1=float(d["best_top1"]),
            best_epoch=int(d["best_epoch"]),
            stale_epochs=int(d["stale_epochs"]),
            partial={k: float(v) for k, v in d["partial"].items()},
            train_images=float(d["train_images"]),
            train_seconds=float(d["train_seconds"]),
            history=[dict(r) for r in d["history"]],
        )

    def add_time(self, seconds: float, images: float) -> None:
        """Count ``seconds`` of training that saw ``images`` (all processes)."""
        self.partial["seconds"] += seconds
        self.train_seconds += seconds
        self.train_images += images

    def update_best(self, score: float, usable: bool) -> bool:
        """Whether the epoch just completed is the best so far (``usable``: its weights are
        finite); counts stale epochs otherwise."""
        if score > self.best_top1 and usable:
            self.best_top1, self.best_epoch, self.stale_epochs = score, self.epoch, 0
            return True
        self.stale_epochs += 1
        return False

    def next_epoch(self) -> None:
        """Start the sums of a new epoch (after the epoch counter moved on)."""
        self.micro_in_epoch = 0
        self.partial = empty_partial()


class DeviceSums:
    """The running sums of :attr:`RunState.partial` (``loss``, ``correct``, ``seen``) kept on
    the device while an epoch trains, with what a non-finite loss needs to be reported: the
    host reads them at a few points (:meth:`values`), never per step.

    The loss sums in float64 in the order the host summed it before, so the totals are the
    same. Micro-batches with a non-finite loss are left out of the sums and counted; the
    first one's loss and index (micro-batches into the epoch) are kept.
    """

    def __init__(self, partial: Mapping[str, float], micro_in_epoch: int, device: torch.device):
        start = [partial["loss"], partial["correct"], partial["seen"], 0.0]
        self.sums = torch.tensor(start, dtype=torch.float64).to(device)  # ... and bad count
        self.first_bad = torch.zeros(2, dtype=torch.float64, device=device)  # loss, index
        self.micro = torch.tensor(float(micro_in_epoch), dtype=torch.float64).to(device)

    @torch.no_grad()
    def add(self, loss: torch.Tensor, logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Count one micro-batch (its mean ``loss``); returns whether the loss is finite (a
        boolean on the device)."""
        finite = torch.isfinite(loss)
        ok = finite.double()
        value = loss.detach().double()
        if y.dim() == 1:
            correct = (logits.argmax(1) == y).sum().double()
        else:  # mixed targets (class probabilities): no right answer to count
            correct = torch.zeros((), dtype=torch.float64, device=loss.device)
        n = y.shape[0]
        first = torch.logical_and(~finite, self.sums[3] == 0)
        self.first_bad.copy_(torch.where(first, torch.stack((value, self.micro)), self.first_bad))
        step = torch.stack((torch.where(finite, value, 0.0) * n, correct * ok, ok * n, 1 - ok))
        self.sums += step
        self.micro += 1
        return finite

    def values(self, bad: torch.Tensor | None = None) -> torch.Tensor:
        """``[loss, correct, seen, non-finite count, ... agreed, first bad loss, its index]``
        in one tensor for one read by the host (``bad``: the non-finite count agreed across
        processes; this process's when ``None``)."""
        agreed = self.sums[3:] if bad is None else bad.reshape(1).to(self.sums)
        return torch.cat((self.sums, agreed, self.first_bad))
