"""The generated demo set: layout, caching, atomic generation, and that it is not linear."""

import json
import time

import numpy as np
import pytest
import torch
from PIL import Image

from effnet.data import build_datasets, demo, demo_root


@pytest.fixture(scope="session")
def demo_cache(tmp_path_factory):
    cache = tmp_path_factory.mktemp("effnet-cache")
    start = time.perf_counter()
    demo_root(cache)
    print(f"demo generation: {time.perf_counter() - start:.1f} s")
    return cache


def test_layout(demo_cache):
    root = demo_root(demo_cache)
    assert root == demo_cache / f"demo-v{demo.VERSION}"
    assert len(demo.CLASSES) >= 10
    for split, n in (("train", demo.TRAIN_PER_CLASS), ("val", demo.VAL_PER_CLASS)):
        assert sorted(p.name for p in (root / split).iterdir()) == sorted(demo.CLASSES)
        for name in demo.CLASSES:
            assert len(list((root / split / name).glob("*.png"))) == n
    img = Image.open(root / "train" / "star" / "0000.png")
    assert img.size == (64, 64) and img.mode == "RGB"
    assert json.loads((root / "effnet-demo.json").read_text())["version"] == demo.VERSION
    assert not list(demo_cache.glob(".demo-*"))  # no temporary folder left behind


def test_cached_and_env(demo_cache, monkeypatch):
    monkeypatch.setenv("EFFNET_CACHE", str(demo_cache))
    stamp = (demo_cache / f"demo-v{demo.VERSION}" / "effnet-demo.json").stat().st_mtime_ns
    start = time.perf_counter()
    assert demo_root() == demo_cache / f"demo-v{demo.VERSION}"
    assert time.perf_counter() - start < 0.5
    assert (demo_cache / f"demo-v{demo.VERSION}" / "effnet-demo.json").stat().st_mtime_ns == stamp
    b = build_datasets("demo", resolution=32, augment="none", crop_scale=(0.35, 1.0))
    n = len(demo.CLASSES)
    assert (len(b.train), len(b.minival), len(b.val)) == (270 * n, 30 * n, 60 * n)
    assert b.classes == sorted(demo.CLASSES) and b.skipped == []


def test_deterministic(tmp_path, monkeypatch):
    monkeypatch.setattr(demo, "TRAIN_PER_CLASS", 2)
    monkeypatch.setattr(demo, "VAL_PER_CLASS", 1)
    a, b = demo_root(tmp_path / "a"), demo_root(tmp_path / "b")
    files = sorted(p.relative_to(a) for p in a.rglob("*.png"))
    assert len(files) == 3 * len(demo.CLASSES)
    assert all((a / f).read_bytes() == (b / f).read_bytes() for f in files)


def test_interrupted_generation_leaves_nothing(tmp_path, monkeypatch):
    def crash(root, *args):
        (root / "train").mkdir()
        raise KeyboardInterrupt

    monkeypatch.setattr(demo, "generate", crash)
    with pytest.raises(KeyboardInterrupt):
        demo_root(tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_version_stamp_mismatch_regenerates(tmp_path, monkeypatch):
    monkeypatch.setattr(demo, "TRAIN_PER_CLASS", 1)
    monkeypatch.setattr(demo, "VAL_PER_CLASS", 1)
    stale = tmp_path / f"demo-v{demo.VERSION}"
    (stale / "train" / "old").mkdir(parents=True)
    (stale / "effnet-demo.json").write_text(json.dumps({"version": -1}))
    root = demo_root(tmp_path)
    assert not (root / "train" / "old").exists()
    assert json.loads((root / "effnet-demo.json").read_text())["version"] == demo.VERSION


def load_split(root, split):
    xs, ys = [], []
    for label, name in enumerate(sorted(demo.CLASSES)):
        for path in sorted((root / split / name).glob("*.png")):
            xs.append(np.asarray(Image.open(path), dtype=np.float32).reshape(-1) / 255)
            ys.append(label)
    return torch.from_numpy(np.stack(xs)), torch.tensor(ys)


def test_linear_classifier_on_raw_pixels_fails(demo_cache):
    """Logistic regression on all 64*64*3 standardised pixels: it fits the train set but
    does not generalise (measured about 12% val accuracy, chance is 10%)."""
    root = demo_root(demo_cache)
    x, y = load_split(root, "train")
    xv, yv = load_split(root, "val")
    mean, std = x.mean(0), x.std(0) + 1e-6
    x, xv = (x - mean) / std, (xv - mean) / std
    torch.manual_seed(0)
    linear = torch.nn.Linear(x.shape[1], len(demo.CLASSES))
    opt = torch.optim.Adam(linear.parameters(), lr=1e-3)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # small matmuls: extra threads only spin on a shared machine
    try:
        for _ in range(15):
            for idx in torch.randperm(len(x)).split(256):
                loss = torch.nn.functional.cross_entropy(linear(x[idx]), y[idx])
                opt.zero_grad()
                loss.backward()
                opt.step()
        with torch.no_grad():
            train_acc = (linear(x).argmax(1) == y).float().mean().item()
            val_acc = (linear(xv).argmax(1) == yv).float().mean().item()
    finally:
        torch.set_num_threads(threads)
    print(f"linear on raw pixels: train {train_acc:.3f}, val {val_acc:.3f}")
    assert train_acc > 0.4  # the optimiser works: it memorises ...
    assert val_acc < 0.3  # ... but a linear model cannot learn the classes (chance 0.1)


@pytest.mark.parametrize("name", ["star", "grid"])
def test_render_other_sizes_for_figures(name):
    import numpy as np

    from effnet.data import demo

    square = demo.render(name, np.random.default_rng(3))
    same = demo.render(name, np.random.default_rng(3), (demo.SIZE, demo.SIZE))
    assert square.shape == (demo.SIZE, demo.SIZE, 3) and (square == same).all()
    wide = demo.render(name, np.random.default_rng(3), (150, 96))
    assert wide.shape == (96, 150, 3) and wide.dtype == np.uint8
    assert wide.std() > 10  # an object and noise, not a flat fill
