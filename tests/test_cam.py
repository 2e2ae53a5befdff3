"""Class activation maps: the CAM identity, alignment with the original image, and a map that
finds the object for a model trained (a few seconds, in the test) to detect it."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image, ImageDraw

from effnet.analysis.cam import (
    align_to_image,
    crop_box,
    feature_geometry,
    feature_maps,
    image_cams,
)
from effnet.analysis.plots import DPI, cam_grid_figsize
from effnet.cli import main
from effnet.data.transforms import CenterCropFraction, eval_transform
from effnet.models.network import Network
from effnet.models.spec import NetworkSpec, StageSpec
from effnet.weights.class_names import read_class_names
from effnet.weights.io import save_weights

RES = 64
CLASSES = ["empty", "disk"]
# Stride 8 (stem 2, two stride-2 stages): an 8x8 map at 64 px, small enough to train in seconds.
TINY = NetworkSpec(
    name="tiny_cam",
    stages=(
        StageSpec("mbconv", 1, 3, 2, 1, 16, 0.25),
        StageSpec("mbconv", 1, 3, 2, 4, 32, 0.25),
    ),
    stem_channels=16,
    head_channels=64,
    resolution=RES,
    dropout=0.0,
    drop_path=0.0,
)


def scene(
    rng: np.random.Generator, size: tuple[int, int], disk: bool, quadrant: tuple[int, int]
) -> tuple[Image.Image, tuple[float, float]]:
    """A noisy grey image of ``size`` = (W, H) with (``disk``) a contrasting disk inside the
    eval crop and inside image quadrant (qx, qy) (0 = left / top)."""
    w, h = size
    left, top, right, bottom = crop_box(size, RES)
    r = rng.uniform(7, 10)
    xs = (left + r + 1, w / 2 - r - 2) if quadrant[0] == 0 else (w / 2 + r + 2, right - r - 1)
    ys = (top + r + 1, h / 2 - r - 2) if quadrant[1] == 0 else (h / 2 + r + 2, bottom - r - 1)
    cx, cy = rng.uniform(*xs), rng.uniform(*ys)
    bg = rng.uniform(70, 185)
    img = Image.fromarray(np.clip(bg + rng.normal(0, 20, (h, w, 3)), 0, 255).astype(np.uint8))
    if disk:
        fg = np.clip(bg + rng.choice([-1, 1]) * rng.uniform(70, 120, 3), 0, 255).astype(int)
        ImageDraw.Draw(img).ellipse((cx - r, cy - r, cx + r, cy + r), fill=tuple(fg))
    return img, (cx, cy)


def quadrants(rng: np.random.Generator) -> tuple[int, int]:
    return int(rng.integers(0, 2)), int(rng.integers(0, 2))


@pytest.fixture(scope="module", autouse=True)
def _one_thread() -> Iterator[None]:
    """One intra-op thread: these tiny convolutions gain nothing from more, and the CPU is
    shared with other test processes."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def trained() -> Network:
    """A tiny network trained for ~5 s on 96x96 scenes to tell a disk from an empty image."""
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    tf = eval_transform(RES)
    xs, ys = [], []
    for i in range(400):
        img, _ = scene(rng, (96, 96), bool(i % 2), quadrants(rng))
        xs.append(tf(img))
        ys.append(i % 2)
    x, y = torch.stack(xs), torch.tensor(ys)
    model = Network(TINY, num_classes=2)
    opt = torch.optim.Adam(model.parameters(), 3e-3)
    model.train()
    for _ in range(8):
        for idx in torch.randperm(len(x)).split(32):
            loss = F.cross_entropy(model(x[idx]), y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
    # The TF BN momentum (0.01) needs thousands of steps: recompute the statistics exactly.
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.reset_running_stats()
            m.momentum = None
    with torch.no_grad():
        model(x)
    return model.eval()


@pytest.mark.parametrize("size", [(100, 60), (61, 97), (64, 64), (300, 7)])
def test_crop_box_is_the_eval_crop(size: tuple[int, int]) -> None:
    img = Image.fromarray(np.random.default_rng(1).integers(0, 255, (*size[::-1], 3), np.uint8))
    res = 40
    ours = img.crop(crop_box(size, res)).resize((res, res), Image.Resampling.BICUBIC)
    theirs = CenterCropFraction(res, res / (res + 32))(img)
    assert np.array_equal(np.asarray(ours), np.asarray(theirs))


@pytest.mark.parametrize("padding", ["symmetric", "same"])
def test_feature_geometry_is_the_receptive_field_centre(padding: str) -> None:
    """Cell (i, j) is centred where the gradient of its features w.r.t. the input is."""
    spec = TINY.replace(stages=tuple(replace(st, se_ratio=0.0) for st in TINY.stages))
    model = Network(spec, num_classes=2, padding=padding).eval()
    stride, offset = feature_geometry(model, RES, 8)
    assert stride == 8 and offset == (0.0 if padding == "symmetric" else 7.0)
    x = torch.randn(4, 3, RES, RES, requires_grad=True)
    (g,) = torch.autograd.grad(model.forward_features(x)[:, :, 1, 5].pow(2).sum(), x)
    weight = g.abs().sum((0, 1))  # (RES, RES)
    rows, cols = torch.meshgrid(torch.arange(RES * 1.0), torch.arange(RES * 1.0), indexing="ij")
    cy, cx = (
        float((weight * rows).sum() / weight.sum()),
        float((weight * cols).sum() / weight.sum()),
    )
    assert abs(cy - (stride * 1 + offset)) < 0.75 and abs(cx - (stride * 5 + offset)) < 0.75


def test_align_to_image_puts_a_cell_on_its_centre() -> None:
    size, res = (150, 90), 64
    box = crop_box(size, res)  # a 60 px square from x = 45, y = 15
    cam = torch.zeros(8, 8)
    cam[2, 6] = 1.0
    heat = align_to_image(cam, size, box, res, (8.0, 0.0))
    scale = (box[2] - box[0]) / res
    y, x = np.unravel_index(int(heat.argmax()), heat.shape)
    assert abs(x - (box[0] + (6 * 8 + 0.5) * scale - 0.5)) <= 1
    assert abs(y - (box[1] + (2 * 8 + 0.5) * scale - 0.5)) <= 1
    assert heat.max() == 1.0 and not heat[:, : box[0]].any() and not heat[:, box[2] :].any()


def test_cam_identity_and_gradcam_relation() -> None:
    """Zhou et al.: logit = mean(CAM) + bias; for this head Grad-CAM = ReLU(CAM) / (h w)."""
    model = Network(TINY, num_classes=3).eval()
    x = torch.randn(2, 3, 96, 64)
    cam = feature_maps(model, x, method="cam", target=[0, 2])
    assert cam.maps.shape == (2, 12, 8)
    bias = model.classifier.bias[cam.target]
    logits = cam.logits.gather(1, cam.target[:, None])[:, 0]
    torch.testing.assert_close(cam.maps.mean((1, 2)) + bias, logits, rtol=1e-4, atol=1e-5)
    grad = feature_maps(model, x, method="gradcam", target=[0, 2])
    torch.testing.assert_close(grad.maps, F.relu(cam.maps) / (12 * 8), rtol=1e-4, atol=1e-6)
    assert model.training is False and not any(p.grad is not None for p in model.parameters())


def test_cam_refuses_a_head_that_is_not_pooled_linear() -> None:
    class MaxHead(Network):
        def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
            x = x.amax((2, 3))
            return x if pre_logits else self.classifier(x)

    model = MaxHead(TINY, num_classes=2).eval()
    x = torch.randn(1, 3, 64, 64)
    with pytest.raises(ValueError, match="gradcam"):
        feature_maps(model, x, method="cam")
    maps = feature_maps(model, x, method="gradcam").maps
    assert maps.shape == (1, 8, 8) and bool((maps >= 0).all())
    with pytest.raises(ValueError, match="target"):
        feature_maps(model, x, target=5)


def test_trained_model_learned(trained: Network) -> None:
    rng = np.random.default_rng(7)
    imgs, labels = [], []
    for i in range(60):
        img, _ = scene(rng, (96, 96), bool(i % 2), quadrants(rng))
        imgs.append(img)
        labels.append(i % 2)
    cams = image_cams(trained, imgs)
    accuracy = np.mean([c.predicted == y for c, y in zip(cams, labels)])
    assert accuracy >= 0.9, accuracy


@pytest.mark.parametrize("size", [(96, 96), (150, 96), (80, 132)])
def test_cam_peak_falls_on_the_object(trained: Network, size: tuple[int, int]) -> None:
    """Held-out images, square and not: the map's maximum lies in the disk's quadrant of the
    ORIGINAL image (and close to the disk) when the disk is detected, for CAM and Grad-CAM."""
    rng = np.random.default_rng(size[0] * 1000 + size[1])
    scenes = [scene(rng, size, True, (k % 2, (k // 2) % 2)) for k in range(16)]
    imgs = [img for img, _ in scenes]
    for method in ("cam", "gradcam"):
        hits, near, detected = 0, 0, 0
        cams = image_cams(trained, imgs, method=method, target=1)
        for k, (cam, (_, (cx, cy))) in enumerate(zip(cams, scenes)):
            assert cam.heatmap.shape == (size[1], size[0])
            left, top, right, bottom = cam.box
            outside = np.ones(cam.heatmap.shape, bool)
            outside[top:bottom, left:right] = False
            assert not cam.heatmap[outside].any()
            if cam.predicted != 1:
                continue
            detected += 1
            px, py = cam.peak()
            hits += (int(px >= size[0] / 2), int(py >= size[1] / 2)) == (k % 2, (k // 2) % 2)
            near += np.hypot(px - cx, py - cy) <= 16
        assert detected >= 13, (method, detected)
        assert hits >= detected - 1, (method, hits, detected)
        assert near >= detected - 2, (method, near, detected)


def test_read_class_names(tmp_path: Path) -> None:
    model = Network(TINY, num_classes=2)
    save_weights(model, tmp_path / "a.safetensors", metadata={"classes": json.dumps(CLASSES)})
    assert read_class_names(tmp_path / "a.safetensors") == CLASSES
    save_weights(model, tmp_path / "b.safetensors")
    assert read_class_names(tmp_path / "b.safetensors") is None
    (tmp_path / "classes.json").write_text(json.dumps(["x", "y"]))
    assert read_class_names(tmp_path / "b.safetensors") == ["x", "y"]
    other = tmp_path / "other"  # a torchvision .pth: names from classes.txt beside it
    other.mkdir()
    (other / "classes.txt").write_text("cat\ndog\n")
    (other / "classes.json").write_text("{not json")  # passed over
    assert read_class_names(other / "tv.pth") == ["cat", "dog"]


def test_cli_cam_side_by_side(trained: Network, tmp_path: Path, capsys) -> None:
    rng = np.random.default_rng(3)
    paths = []
    for k, size in enumerate([(96, 96), (150, 96)]):
        img, _ = scene(rng, size, True, (k % 2, 1))
        paths.append(tmp_path / f"img{k}.png")
        img.convert("L").save(paths[-1])  # a greyscale file: loaded as RGB
    weights = tmp_path / "run" / "best.safetensors"
    weights.parent.mkdir()
    save_weights(trained, weights, metadata={"classes": json.dumps(CLASSES)})
    out = tmp_path / "cams.png"
    args = [
        "cam",
        "--weights",
        str(weights),
        "--weights",
        str(weights),
        "--label",
        "a",
        "--label",
        "b",
        "--image",
        *map(str, paths),
        "--out",
        str(out),
    ]
    assert main(args) == 0
    w, h = cam_grid_figsize(2, 2)
    with Image.open(out) as png:
        assert png.format == "PNG" and png.size == (round(w * DPI), round(h * DPI))
    assert "disk" in capsys.readouterr().out
    grad = tmp_path / "grad.png"
    assert main([*args[:-1], str(grad), "--method", "gradcam", "--target", "empty"]) == 0
    assert grad.is_file()


def test_cli_cam_errors(tmp_path: Path, capsys) -> None:
    weights = tmp_path / "w.safetensors"
    save_weights(Network(TINY, num_classes=2), weights)
    img = tmp_path / "x.png"
    Image.new("RGB", (70, 50)).save(img)
    base = ["cam", "--weights", str(weights), "--out", str(tmp_path / "o.png")]
    assert main([*base, "--image", str(tmp_path / "missing.png")]) == 2
    assert main([*base, "--image", str(img), "--target", "7"]) == 2
    assert main([*base, "--image", str(img), "--model", "efficientnet_b0"]) == 2
    (tmp_path / "bad.png").write_text("not an image")
    assert main([*base, "--image", str(tmp_path / "bad.png")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 4 and all(line.startswith("effnet cam: error:") for line in err)
