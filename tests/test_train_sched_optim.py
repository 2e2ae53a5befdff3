"""timm's schedule and optimizer choices: ``--sched`` kinds per step (the presets' staircase and
cosine unchanged), ``--min-lr``, the optimizers torch ships, ``--layer-decay``."""

from __future__ import annotations

import json
import math

import pytest
import torch
from conftest import make_image_folder

import effnet
from effnet.cli import main
from effnet.train.checkpoint import load_checkpoint
from effnet.train.optim import build_optimizer, param_groups
from effnet.train.schedule import WarmupCosine, WarmupStaircase, build_plateau, build_schedule
from effnet.types import OptimizerName, choices

SPE = 10  # steps per epoch


def test_step_is_the_staircase_and_presets_keep_their_lr_per_step():
    common = {"steps_per_epoch": SPE, "epochs": 20, "warmup_epochs": 2, "decay_epochs": 2.4}
    staircase = build_schedule("staircase", **common)
    step = build_schedule("step", **common)
    assert all(step(s) == staircase(s) for s in range(200))
    # the presets' schedules, as effnet 0.3 built them
    assert isinstance(staircase, WarmupStaircase) and staircase == WarmupStaircase(20, 24.0, 0.97)
    cosine = build_schedule("cosine", **common)
    assert cosine == WarmupCosine(20, 200) and cosine(110) == pytest.approx(0.5)


def test_multistep_exponential_constant_and_the_floor():
    common = {"steps_per_epoch": SPE, "epochs": 10, "warmup_epochs": 1, "decay_rate": 0.1}
    multi = build_schedule("multistep", milestones=(3, 6), **common)
    assert [multi(s) for s in (5, 10, 29, 30, 59, 60, 99)] == pytest.approx(
        [0.5, 1, 1, 0.1, 0.1, 0.01, 0.01]
    )
    expo = build_schedule("exponential", **{**common, "decay_rate": 0.5})
    assert expo(20) == pytest.approx(0.25) and expo(25) == pytest.approx(0.5**2.5)
    assert build_schedule("constant", **common)(99) == 1.0
    floored = build_schedule("multistep", milestones=(3, 6), floor=0.05, **common)
    assert floored(60) == 0.05 and floored(35) == pytest.approx(0.1)
    cosine = build_schedule("cosine", floor=0.2, **common)
    assert cosine(100) == pytest.approx(0.2) and cosine(10) == 1.0


def _plateau(warmup_epochs=1.0, floor=0.0):
    model = torch.nn.Linear(2, 2)
    groups = [{"params": [model.weight], "lr": 1.0}, {"params": [model.bias], "lr": 0.5}]
    opt = torch.optim.SGD(groups, lr=1.0)
    sched = build_plateau(
        opt, steps_per_epoch=SPE, warmup_epochs=warmup_epochs, factor=0.5, patience=1, floor=floor
    )
    return opt, sched


def _epochs(opt, sched, metrics):
    """Train an epoch of SPE steps per metric; the LR of each group after each epoch's end."""
    lrs = []
    for metric in metrics:
        for _ in range(SPE):
            opt.step()
            sched.step()
        sched.epoch_end(metric)
        lrs.append([g["lr"] for g in opt.param_groups])
    return lrs


def test_plateau_warms_up_then_halves_after_patience_stalled_epochs():
    opt, sched = _plateau()
    assert [g["lr"] for g in opt.param_groups] == [0.0, 0.0]  # warmup starts at 0
    opt.step()
    sched.step()
    assert opt.param_groups[0]["lr"] == pytest.approx(0.1)
    # epoch 1 is warmup (its metric not counted); then 50 best, 50 and 40 stalled: x0.5 after
    # more than 1 stalled epoch; 60 improves; 60, 60 stall again
    metrics = [0.0, 50.0, 50.0, 40.0, 60.0, 60.0, 60.0]
    lrs = _epochs(opt, sched, metrics)
    assert [lr[0] for lr in lrs] == [1.0, 1.0, 1.0, 0.5, 0.5, 0.5, 0.25]
    assert [lr[1] for lr in lrs][-1] == 0.125  # each group from its own LR (layer decay)
    # the saved state resumes the same decisions: 60 again stalls once, 60 twice halves
    state, lr_now = sched.state_dict(), [g["lr"] for g in opt.param_groups]
    opt2, sched2 = _plateau()
    for g, lr in zip(opt2.param_groups, lr_now):  # the optimizer's own state_dict holds them
        g["lr"] = lr
    sched2.load_state_dict(state)
    assert _epochs(opt2, sched2, [60.0, 60.0]) == _epochs(opt, sched, [60.0, 60.0])
    assert opt2.param_groups[0]["lr"] == 0.125


def test_plateau_never_goes_below_min_lr():
    opt, sched = _plateau(warmup_epochs=0, floor=0.3)
    assert opt.param_groups[0]["lr"] == 1.0  # no warmup: the full LR from the first step
    lrs = _epochs(opt, sched, [1.0] * 8)
    assert lrs[-1] == pytest.approx([0.3, 0.15])


