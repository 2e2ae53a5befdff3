"""Train/eval transforms: the paper's crop recipe and shapes for any image size and mode."""

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from effnet.data import eval_transform, to_rgb, train_transform
from effnet.data.transforms import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    CenterCropFraction,
    eval_crop_fraction,
)

MODES = ["1", "L", "LA", "P", "P+transparency", "RGB", "RGBA", "CMYK", "I;16", "I", "F"]


def make_image(mode: str, w: int, h: int, seed: int) -> Image.Image:
    rng = np.random.default_rng(seed)
    rgba = rng.integers(0, 256, (h, w, 4), dtype=np.uint8)
    if mode == "I;16":
        return Image.fromarray(rng.integers(0, 65536, (h, w), dtype=np.uint16))
    if mode == "I":
        return Image.fromarray(rng.integers(0, 65536, (h, w)).astype(np.int32))
    if mode == "F":
        return Image.fromarray(rng.random((h, w), dtype=np.float32))
    if mode == "RGBA":
        return Image.fromarray(rgba)
    rgb = Image.fromarray(np.ascontiguousarray(rgba[..., :3]))
    if mode == "P+transparency":
        img = rgb.convert("P")
        img.info["transparency"] = 0
        return img
    return rgb.convert(mode)


def unnormalise(x: torch.Tensor) -> torch.Tensor:
    return (
        x * torch.tensor(IMAGENET_STD)[:, None, None] + torch.tensor(IMAGENET_MEAN)[:, None, None]
    )


def test_eval_crops_the_original_by_res_over_res_plus_32_then_resizes():
    # 64x64 image, white centre square of side int(32/64 * 64) = 32 at offset (64-32+1)//2 = 16,
    # black outside. res=32 -> fraction 32/64: the crop is exactly the white square.
    arr = np.zeros((64, 64, 3), np.uint8)
    arr[16:48, 16:48] = 255
    out = unnormalise(eval_transform(32)(Image.fromarray(arr)))
    assert out.shape == (3, 32, 32)
    assert torch.allclose(out, torch.ones_like(out), atol=1e-3)


def test_eval_crop_fraction_replaces_the_paper_crop():
    assert eval_crop_fraction(224) == 224 / 256 and eval_crop_fraction(64) == 64 / 96
    assert eval_crop_fraction(64, 1.0) == 1.0
    for bad in (0.0, -0.5, 1.5):
        with pytest.raises(ValueError, match="crop fraction"):
            eval_crop_fraction(64, bad)
    # white frame around a black 42 px square: the paper's crop at 64 px (int(64 * 64/96) = 42
    # from (64 - 42 + 1) // 2 = 11) sees only black; the whole image shows the frame
    arr = np.full((64, 64, 3), 255, np.uint8)
    arr[11:53, 11:53] = 0
    img = Image.fromarray(arr)
    assert unnormalise(eval_transform(64)(img)).max() < 1e-3
    whole = unnormalise(eval_transform(64, 1.0)(img))
    assert torch.allclose(whole[:, 0, :], torch.ones(3, 64), atol=1e-3)


def test_center_crop_fraction_of_shorter_side_on_non_square_images():
    img = Image.new("RGB", (300, 100))
    crop = CenterCropFraction(224, 224 / 256)
    assert crop(img).size == (224, 224)
    # side int(0.875 * 100) = 87, left (300 - 87 + 1) // 2 = 107 (official TF offsets)
    marked = np.zeros((100, 300, 3), np.uint8)
    marked[:, 107 : 107 + 87] = 255
    out = np.asarray(CenterCropFraction(87, 0.875)(Image.fromarray(marked)))
    assert out.min() == 255


@pytest.mark.parametrize(
    "augment", ["autoaugment", "randaugment", "rand-m15-n3", "trivialaugment", "augmix", "none"]
)
@pytest.mark.parametrize("size", [(1, 1), (10000, 3), (3, 10000), (37, 5)])
def test_any_size_gives_res_by_res(augment, size):
    img = Image.new("RGB", size, (200, 10, 30))
    for tf in (train_transform(24, augment), eval_transform(24)):
        x = tf(img)
        assert x.shape == (3, 24, 24) and x.dtype == torch.float32
        assert torch.isfinite(x).all()


def test_train_transform_options():
    with pytest.raises(ValueError, match="augment"):
        train_transform(32, "mixup")
    with pytest.raises(ValueError, match="crop_scale"):
        train_transform(32, "none", crop_scale=(0.5, 0.1))
    x = train_transform(16, "none", crop_scale=(0.35, 1.0))(Image.new("RGB", (64, 64)))
    assert x.shape == (3, 16, 16)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    w=st.integers(1, 300),
    h=st.integers(1, 300),
    mode=st.sampled_from(MODES),
    augment=st.sampled_from(["autoaugment", "randaugment", "none"]),
    seed=st.integers(0, 2**16),
)
def test_property_any_size_and_mode(w, h, mode, augment, seed):
    img = to_rgb(make_image(mode, w, h, seed))
    assert img.mode == "RGB" and img.size == (w, h)
    torch.manual_seed(seed)
    for tf in (train_transform(20, augment), eval_transform(20)):
        x = tf(img)
        assert x.shape == (3, 20, 20)
        assert torch.isfinite(x).all()
