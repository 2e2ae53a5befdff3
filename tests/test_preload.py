"""Preloaded train images (batched crop + flip), their loader, and progressive resizing."""

import json
import math

import pytest
import torch
from conftest import make_image_folder
from PIL import Image

from effnet.data.build import build_datasets
from effnet.data.folder import ImageFolderDataset
from effnet.data.preload import PreloadedImages, preload, storage_side
from effnet.data.transforms import IMAGENET_MEAN, IMAGENET_STD
from effnet.train.distributed import DistInfo
from effnet.train.loaders import PreloadedLoader, train_loader
from effnet.train.loop import train
from effnet.train.schedule import resolution_at

CPU = DistInfo()


def _images(sizes, seed=0):
    g = torch.Generator().manual_seed(seed)
    h = max(s[0] for s in sizes)
    w = max(s[1] for s in sizes)
    images = torch.zeros(len(sizes), 3, h, w, dtype=torch.uint8)
    for i, (hi, wi) in enumerate(sizes):
        images[i, :, :hi, :wi] = torch.randint(0, 256, (3, hi, wi), generator=g, dtype=torch.uint8)
    return images, torch.tensor(sizes)


def _normalized(img_uint8):
    mean = torch.tensor(IMAGENET_MEAN).view(3, 1, 1)
    std = torch.tensor(IMAGENET_STD).view(3, 1, 1)
    return (img_uint8.float() / 255 - mean) / std


def test_crop_boxes_lie_inside_each_image_with_the_asked_area():
    sizes = [(40, 60), (64, 64), (30, 20), (64, 48)] * 25
    images, hw = _images(sizes)
    data = PreloadedImages(images, hw, torch.zeros(100), ["a"], 32, crop_scale=(0.3, 0.9))
    boxes = data.crop_boxes(torch.arange(100), torch.Generator().manual_seed(1)).double()
    x1, y1, x2, y2 = boxes.unbind(1)
    h, w = hw[:, 0].double(), hw[:, 1].double()
    assert (x1 >= 0).all() and (y1 >= 0).all() and (x2 <= w).all() and (y2 <= h).all()
    assert torch.equal(boxes, boxes.round())  # whole pixels, as torchvision's crops
    area = (x2 - x1) * (y2 - y1) / (h * w)
    assert area.min() > 0.25 and area.max() < 0.95  # 0.3..0.9 up to rounding
    ratio = (x2 - x1) / (y2 - y1)
    assert ratio.min() > 0.7 and ratio.max() < 1.4  # 3/4..4/3 up to rounding


def test_no_fitting_crop_falls_back_to_the_centre_in_the_aspect_range():
    images, hw = _images([(10, 100)])  # 10:1: no crop of the area range fits in 10 tries
    data = PreloadedImages(images, hw, torch.zeros(1), ["a"], 8, crop_scale=(0.9, 1.0))
    box = data.crop_boxes(torch.tensor([0]), torch.Generator().manual_seed(0))[0].tolist()
    assert box[1] == 0 and box[3] == 10  # full height
    assert box[2] - box[0] == pytest.approx(round(10 * 4 / 3))  # width cut to 4:3
    assert box[0] == pytest.approx(round((100 - 13) / 2))  # centred


def test_full_crops_are_the_image_or_its_mirror_normalised():
    images, hw = _images([(16, 16)] * 64)
    data = PreloadedImages(images, hw, torch.arange(64) % 3, list("abc"), 16, crop_scale=(1, 1))
    x, y = data.crops(torch.arange(64), torch.Generator().manual_seed(0))
    assert x.shape == (64, 3, 16, 16) and x.dtype == torch.float32
    assert torch.equal(y, torch.arange(64) % 3)
    flipped = 0
    for i in range(64):
        ref = _normalized(images[i])
        if torch.allclose(x[i], ref, atol=1e-5):
            continue
        torch.testing.assert_close(x[i], ref.flip(2), atol=1e-5, rtol=0)
        flipped += 1
    assert 16 < flipped < 48  # about half


