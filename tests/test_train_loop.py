"""The training loop on tiny generated data: outputs, resume = uninterrupted, NaN handling."""

import dataclasses
import json

import pytest
import torch
from conftest import make_image_folder
from torch.utils.data import Dataset

import effnet
from effnet.data import DataBundle
from effnet.train import report
from effnet.train.checkpoint import load_checkpoint
from effnet.train.config import TrainConfig, restore_config
from effnet.train.loop import NonFiniteLossError, train
from effnet.train.recipe import SMALL
from effnet.weights.io import load_weights

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


@pytest.mark.slow
def test_outputs_and_weights_load(folder, tmp_path, monkeypatch):
    written = []
    real = report.write_json
    monkeypatch.setattr(report, "write_json", lambda p, o: written.append(p.name) or real(p, o))
    res = train(_config(folder, tmp_path / "run", epochs=2))
    out = res.out
    assert written == ["summary.json"]  # once, complete
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
    assert summary["wall_seconds"] >= summary["train_seconds"] > 0
    assert summary == res.summary
    assert summary["eval_crop"] == SMALL.eval_crop == 1.0
    from effnet.weights.io import read_metadata

    model = load_weights(out / "best.safetensors")
    assert model.num_classes == 3
    meta = read_metadata(out / "best.safetensors")
    assert meta["train_resolution"] == "32" and float(meta["eval_crop"]) == 1.0
    assert json.loads((out / "classes.json").read_text()) == ["class0", "class1", "class2"]


def test_paper_eval_crop_is_stored_when_the_recipe_has_none(folder, tmp_path):
    cfg = _config(folder, tmp_path / "run", epochs=1)
    cfg.recipe = dataclasses.replace(cfg.recipe, eval_crop=None)
    out = train(cfg).out
    from effnet.weights.io import read_metadata

    assert float(read_metadata(out / "best.safetensors")["eval_crop"]) == 32 / 64


def test_ema_bn_recalibration_changes_statistics_not_weights(folder, tmp_path):

    best = {}
    for batches in (0, 2):
        cfg = _config(folder, tmp_path / f"run{batches}", epochs=1)
        cfg.recipe = cfg.recipe.replace(
            ema_decay=0.9, ema_horizon_fraction=5.0, ema_bn_batches=batches
        )
        best[batches] = load_weights(train(cfg).out / "best.safetensors").state_dict()
    averaged, recomputed = best[0], best[2]
    for key, value in averaged.items():
        if key.endswith(("running_mean", "running_var")):
            assert not torch.allclose(value, recomputed[key]), key
        elif value.is_floating_point():
            torch.testing.assert_close(value, recomputed[key], msg=key)


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


@pytest.mark.parametrize(
    "device, cores, processes, expected",
    [
        ("cuda", 2, 1, 1),  # all of a process's cores but one
        ("cuda", 16, 1, 15),
        ("cuda", 96, 8, 11),  # 12 cores per process
        ("cuda", 128, 1, 16),  # at most 16
        ("cpu", 1, 1, 0),
        ("cpu", 2, 1, 0),  # workers compete with the training threads
        ("cpu", 8, 1, 2),
        ("cpu", 8, 4, 0),  # 2 cores per process
    ],
)
def test_default_workers(device, cores, processes, expected):
    from effnet.train import loaders

    assert loaders.default_workers(device, cores=cores, processes=processes) == expected


def test_default_workers_use_the_affinity_and_torchruns_local_processes(monkeypatch):
    from effnet.train import loaders

    monkeypatch.setattr(loaders.os, "sched_getaffinity", lambda pid: set(range(12)), raising=False)
    monkeypatch.setattr(loaders.os, "cpu_count", lambda: 64)  # the machine, not this process
    monkeypatch.setenv("LOCAL_WORLD_SIZE", "2")
    assert loaders.default_workers("cuda") == 5 and loaders.default_workers("cpu") == 1
    monkeypatch.delenv("LOCAL_WORLD_SIZE")
    assert loaders.default_workers("cuda") == 11


# ------------------------------------------------------------------- settings on resume
def _saved():
    """The config a checkpoint records (model "tiny", lr None, seed 0)."""
    recipe = SMALL.replace(epochs=2, batch_size=8, resolution=32)
    saved = TrainConfig(data="/tmp/saved_run/data", model=TINY, recipe=recipe, minival_size=0.2)
    return saved.to_dict()


