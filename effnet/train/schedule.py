"""Per-step learning-rate schedules (paper §5.2 and the official TF code).

The paper's schedule: linear warmup from 0 over 5 epochs, then the LR decays by 0.97 every
2.4 epochs (staircase). As in the official ``utils.build_learning_rate``, the staircase counts
from step 0 (``exponential_decay(lr, step, decay_steps, 0.97, staircase=True)``) and the warmup
simply overrides it while ``step < warmup_steps``.

Schedules are callables ``step -> multiplier`` for :class:`torch.optim.lr_scheduler.LambdaLR`,
stepped once per optimizer step. They are small classes (not closures) so that
``LambdaLR.state_dict()`` records their parameters. ``plateau`` is the exception: it follows the
minival top-1 once per epoch through :class:`torch.optim.lr_scheduler.ReduceLROnPlateau`
(:class:`WarmupPlateau`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from torch.optim import Optimizer
from torch.optim.lr_scheduler import LambdaLR, ReduceLROnPlateau

from effnet.types import ScheduleName, check_choice


@dataclass(frozen=True)
class WarmupStaircase:
    """Linear warmup, then ``decay_rate ** floor(step / decay_steps)`` (paper §5.2)."""

    warmup_steps: int
    decay_steps: float
    decay_rate: float = 0.97

    def __call__(self, step: int) -> float:
        if step < self.warmup_steps:
            return step / self.warmup_steps
        return self.decay_rate ** math.floor(step / self.decay_steps)


@dataclass(frozen=True)
class WarmupCosine:
    """Linear warmup, then half a cosine from 1 down to ``floor`` at ``total_steps``.

    Used by the ``small`` preset: on short runs the paper's 0.97/2.4-epoch staircase barely
    decays at all, and annealing to (near) zero is what makes a short run converge.
    """

    warmup_steps: int
    total_steps: int
    floor: float = 0.0

    def __call__(self, step: int) -> float:
        if step < self.warmup_steps:
            return step / self.warmup_steps
        span = max(1, self.total_steps - self.warmup_steps)
        t = min(1.0, (step - self.warmup_steps) / span)
        return self.floor + (1.0 - self.floor) * 0.5 * (1.0 + math.cos(math.pi * t))


@dataclass(frozen=True)
class WarmupDecay:
    """Linear warmup, then timm's other ``--sched`` kinds, counted in (fractional) epochs:
    ``step`` (x ``decay_rate`` every ``decay_epochs``: the staircase), ``multistep`` (x
    ``decay_rate`` at each of ``milestones``), ``exponential`` (``decay_rate ** epoch``) or
    ``constant``; never below ``floor`` (``min_lr`` / base LR)."""

    kind: str
    warmup_steps: int
    steps_per_epoch: int
    decay_epochs: float = 2.4
    decay_rate: float = 0.97
    milestones: tuple[float, ...] = ()
    floor: float = 0.0

    def __call__(self, step: int) -> float:
        if step < self.warmup_steps:
            return step / self.warmup_steps
        epoch = step / self.steps_per_epoch
        if self.kind == "step":
            factor = self.decay_rate ** math.floor(epoch / self.decay_epochs)
        elif self.kind == "multistep":
            factor = self.decay_rate ** sum(epoch >= m for m in self.milestones)
        elif self.kind == "exponential":
            factor = self.decay_rate**epoch
        else:
            factor = 1.0
        return max(factor, self.floor)


Schedule = WarmupStaircase | WarmupCosine | WarmupDecay


def build_schedule(
    kind: ScheduleName,
    *,
    steps_per_epoch: int,
    epochs: int,
    warmup_epochs: float,
    decay_epochs: float = 2.4,
    decay_rate: float = 0.97,
    milestones: tuple[float, ...] = (),
    floor: float = 0.0,
) -> Schedule:
    """The multiplier function for ``kind`` (:data:`effnet.types.ScheduleName`), counted in
    steps; ``floor``: the lowest multiplier (``min_lr`` / base LR), not for ``staircase``."""
    check_choice(ScheduleName, kind, "schedule")
    warmup_steps = round(warmup_epochs * steps_per_epoch)
    if kind == "staircase":
        return WarmupStaircase(warmup_steps, decay_epochs * steps_per_epoch, decay_rate)
    if kind == "cosine":
        return WarmupCosine(warmup_steps, epochs * steps_per_epoch, floor)
    return WarmupDecay(
        kind, warmup_steps, steps_per_epoch, decay_epochs, decay_rate, tuple(milestones), floor
    )


class WarmupPlateau:
    """``plateau``: linear warmup per step (a :class:`LambdaLR` of :class:`WarmupDecay`
    ``constant``), then the LR stays until the epoch metric (minival top-1, higher is better)
    stops improving: :class:`ReduceLROnPlateau` multiplies it by ``factor`` after more than
    ``patience`` epochs without a relative gain of ``threshold`` (torch's defaults), never below
    each group's ``min_lrs``. As timm's ``PlateauLRScheduler``, epochs that end within the warmup
    are not counted.

    The loop calls :meth:`step` after every optimizer step (as any schedule) and
    :meth:`epoch_end` with the metric after each evaluation; :meth:`state_dict` holds both
    schedulers, for ``last.ckpt``. The reduced LR itself lives in the optimizer's groups (saved
    with the optimizer), which is why the warmup stops stepping once it is over.
    """

    def __init__(
        self,
        optimizer: Optimizer,
        warmup_steps: int,
        *,
        factor: float,
        patience: int,
        min_lrs: list[float],
        threshold: float = 1e-4,
    ) -> None:
        self.warmup_steps = warmup_steps
        self.warmup = LambdaLR(optimizer, WarmupDecay("constant", warmup_steps, 1))
        self.plateau = ReduceLROnPlateau(
            optimizer,
            mode="max",
            factor=factor,
            patience=patience,
            threshold=threshold,
            min_lr=min_lrs,
        )

    @property
    def warming_up(self) -> bool:
        return self.warmup.last_epoch < self.warmup_steps

    def step(self) -> None:
        """One optimizer step done: the warmup's next LR (after it, the LR is left as is)."""
        if self.warming_up:
            self.warmup.step()

    def epoch_end(self, metric: float) -> None:
        """An epoch evaluated with ``metric`` (higher is better); ignored within the warmup.
        Under DDP every process must pass the same value, so that all take the same
        decision (effnet's minival top-1 is computed from counts summed over processes)."""
        if not self.warming_up:
            self.plateau.step(metric)

    def state_dict(self) -> dict[str, Any]:
        return {"warmup": self.warmup.state_dict(), "plateau": self.plateau.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.warmup.load_state_dict(state["warmup"])
        self.plateau.load_state_dict(state["plateau"])


Scheduler = LambdaLR | WarmupPlateau


def build_scheduler(optimizer: Optimizer, schedule: Schedule) -> LambdaLR:
    """A per-step :class:`LambdaLR`; each group's LR is its own initial LR times the multiplier."""
    return LambdaLR(optimizer, schedule)


def build_plateau(
    optimizer: Optimizer,
    *,
    steps_per_epoch: int,
    warmup_epochs: float,
    factor: float,
    patience: int,
    floor: float = 0.0,
) -> WarmupPlateau:
    """The ``plateau`` schedule (:class:`WarmupPlateau`) of ``optimizer``; ``floor``: the
    lowest multiplier of each group's initial LR (``min_lr`` / base LR), as for the others."""
    min_lrs = [floor * group["lr"] for group in optimizer.param_groups]
    warmup_steps = round(warmup_epochs * steps_per_epoch)
    return WarmupPlateau(optimizer, warmup_steps, factor=factor, patience=patience, min_lrs=min_lrs)


def scaled_lr(lr_per_256: float, batch_size: int) -> float:
    """Linear scaling rule (paper §5.2: 0.016 per 256 images, 0.256 at batch 4096)."""
    return lr_per_256 * batch_size / 256


def progress_at(epoch: int, epochs: int, ramp: float = 0.5) -> float:
    """How far progressive learning (EfficientNetV2, Tan & Le 2021, §4) has gone at ``epoch``
    (0-based) of ``epochs``: 0 at the first epoch, rising linearly to 1 at ``ramp`` of the run
    and kept there (the last epoch always is 1). Image size and regularisation follow it
    together."""
    last = min(epochs - 1, max(0, round(ramp * epochs) - 1))  # first epoch at full strength
    return 1.0 if epoch >= last else epoch / last


def resolution_at(
    epoch: int, epochs: int, resolution: int, start: float | None, ramp: float = 0.5
) -> int:
    """Progressive resizing (EfficientNetV2 §4): the train resolution of ``epoch`` (0-based)
    of ``epochs``. ``start`` (a fraction of ``resolution``; ``None``: off) at the first epoch,
    growing linearly to ``resolution`` (:func:`progress_at`); rounded down to a multiple of
    8 px (at least 8) below the full resolution."""
    if start is None or start >= 1.0:
        return resolution
    t = progress_at(epoch, epochs, ramp)
    if t >= 1.0:
        return resolution
    side = resolution * (start + (1.0 - start) * t)
    return min(resolution, max(8, int(side) // 8 * 8))


def ramped(first: float, last: float, t: float) -> float:
    """The value a progressively raised setting has at progress ``t`` (0..1): ``first`` at
    the start, ``last`` at full strength (EfficientNetV2 §4, Algorithm 1: linear between
    the two)."""
    return first + (last - first) * t
