"""The training loop on tiny generated data: outputs, resume = uninterrupted, NaN handling."""

import json

import pytest
import torch
from conftest import make_image_folder
from torch.utils.data import Dataset

import effnet
from effnet.data import DataBundle
from effnet.train.checkpoint import load_checkpoint
from effnet.train.config import TrainConfig
from effnet.train.loop import NonFiniteLossError, train
from effnet.train.recipe import SMALL

TINY = effnet.compound("efficientnet_b0", -8).replace(name="tiny", resolution=32)
TINY = TINY.replace(stages=TINY.stages[:4])


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return make_image_folder(tmp_path_factory.mktemp("data"))


def _config(data, out, epochs=2, **kw):
    recipe = SMALL.replace(epochs=epochs, batch_size=8, resolution=32, warmup_epochs=0.5)
    return TrainConfig(
        data=str(data) if not isinstance(data, DataBundle) else data,
        out=str(out),
        model=TINY,
        recipe=recipe,
        workers=0,
        progress=False,
        minival_size=0.2,
        **kw,
    )


def test_outputs_and_weights_load(folder, tmp_path):
    res = train(_config(folder, tmp_path / "run", epochs=2))
    out = res.out
    for name in (
        "metrics.jsonl",
        "last.ckpt",
        "best.safetensors",
        "summary.json",
        "curves.png",
        "classes.json",
    ):
        assert (out / name).is_file(), name
    lines = [json.loads(x) for x in (out / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in lines] == [1, 2]
    assert {"epoch", "lr", "train_loss", "minival_top1", "seconds"} <= set(lines[0])
    summary = json.loads((out / "summary.json").read_text())
    for key in (
        "val_top1",
        "val_top5",
        "minival_top1",
        "epochs",
        "best_epoch",
        "images_per_second",
        "skipped_images",
    ):
        assert key in summary
    assert summary["val_images"] == 18 and summary["epochs"] == 2
    model = effnet.create_model(weights=out / "best.safetensors") if False else None
    from effnet.weights import load_weights

    model = load_weights(out / "best.safetensors")
    assert model.num_classes == 3
    assert json.loads((out / "classes.json").read_text()) == ["class0", "class1", "class2"]


def test_resume_mid_epoch_equals_uninterrupted(folder, tmp_path):
    full = train(_config(folder, tmp_path / "full", epochs=2))
    # stop after optimizer step 3 (mid epoch 1), as Ctrl-C would, then resume
    part = train(_config(folder, tmp_path / "part", epochs=2), callbacks=[lambda s: s["step"] == 3])
    assert part.interrupted and part.summary is None
    ck = load_checkpoint(tmp_path / "part" / "last.ckpt")
    assert ck["step"] == 3 and ck["epoch"] == 0 and ck["micro_in_epoch"] == 3
    resumed = train(TrainConfig(out=str(tmp_path / "part"), resume=True, workers=0, progress=False))
    assert not resumed.interrupted
    for a, b in zip(full.history, resumed.history):
        assert a["step"] == b["step"]
        assert a["train_loss"] == pytest.approx(b["train_loss"], rel=1e-5)
        assert a["minival_top1"] == pytest.approx(b["minival_top1"])
    sa = load_checkpoint(tmp_path / "full" / "last.ckpt")
    sb = load_checkpoint(tmp_path / "part" / "last.ckpt")
    assert sa["step"] == sb["step"]
    for k, v in sa["model"].items():
        torch.testing.assert_close(v, sb["model"][k], rtol=1e-4, atol=1e-5, msg=k)


class Poisonable(Dataset):
    def __init__(self, n, classes=3, seed=0):
        g = torch.Generator().manual_seed(seed)
        self.y = torch.arange(n) % classes
        self.x = torch.randn(n, 3, 32, 32, generator=g) + self.y[:, None, None, None].float()
        self.poisoned: set[int] = set()

    def __len__(self):
        return len(self.y)

    def __getitem__(self, i):
        x = self.x[i]
        return (x * float("nan") if i in self.poisoned else x), int(self.y[i])


def _bundle():
    return DataBundle(
        train=Poisonable(32), minival=Poisonable(12, seed=1), val=None, classes=["a", "b", "c"]
    )


def test_nan_loss_stops_and_keeps_best(tmp_path):
    bundle = _bundle()
    seen = {}

    def poison(state):
        if state["step"] == 5 and not bundle.train.poisoned:  # epoch 2 (4 steps per epoch)
            seen["best"] = (tmp_path / "run" / "best.safetensors").read_bytes()
            bundle.train.poisoned.update(range(len(bundle.train)))

    with pytest.raises(NonFiniteLossError, match="loss is nan"):
        train(_config(bundle, tmp_path / "run", epochs=3), callbacks=[poison])
    assert (tmp_path / "run" / "best.safetensors").read_bytes() == seen["best"]
    assert load_checkpoint(tmp_path / "run" / "last.ckpt")["epoch"] == 1


def test_nan_loss_skip_policy_counts(tmp_path):
    bundle = _bundle()
    bundle.train.poisoned.add(0)  # one bad batch per epoch
    res = train(_config(bundle, tmp_path / "run", epochs=2, nan_policy="skip"))
    assert res.summary["skipped_steps"] == 2
    assert res.summary["val_top1"] is None


def test_bad_settings_fail_before_work(tmp_path):
    with pytest.raises(ValueError, match="batch size"):
        train(
            _config(_bundle(), tmp_path, epochs=1).__class__(
                data=_bundle(), recipe=SMALL.replace(batch_size=0)
            )
        )
    with pytest.raises(ValueError, match="resume"):
        train(TrainConfig(resume=True))
