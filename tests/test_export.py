"""Export: ONNX Runtime and torch.export give the eager outputs."""

from pathlib import Path

import onnxruntime as ort
import pytest
import torch
from conftest import randomize_batchnorm

import effnet
from effnet.deploy.export import export_model


@pytest.mark.slow
@pytest.mark.parametrize("base", ["efficientnet_b0", "efficientnet_v2_b0"])
@pytest.mark.parametrize("padding", ["symmetric", "same"])
def test_onnx_matches_eager(tmp_path: Path, padding: str, base: str) -> None:
    small = effnet.compound(base, -4)  # the base's block kinds, fewer blocks to export
    model = effnet.create_model(small, num_classes=10, padding=padding).eval()
    randomize_batchnorm(model)
    path = export_model(model, tmp_path / "m.onnx", format="onnx", resolution=64)
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    # a batch size other than the one traced; with symmetric padding, other sides too
    sizes = [(64, 64), (96, 80)] if padding == "symmetric" else [(64, 64)]
    for h, w in sizes:
        x = torch.randn(3, 3, h, w)
        got = torch.from_numpy(session.run(None, {"x": x.numpy()})[0])
        with torch.no_grad():
            assert (got - model(x)).abs().max().item() <= 1e-4


@pytest.mark.slow
def test_torch_export_round_trips(tmp_path: Path) -> None:
    model = effnet.create_model("mobilenet_v2", num_classes=5).eval()
    path = export_model(model, tmp_path / "m.pt2", format="exported", resolution=48)
    loaded = torch.export.load(str(path)).module()
    for x in (torch.randn(2, 3, 48, 48), torch.randn(5, 3, 64, 40)):  # dynamic batch and size
        with torch.no_grad():
            assert torch.allclose(loaded(x), model(x), atol=1e-5)


def test_unknown_format(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unknown export format"):
        export_model(effnet.create_model("efficientnet_b0"), tmp_path / "m", format="tflite")
