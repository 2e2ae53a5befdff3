"""``--config FILE``: a run's options from YAML (the command line over them), every run's
``config.yaml`` repeating it, and timm's ``args.yaml`` carried over."""

from __future__ import annotations

import json

import pytest
import yaml
from conftest import make_image_folder

import effnet.train.loop
from effnet.cli import main


@pytest.fixture
def captured(monkeypatch):
    """The TrainConfig each ``effnet train`` would run (training itself skipped)."""
    seen = []

    class Result:
        interrupted = False
        out = None

    def fake_train(config):
        seen.append(config)
        return Result()

    monkeypatch.setattr(effnet.train.loop, "train", fake_train)
    monkeypatch.setattr("effnet.cli.config_file.write_settings", lambda *a: None)
    return seen


def test_the_command_line_overrides_the_file(tmp_path, captured):
    file = tmp_path / "run.yaml"
    file.write_text("epochs: 7\nbatch-size: 12\ncrop_scale: 0.5,1.0\nprogressive: [0.5, null]\n")
    assert main(["train", "--config", str(file), "--epochs", "3", "--procs", "1"]) == 0
    recipe = captured[-1].recipe
    assert (recipe.epochs, recipe.batch_size, recipe.crop_scale) == (3, 12, (0.5, 1.0))
    assert recipe.progressive_start == 0.5


def test_unknown_keys_and_bad_values_are_one_line(tmp_path, captured, capsys):
    file = tmp_path / "run.yaml"
    file.write_text("epochs: 2\nlearning_rat: 0.1\nbatchsize: 3\n")
    assert main(["train", "--config", str(file)]) == 2
    err = capsys.readouterr().err
    assert "unknown option(s) for effnet train: learning_rat, batchsize" in err
    file.write_text("optimizer: lamb\n")
    assert main(["train", "--config", str(file)]) == 2
    assert "optimizer: 'lamb' is not one of" in capsys.readouterr().err
    assert main(["train", "--config", str(tmp_path / "absent.yaml")]) == 2
    assert not captured


def test_timms_args_yaml_maps_what_effnet_has_and_names_the_rest(tmp_path, captured, capsys):
    timm_args = {  # as timm's train.py writes args.yaml (yaml.safe_dump(args.__dict__))
        "model": "efficientnet_b0", "batch_size": 32, "epochs": 5, "opt": "adamw", "lr": 0.002,
        "sched": "cosine", "warmup_epochs": 1, "weight_decay": 0.05, "smoothing": 0.1,
        "mixup": 0.2, "cutmix": 1.0, "mixup_prob": 1.0, "mixup_switch_prob": 0.5,
        "reprob": 0.25, "aa": "rand-m9-n2", "drop": 0.2, "drop_path": 0.1, "model_ema": True,
        "model_ema_decay": 0.999, "amp": False, "channels_last": True, "seed": 42,
        "patience_epochs": 3, "hflip": 0.5, "color_jitter": 0.4, "lr_noise": None,
        "data_dir": "/data/imagenet",
    }  # fmt: skip
    file = tmp_path / "args.yaml"
    file.write_text(yaml.safe_dump(timm_args))
    assert main(["train", "--config", str(file), "--procs", "1"]) == 0
    config = captured[-1]
    r = config.recipe
    assert (r.batch_size, r.epochs, r.optimizer, r.weight_decay) == (32, 5, "adamw", 0.05)
    assert (r.label_smoothing, r.mixup_alpha, r.cutmix_alpha, r.reprob) == (0.1, 0.2, 1.0, 0.25)
    assert (r.augment, r.ema_decay, r.warmup_epochs) == ("rand-m9-n2", 0.999, 1)
    assert r.plateau_patience == 3
    assert (config.lr, config.seed) == (0.002, 42)
    assert (config.drop_rate, config.drop_path_rate) == (0.2, 0.1)
    assert config.model == "efficientnet_b0" and config.amp is False and config.channels_last
    err = capsys.readouterr().err
    assert "not carried over" in err
    assert r.schedule == "cosine"
    for ignored in ("hflip=0.5", "color_jitter=0.4", "data_dir=/data/imagenet"):
        assert ignored in err
    assert "lr_noise" not in err  # unset in timm's run: nothing to carry


@pytest.mark.slow
def test_a_runs_config_yaml_repeats_it(tmp_path):
    data = make_image_folder(tmp_path / "data")
    first, second = tmp_path / "first", tmp_path / "second"
    argv = ["train", "--data", str(data), "--epochs", "2", "-b", "8", "--resolution", "32"]
    argv += ["--workers", "0", "--no-progress", "--seed", "5", "--procs", "1"]
    assert main([*argv, "--out", str(first)]) == 0
    saved = yaml.safe_load((first / "config.yaml").read_text())
    assert saved["seed"] == 5 and saved["epochs"] == 2 and "out" not in saved
    assert main(["train", "--config", str(first / "config.yaml"), "--out", str(second)]) == 0

    def losses(run):
        lines = (run / "metrics.jsonl").read_text().splitlines()
        return [json.loads(line)["train_loss"] for line in lines]

    assert losses(second) == losses(first)
    assert yaml.safe_load((second / "config.yaml").read_text()) == saved


def test_the_timm_style_recipe_in_the_repository_loads(captured):
    from pathlib import Path

    recipe_file = Path(__file__).resolve().parents[1] / "recipes" / "timm_style.yaml"
    assert main(["train", "--config", str(recipe_file), "--epochs", "1", "--procs", "1"]) == 0
    r = captured[-1].recipe
    assert (r.augment, r.mixup_alpha, r.cutmix_alpha, r.reprob) == ("rand-m9-n2", 0.8, 1.0, 0.25)
    assert (r.optimizer, r.schedule, r.ema_decay, r.epochs) == ("adamw", "cosine", 0.9998, 1)
