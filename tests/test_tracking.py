"""Experiment tracking: metrics.csv (by default) and TensorBoard, read back with their own
readers; a failing logger warns once and the run goes on."""

from __future__ import annotations

import csv
import json

import pytest
from conftest import make_image_folder

from effnet.cli import main


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return make_image_folder(tmp_path_factory.mktemp("data"))


def _argv(data, out, *extra):
    common = ["--epochs", "2", "-b", "8", "--resolution", "32", "--workers", "0", "--procs", "1"]
    return ["train", "--data", str(data), "--out", str(out), "--no-progress", *common, *extra]


def _records(out):
    return [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]


def test_csv_and_tensorboard_hold_every_epoch(data, tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    out = tmp_path / "run"
    assert main(_argv(data, out, "--log", "csv,tensorboard")) == 0
    records = _records(out)
    with (out / "metrics.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert [float(r["train_loss"]) for r in rows] == [r["train_loss"] for r in records]
    assert [int(r["epoch"]) for r in rows] == [1, 2]
    events = EventAccumulator(str(out / "tensorboard"))
    events.Reload()
    losses = events.Scalars("epoch/train_loss")
    assert [e.step for e in losses] == [1, 2]
    assert [e.value for e in losses] == pytest.approx([r["train_loss"] for r in records])
    summary = json.loads((out / "summary.json").read_text())
    (final,) = events.Scalars("final/val_top1")
    assert final.value == pytest.approx(summary["val_top1"]) and final.step == 2
    assert "config" in events.Tags()["tensors"] or "config/text_summary" in events.Tags()["tensors"]


def test_a_failing_logger_warns_once_and_the_run_goes_on(data, tmp_path, capsys, monkeypatch):
    from torch.utils.tensorboard import SummaryWriter

    def broken(*args, **kwargs):
        raise ConnectionError("disk gone")

    monkeypatch.setattr(SummaryWriter, "add_scalar", broken)
    out = tmp_path / "run"
    assert main(_argv(data, out, "--log", "csv,tensorboard")) == 0
    err = capsys.readouterr().err
    assert err.count("tensorboard logging failed (disk gone); the run goes on without it") == 1
    assert len(list(csv.DictReader((out / "metrics.csv").open()))) == 2
    assert (out / "best.safetensors").is_file() and (out / "summary.json").is_file()


def test_unknown_logger_is_one_line(data, tmp_path, capsys):
    assert main(_argv(data, tmp_path / "run", "--log", "csv,comet")) == 2
    err = capsys.readouterr().err
    assert "unknown logger(s) comet; known: csv, tensorboard, mlflow, wandb" in err
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("name", ["mlflow", "wandb"])
def test_a_missing_tracking_package_is_one_line(name, data, tmp_path, capsys, monkeypatch):
    import importlib.util

    find_spec = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda n, *a: None if n == name else find_spec(n, *a)
    )
    assert main(_argv(data, tmp_path / "run", "--log", name)) == 2
    err = capsys.readouterr().err
    assert f"--log {name} needs the {name} package: pip install effnet[{name}]" in err


def test_help_imports_no_tracking_package():
    import subprocess
    import sys

    code = "import sys; from effnet.cli import main\ntry: main(['train', '--help'])\n"
    code += "except SystemExit: pass\nprint(sorted({'mlflow', 'wandb'} & set(sys.modules)))"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.stdout.strip().endswith("[]"), result.stdout[-300:] + result.stderr[-300:]
