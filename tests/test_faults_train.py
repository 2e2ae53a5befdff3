"""Issue 7, runs: kill -9 while a real checkpoint is written, resume with the same data order,
NaN/Inf loss, a full disk, a malicious ``last.ckpt``, unreadable and odd images in a training
folder. Mostly through ``effnet train`` (the CLI), with the default tiny model at 32 px."""

import errno
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torch.utils.data import Dataset

import effnet
from effnet.cli import main
from effnet.data import DataBundle
from effnet.train.checkpoint import load_checkpoint
from effnet.train.config import TrainConfig
from effnet.train.loop import train
from effnet.train.recipe import SMALL
from effnet.weights.io import load_weights

FAST = ["--batch-size", "4", "--resolution", "32", "--workers", "0", "--no-progress"]
FAST += ["--minival-size", "0.25"]


def make_folder(root: Path, per_class: int = 8, val: int = 2) -> Path:
    rng = np.random.default_rng(0)
    for split, n in (("train", per_class), ("val", val)):
        for c in ("a", "b"):
            d = root / split / c
            d.mkdir(parents=True, exist_ok=True)
            for i in range(n):
                img = rng.integers(0, 90, (32, 32, 3), dtype=np.uint8)
                img[:, :, 0 if c == "a" else 2] += 120
                Image.fromarray(img).save(d / f"{i}.png")
    return root


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    return make_folder(tmp_path_factory.mktemp("data"))


def run_cli(capsys, *args: str) -> tuple[int, str]:
    try:
        code = main(list(args))
    except SystemExit as exc:  # argparse
        code = exc.code
    err = capsys.readouterr().err
    return code, err


def error_lines(err: str) -> list[str]:
    return [ln for ln in err.splitlines() if "error" in ln]


# ----------------------------------------------------------------------------- kill -9
CHILD = """
import sys
from effnet.train.config import TrainConfig
from effnet.train.distributed import setup
from effnet.train.loop import Trainer
from effnet.train.recipe import SMALL

cfg = TrainConfig(data=sys.argv[1], out=sys.argv[2], workers=0, progress=False,
                  minival_size=0.25, device="cpu",
                  recipe=SMALL.replace(epochs=2, batch_size=4, resolution=32))
trainer = Trainer(cfg, setup("cpu"), [])
trainer.setup()
i = 0
while True:  # rewrite last.ckpt as fast as possible, each with its own step
    trainer.state.step = i
    trainer.save_last()
    if i == 0:
        print("first save done", flush=True)
    i += 1
"""


@pytest.mark.slow
def test_kill_9_while_writing_a_real_checkpoint_leaves_a_loadable_one(folder, tmp_path):
    out = tmp_path / "run"
    proc = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(CHILD), str(folder), str(out)],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        for line in proc.stdout:  # the trainer logs its settings first
            if line.strip() == "first save done":
                break
        assert proc.poll() is None, "the child died before its first save"
        time.sleep(1.0 + np.random.default_rng().random())  # an arbitrary moment of a write
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    ck = load_checkpoint(out / "last.ckpt")
    assert ck["step"] >= 0 and ck["format"] == 1
    model = effnet.Network(effnet.NetworkSpec.from_json(ck["spec"]), num_classes=2)
    model.load_state_dict(ck["model"])  # complete, not torn
    assert ck["optimizer"]["param_groups"] and ck["rng"]["torch"].numel() > 0


# ------------------------------------------------------------------ resume: data order
class Recording(Dataset):
    """In-memory images that log which index is read, in order."""

    def __init__(self, n: int, log: list[int], seed: int = 0) -> None:
        g = torch.Generator().manual_seed(seed)
        self.y = torch.arange(n) % 2
        self.x = torch.randn(n, 3, 32, 32, generator=g) + self.y[:, None, None, None]
        self.log = log

    def __len__(self) -> int:
        return len(self.y)

    def __getitem__(self, i: int):
        self.log.append(int(i))
        return self.x[i], int(self.y[i])


def _bundle(log: list[int]) -> DataBundle:
    return DataBundle(
        train=Recording(12, log), minival=Recording(4, [], seed=1), val=None, classes=["a", "b"]
    )


def _config(data, out: Path, **kw) -> TrainConfig:
    recipe = SMALL.replace(epochs=2, batch_size=4, resolution=32, warmup_epochs=0.5)
    return TrainConfig(data=data, out=str(out), recipe=recipe, workers=0, progress=False, **kw)