def test_crops_resize_to_any_resolution_and_are_seeded():
    images, hw = _images([(48, 40)] * 8)
    data = PreloadedImages(images, hw, torch.zeros(8), ["a"], 32, crop_scale=(0.5, 1))
    a, _ = data.crops([0, 1, 2], torch.Generator().manual_seed(5))
    b, _ = data.crops([0, 1, 2], torch.Generator().manual_seed(5))
    c, _ = data.crops([0, 1, 2], torch.Generator().manual_seed(6), resolution=24)
    assert torch.equal(a, b) and a.shape[-1] == 32 and c.shape[-1] == 24
    # a constant image stays that constant whatever the crop and size
    flat = PreloadedImages(
        torch.full((2, 3, 20, 20), 200, dtype=torch.uint8), torch.tensor([[20, 20]] * 2),
        torch.zeros(2), ["a"], 12, crop_scale=(0.1, 1),
    )  # fmt: skip
    x, _ = flat.crops([0, 1])
    torch.testing.assert_close(x, _normalized(torch.full((3, 1, 1), 200)).expand_as(x).contiguous())


def test_preload_reduces_to_the_storage_side_and_skips_unreadable(tmp_path):
    root = tmp_path / "d"
    for i, (cls, size) in enumerate([("a", (200, 100)), ("a", (30, 40)), ("b", (90, 90))]):
        (root / cls).mkdir(parents=True, exist_ok=True)
        Image.new("RGB", size, (i * 50, 10, 20)).save(root / cls / f"{i}.png")
    (root / "b" / "bad.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 20)
    samples = [(str(p), "ab".index(p.parent.name)) for p in sorted(root.glob("*/*.png"))]
    dataset = ImageFolderDataset(samples, ["a", "b"], transform=None)
    skipped = {}
    data = preload(dataset, resolution=32, crop_scale=(0.25, 1), on_skip=skipped.__setitem__)
    assert storage_side(32, (0.25, 1)) == 64
    assert list(skipped) == [str(root / "b" / "bad.png")]
    assert data.targets == [0, 0, 1]
    # (h, w): 200x100 -> shorter side 64; 30x40 kept (no upsampling); 90x90 -> 64
    assert data.sizes.tolist() == [[64, 128], [40, 30], [64, 64]]
    assert data.images.shape == (3, 3, 64, 128)
    assert preload(dataset, resolution=32, crop_scale=(0.25, 1), max_bytes=10_000) is None


def test_build_datasets_preloads_only_the_crop_and_flip_policy(tmp_path):
    root = make_image_folder(tmp_path / "f")
    kw = {"resolution": 32, "minival_size": 0.2, "crop_scale": (0.8, 1.0)}
    bundle = build_datasets(str(root), augment="none", preload_train=True, **kw)
    assert isinstance(bundle.train, PreloadedImages)
    assert isinstance(bundle.minival, ImageFolderDataset)  # evaluation: the exact transforms
    assert not isinstance(
        build_datasets(str(root), augment="randaugment", preload_train=True, **kw).train,
        PreloadedImages,
    )
    plain = build_datasets(str(root), augment="none", **kw)
    assert sorted(plain.train.targets) == sorted(bundle.train.targets)


def test_preloaded_loader_batches_are_reproducible_and_resume_mid_epoch():
    images, hw = _images([(20, 20)] * 50)
    data = PreloadedImages(images, hw, torch.arange(50), ["a"], 16, crop_scale=(0.5, 1))
    loader = train_loader(data, batch_size=8, info=CPU, seed=3, workers=4)
    assert isinstance(loader, PreloadedLoader) and len(loader) == 6  # last 2 dropped
    loader.sampler.set_epoch(1)
    full = list(loader)
    loader.sampler.set_epoch(1)
    assert all(torch.equal(a[0], b[0]) for a, b in zip(full, list(loader)))
    loader.sampler.set_epoch(1, skip_batches=4)
    rest = list(loader)
    assert len(rest) == 2
    for (xa, ya), (xb, yb) in zip(full[4:], rest):
        assert torch.equal(xa, xb) and torch.equal(ya, yb)
    loader.sampler.set_epoch(2)
    assert not torch.equal(next(iter(loader))[1], full[0][1])  # another order
    loader.resolution = 8
    assert next(iter(loader))[0].shape == (8, 3, 8, 8)


def test_resolution_grows_to_full_size_by_the_ramp():
    sides = [resolution_at(e, 20, 64, 0.5, 0.5) for e in range(20)]
    assert sides[0] == 32 and sides[9:] == [64] * 11
    assert sides == sorted(sides) and all(s % 8 == 0 for s in sides)
    assert [resolution_at(e, 10, 64, None) for e in range(10)] == [64] * 10
    assert resolution_at(0, 5, 64, 1.0) == 64
    assert resolution_at(0, 1, 64, 0.5) == 64  # a one-epoch run is all full size
    assert resolution_at(0, 40, 20, 0.1) == 8  # at least 8 px


@pytest.mark.slow
@pytest.mark.parametrize("preload_train", [True, False])
def test_progressive_run_records_its_sizes_and_resumes_exactly(tmp_path, preload_train):
    from test_train_loop import _config

    folder = make_image_folder(tmp_path / "data")
    kw = {"preload": preload_train}
    cfg = _config(folder, tmp_path / "full", epochs=3, **kw)
    cfg.recipe = cfg.recipe.replace(progressive_start=0.5, progressive_ramp=1.0)
    full = train(cfg)
    sides = [r["resolution"] for r in full.history]
    assert sides == [16, 24, 32]
    lines = (full.out / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(line)["resolution"] for line in lines] == sides
    part_cfg = _config(folder, tmp_path / "part", epochs=3, **kw)
    part_cfg.recipe = cfg.recipe
    part = train(part_cfg, callbacks=[lambda s: s["epoch"] == 1 and s["micro_in_epoch"] == 2])
    assert part.interrupted
    from effnet.train.config import TrainConfig

    resumed = train(TrainConfig(out=str(tmp_path / "part"), resume=True, workers=0, progress=False))
    for a, b in zip(full.history, resumed.history):
        assert a["resolution"] == b["resolution"]
        assert a["train_loss"] == pytest.approx(b["train_loss"], rel=1e-5)
    assert math.isfinite(resumed.summary["val_top1"] or 0.0)


def test_progressive_regularisation_rises_with_the_image_size(tmp_path):
    from test_train_loop import TINY, _config

    from effnet.train.config import TrainConfig
    from effnet.train.schedule import progress_at, ramped

    assert [progress_at(e, 5, 1.0) for e in range(5)] == [0.0, 0.25, 0.5, 0.75, 1.0]
    assert ramped(0.1, 0.3, 0.5) == pytest.approx(0.2)
    folder = make_image_folder(tmp_path / "data")
    cfg = _config(folder, tmp_path / "run", epochs=3)
    cfg.recipe = cfg.recipe.replace(
        augment="randaugment",
        progressive_start=0.5,
        progressive_ramp=1.0,
        progressive_dropout=0.1,
        progressive_magnitude=5,
    )
    result = train(cfg)
    final = TINY.dropout  # the model's own, reached at full size
    assert [r["resolution"] for r in result.history] == [16, 24, 32]
    dropouts = [r["dropout"] for r in result.history]
    assert dropouts == pytest.approx([0.1, (0.1 + final) / 2, final])
    assert [r["randaugment_magnitude"] for r in result.history] == [5, 7, 9]
    with pytest.raises(ValueError, match="needs augment randaugment"):
        TrainConfig(recipe=cfg.recipe.replace(augment="none")).validate()
