"""Recipe parts carried over from timm and torchvision: augmentation policies by name (timm's
spellings too), random erasing, MixUp / CutMix on batches with label smoothing; all
torchvision's implementations."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from conftest import make_image_folder
from PIL import Image
from torchvision import transforms as T

from effnet.cli import main
from effnet.data.augment import AugmentPolicy, augment_step, parse_augment
from effnet.data.transforms import train_transform
from effnet.train.mixing import batch_mixer
from effnet.train.recipe import SMALL


@pytest.mark.parametrize(
    ("text", "policy", "kind"),
    [
        ("none", AugmentPolicy("none"), type(None)),
        ("autoaugment", AugmentPolicy("autoaugment"), T.AutoAugment),
        ("original", AugmentPolicy("autoaugment"), T.AutoAugment),  # timm's name
        ("randaugment", AugmentPolicy("randaugment", 9, 2), T.RandAugment),
        ("rand-m15-n3", AugmentPolicy("randaugment", 15, 3), T.RandAugment),
        ("trivialaugment", AugmentPolicy("trivialaugment"), T.TrivialAugmentWide),
        ("augmix-m5-w4-d-1", AugmentPolicy("augmix", 5, width=4, depth=-1), T.AugMix),
    ],
)
def test_policies_by_name_are_torchvisions(text, policy, kind):
    assert parse_augment(text) == policy
    step = augment_step(policy)
    assert isinstance(step, kind)
    if isinstance(step, T.RandAugment):
        assert (step.num_ops, step.magnitude) == (policy.num_ops, policy.magnitude)
    if isinstance(step, T.AugMix):
        assert (step.severity, step.mixture_width, step.chain_depth) == (5, 4, -1)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("rand-m9-mstd0.5", "'mstd0.5' is not an option effnet's randaugment takes"),
        ("cutout", "expected none, autoaugment, randaugment"),
        ("rand-m40", "magnitude 0..30"),
    ],
)
def test_unknown_policies_are_one_clear_error(text, message):
    with pytest.raises(ValueError, match=message):
        parse_augment(text)


def test_random_erasing_erases_after_normalisation():
    img = Image.fromarray(np.full((40, 40, 3), 128, np.uint8))
    torch.manual_seed(0)
    erased = train_transform(32, "none", crop_scale=(1.0, 1.0), reprob=1.0)(img)
    kept = train_transform(32, "none", crop_scale=(1.0, 1.0))(img)
    assert isinstance(train_transform(32, "none", reprob=0.5).transforms[-1], T.RandomErasing)
    assert (erased != kept).any() and erased.shape == kept.shape == (3, 32, 32)
    with pytest.raises(ValueError, match="reprob"):
        train_transform(32, "none", reprob=1.5)


def test_mixed_batches_have_soft_targets_the_loss_takes_with_smoothing():
    recipe = SMALL.replace(mixup_alpha=0.8, cutmix_alpha=1.0, mixup_prob=1.0)
    mixer = batch_mixer(recipe, 5)
    assert batch_mixer(SMALL, 5) is None  # today's presets mix nothing
    x, y = torch.randn(8, 3, 16, 16), torch.arange(8) % 5
    torch.manual_seed(0)
    mixed, targets = mixer(x, y)
    assert targets.shape == (8, 5) and torch.allclose(targets.sum(1), torch.ones(8))
    assert not torch.equal(mixed, x)
    loss = torch.nn.CrossEntropyLoss(label_smoothing=0.1)(torch.randn(8, 5), targets)
    assert torch.isfinite(loss)
    never = batch_mixer(recipe.replace(mixup_prob=0.0), 5)
    assert never(x, y)[1] is y  # a batch left as it is keeps its hard labels
    only_cutmix = batch_mixer(SMALL.replace(cutmix_alpha=1.0), 5)
    assert only_cutmix.use_cutmix and not only_cutmix.use_mixup


@pytest.mark.slow
def test_a_timm_style_recipe_trains_from_the_command_line(tmp_path, capsys):
    data = make_image_folder(tmp_path / "data")
    out = tmp_path / "run"
    argv = ["train", "--data", str(data), "--out", str(out), "--epochs", "2", "-b", "8"]
    argv += ["--resolution", "32", "--workers", "0", "--no-progress", "--augment", "rand-m7-n2"]
    argv += ["--reprob", "0.25", "--mixup", "0.8", "--cutmix", "1.0", "--mixup-switch-prob", "0.5"]
    assert main(argv) == 0
    text = capsys.readouterr().out
    assert "train top1 n/a (mixed)" in text and "mixup 0.8, cutmix 1" in text
    import json

    records = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert [r["train_top1"] for r in records] == [None, None]
    assert all(np.isfinite(r["train_loss"]) for r in records)
    assert main([*argv[:-8], "--augment", "rand-m9-mstd0.5"]) == 2
    assert "mstd0.5" in capsys.readouterr().err
