"""Weights: effnet's own files, and parity with torchvision, timm and efficientnet_pytorch /
efficientnet_lite_pytorch models (random seeded weights, randomised BN statistics)."""

import json
import os
import pickle
from pathlib import Path

import efficientnet_lite_pytorch
import efficientnet_pytorch
import pytest
import timm
import torch
import torchvision
from conftest import randomize_batchnorm
from PIL import Image

import effnet
from effnet.cli import main
from effnet.models.network import init_weights
from effnet.weights.io import WeightsMismatchError, read_metadata
from effnet.weights.loading import load_model

REFERENCES = {
    # (source, our name): builds the reference model
    ("torchvision", "efficientnet_b0"): lambda: torchvision.models.efficientnet_b0(),
    ("torchvision", "efficientnet_b5"): lambda: torchvision.models.efficientnet_b5(),
    ("timm", "efficientnet_b0"): lambda: timm.create_model("efficientnet_b0"),
    ("timm", "efficientnet_b2"): lambda: timm.create_model("efficientnet_b2"),
    ("timm_tf", "efficientnet_b0"): lambda: timm.create_model("tf_efficientnet_b0"),
    ("timm_tf", "efficientnet_b3"): lambda: timm.create_model("tf_efficientnet_b3"),
    ("timm", "efficientnet_lite0"): lambda: timm.create_model("efficientnet_lite0"),
    ("timm_tf", "efficientnet_lite0"): lambda: timm.create_model("tf_efficientnet_lite0"),
    # width 1.2: the fixed 32-channel stem feeds a 24-channel first stage
    ("timm_tf", "efficientnet_lite3"): lambda: timm.create_model("tf_efficientnet_lite3"),
}


@pytest.mark.parametrize(("source", "name"), sorted(REFERENCES))
def test_logits_match_the_source_model(source: str, name: str) -> None:
    torch.manual_seed(0)
    reference = REFERENCES[(source, name)]().eval()
    randomize_batchnorm(reference)
    model = effnet.load_pretrained(name, reference.state_dict(), source=source)
    assert not model.training
    x = torch.randn(2, 3, 67, 45)  # odd, non-square: exercises TF "SAME" padding
    with torch.no_grad():
        expected, got = reference(x), model(x)
    assert expected.abs().max() > 1e-2  # the comparison is not between two near-zero outputs
    assert (got - expected).abs().max().item() <= 1e-4


def _efficientnet_pytorch(name: str, num_classes: int = 1000) -> torch.nn.Module:
    """The package's own model for one of effnet's names (``efficientnet_b0`` ->
    ``efficientnet-b0``; Lite from efficientnet_lite_pytorch), seeded random weights."""
    package = efficientnet_lite_pytorch if "lite" in name else efficientnet_pytorch
    reference = package.EfficientNet.from_name(name.replace("_", "-"), num_classes=num_classes)
    # the package's default (PyTorch) init lets B0's activations fade until the logits hardly
    # depend on the image; the official init keeps them alive, so the comparison means more
    reference.apply(init_weights)
    randomize_batchnorm(reference)
    return reference.eval()


@pytest.mark.parametrize("name", ["efficientnet_b0", "efficientnet_b2", "efficientnet_lite0"])
def test_logits_match_efficientnet_pytorch(name: str) -> None:
    torch.manual_seed(0)
    reference = _efficientnet_pytorch(name)
    state = reference.state_dict()
    model = effnet.load_pretrained(name, state, source="efficientnet_pytorch")
    assert not model.training and model.padding == "same" and model.bn_eps == 1e-3
    res = model.spec.resolution  # the package's static "SAME" padding is fixed for this size
    x = torch.randn(2, 3, res, res)
    with torch.no_grad():
        expected, got = reference(x), model(x)
        # the comparison sees the padding: PyTorch's symmetric one gives other logits
        symmetric = effnet.create_model(name, padding="symmetric").eval()
        symmetric.load_state_dict(model.state_dict())
        assert (symmetric(x) - expected).abs().max().item() > 1e-3
    assert expected.abs().max() > 1e-2
    assert (got - expected).abs().max().item() <= 1e-4


def test_efficientnet_pytorch_file_via_load_model_and_predict(tmp_path: Path, capsys) -> None:
    """A ``.pth`` of the package's state dict loads as ``effnet predict --weights F --source
    efficientnet_pytorch --model efficientnet_b0`` loads it."""
    torch.manual_seed(0)
    reference = _efficientnet_pytorch("efficientnet_b0", num_classes=10)
    path = tmp_path / "b0.pth"
    torch.save(reference.state_dict(), path)
    model, classes = load_model(path, model="efficientnet_b0", source="efficientnet_pytorch")
    assert classes == [str(i) for i in range(10)]
    x = torch.randn(1, 3, 224, 224)
    with torch.no_grad():
        assert (model(x) - reference(x)).abs().max().item() <= 1e-4
    image = tmp_path / "img.png"
    Image.new("RGB", (40, 30), (120, 60, 200)).save(image)
    args = ["predict", str(image), "--weights", str(path), "--json", "--topk", "3"]
    args += ["--source", "efficientnet_pytorch", "--model", "efficientnet_b0"]
    assert main(args) == 0
    (result,) = json.loads(capsys.readouterr().out)
    assert len(result["top"]) == 3 and {t["class"] for t in result["top"]} <= set(classes)


