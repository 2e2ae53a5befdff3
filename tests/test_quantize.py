"""Static int8 quantization (ONNX Runtime): quantized ops, agreement with float, bad input."""

from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
from conftest import make_image_folder, randomize_batchnorm

import effnet
from effnet.cli import main
from effnet.deploy.quantize import calibration_inputs

RES = 64


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """16 images in 2 class folders, plus a file that is not an image."""
    root = make_image_folder(tmp_path_factory.mktemp("calib"), classes=2, train=8, val=0, size=48)
    (root / "train" / "class0" / "broken.png").write_bytes(b"not a png")
    return root / "train"


@pytest.fixture(scope="module")
def model() -> torch.nn.Module:
    torch.manual_seed(0)
    net = effnet.create_model(effnet.compound("efficientnet_b0", -4), num_classes=10).eval()
    randomize_batchnorm(net)
    return net


def test_int8_model_agrees_with_float(tmp_path: Path, folder: Path, model: torch.nn.Module) -> None:
    with pytest.warns(UserWarning, match="skipped 1 unreadable"):
        path = effnet.quantize(model, tmp_path / "q.onnx", folder, resolution=RES)
    assert path.is_file()
    ops = {n.op_type for n in onnx.load(str(path)).graph.node}
    assert {"QuantizeLinear", "DequantizeLinear"} <= ops or "QLinearConv" in ops
    x, used, skipped = calibration_inputs(model, folder, resolution=RES)
    assert x.shape == (16, 3, RES, RES) and skipped == 1
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    got = session.run(None, {"x": x})[0]
    with torch.no_grad():
        ref = model(torch.from_numpy(x)).numpy()
    assert np.isfinite(got).all()
    top2 = np.sort(ref, axis=1)[:, -2:]
    clear = (top2[:, 1] - top2[:, 0]) > 0.05  # where float's top-1 is not a near tie
    assert clear.sum() >= 4
    agree = (got.argmax(1) == ref.argmax(1))[clear].mean()
    assert agree >= 0.8, agree


def test_cli_int8(tmp_path: Path, folder: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "cli.onnx"
    args = ["export", "--model", "efficientnet_lite0", "--num-classes", "10"]
    args += ["--resolution", str(RES), "--int8", "--calibration", str(folder), "--out", str(out)]
    assert main(args) == 0
    text = capsys.readouterr().out
    assert out.is_file()
    assert "skipped 1 unreadable" in text and "top-1 agreement" in text


@pytest.mark.parametrize("case", ["empty", "unreadable", "no_calibration", "torchscript"])
def test_bad_int8_input_is_one_line(
    tmp_path: Path, case: str, capsys: pytest.CaptureFixture[str]
) -> None:
    out = str(tmp_path / "x.onnx")
    args = ["export", "--model", "efficientnet_b0", "--resolution", "32", "--out", out]
    if case == "empty":
        (tmp_path / "empty").mkdir()
        args += ["--int8", "--calibration", str(tmp_path / "empty")]
    elif case == "unreadable":
        (tmp_path / "bad").mkdir()
        for i in range(2):
            (tmp_path / "bad" / f"{i}.jpg").write_bytes(b"\xff\xd8 truncated")
        args += ["--int8", "--calibration", str(tmp_path / "bad")]
    elif case == "no_calibration":
        args += ["--int8"]
    else:
        args += ["--int8", "--calibration", str(tmp_path), "--format", "torchscript"]
    try:
        code = main(args)
    except SystemExit as exc:  # option errors exit from argparse, as for any bad option
        code = exc.code
    err = capsys.readouterr().err
    assert code == 2, err
    assert err.strip().count("\n") == 0 and "error" in err, err
    assert not Path(out).exists()
    if case in ("empty", "unreadable"):
        assert str(tmp_path) in err