def test_resume_continues_at_the_right_step_with_the_same_data_order(tmp_path):
    full_order: list[int] = []
    full = train(_config(_bundle(full_order), tmp_path / "full"))

    first: list[int] = []
    part = train(_config(_bundle(first), tmp_path / "part"), callbacks=[lambda s: s["step"] == 4])
    assert part.interrupted
    ck = load_checkpoint(tmp_path / "part" / "last.ckpt")
    assert (ck["epoch"], ck["step"], ck["micro_in_epoch"]) == (1, 4, 1)  # 3 steps per epoch

    second: list[int] = []
    resumed = train(
        TrainConfig(
            data=_bundle(second), out=str(tmp_path / "part"), resume=True, workers=0, progress=False
        )
    )
    assert first + second == full_order  # the same images in the same order
    assert [h["step"] for h in resumed.history] == [h["step"] for h in full.history] == [3, 6]
    assert resumed.summary["steps"] == full.summary["steps"] == 6


# -------------------------------------------------------------------------- NaN / Inf
@pytest.mark.slow
@pytest.mark.parametrize("bad", ["inf"])  # NaN: tests/test_train_loop.py (same check)
def test_non_finite_loss_stops_with_one_line_and_keeps_best(
    folder, tmp_path, capsys, bad, monkeypatch
):
    out = tmp_path / "run"
    seen = {}
    real = torch.nn.CrossEntropyLoss.forward

    def forward(self, logits, target):
        loss = real(self, logits, target)
        if (out / "best.safetensors").exists():  # from epoch 2 on
            seen.setdefault("best", (out / "best.safetensors").read_bytes())
            return loss * float(bad)
        return loss

    monkeypatch.setattr(torch.nn.CrossEntropyLoss, "forward", forward)
    code, err = run_cli(
        capsys, "train", "--data", str(folder), "--out", str(out), "--epochs", "3", *FAST
    )
    assert code == 2
    lines = error_lines(err)
    assert len(lines) == 1 and "Traceback" not in err
    assert f"loss is {bad}" in lines[0] and "best.safetensors untouched" in lines[0]
    assert (out / "best.safetensors").read_bytes() == seen["best"]
    assert load_checkpoint(out / "last.ckpt")["epoch"] == 1
    assert not (out / "summary.json").exists()


# ---------------------------------------------------------------------------- full disk
@pytest.mark.slow
def test_full_disk_while_saving_is_reported_and_previous_files_survive(
    folder, tmp_path, capsys, monkeypatch
):
    out = tmp_path / "run"
    snapshot = {}

    def disk_full_after_epoch_1(real):
        def write(obj, f, *args, **kwargs):
            if (out / "last.ckpt").exists():
                snapshot.setdefault("best", (out / "best.safetensors").read_bytes())
                snapshot.setdefault("last", (out / "last.ckpt").read_bytes())
                Path(f).write_bytes(b"\0" * 100)  # a torn partial write, then the error
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
            return real(obj, f, *args, **kwargs)

        return write

    import effnet.weights.io

    monkeypatch.setattr(torch, "save", disk_full_after_epoch_1(torch.save))
    monkeypatch.setattr(
        effnet.weights.io, "save_file", disk_full_after_epoch_1(effnet.weights.io.save_file)
    )
    code, err = run_cli(
        capsys, "train", "--data", str(folder), "--out", str(out), "--epochs", "3", *FAST
    )
    monkeypatch.undo()
    assert code == 2 and "Traceback" not in err
    lines = error_lines(err)
    assert len(lines) == 1 and "No space left on device" in lines[0]
    assert "previous file" in lines[0] and "is unchanged" in lines[0]
    assert (out / "best.safetensors").read_bytes() == snapshot["best"]
    assert (out / "last.ckpt").read_bytes() == snapshot["last"]
    assert load_checkpoint(out / "last.ckpt")["epoch"] == 1
    assert load_weights(out / "best.safetensors").num_classes == 2
    assert not [p.name for p in out.iterdir() if ".tmp" in p.name]  # no temp files left


# ---------------------------------------------------------------- malicious last.ckpt
class Evil:
    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.mkdir, (self.marker,))