def test_resume_takes_run_settings_from_the_checkpoint_and_runtime_ones_from_the_caller():
    given = TrainConfig(out="r", resume=True, workers=3, amp="bf16", channels_last=True)
    given.eval_batch_size, given.strict, given.device = 7, True, "cpu"
    cfg = restore_config(given, _saved())
    assert (cfg.workers, cfg.amp, cfg.channels_last, cfg.eval_batch_size) == (3, "bf16", True, 7)
    assert (cfg.strict, cfg.device, cfg.out, cfg.resume) == (True, "cpu", "r", True)
    assert cfg.data == "/tmp/saved_run/data"  # "demo" (the default) keeps the saved data
    assert (cfg.model, cfg.seed, cfg.minival_size, cfg.lr) == ("tiny", 0, 0.2, None)
    assert cfg.recipe.batch_size == 8 and cfg.recipe.epochs == 2
    again = TrainConfig(data="elsewhere", out="r", resume=True, resume_epochs=5)
    cfg = restore_config(again, _saved())
    assert cfg.data == "elsewhere" and cfg.recipe.epochs == 5 and cfg.recipe.batch_size == 8


def test_resume_keeps_the_saved_amp_strict_and_eval_batch_unless_given():
    saved = {**_saved(), "amp": "bf16", "strict": True, "eval_batch_size": 32}
    cfg = restore_config(TrainConfig(out="r", resume=True), saved)
    assert (cfg.amp, cfg.strict, cfg.eval_batch_size) == ("bf16", True, 32)
    cfg = restore_config(TrainConfig(out="r", resume=True, eval_batch_size=8), saved)
    assert cfg.eval_batch_size == 8


def test_resume_accepts_the_saved_values_given_again():
    saved = restore_config(TrainConfig(out="r", resume=True), _saved())
    given = TrainConfig(
        out="r",
        resume=True,
        model=TINY,  # a spec named "tiny": compared by name
        recipe=saved.recipe.replace(epochs=9),  # epochs: resume_epochs says how long
        minival_size=0.2,
    )
    assert restore_config(given, _saved()).recipe == saved.recipe


def test_resume_refuses_other_run_settings_naming_each():
    given = TrainConfig(
        out="r",
        resume=True,
        lr=0.5,
        seed=3,
        model="efficientnet_b0",
        recipe=SMALL.replace(batch_size=16),
        nan_policy="skip",
    )
    with pytest.raises(ValueError) as err:
        restore_config(given, _saved())
    message = str(err.value)
    assert "\n" not in message and "another --out" in message
    for part in (
        "lr (saved None, given 0.5)",
        "seed (saved 0, given 3)",
        "model (saved 'tiny', given 'efficientnet_b0')",
        "recipe.batch_size (saved 8, given 16)",
        "nan_policy (saved 'stop', given 'skip')",
    ):
        assert part in message
    assert "workers" not in message and "epochs" not in message


@pytest.mark.parametrize(
    "change, match",
    [
        ({"amp": "fp8"}, "amp must be one of bf16, fp16"),
        ({"device": "tpu"}, "device must be one of cpu, cuda"),
        ({"nan_policy": "ignore"}, "nan policy must be one of stop, skip"),
        ({"init_source": "keras"}, "init source must be one of"),
        ({"resume_epochs": 3}, "only when resuming"),
        ({"resume_epochs": 0, "resume": True}, "epochs must be >= 1"),
    ],
)
def test_config_choices_are_checked(change, match):
    with pytest.raises(ValueError, match=match):
        TrainConfig(**change).validate()


@pytest.mark.parametrize("given_crop, expected_crop", [(None, 0.5), (0.75, 0.75)])
def test_finetune_uses_the_geometry_stored_with_its_weights(
    folder, tmp_path, given_crop, expected_crop
):
    from effnet.train.distributed import DistInfo
    from effnet.train.setup import build_run

    weights = tmp_path / "init.safetensors"
    model = effnet.create_model(TINY, num_classes=3)
    effnet.save_weights(model, weights, metadata={"train_resolution": "40", "eval_crop": "0.5"})
    recipe = SMALL.replace(epochs=1, batch_size=8)
    recipe = dataclasses.replace(recipe, resolution=None, eval_crop=given_crop)
    cfg = TrainConfig(
        data=str(folder), out=str(tmp_path / "run"), init_from=str(weights), recipe=recipe,
        workers=0, progress=False, minival_size=0.2,
    )  # fmt: skip
    run = build_run(cfg, DistInfo())
    assert (run.resolution, run.eval_crop) == (40, expected_crop)


