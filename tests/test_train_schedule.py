"""The paper's schedule (§5.2), the small preset's cosine, the EMA rule and the presets."""

import math

import pytest
import torch

from effnet.train.ema import build_ema, effective_decay
from effnet.train.recipe import PAPER, SMALL, get_recipe
from effnet.train.schedule import (
    WarmupCosine,
    WarmupStaircase,
    build_schedule,
    build_scheduler,
    scaled_lr,
)


def test_lr_scales_linearly_with_batch():
    assert scaled_lr(0.016, 256) == pytest.approx(0.016)
    assert scaled_lr(0.016, 4096) == pytest.approx(0.256)
    assert scaled_lr(0.016, 2048) == pytest.approx(0.128)


def test_paper_schedule_values():
    spe = 100  # steps per epoch
    f = build_schedule("staircase", steps_per_epoch=spe, epochs=350, warmup_epochs=5)
    assert isinstance(f, WarmupStaircase)
    assert f(0) == 0.0
    assert f(250) == pytest.approx(0.5)  # linear warmup from 0 over 5 epochs
    assert f(499) == pytest.approx(499 / 500)
    # after warmup: 0.97 ** floor(step / 2.4 epochs), counted from step 0 (official code)
    assert f(500) == pytest.approx(0.97 ** math.floor(500 / 240))
    assert f(719) == pytest.approx(0.97**2)
    assert f(720) == pytest.approx(0.97**3)
    assert f(24000) == pytest.approx(0.97**100)


def test_scheduler_steps_per_step_with_real_optimizer():
    p = torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.SGD([p], lr=scaled_lr(0.016, 512))
    sched = build_scheduler(opt, WarmupStaircase(warmup_steps=10, decay_steps=24))
    lrs = []
    for _ in range(60):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    assert lrs[0] == 0.0 and lrs[5] == pytest.approx(0.032 * 0.5)
    assert lrs[10] == pytest.approx(0.032) and lrs[24] == pytest.approx(0.032 * 0.97)
    assert lrs[48] == pytest.approx(0.032 * 0.97**2)
    state = sched.state_dict()
    assert state["last_epoch"] == 60


def test_cosine_schedule():
    f = WarmupCosine(warmup_steps=10, total_steps=110)
    assert f(0) == 0 and f(10) == pytest.approx(1.0)
    assert f(60) == pytest.approx(0.5)
    assert f(110) == pytest.approx(0.0, abs=1e-12)


def test_effective_ema_decay():
    assert effective_decay(0.9999, 1000) == pytest.approx(0.99)  # horizon 100 steps = 10%
    assert effective_decay(0.9999, 350 * 625) == 0.9999  # the paper's run: unchanged
    assert effective_decay(0.9999, 3) == 0.0
    with pytest.raises(ValueError):
        effective_decay(1.0, 10)


def test_ema_tracks_weights():
    model = torch.nn.Linear(2, 1)
    ema = build_ema(model, 0.5)
    ema.update_parameters(model)  # first update copies
    with torch.no_grad():
        model.weight.add_(2.0)
    ema.update_parameters(model)
    assert torch.allclose(ema.module.weight, model.weight - 1.0)


def test_presets():
    assert PAPER.optimizer == "rmsprop_tf" and PAPER.lr_per_256 == 0.016
    assert (PAPER.warmup_epochs, PAPER.decay_epochs, PAPER.decay_rate) == (5, 2.4, 0.97)
    assert (PAPER.weight_decay, PAPER.label_smoothing, PAPER.ema_decay) == (1e-5, 0.1, 0.9999)
    assert get_recipe("small") is SMALL
    assert "small" in SMALL.describe()
    with pytest.raises(ValueError):
        get_recipe("nope")
    assert SMALL.replace(epochs=None).epochs == SMALL.epochs
