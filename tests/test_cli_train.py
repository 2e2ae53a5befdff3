"""End to end through the CLI: train -> eval -> predict -> finetune, DDP on 2 CPU processes."""

import json
import os
import subprocess
import sys

import pytest
import torch
from conftest import make_image_folder

from effnet.cli import main
from effnet.weights.io import load_weights

COMMON = ["--batch-size", "8", "--resolution", "32", "--workers", "0", "--no-progress"]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    data = make_image_folder(tmp_path_factory.mktemp("data"))
    out = tmp_path_factory.mktemp("runs") / "run"
    assert main(["train", "--data", str(data), "--out", str(out), "--epochs", "2", *COMMON]) == 0
    return data, out


@pytest.mark.slow
def test_train_writes_outputs(trained, capsys):
    _, out = trained
    summary = json.loads((out / "summary.json").read_text())
    assert summary["epochs"] == 2 and summary["val_images"] == 18
    assert summary["resolution"] == 32


@pytest.mark.slow
def test_eval_json_and_per_class(trained, capsys):
    data, out = trained
    assert (
        main(["eval", "--weights", str(out / "best.safetensors"), "--data", str(data), "--json"])
        == 0
    )
    result = json.loads(capsys.readouterr().out)
    assert result["n"] == 18 and 0 <= result["top1"] <= result["top5"] <= 100
    assert (
        main(
            [
                "eval",
                "--weights",
                str(out / "best.safetensors"),
                "--data",
                str(data / "val"),
                "--per-class",
            ]
        )
        == 0
    )
    text = capsys.readouterr().out
    assert "top1" in text and "class2" in text


@pytest.mark.slow
def test_predict(trained, capsys):
    data, out = trained
    img = data / "val" / "class1" / "0.png"
    assert (
        main(
            [
                "predict",
                "--weights",
                str(out / "best.safetensors"),
                str(img),
                "--topk",
                "2",
                "--json",
            ]
        )
        == 0
    )
    (result,) = json.loads(capsys.readouterr().out)
    assert len(result["top"]) == 2
    assert {t["class"] for t in result["top"]} <= {"class0", "class1", "class2"}
    assert sum(t["probability"] for t in result["top"]) <= 1.0 + 1e-6