# ------------------------------------------------------------- the host and the device
def _count_reads(monkeypatch):
    """Reads of the device through the loop's one read point, and any other read made from
    the loop's own code (there should be none)."""
    import sys

    from effnet.train import loop

    reads = {"to_host": 0, "elsewhere": []}
    real_to_host = loop._to_host

    def to_host(t):
        reads["to_host"] += 1
        return real_to_host(t)

    monkeypatch.setattr(loop, "_to_host", to_host)
    watched = ("effnet/train/loop.py", "effnet/train/state.py", "effnet/train/report.py")
    for name in ("item", "tolist", "__bool__", "__float__", "__int__"):
        real = getattr(torch.Tensor, name)

        def spy(self, *args, _real=real, _name=name):
            caller = sys._getframe(1).f_code
            if caller.co_filename.endswith(watched) and caller.co_name != "_to_host":
                reads["elsewhere"].append(f"{_name} in {caller.co_name}")
            return _real(self, *args)

        monkeypatch.setattr(torch.Tensor, name, spy)
    return reads


def _steps_bundle(n=64):  # 16 steps per epoch at batch 4
    return DataBundle(
        train=Poisonable(n), minival=Poisonable(12, seed=1), val=None, classes=["a", "b", "c"]
    )


@pytest.mark.slow
@pytest.mark.parametrize("progress, per_epoch", [(False, 2), (True, 6)])
def test_the_device_is_read_per_log_interval_not_per_step(
    tmp_path, monkeypatch, progress, per_epoch
):
    from effnet.train import loop

    monkeypatch.setattr(loop, "READ_EVERY", 4)  # with the bar: every 4 of the 16 steps
    reads = _count_reads(monkeypatch)
    cfg = _config(_steps_bundle(), tmp_path / "run", epochs=2)
    cfg.recipe = cfg.recipe.replace(batch_size=4)
    cfg.progress = progress
    res = train(cfg)
    monkeypatch.undo()
    assert res.history[-1]["step"] == 32
    # per epoch: its sums (+ 4 while the bar shows them) and the weights' finiteness check
    assert reads["to_host"] == 2 * per_epoch
    assert reads["elsewhere"] == []


@pytest.mark.slow
@pytest.mark.parametrize("progress, last_callback", [(False, 8), (True, 5)])
def test_nan_loss_is_caught_at_the_next_read_naming_its_step(
    tmp_path, monkeypatch, progress, last_callback
):
    from effnet.train import loop

    monkeypatch.setattr(loop, "READ_EVERY", 3)
    bundle = _bundle()  # 4 steps per epoch
    steps = []

    def poison(state):
        steps.append(state["step"])
        if state["step"] == 5:  # the next step, step 5 (of epoch 2), sees NaN
            bundle.train.poisoned.update(range(len(bundle.train)))

    cfg = _config(bundle, tmp_path / "run", epochs=3)
    cfg.progress = progress
    with pytest.raises(NonFiniteLossError, match="loss is nan at epoch 2, step 5 ") as err:
        train(cfg, callbacks=[poison])
    assert "best.safetensors untouched" in str(err.value)
    # read at the end of the epoch (after step 8) without a bar; with one, every 3 steps: after
    # step 6, before its callback
    assert max(steps) == last_callback
    assert load_checkpoint(tmp_path / "run" / "last.ckpt")["epoch"] == 1


def test_nan_loss_is_caught_before_a_stop_is_saved(tmp_path):
    bundle = _bundle()

    def poison_then_stop(state):
        if state["step"] == 5:
            bundle.train.poisoned.update(range(len(bundle.train)))
        return state["step"] == 6  # a stop request right after the bad step

    with pytest.raises(NonFiniteLossError, match="step 5 "):
        train(_config(bundle, tmp_path / "run", epochs=3), callbacks=[poison_then_stop])
    ck = load_checkpoint(tmp_path / "run" / "last.ckpt")
    assert (ck["epoch"], ck["step"]) == (1, 4)  # the stop was not saved over it


# ------------------------------------------------------------------ batches, clipping
def test_batch_size_is_per_process_and_the_lr_follows_the_global_batch():
    cfg = TrainConfig(recipe=SMALL.replace(batch_size=8), accum_steps=2)
    assert cfg.batches(1) == (8, 16) and cfg.batches(4) == (8, 64)
    legacy = TrainConfig(recipe=SMALL.replace(batch_size=8), batch_per_process=False)
    assert legacy.batches(1) == (8, 8) and legacy.batches(2) == (4, 8)
    with pytest.raises(ValueError, match="multiple of processes"):
        legacy.batches(3)