@pytest.mark.parametrize("verb", ["train", "finetune"])
def test_malicious_last_ckpt_is_refused_without_running(folder, tmp_path, capsys, verb):
    out = tmp_path / "run"
    out.mkdir()
    marker = tmp_path / "code-was-run"
    torch.save({"format": 1, "config": Evil(str(marker))}, out / "last.ckpt")
    extra = ["--weights", str(out / "none.safetensors")] if verb == "finetune" else []
    code, err = run_cli(capsys, verb, *extra, "--resume", "--out", str(out), "--data", str(folder))
    assert code == 2 and "Traceback" not in err
    lines = error_lines(err)
    assert len(lines) == 1 and "refusing to load" in lines[0]
    assert not marker.exists()


def test_malicious_weights_file_is_refused_by_predict_and_eval(folder, tmp_path, capsys):
    marker = tmp_path / "code-was-run"
    evil = tmp_path / "weights.pth"
    torch.save({"classifier.1.weight": Evil(str(marker))}, evil)
    img = next((folder / "val" / "a").iterdir())
    for args in (
        [
            "predict",
            str(img),
            "--weights",
            str(evil),
            "--model",
            "efficientnet_b0",
            "--source",
            "torchvision",
        ],
        [
            "eval",
            "--weights",
            str(evil),
            "--model",
            "efficientnet_b0",
            "--source",
            "timm",
            "--data",
            str(folder),
        ],
    ):
        code, err = run_cli(capsys, *args)
        assert code == 2 and "refusing to load" in err and err.count("\n") == 1
    assert not marker.exists()


# ------------------------------------------------------- unreadable and odd images
@pytest.mark.slow
def test_unreadable_images_are_skipped_named_and_counted_and_odd_ones_train(tmp_path, capsys):
    from test_faults_images import write_odd_images

    data = make_folder(tmp_path / "data")
    write_odd_images(data / "train" / "a")  # every mode and aspect ratio, in training too
    bad = data / "train" / "b"
    (bad / "zero.jpg").write_bytes(b"")
    (bad / "text.jpg").write_text("not an image")
    good = (bad / "0.png").read_bytes()
    # in val, where every image is loaded (a train batch may drop it): skipped when loaded
    (data / "val" / "b" / "truncated.png").write_bytes(good[: len(good) // 2])

    out = tmp_path / "strict"
    code, err = run_cli(
        capsys, "train", "--data", str(data), "--out", str(out), "--epochs", "1", "--strict", *FAST
    )
    assert code == 2 and "3 unreadable image(s)" in err and "zero.jpg" in err
    assert not (out / "last.ckpt").exists()  # refused before training started

    out = tmp_path / "run"
    with pytest.warns(UserWarning, match="skipping 2 unreadable") as warned:
        code, err = run_cli(
            capsys, "train", "--data", str(data), "--out", str(out), "--epochs", "1", *FAST
        )
    assert code == 0, err
    message = str(warned[0].message)  # what the headers show is named when indexing
    for name in ("zero.jpg", "text.jpg"):
        assert name in message
    # the truncated PNG is skipped when first loaded, then named and counted with the others
    summary = json.loads((out / "summary.json").read_text())
    assert summary["skipped_images"] == 3
    named = [line.split("\t")[0].rsplit("/", 1)[-1] for line in (out / "skipped.txt").open()]
    assert sorted(named) == ["text.jpg", "truncated.png", "zero.jpg"]


def test_empty_class_folder_and_empty_dataset_fail_before_training(tmp_path, capsys):
    data = make_folder(tmp_path / "data")
    (data / "train" / "empty").mkdir()
    code, err = run_cli(capsys, "train", "--data", str(data), "--out", str(tmp_path / "r"), *FAST)
    assert code == 2 and "contains no image files" in err and err.count("\n") == 1
    (tmp_path / "nothing").mkdir()
    code, err = run_cli(
        capsys, "train", "--data", str(tmp_path / "nothing"), "--out", str(tmp_path / "r2"), *FAST
    )
    assert code == 2 and "matches no accepted dataset layout" in err
    assert not (tmp_path / "r").exists() and not (tmp_path / "r2").exists()


# ------------------------------------------------ settings the training code lets through
def test_negative_warmup_is_refused():
    with pytest.raises(ValueError, match="warmup"):
        TrainConfig(recipe=SMALL.replace(warmup_epochs=-1)).validate()


def test_negative_weight_decay_is_refused():
    with pytest.raises(ValueError, match="weight decay"):
        TrainConfig(recipe=SMALL.replace(weight_decay=-1e-5)).validate()
