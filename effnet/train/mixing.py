"""MixUp and CutMix on train batches, as timm's ``--mixup`` / ``--cutmix``: torchvision's
``transforms.v2.MixUp`` and ``CutMix`` (Zhang et al. 2018; Yun et al. 2019).

A batch is mixed with probability ``mixup_prob``; with both on, CutMix is chosen for a share
``mixup_switch_prob`` of the mixed batches (timm's ``--mixup-prob``, ``--mixup-switch-prob``).
Mixed targets are class probabilities, which ``nn.CrossEntropyLoss`` takes with its label
smoothing. Training top-1 has no single right answer under mixing, so runs that mix do not
report it.
"""

from __future__ import annotations

import torch

from effnet.train.recipe import Recipe


class BatchMixer:
    """``(images, labels) -> (images, targets)``: mixed with soft targets, or as given."""

    def __init__(self, recipe: Recipe, num_classes: int) -> None:
        from torchvision.transforms import v2

        self.use_mixup, self.use_cutmix = recipe.mixup_alpha > 0, recipe.cutmix_alpha > 0
        n, mix_a, cut_a = num_classes, recipe.mixup_alpha, recipe.cutmix_alpha
        self.mixup = v2.MixUp(alpha=mix_a, num_classes=n) if self.use_mixup else None
        self.cutmix = v2.CutMix(alpha=cut_a, num_classes=n) if self.use_cutmix else None
        self.prob, self.switch = recipe.mixup_prob, recipe.mixup_switch_prob

    def __call__(self, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if float(torch.rand(())) >= self.prob:
            return x, y
        cutmix = self.use_cutmix and (not self.use_mixup or float(torch.rand(())) < self.switch)
        mix = self.cutmix if cutmix else self.mixup
        assert mix is not None  # a mixer exists only with one of them on
        return mix(x, y)


def batch_mixer(recipe: Recipe, num_classes: int) -> BatchMixer | None:
    """The recipe's mixer, or ``None`` when it mixes nothing."""
    if recipe.mixup_alpha <= 0 and recipe.cutmix_alpha <= 0:
        return None
    return BatchMixer(recipe, num_classes)
