"""Issue 7, the command line as a careless user types it: every verb answers bad numbers,
missing paths and unknown names with one line on stderr and a non-zero exit, never a
traceback."""

import json
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

import effnet
import effnet.cli.summary
from effnet.cli import main


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, str]:
    root = tmp_path_factory.mktemp("cli")
    spec = effnet.compound("efficientnet_b0", -4).replace(resolution=32)
    weights = root / "tiny.safetensors"
    effnet.save_weights(
        effnet.Network(spec, num_classes=3),
        weights,
        metadata={"classes": json.dumps(["a", "b", "c"]), "train_resolution": "32"},
    )
    image = root / "img.png"
    Image.new("RGB", (40, 30), (200, 10, 10)).save(image)
    for c in ("a", "b", "c"):
        (root / "data" / c).mkdir(parents=True)
        Image.new("RGB", (40, 30), (10, 200, 10)).save(root / "data" / c / "0.png")
    (root / "notes.txt").write_text("not an image")
    (root / "empty").mkdir()
    return {
        "W": str(weights),
        "I": str(image),
        "T": str(root / "notes.txt"),
        "D": str(root / "empty"),
        "DATA": str(root / "data"),
        "M": str(root / "missing"),
        "OUT": str(root / "out"),
        "UNDER_FILE": str(image / "x.onnx"),  # a path whose parent is a file
    }


def run(capsys, args: list[str]) -> tuple[int, str]:
    try:
        code = main(args)
    except SystemExit as exc:  # argparse's errors
        code = exc.code
    return code, capsys.readouterr().err


BAD = {
    "no verb": [],
    "unknown verb": ["frobnicate"],
    # profile
    "profile threads 0": ["profile", "--threads", "0"],
    "profile threads -2": ["profile", "--threads", "-2"],
    "profile resolution 0": ["profile", "--resolution", "0"],
    "profile unknown model": ["profile", "--models", "efficientnet_b9"],
    # export
    "export classes -1": [
        "export",
        "--model",
        "efficientnet_b0",
        "--num-classes",
        "-1",
        "--out",
        "OUT",
    ],
    "export resolution 4": [
        "export",
        "--model",
        "efficientnet_b0",
        "--resolution",
        "4",
        "--out",
        "OUT",
    ],
    "export unknown model": ["export", "--model", "efficientnet_bO", "--out", "OUT"],
    "export out under a file": [
        "export",
        "--model",
        "efficientnet_b0",
        "--resolution",
        "32",
        "--out",
        "UNDER_FILE",
    ],
    "export weights missing": [
        "export",
        "--model",
        "efficientnet_b0",
        "--weights",
        "M",
        "--out",
        "OUT",
    ],
    # cam
    "cam resolution 0": [
        "cam",
        "--weights",
        "W",
        "--image",
        "I",
        "--out",
        "OUT",
        "--resolution",
        "0",
    ],
    "cam image missing": ["cam", "--weights", "W", "--image", "M", "--out", "OUT"],
    "cam image not an image": ["cam", "--weights", "W", "--image", "T", "--out", "OUT"],
    "cam weights missing": ["cam", "--weights", "M", "--image", "I", "--out", "OUT"],
    # plot
    "plot alpha 0": ["plot", "scaling", "--alpha", "0", "--phis", "0,1", "--out", "OUT"],
    "plot run missing": ["plot", "accuracy", "M", "--out", "OUT"],
    "plot unknown chart": ["plot", "bars", "--out", "OUT"],
    # summary
    "summary phi nan": ["summary", "efficientnet_b0", "--phi", "nan"],
    "summary phi 40": ["summary", "efficientnet_b0", "--phi", "40"],
    "summary width inf": ["summary", "efficientnet_b0", "--width", "inf"],
    "summary width -1": ["summary", "efficientnet_b0", "--width", "-1"],
    "summary depth 0": ["summary", "efficientnet_b0", "--depth", "0"],
    "summary classes 0": ["summary", "efficientnet_b0", "--num-classes", "0"],
    "summary resolution 3": ["summary", "efficientnet_b0", "--resolution", "3"],
    "summary unknown model": ["summary", "efficientnet-b0"],
    # scale
    "scale phi 1e9": ["scale", "--phis", "1e9"],
    "scale phi range too fine": ["scale", "--phis", "0:7:0.0000001"],
    "scale gamma nan": ["scale", "--gamma", "nan", "--phis", "0"],
    "scale alpha < 1": ["scale", "--alpha", "0.5", "--phis", "0"],
    "scale threads 0": ["scale", "--max-macs", "1G", "--threads", "0"],
    "scale max-macs -5": ["scale", "--max-macs", "-5"],
    # search
    "search grid step 0": ["search", "--data", "demo", "--out", "OUT", "--grid-step", "0"],
    "search epochs 0": ["search", "--data", "demo", "--out", "OUT", "--epochs", "0"],
    "search workers 0": ["search", "--data", "demo", "--out", "OUT", "--workers", "0"],
    "search max candidates 0": [
        "search",
        "--data",
        "demo",
        "--out",
        "OUT",
        "--max-candidates",
        "0",
    ],
    "search base phi nan": ["search", "--data", "demo", "--out", "OUT", "--base-phi", "nan"],
    "search data missing": ["search", "--data", "M", "--out", "OUT"],
    # train (validation in the training code)
    "train batch 0": ["train", "--batch-size", "0"],
    "train batch abc": ["train", "--batch-size", "abc"],
    "train epochs 0": ["train", "--epochs", "0"],
    "train epochs -1": ["train", "--epochs", "-1"],
    "train lr -1": ["train", "--lr", "-1"],
    "train lr nan": ["train", "--lr", "nan"],
    "train accum 0": ["train", "--accum-steps", "0"],
    "train workers -1": ["train", "--workers", "-1"],
    "train resolution 4": ["train", "--resolution", "4"],
    "train patience 0": ["train", "--patience", "0"],
    "train eval crop 0": ["train", "--eval-crop", "0"],
    "train eval crop 1.5": ["train", "--eval-crop", "1.5"],
    "train ema bn batches -1": ["train", "--ema-bn-batches", "-1"],
    "train unknown model": ["train", "--model", "efficientnet_bO"],
    "train data missing": ["train", "--data", "M", "--out", "OUT"],
    "train data empty": ["train", "--data", "D", "--out", "OUT"],
    "train resume without out": ["train", "--resume"],
    "train resume nothing": ["train", "--resume", "--out", "D"],
    "train init missing": ["train", "--weights", "M", "--out", "OUT"],
    # finetune
    "finetune from missing": ["finetune", "--weights", "M", "--out", "OUT"],
    "finetune batch -1": ["finetune", "--weights", "W", "--batch-size", "-1"],
    "finetune lr scale -1": ["finetune", "--weights", "W", "--backbone-lr-scale", "-1"],
    # eval
    "eval batch 0": ["eval", "--weights", "W", "--data", "DATA", "--batch-size", "0"],
    "eval weights missing": ["eval", "--weights", "M", "--data", "DATA"],
    "eval weights not weights": ["eval", "--weights", "I", "--data", "DATA"],
    "eval data missing": ["eval", "--weights", "W", "--data", "M"],
    "eval resolution -5": ["eval", "--weights", "W", "--data", "DATA", "--resolution", "-5"],
    "eval crop nan": ["eval", "--weights", "W", "--data", "DATA", "--eval-crop", "nan"],
    # predict
    "predict topk 0": ["predict", "I", "--weights", "W", "--topk", "0"],
    "predict image missing": ["predict", "M", "--weights", "W"],
    "predict folder without images": ["predict", "D", "--weights", "W"],
    "predict image not an image": ["predict", "T", "--weights", "W"],
    "predict weights missing": ["predict", "I", "--weights", "M"],
    "predict resolution -3": ["predict", "I", "--weights", "W", "--resolution", "-3"],
    "predict crop 2": ["predict", "I", "--weights", "W", "--eval-crop", "2"],
}


