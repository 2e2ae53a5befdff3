"""Static int8 quantization (ONNX Runtime): quantized ops, agreement with float, the int8
kernels' arithmetic on a trained network, bad input."""

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
RES_TRAINED = 32


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """16 images in 2 class folders, plus a file that is not an image."""
    root = make_image_folder(tmp_path_factory.mktemp("calib"), classes=2, train=8, val=0, size=48)
    (root / "train" / "class0" / "broken.png").write_bytes(b"not a png")
    return root / "train"


@pytest.fixture(scope="module", params=["efficientnet_b0", "efficientnet_v2_b0"])
def model(request: pytest.FixtureRequest) -> torch.nn.Module:
    torch.manual_seed(0)
    net = effnet.create_model(effnet.compound(request.param, -4), num_classes=10).eval()
    randomize_batchnorm(net)
    return net


@pytest.mark.slow
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


def _train(folder: Path, steps: int = 60) -> torch.nn.Module:
    """A small EfficientNet trained briefly (AdamW) on ``folder``'s bar images, then its BN
    statistics recomputed over them: its weights and activations have a trained network's
    spread (large, correlated values), which random initialisation does not have."""
    torch.manual_seed(0)
    net = effnet.create_model(effnet.compound("efficientnet_b0", -4), num_classes=3)
    x, files, _ = calibration_inputs(net, folder, resolution=RES_TRAINED, max_images=None)
    xs, ys = torch.from_numpy(x), torch.tensor([int(f.parent.name[-1]) for f in files])
    opt = torch.optim.AdamW(net.parameters(), lr=1e-3, weight_decay=0.05)
    g = torch.Generator().manual_seed(0)
    net.train()
    for _ in range(steps):
        i = torch.randint(0, len(xs), (16,), generator=g)
        loss = torch.nn.functional.cross_entropy(net(xs[i]), ys[i])
        opt.zero_grad()
        loss.backward()
        opt.step()
    for m in net.modules():  # exact running statistics (BN momentum 0.01 needs many steps)
        if isinstance(m, torch.nn.BatchNorm2d):
            m.reset_running_stats()
            m.momentum = None  # a cumulative average
    with torch.no_grad():
        for i in range(0, len(xs), 16):
            net(xs[i : i + 16])
    return net.eval()


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> tuple[torch.nn.Module, Path, Path]:
    """A briefly trained network, its training images' folder and a held-out folder."""
    root = make_image_folder(
        tmp_path_factory.mktemp("bars"), classes=3, train=32, val=16, size=RES_TRAINED
    )
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # small tensors: one thread is fastest, and immune to a busy box
    try:
        net = _train(root / "train")
    finally:
        torch.set_num_threads(threads)
    return net, root / "train", root / "val"


def _sqnr_db(ref: np.ndarray, got: np.ndarray) -> float:
    """Signal-to-quantization-noise ratio of ``got`` against ``ref``, in dB."""
    return float(10 * np.log10((ref**2).sum() / ((ref - got) ** 2).sum()))


def _run(path: Path, x: np.ndarray, *, fused: bool) -> np.ndarray:
    """``path`` run by ONNX Runtime: ``fused``, its int8 kernels (QDQ pairs fused into
    QLinearConv etc.); else every optimisation off, so that each DequantizeLinear -> Conv runs
    in float: the arithmetic the file specifies, with no int8 kernel involved."""
    opts = ort.SessionOptions()
    if not fused:
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    session = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
    return session.run(None, {"x": x})[0]


@pytest.mark.slow
def test_int8_kernels_keep_a_trained_networks_answers(
    tmp_path: Path, trained: tuple[torch.nn.Module, Path, Path]
) -> None:
    """The default file gives float's logits on held-out images on this CPU, whatever its int8
    dot product: on x86 without VNNI, 8-bit weights (``reduce_range=False``) saturate the int16
    pair sums of ``VPMADDUBSW`` and fail both bounds (see :mod:`effnet.deploy.quantize`)."""
    model, train, val = trained
    calib, _, _ = calibration_inputs(model, train, resolution=RES_TRAINED, max_images=24)
    held, _, _ = calibration_inputs(model, val, resolution=RES_TRAINED, max_images=None)
    path = effnet.quantize(model, tmp_path / "q.onnx", calib)
    with torch.no_grad():
        ref = model(torch.from_numpy(held)).numpy()
    kernels, file_math = _run(path, held, fused=True), _run(path, held, fused=False)
    assert not np.array_equal(kernels, file_math)  # the int8 kernels ran
    kernel_db, float_db = _sqnr_db(file_math, kernels), _sqnr_db(ref, kernels)
    # the int8 kernels compute what the file says (saturation breaks this first) ...
    assert kernel_db >= 25.0, f"int8 kernels vs the file's arithmetic: SQNR {kernel_db:.1f} dB"
    # ... and the file's logits are float's, up to 7-bit weight and 8-bit activation rounding
    assert float_db >= 12.0, f"int8 vs float logits: SQNR {float_db:.1f} dB"


@pytest.mark.slow
def test_cli_int8(tmp_path: Path, folder: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out, weights = tmp_path / "cli.onnx", tmp_path / "lite.safetensors"
    small = effnet.compound("efficientnet_lite0", -4)  # Lite's block kinds, a quicker export
    effnet.save_weights(effnet.create_model(small, num_classes=10), weights)
    args = ["export", "--weights", str(weights)]
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
