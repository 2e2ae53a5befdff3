"""Issue 7, weights: a file for another architecture or class count fails with the mismatched
keys and shapes; a pickle never runs, whatever the file is called."""

import os

import pytest
import torch
from safetensors import safe_open
from safetensors.torch import save_file

import effnet
from effnet.weights.io import WeightsMismatchError, load_state_dict_strict

TINY = effnet.compound("efficientnet_b0", -4).replace(resolution=32)


@pytest.fixture(scope="module")
def three_class(tmp_path_factory):
    path = tmp_path_factory.mktemp("w") / "tiny.safetensors"
    effnet.save_weights(effnet.Network(TINY, num_classes=3), path)
    return path


def test_asking_for_another_class_count_lists_the_classifier_shape(three_class):
    with pytest.raises(WeightsMismatchError, match=r"3 classes, not 5 \(classifier.weight \(3, "):
        effnet.create_model(TINY.name, weights=three_class, num_classes=5)
    assert effnet.create_model(TINY.name, weights=three_class, num_classes=3).num_classes == 3
    assert effnet.create_model(TINY.name, weights=three_class).num_classes == 3
    assert effnet.create_model(TINY).num_classes == 1000  # the default without weights


def test_file_whose_tensors_disagree_with_its_metadata_lists_shapes(three_class, tmp_path):
    with safe_open(str(three_class), framework="pt") as f:
        meta = dict(f.metadata())
        tensors = {k: f.get_tensor(k) for k in f.keys()}
    meta["num_classes"] = "5"  # edited by hand, or written by a buggy tool
    edited = tmp_path / "edited.safetensors"
    save_file(tensors, str(edited), metadata=meta)
    with pytest.raises(WeightsMismatchError) as err:
        effnet.create_model(TINY.name, weights=edited)
    text = str(err.value)
    assert "shape (2)" in text
    assert "classifier.weight: file (3, " in text and "vs model (5, " in text
    assert "classifier.bias: file (3,) vs model (5,)" in text


def test_state_of_another_architecture_lists_every_kind_of_mismatch():
    small = effnet.Network(TINY, num_classes=3).state_dict()
    bigger = effnet.Network(effnet.compound("efficientnet_b0", -2), num_classes=3)
    with pytest.raises(WeightsMismatchError) as err:
        load_state_dict_strict(bigger, small)
    text = str(err.value)
    assert "missing (" in text  # B0 at phi=-2 has more blocks
    assert "shape (" in text and ": file (" in text and "vs model (" in text  # wider layers


class Exploit:
    def __init__(self, target: str) -> None:
        self.target = target

    def __reduce__(self):
        return (os.mkdir, (self.target,))


@pytest.mark.parametrize("name", ["evil.safetensors", "evil.pth", "evil.bin"])
def test_a_pickle_is_refused_under_any_name_and_never_runs(tmp_path, name):
    marker = tmp_path / "created-by-the-pickle"
    path = tmp_path / name
    torch.save({"classifier.weight": Exploit(str(marker))}, path)
    with pytest.raises(ValueError, match="refusing|not a readable safetensors"):
        effnet.load_pretrained("efficientnet_b0", path, source="timm")
    if name.endswith(".safetensors"):
        with pytest.raises(ValueError, match="not a readable safetensors"):
            effnet.create_model("efficientnet_b0", weights=path)
    assert not marker.exists()