@pytest.mark.parametrize("case", list(BAD))
def test_bad_input_gives_one_line_and_nonzero_exit(case, files, capsys):
    args = [files.get(a, a) for a in BAD[case]]
    code, err = run(capsys, args)
    assert code not in (0, None), err
    assert "Traceback" not in err
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1, err
    assert "error" in lines[0]


def test_unknown_names_suggest_close_ones(capsys):
    code, err = run(capsys, ["summary", "efficientnet-b3"])
    assert code == 2 and "did you mean efficientnet_b3" in err


def test_a_bug_is_one_line_exit_1_and_the_traceback_on_request(capsys, monkeypatch):
    def broken(args):
        raise TypeError("unsupported operand\nsecond line")

    monkeypatch.setattr(effnet.cli.summary, "run", broken)
    code, err = run(capsys, ["summary", "efficientnet_b0"])
    assert code == 1
    assert err.count("\n") == 1 and "internal error: TypeError: unsupported operand" in err
    monkeypatch.setenv("EFFNET_TRACEBACK", "1")
    with pytest.raises(TypeError):
        main(["summary", "efficientnet_b0"])


def test_no_traceback_from_a_real_process(files):
    result = subprocess.run(
        [sys.executable, "-m", "effnet", "summary", "efficientnet_b0", "--width", "inf"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and "--width" in result.stderr, result.stderr


def test_predict_resolution_0_is_refused(files, capsys):
    code, _ = run(capsys, ["predict", files["I"], "--weights", files["W"], "--resolution", "0"])
    assert code == 2


def test_eval_resolution_0_is_refused(files, capsys):
    args = ["eval", "--weights", files["W"], "--data", files["DATA"], "--resolution", "0"]
    code, _ = run(capsys, args)
    assert code == 2


def test_help_of_every_verb_works(capsys):
    for verb in effnet.cli.VERBS:
        with pytest.raises(SystemExit) as exc:
            main([verb, "--help"])
        assert exc.value.code == 0
        assert verb in capsys.readouterr().out


def test_paths_are_only_placeholders_here(files):
    assert not Path(files["M"]).exists() and Path(files["W"]).is_file()
