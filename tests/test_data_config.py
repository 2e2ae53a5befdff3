"""The data config on every model (``model.pretrained_cfg``): the variant's defaults, what
effnet weights store, what other libraries published; and the transform built from it."""

import dataclasses
import json

import numpy as np
import pytest
import torch
import torchvision
from conftest import randomize_batchnorm
from PIL import Image

import effnet
from effnet import constants
from effnet.data import transforms
from effnet.data_config import DataConfig
from effnet.weights.loading import load_for_eval, load_model


def image(w=500, h=375, seed=0):
    rng = np.random.default_rng(seed)
    return Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8))


def test_every_model_has_the_variants_defaults():
    cfg = effnet.create_model("efficientnet_b3").pretrained_cfg
    assert cfg["input_size"] == (3, 300, 300) and cfg["crop_pct"] == pytest.approx(300 / 332)
    assert (cfg["crop_order"], cfg["interpolation"]) == ("crop_then_resize", "bicubic")
    assert cfg["mean"] == constants.IMAGENET_MEAN and cfg["std"] == constants.IMAGENET_STD
    assert (cfg["num_classes"], cfg["classes"], cfg["source"]) == (1000, None, None)
    lite = effnet.create_model(effnet.compound("efficientnet_lite0", 1)).pretrained_cfg
    assert lite["mean"] == (127 / 255,) * 3 and lite["std"] == (128 / 255,) * 3  # (x-127)/128
    features = effnet.create_model("efficientnet_lite2", features_only=True)
    assert features.pretrained_cfg["input_size"] == (3, 260, 260)
    grey = effnet.create_model("efficientnet_b0", in_chans=1, num_classes=3).pretrained_cfg
    assert grey["input_size"] == (1, 224, 224) and len(grey["mean"]) == 1


def test_default_transform_is_effnets_eval_transform():
    model = effnet.create_model("efficientnet_b0", num_classes=3)
    img = image()
    torch.testing.assert_close(
        effnet.create_transform(model)(img), transforms.eval_transform(224)(img)
    )
    at_96 = effnet.create_transform(model, resolution=96)(img)  # the paper's crop follows
    torch.testing.assert_close(at_96, transforms.eval_transform(96)(img))
    whole = effnet.create_transform(model, resolution=96, crop=1.0)(img)
    torch.testing.assert_close(whole, transforms.eval_transform(96, 1.0)(img))
    assert effnet.create_transform(model, train=True)(img).shape == (3, 224, 224)


def test_published_crop_is_kept_at_other_resolutions_and_lite_is_normalised_its_way():
    cfg = DataConfig.square(
        64,
        crop_pct=1.0,
        crop_order="resize_then_crop",
        interpolation="bilinear",
        mean=constants.LITE_MEAN,
        std=constants.LITE_STD,
        num_classes=2,
    )
    img = image(90, 60)
    x = effnet.create_transform(cfg, resolution=48)(img)
    resized = img.resize((72, 48), Image.Resampling.BILINEAR)  # shorter side 48, whole image
    pixels = torch.from_numpy(np.array(resized)[:, 12:60]).permute(2, 0, 1) / 255
    torch.testing.assert_close(x, (pixels - 127 / 255) / (128 / 255), atol=1e-5, rtol=0)
    train = effnet.create_transform(cfg, train=True, augment="none")(img)
    assert train.shape == (3, 64, 64) and train.min() >= -1.0 - 1e-6


def test_effnet_weights_store_their_geometry_and_it_wins(tmp_path):
    model = effnet.create_model("efficientnet_lite0", num_classes=3)
    path = tmp_path / "best.safetensors"
    meta = {"classes": json.dumps(["a", "b", "c"]), "train_resolution": "64", "eval_crop": "1.0"}
    effnet.save_weights(model, path, metadata=meta)
    loaded = effnet.create_model("efficientnet_lite0", weights=path)
    cfg = loaded.pretrained_cfg
    assert cfg["input_size"] == (3, 64, 64) and cfg["crop_pct"] == 1.0
    assert cfg["classes"] == ("a", "b", "c") and cfg["source"] == "effnet"
    assert cfg["mean"] == constants.IMAGENET_MEAN  # effnet's training normalises so
    net, classes, res, crop = load_for_eval(path)
    assert (classes, res, crop) == (["a", "b", "c"], 64, 1.0)
    assert load_for_eval(path, resolution=96, crop=0.5)[2:] == (96, 0.5)
    loaded.reset_classifier(5)
    assert loaded.pretrained_cfg["num_classes"] == 5 and loaded.pretrained_cfg["classes"] is None


def test_converted_weights_saved_by_effnet_keep_the_published_preprocessing(tmp_path):
    torch.manual_seed(0)
    reference = torchvision.models.efficientnet_b0().eval()
    randomize_batchnorm(reference)
    model = effnet.load_pretrained("efficientnet_b0", reference.state_dict(), source="torchvision")
    path = tmp_path / "b0.safetensors"
    effnet.save_weights(model, path)
    again, classes = load_model(path)
    assert classes[:2] == ["tench", "goldfish"] and len(classes) == 1000
    for key in ("input_size", "crop_pct", "crop_order", "interpolation", "mean", "std"):
        assert again.pretrained_cfg[key] == model.pretrained_cfg[key], key
    assert again.pretrained_cfg["crop_order"] == "resize_then_crop"


def test_effnet_files_without_names_keep_numbered_classes(tmp_path):
    path = tmp_path / "plain.safetensors"
    effnet.save_weights(effnet.create_model("efficientnet_b0", num_classes=1000), path)
    assert load_model(path)[1][:2] == ["0", "1"]


def test_data_config_is_a_frozen_checked_dataclass_that_reads_as_a_mapping():
    cfg = effnet.create_model("efficientnet_b0").pretrained_cfg
    assert isinstance(cfg, DataConfig) and cfg.resolution == 224
    assert dict(cfg)["interpolation"] == cfg.interpolation == "bicubic"
    assert list(cfg) == [f.name for f in dataclasses.fields(DataConfig)]
    assert cfg.get("nope", 7) == 7 and "crop_pct" in cfg
    with pytest.raises(KeyError):
        cfg["nope"]
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.crop_pct = 0.5
    assert cfg.fixed_crop() is None and cfg.replace(crop_pct=0.95).fixed_crop() == 0.95
    with pytest.raises(ValueError, match="crop_order"):
        cfg.replace(crop_order="squash")
    with pytest.raises(ValueError, match="2 class names for 1000 classes"):
        cfg.replace(classes=["a", "b"])
    assert json.loads(cfg.to_json())["input_size"] == [3, 224, 224]