@pytest.mark.parametrize("name", choices(OptimizerName))
def test_every_optimizer_trains(name):
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(8, 16), torch.nn.ReLU(), torch.nn.Linear(16, 3))
    opt = build_optimizer(name, param_groups(model, 0.01), 0.01)
    x, y = torch.randn(64, 8), torch.randint(0, 3, (64,))
    losses = []
    for _ in range(30):
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < losses[0], (name, losses[0], losses[-1])


def test_layer_decay_scales_each_stage_from_the_head_down():
    model = effnet.create_model(effnet.compound("efficientnet_b0", -4), num_classes=3)
    groups = param_groups(model, 0.05, layer_decay=0.5)
    stages = len(model.blocks)  # 7
    scale = {id(p): g["lr_scale"] for g in groups for p in g["params"]}
    assert scale[id(model.classifier.weight)] == 1.0 and scale[id(model.conv_head.weight)] == 1.0
    assert scale[id(model.blocks[-1][0].conv_pwl.weight)] == 0.5
    assert scale[id(model.blocks[0][0].conv_dw.weight)] == 0.5**stages
    assert scale[id(model.conv_stem.weight)] == 0.5 ** (stages + 1)
    assert all(math.isclose(g["lr_scale"], 1.0) for g in param_groups(model, 0.05))


def test_sched_flags_from_the_command_line(tmp_path, capsys):
    assert main(["train", "--sched", "multistep", "--procs", "1"]) == 2
    assert "needs decay milestones" in capsys.readouterr().err
    data = make_image_folder(tmp_path / "data")
    argv = ["train", "--data", str(data), "--out", str(tmp_path / "run"), "--epochs", "2"]
    argv += ["-b", "8", "--resolution", "32", "--workers", "0", "--no-progress", "--procs", "1"]
    argv += ["--opt", "radam", "--sched", "multistep", "--decay-milestones", "1", "--layer-decay"]
    argv += ["0.8", "--warmup-epochs", "0", "--min-lr", "1e-5"]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "radam" in out and "at epochs [1.0]" in out and "layer LR decay 0.8" in out


def test_keep_last_then_average_gives_a_loadable_mean(tmp_path, capsys):
    from effnet.weights.io import load_weights, read_tensors

    data = make_image_folder(tmp_path / "data")
    run = tmp_path / "run"
    argv = ["train", "--data", str(data), "--out", str(run), "--epochs", "3", "-b", "8"]
    argv += ["--resolution", "32", "--workers", "0", "--no-progress", "--procs", "1"]
    assert main([*argv, "--keep-last", "2"]) == 0
    kept = sorted(p.name for p in run.glob("epoch-*.safetensors"))
    assert kept == ["epoch-2.safetensors", "epoch-3.safetensors"]
    assert main(["average", str(run), "--last", "2"]) == 0
    averaged = read_tensors(run / "averaged.safetensors")
    a, b = (read_tensors(run / name) for name in kept)
    key = "conv_stem.weight"
    torch.testing.assert_close(averaged[key], (a[key] + b[key]) / 2)
    counter = "bn1.num_batches_tracked"
    assert averaged[counter] == b[counter]
    model = load_weights(run / "averaged.safetensors")  # eval / predict load it as any run's
    assert model.num_classes == 3
    assert main(["average", str(tmp_path / "data")]) == 2
    assert "train with --keep-last" in capsys.readouterr().err


def test_plateau_lowers_the_lr_when_minival_stalls_and_resumes(tmp_path, capsys):
    data = make_image_folder(tmp_path / "data")
    run = tmp_path / "run"
    argv = ["train", "--data", str(data), "--out", str(run), "-b", "8", "--resolution", "32"]
    argv += ["--workers", "0", "--no-progress", "--procs", "1", "--minival-size", "6"]
    # an LR too small to move minival top-1: every epoch after the first is a plateau
    argv += ["--sched", "plateau", "--lr", "1e-7", "--warmup-epochs", "0"]
    argv += ["--patience-epochs", "0", "--decay-rate", "0.5"]
    assert main([*argv, "--epochs", "2"]) == 0
    assert "x0.5 after 0 epochs without a minival gain" in capsys.readouterr().out
    assert main(["train", "--out", str(run), "--resume", "--epochs", "3", "--no-progress"]) == 0
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    top1 = [r["minival_top1"] for r in records]
    assert top1[1] <= top1[0] and top1[2] <= top1[0], top1  # stalled
    # each record holds the LR its epoch trained at: epoch 2 stalled (patience 0), so the
    # resumed epoch 3 trained at half; it stalled too, and the checkpoint holds half again
    assert [r["lr"] for r in records] == pytest.approx([1e-7, 1e-7, 5e-8])
    ckpt = load_checkpoint(run / "last.ckpt")
    assert ckpt["optimizer"]["param_groups"][0]["lr"] == pytest.approx(2.5e-8)
    assert ckpt["scheduler"]["plateau"]["best"] == top1[0]
    assert main(["train", "--sched", "plateau", "--minival-size", "0", "--procs", "1"]) == 2
    assert "plateau schedule follows minival top-1" in capsys.readouterr().err