def test_efficientnet_pytorch_mismatches_are_listed_by_name() -> None:
    state = _efficientnet_pytorch("efficientnet_b0").state_dict()
    with pytest.raises(WeightsMismatchError) as err:
        effnet.load_pretrained("efficientnet_b1", state, source="efficientnet_pytorch")
    assert "missing" in str(err.value) and "_blocks.16._expand_conv.weight" in str(err.value)
    del state["_blocks.3._se_reduce.bias"]
    state["_blocks.3.extra"] = torch.zeros(1)
    with pytest.raises(WeightsMismatchError, match=r"_se_reduce.bias.*unexpected.*extra"):
        effnet.load_pretrained("efficientnet_b0", state, source="efficientnet_pytorch")
    lite = _efficientnet_pytorch("efficientnet_lite0").state_dict()
    with pytest.raises(WeightsMismatchError, match="_se_reduce"):  # Lite has no SE
        effnet.load_pretrained("efficientnet_b0", lite, source="efficientnet_pytorch")
    with pytest.raises(WeightsMismatchError, match="MBConv networks only"):
        effnet.load_pretrained("resnet50", lite, source="efficientnet_pytorch")


def test_tf_weights_need_same_padding_to_match() -> None:
    torch.manual_seed(0)
    reference = timm.create_model("tf_efficientnet_b0").eval()
    randomize_batchnorm(reference)
    wrong = effnet.load_pretrained("efficientnet_b0", reference.state_dict(), source="timm")
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        assert (wrong(x) - reference(x)).abs().max().item() > 1e-3


def test_torchvision_file_on_disk(tmp_path: Path) -> None:
    reference = torchvision.models.efficientnet_b0(num_classes=10).eval()
    path = tmp_path / "tv.pth"
    torch.save(reference.state_dict(), path)
    model = effnet.load_pretrained("efficientnet_b0", path, source="torchvision")
    assert model.num_classes == 10
    x = torch.randn(1, 3, 32, 32)
    with torch.no_grad():
        assert torch.allclose(model(x), reference(x), atol=1e-4)


def test_wrong_architecture_lists_mismatches() -> None:
    state = torchvision.models.efficientnet_b1().state_dict()
    with pytest.raises(WeightsMismatchError) as err:
        effnet.load_pretrained("efficientnet_b0", state, source="torchvision")
    assert "tensors" in str(err.value)  # counts differ: B1 has more blocks


def test_wrong_shapes_are_listed() -> None:
    state = timm.create_model("efficientnet_b2").state_dict()
    with pytest.raises(WeightsMismatchError, match="conv_stem.weight"):
        effnet.load_pretrained("efficientnet_b3", state, source="timm")


def test_save_and_rebuild_from_file(tmp_path: Path) -> None:
    spec = effnet.compound("efficientnet_b0", -1.0)
    model = effnet.create_model(spec, num_classes=4, padding="same", bn_eps=1e-5).eval()
    randomize_batchnorm(model)
    path = tmp_path / "m.safetensors"
    effnet.save_weights(model, path, metadata={"classes": '["a","b","c","d"]'})
    meta = read_metadata(path)
    assert meta["classes"] == '["a","b","c","d"]' and meta["padding"] == "same"
    rebuilt = effnet.create_model(spec.name, weights=path).eval()
    assert rebuilt.spec == spec and rebuilt.num_classes == 4 and rebuilt.bn_eps == 1e-5
    x = torch.randn(1, 3, 50, 50)
    with torch.no_grad():
        assert torch.equal(rebuilt(x), model(x))
    again = effnet.load_pretrained(spec.name, path, source="effnet")
    assert torch.equal(again(x), model(x))
    assert not list(tmp_path.glob(".*tmp*"))  # the atomic write left no temporary file


def test_weights_for_another_model_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "b0.safetensors"
    effnet.save_weights(effnet.create_model("efficientnet_b0", num_classes=3), path)
    with pytest.raises(WeightsMismatchError, match="efficientnet_b0"):
        effnet.create_model("efficientnet_b1", weights=path)


def test_effnet_state_dict_mismatch_lists_keys() -> None:
    state = effnet.create_model("efficientnet_b0").state_dict()
    del state["conv_stem.weight"]
    state["extra.weight"] = torch.zeros(1)
    with pytest.raises(WeightsMismatchError, match=r"missing \(1\): conv_stem.weight.*unexpected"):
        effnet.load_pretrained("efficientnet_b0", state, source="effnet")


class _Exploit:
    def __init__(self, target: str) -> None:
        self.target = target

    def __reduce__(self):
        return (os.system, (f"touch {self.target}",))


def test_pickle_with_code_is_refused_and_never_run(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.pth"
    with open(path, "wb") as f:
        pickle.dump({"classifier.weight": _Exploit(str(marker))}, f)
    torch.save({"conv_stem.weight": _Exploit(str(marker))}, tmp_path / "evil2.pth")
    for p in (path, tmp_path / "evil2.pth"):
        with pytest.raises(ValueError, match="refusing"):
            effnet.load_pretrained("efficientnet_b0", p, source="torchvision")
    assert not marker.exists()


def test_corrupt_safetensors_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "bad.safetensors"
    path.write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{not json")
    with pytest.raises(ValueError, match="not a readable safetensors"):
        effnet.create_model("efficientnet_b0", weights=path)
    with pytest.raises(FileNotFoundError):
        effnet.create_model("efficientnet_b0", weights=tmp_path / "missing.safetensors")