def test_a_run_saved_before_per_process_batches_resumes_with_its_global_batch():
    older = {k: v for k, v in _saved().items() if k != "batch_per_process"}
    cfg = restore_config(TrainConfig(out="r", resume=True), older)
    assert cfg.batch_per_process is False and cfg.batches(2) == (4, 8)
    new = TrainConfig(recipe=SMALL.replace(batch_size=8)).to_dict()
    assert restore_config(TrainConfig(out="r", resume=True), new).batch_per_process is True


def test_sync_bn_and_clip_grad_are_run_settings():
    saved = TrainConfig(recipe=SMALL.replace(batch_size=8), clip_grad=1.0).to_dict()
    given = TrainConfig(out="r", resume=True, clip_grad=2.0, sync_bn=True)
    with pytest.raises(ValueError) as err:
        restore_config(given, saved)
    assert "clip_grad (saved 1.0, given 2.0)" in str(err.value)
    assert "sync_bn (saved False, given True)" in str(err.value)
    cfg = restore_config(TrainConfig(out="r", resume=True), saved)
    assert cfg.clip_grad == 1.0 and cfg.sync_bn is False
    with pytest.raises(ValueError, match="clipping norm must be > 0"):
        TrainConfig(clip_grad=0.0).validate()


def test_sync_bn_on_cpu_processes_is_refused_before_any_work(tmp_path):
    from effnet.train.distributed import DistInfo
    from effnet.train.setup import build_run

    cfg = _config(_bundle(), tmp_path / "run", epochs=1)
    cfg.sync_bn = True
    with pytest.raises(ValueError, match="--sync-bn needs CUDA"):
        build_run(cfg, DistInfo(rank=0, world_size=2))
    assert not (tmp_path / "run").exists()


def test_clip_grad_clips_the_global_norm_before_each_step(tmp_path, monkeypatch):
    clipped, norms = [], []
    real_clip, real_step = torch.nn.utils.clip_grad_norm_, torch.optim.AdamW.step

    def clip(params, max_norm, *args, **kwargs):
        params = list(params)
        total = real_clip(params, max_norm, *args, **kwargs)  # the norm before clipping
        clipped.append(float(total))
        return total

    def step(self, *args, **kwargs):
        grads = [p.grad for g in self.param_groups for p in g["params"] if p.grad is not None]
        norms.append(float(torch.linalg.vector_norm(torch.stack([g.norm() for g in grads]))))
        return real_step(self, *args, **kwargs)

    monkeypatch.setattr(torch.nn.utils, "clip_grad_norm_", clip)
    monkeypatch.setattr(torch.optim.AdamW, "step", step)
    train(_config(_bundle(), tmp_path / "run", epochs=1, clip_grad=1e-3))
    assert len(clipped) == len(norms) == 4
    assert min(clipped) > 1e-2  # the gradients were larger: clipping had work to do
    assert max(norms) <= 1e-3 * (1 + 1e-4)


@pytest.mark.parametrize("name", ["efficientnet_b0", "resnet50"])
def test_zero_init_residual_starts_every_residual_block_as_the_identity(name):
    from effnet.models.registry import get_spec
    from effnet.train.build import run_model

    spec = effnet.compound(name, -4) if name == "efficientnet_b0" else get_spec(name)

    def residual_blocks(recipe_flag):
        cfg = TrainConfig(recipe=dataclasses.replace(SMALL, zero_init_residual=recipe_flag))
        model, _ = run_model(cfg, spec, 10)
        blocks = [m for m in model.modules() if hasattr(m, "zero_init_last")]
        return model, [b for b in blocks if getattr(b, "has_skip", True)]

    model, blocks = residual_blocks(True)
    assert blocks and all(b.bn3.weight.detach().abs().sum().item() == 0 for b in blocks)
    model.eval()
    for block in blocks:
        if hasattr(block, "has_skip"):  # MBConv: the identity (ResNet adds a ReLU after)
            x = torch.randn(2, block.bn3.num_features, 8, 8)
            assert torch.equal(block(x.clone()), x)
    assert model(torch.randn(2, 3, 64, 64)).shape == (2, 10)
    _, plain = residual_blocks(False)
    assert all(b.bn3.weight.detach().abs().sum().item() > 0 for b in plain)
