"""Weights: effnet's own files, and parity with torchvision and timm models (random seeded
weights, randomised BN statistics, small inputs)."""

import os
import pickle
from pathlib import Path

import pytest
import timm
import torch
import torchvision
from conftest import randomize_batchnorm

import effnet
from effnet.models.weights import WeightsMismatchError, read_metadata

REFERENCES = {
    # (source, our name): builds the reference model
    ("torchvision", "efficientnet_b0"): lambda: torchvision.models.efficientnet_b0(),
    ("torchvision", "efficientnet_b5"): lambda: torchvision.models.efficientnet_b5(),
    ("timm", "efficientnet_b0"): lambda: timm.create_model("efficientnet_b0"),
    ("timm", "efficientnet_b2"): lambda: timm.create_model("efficientnet_b2"),
    ("timm_tf", "efficientnet_b0"): lambda: timm.create_model("tf_efficientnet_b0"),
    ("timm_tf", "efficientnet_b3"): lambda: timm.create_model("tf_efficientnet_b3"),
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