@pytest.mark.slow
def test_predict_and_eval_use_the_stored_eval_crop(trained, capsys):
    from effnet.weights.loading import stored_eval_settings

    data, out = trained
    weights = str(out / "best.safetensors")
    assert stored_eval_settings(weights) == (32, 1.0)  # the small recipe's whole-image eval

    def probabilities(*extra):
        img = str(data / "val" / "class1" / "0.png")
        assert main(["predict", "--weights", weights, img, "--topk", "3", "--json", *extra]) == 0
        (result,) = json.loads(capsys.readouterr().out)
        return {t["class"]: t["probability"] for t in result["top"]}

    stored = probabilities()
    assert stored == probabilities("--eval-crop", "1.0")
    assert stored != probabilities("--eval-crop", "0.5")
    assert main(["eval", "--weights", weights, "--data", str(data), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["n"] == 18


@pytest.mark.slow
def test_finetune_frozen_backbone_new_head(trained, tmp_path):
    _, out = trained
    data2 = make_image_folder(tmp_path / "data2", classes=2, train=12, val=4, seed=1)
    ft = tmp_path / "ft"
    assert (
        main(
            [
                "finetune",
                "--weights",
                str(out / "best.safetensors"),
                "--data",
                str(data2),
                "--freeze-backbone",
                "--epochs",
                "1",
                "--out",
                str(ft),
                *COMMON,
            ]
        )
        == 0
    )
    before = load_weights(out / "best.safetensors")
    after = load_weights(ft / "best.safetensors")
    assert after.num_classes == 2 and before.num_classes == 3
    sb, sa = before.state_dict(), after.state_dict()
    for k, v in sb.items():
        if not k.startswith("classifier.") and v.is_floating_point():
            torch.testing.assert_close(sa[k], v, msg=k)  # frozen: weights and BN stats


@pytest.mark.slow
def test_train_a_compound_scaled_or_saved_spec(trained, tmp_path, capsys):
    import effnet
    from effnet.weights.io import read_metadata

    data, _ = trained
    args = ["train", "--data", str(data), "--epochs", "1", *COMMON]
    assert main([*args, "--phi", "-6", "--out", str(tmp_path / "phi")]) == 0
    spec = effnet.NetworkSpec.from_json(
        read_metadata(tmp_path / "phi" / "best.safetensors")["spec"]
    )
    expected = effnet.compound("efficientnet_b0", -6)
    assert spec.name == "efficientnet_b0_phi-6" and spec.resolution == 32
    assert (spec.width, spec.depth) == (expected.width, expected.depth)

    tiny = effnet.compound("efficientnet_b0", -8).replace(name="tiny", resolution=32)
    (tmp_path / "tiny.json").write_text(tiny.to_json())
    assert main([*args, "--model", str(tmp_path / "tiny.json"), "--out", str(tmp_path / "t")]) == 0
    saved = read_metadata(tmp_path / "t" / "best.safetensors")["spec"]
    assert effnet.NetworkSpec.from_json(saved) == tiny
    capsys.readouterr()

    (tmp_path / "bad.json").write_text('{"stages": 3}')
    assert main([*args, "--model", str(tmp_path / "bad.json")]) == 2
    err = capsys.readouterr().err.strip()
    assert "not a network spec" in err and len(err.splitlines()) == 1
    assert main([*args, "--model", str(tmp_path / "missing.json")]) == 2
    assert "spec file not found" in capsys.readouterr().err


def test_cli_errors_are_one_line(capsys, tmp_path):
    with pytest.raises(SystemExit) as exc:  # refused while parsing, as argparse errors are
        main(["train", "--batch-size", "0"])
    assert exc.value.code == 2
    err = capsys.readouterr().err.strip()
    assert "--batch-size" in err and len(err.splitlines()) == 1
    assert main(["eval", "--weights", str(tmp_path / "none.safetensors"), "--data", "x"]) == 2
    assert "not found" in capsys.readouterr().err
    assert main(["predict", "--weights", str(tmp_path / "none.safetensors"), "a.png"]) == 2


@pytest.mark.slow
def test_ddp_two_processes_on_cpu(trained, tmp_path):
    data, _ = trained
    out = tmp_path / "ddp"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc_per_node",
        "2",
        "-m",
        "effnet",
        "train",
        "--data",
        str(data),
        "--out",
        str(out),
        "--epochs",
        "1",
        *COMMON,  # --batch-size 8: per process, as torchrun users know it from timm
        "--clip-grad",
        "5",
    ]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    summary = json.loads((out / "summary.json").read_text())
    assert summary["processes"] == 2 and summary["val_images"] == 18
    lines = (out / "metrics.jsonl").read_text().splitlines()
    assert len(lines) == 1
    # 43 train images, padded to 22 per rank, 8 per rank per step (a global batch of 16):
    # 2 steps, where one process at the same --batch-size takes 43 // 8 = 5
    assert json.loads(lines[0])["step"] == 2
    one_process = json.loads((trained[1] / "metrics.jsonl").read_text().splitlines()[0])
    assert one_process["step"] == 5
    line = "global batch 16 = 8 per process x 2 processes x 1 accum step; lr 0.0015 "
    assert line in proc.stdout
    assert sorted(p.name for p in out.iterdir() if p.name.startswith(".")) == []


@pytest.mark.slow
def test_sync_bn_is_a_no_op_on_one_process_and_accum_multiplies_the_batch(trained, tmp_path):
    data, _ = trained
    out = tmp_path / "run"
    args = ["train", "--data", str(data), "--out", str(out), "--epochs", "1", *COMMON]
    assert main([*args, "--sync-bn", "--accum-steps", "2", "--clip-grad", "1"]) == 0
    # 43 train images, micro-batches of 8, 2 per step: a global batch of 16, 2 steps
    assert json.loads((out / "summary.json").read_text())["steps"] == 2


def test_batch_size_flag_and_device_defaults(monkeypatch):
    from effnet.cli import build_parser
    from effnet.cli.train import config_from_args
    from effnet.train import distributed
    from effnet.train.config import restore_config

    def config(*argv):
        return config_from_args(build_parser().parse_args(["train", *argv]))

    assert config("-b", "32").recipe.batch_size == 32
    cpu = config()
    assert (cpu.amp, cpu.channels_last, cpu.sync_bn, cpu.clip_grad) == (None, True, False, None)
    monkeypatch.setattr(distributed, "wants_cuda", lambda device=None: True)
    gpu = config()
    assert (gpu.amp, gpu.channels_last) == ("bf16", True)  # bf16 and NHWC on CUDA
    assert config("--amp", "none").amp is False and config("--amp", "fp16").amp == "fp16"
    assert config("--no-channels-last").channels_last is False
    off = config("--amp", "none", "--sync-bn", "--clip-grad", "2")
    assert (off.sync_bn, off.clip_grad) == (True, 2.0)
    # resuming: the saved precision unless given; --amp none turns a bf16 run's off
    saved = gpu.to_dict()
    assert config("--resume", "--out", "o").amp is None
    assert restore_config(config("--resume", "--out", "o"), saved).amp == "bf16"
    assert restore_config(config("--resume", "--out", "o", "--amp", "none"), saved).amp is False


@pytest.mark.slow
def test_resume_takes_the_same_command_line_extends_and_refuses_other_settings(
    trained, tmp_path, capsys
):
    import effnet

    data, _ = trained
    tiny = effnet.compound("efficientnet_b0", -8).replace(name="tiny", resolution=32)
    (tmp_path / "tiny.json").write_text(tiny.to_json())
    out = tmp_path / "run"
    cmd = ["train", "--data", str(data), "--model", str(tmp_path / "tiny.json")]
    cmd += ["--recipe", "small", "--out", str(out), *COMMON]
    assert main([*cmd, "--epochs", "1"]) == 0
    steps = json.loads((out / "summary.json").read_text())["steps"]
    capsys.readouterr()

    # the original command line with --resume added: accepted (the run is already complete)
    assert main([*cmd, "--epochs", "1", "--resume"]) == 0, capsys.readouterr().err
    assert json.loads((out / "summary.json").read_text())["epochs"] == 1

    # --resume --epochs N: train on to N epochs in total
    assert main([*cmd, "--epochs", "2", "--resume"]) == 0, capsys.readouterr().err
    assert "resumed from" in capsys.readouterr().out
    summary = json.loads((out / "summary.json").read_text())
    assert summary["epochs"] == 2 and summary["steps"] == 2 * steps
    lines = [json.loads(x) for x in (out / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in lines] == [1, 2]

    # a setting of the run given another value: refused in one line, nothing touched
    before = (out / "last.ckpt").read_bytes()
    assert main([*cmd, "--resume", "--lr", "0.5"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith("effnet train: error:")
    assert "lr (saved None, given 0.5)" in err and "another --out" in err
    assert (out / "last.ckpt").read_bytes() == before


@pytest.mark.parametrize(
    "argv",
    [
        ["finetune", "--weights", "w.safetensors", "--freeze-backbone"],
        ["finetune", "--weights", "w.safetensors", "--resolution", "32", "--lr", "0.01"],
        ["train", "--model", "efficientnet_b0", "--batch-size", "16"],  # the paper recipe
        ["train", "--phi", "-6", "--recipe", "small", "--seed", "3"],
    ],
)
def test_a_command_line_resumed_with_its_own_flags_is_accepted(argv):
    from effnet.cli import build_parser
    from effnet.cli.train import config_from_args
    from effnet.train.config import restore_config

    argv = [*argv, "--data", "d", "--out", "o", "--epochs", "3"]
    finetune = argv[0] == "finetune"
    first = config_from_args(build_parser().parse_args(argv), finetune=finetune)
    again = config_from_args(build_parser().parse_args([*argv, "--resume"]), finetune=finetune)
    assert again.resume_epochs == 3
    resumed = restore_config(again, first.to_dict())
    assert resumed.recipe == first.recipe and resumed.lr == first.lr
    assert resumed.seed == first.seed and resumed.init_from == first.init_from


@pytest.mark.slow
def test_train_starts_two_processes_by_default_on_a_cpu(
    trained, tmp_path, monkeypatch, capfd, one_training_process
):
    from effnet.train import launch
    from effnet.train.loaders import available_cores

    if available_cores() < 2:
        pytest.skip("one core: effnet train starts one process here")
    monkeypatch.setattr(launch, "auto_processes", one_training_process)  # the real default
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    assert launch.auto_processes(None) == 2
    data, _ = trained
    out = tmp_path / "two"
    argv = ["train", "--data", str(data), "--out", str(out), "--epochs", "1"]
    assert main([*argv, "--resolution", "32", "--workers", "0", "--no-progress"]) == 0
    printed = capfd.readouterr().out
    assert "2 processes of 1 thread(s), joined by DDP" in printed
    # the small preset's batch 64 split over the two processes: the same global batch and LR
    assert "global batch 64 = 32 per process x 2 processes x 1 accum step; lr 0.006" in printed
    assert json.loads((out / "summary.json").read_text())["processes"] == 2


def test_a_recipe_batch_that_does_not_split_is_refused_before_starting(tmp_path, capsys):
    argv = ["train", "--data", str(tmp_path), "--out", str(tmp_path / "o"), "--procs", "3"]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "the recipe's batch 64 does not split over 3 processes" in err
    assert not (tmp_path / "o").exists()


@pytest.mark.slow
def test_ctrl_c_stops_both_processes_which_save_and_the_run_resumes(trained, tmp_path):
    import signal

    from effnet.train.loaders import available_cores

    if available_cores() < 2:
        pytest.skip("one core: effnet train starts one process here")
    data, _ = trained
    out = tmp_path / "run"
    argv = ["--data", str(data), "--out", str(out), "--resolution", "32", "--workers", "0"]
    cmd = [sys.executable, "-m", "effnet", "train", *argv, "--epochs", "200", "--no-progress"]
    env = {k: v for k, v in os.environ.items() if k != "OMP_NUM_THREADS"}
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, text=True, start_new_session=True)
    try:
        for line in proc.stdout:
            if line.startswith("epoch 3/200"):
                break
        os.killpg(proc.pid, signal.SIGINT)  # what Ctrl-C in a terminal sends: every process
        assert proc.wait(timeout=120) == 130
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    from effnet.train.checkpoint import load_checkpoint

    saved = load_checkpoint(out / "last.ckpt")
    assert saved["step"] >= 3  # at least the three epochs printed, one step each
    total = saved["epoch"] + 2
    resumed = subprocess.run(
        [sys.executable, "-m", "effnet", "train", "--resume", *argv, "--epochs", str(total)],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert json.loads((out / "summary.json").read_text())["epochs"] == total


def test_a_missing_data_folder_is_refused_before_starting_processes(tmp_path, capsys):
    argv = ["train", "--data", str(tmp_path / "missing"), "--procs", "2"]
    assert main(argv) == 2
    captured = capsys.readouterr()
    assert "processes" not in captured.out  # nothing was started
    assert captured.err.count("\n") == 1 and "is not a directory" in captured.err
