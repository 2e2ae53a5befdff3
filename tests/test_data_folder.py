"""build_datasets on image folders: layouts, skipped files, strict mode, clear errors."""

import pickle
import warnings

import numpy as np
import pytest
import torch
from PIL import Image

from effnet.data import DataBundle, build_datasets
from effnet.data.build import LAYOUTS


def write_images(folder, n, ext="png", seed=0, size=(24, 20)):
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    for i in range(n):
        arr = rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
        Image.fromarray(arr).save(folder / f"{i:03d}.{ext}")


def make_folders(root, classes=("b_cat", "a_dog", "c_eel"), n=10, val=True):
    for k, name in enumerate(classes):
        write_images(root / "train" / name, n, ext=["png", "jpg", "webp"][k % 3], seed=k)
        if val:
            write_images(root / "val" / name, 3, seed=10 + k)
    return root


def build(root, **kw):
    kw.setdefault("resolution", 16)
    kw.setdefault("augment", "none")
    return build_datasets(root, **kw)


def test_train_val_layout(tmp_path):
    root = make_folders(tmp_path)
    (root / "train" / "a_dog" / "README.txt").write_text("not an image, ignored")
    (root / "train" / ".DS_Store").write_bytes(b"\0")
    (root / "train" / "__MACOSX" / "a_dog").mkdir(parents=True)
    (root / "train" / "a_dog" / "._000.png").write_bytes(b"\0")  # AppleDouble junk
    b = build(root, minival_size=0.2)
    assert isinstance(b, DataBundle)
    assert b.classes == ["a_dog", "b_cat", "c_eel"]  # sorted folder names
    assert (len(b.train), len(b.minival), len(b.val)) == (24, 6, 9)
    assert b.skipped == []
    for ds in (b.train, b.minival, b.val):
        x, y = ds[0]
        assert x.shape == (3, 16, 16) and x.dtype == torch.float32 and isinstance(y, int)
    assert sorted(set(b.minival.targets)) == [0, 1, 2]  # stratified


def test_val_labels_follow_train_classes(tmp_path):
    root = make_folders(tmp_path, val=False)
    write_images(root / "val" / "c_eel", 2)  # val has only one class
    b = build(root)
    assert b.val.targets == [2, 2]


def test_class_folders_directly_are_the_train_split(tmp_path):
    for k, name in enumerate(["x", "y"]):
        write_images(tmp_path / name, 5, seed=k)
    b = build(tmp_path, minival_size=2)
    assert b.val is None and b.classes == ["x", "y"]
    assert (len(b.train), len(b.minival)) == (8, 2)


def test_corrupt_files_are_skipped_with_a_warning(tmp_path):
    root = make_folders(tmp_path)
    bad_dir = root / "train" / "a_dog"
    (bad_dir / "zero.jpg").write_bytes(b"")
    (bad_dir / "text.jpg").write_text("hello, I am text\n")
    good = (root / "train" / "b_cat" / "000.png").read_bytes()
    (bad_dir / "trunc.png").write_bytes(good[: len(good) // 2])
    with pytest.warns(UserWarning, match="2 unreadable") as rec:
        b = build(root)  # headers only: what they show is named now
    message = str(rec[0].message)
    for name in ("zero.jpg", "text.jpg"):
        assert name in message
    assert sorted(p.rsplit("/", 1)[-1] for p in b.skipped) == ["text.jpg", "zero.jpg"]
    assert len(b.train) + len(b.minival) == 31  # the truncated PNG's header is fine
    log = tmp_path / "skipped.txt"
    b.log_load_skips(log)
    labels = [b.train[i][1] for i in range(len(b.train))] + [
        b.minival[i][1] for i in range(len(b.minival))
    ]  # the truncated file is skipped when loaded: another item takes its place
    assert len(labels) == 31
    assert [line.split("\t")[0].rsplit("/", 1)[-1] for line in log.read_text().splitlines()] == [
        "trunc.png"
    ]


def test_strict_raises_on_corrupt_file(tmp_path):
    root = make_folders(tmp_path)
    (root / "val" / "c_eel" / "zero.png").write_bytes(b"")
    with pytest.raises(ValueError, match="zero.png"):
        build(root, strict=True)


def test_bomb_is_skipped(tmp_path):
    root = make_folders(tmp_path)
    Image.new("L", (100, 100)).save(root / "train" / "a_dog" / "big.png")
    with pytest.warns(UserWarning, match="big.png"):
        b = build(root, max_pixels=5000)
    assert [p.rsplit("/", 1)[-1] for p in b.skipped] == ["big.png"]


def test_empty_class_folder(tmp_path):
    root = make_folders(tmp_path)
    (root / "train" / "d_empty").mkdir()
    with pytest.raises(ValueError, match="d_empty.*no image"):
        build(root)


def test_class_with_only_corrupt_files(tmp_path):
    root = make_folders(tmp_path)
    (root / "train" / "d_bad").mkdir()
    (root / "train" / "d_bad" / "x.jpg").write_text("nope")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(ValueError, match="d_bad.*no readable"):
            build(root)


def test_empty_dataset(tmp_path):
    (tmp_path / "train").mkdir()
    with pytest.raises(ValueError, match="no class folders"):
        build(tmp_path)


def test_val_class_not_in_train(tmp_path):
    root = make_folders(tmp_path)
    write_images(root / "val" / "zebra", 2)
    with pytest.raises(ValueError, match="zebra"):
        build(root)


@pytest.mark.parametrize("kind", ["missing", "file", "empty_dir", "only_files", "val_only"])
def test_unknown_layouts(tmp_path, kind):
    target = tmp_path / "data"
    if kind == "file":
        target.write_text("x")
    elif kind == "empty_dir":
        target.mkdir()
    elif kind == "only_files":
        write_images(target, 2)
    elif kind == "val_only":
        write_images(target / "val" / "a", 2)
    with pytest.raises(ValueError) as err:
        build(target)
    assert "train" in str(err.value)
    if kind != "val_only":
        assert LAYOUTS in str(err.value)


def test_bad_arguments(tmp_path):
    root = make_folders(tmp_path)
    with pytest.raises(ValueError, match="augment"):
        build(root, augment="cutmix")
    with pytest.raises(ValueError, match="no training image"):
        build(root, minival_size=28)  # 28 of 30: some class loses all 10


def test_picklable_and_loads_in_worker_processes(tmp_path):
    root = make_folders(tmp_path)
    b = build(root, augment="autoaugment")
    clone = pickle.loads(pickle.dumps(b.train))
    assert clone[0][0].shape == (3, 16, 16)
    loader = torch.utils.data.DataLoader(b.minival, batch_size=4, num_workers=2)
    xs, ys = zip(*loader)
    assert sum(len(y) for y in ys) == len(b.minival)
    assert xs[0].shape[1:] == (3, 16, 16)


def test_file_broken_after_indexing_is_skipped_and_named(tmp_path):
    root = make_folders(tmp_path, val=False)
    b = build(root, minival_size=0)
    path, _ = b.train.samples[0]
    open(path, "wb").close()
    _, label = b.train[0]  # the next item stands in
    assert label == b.train.samples[1][1]
    assert "cannot identify image" in b.train.load_skipped[path]
    for sample_path, _ in b.train.samples:
        open(sample_path, "wb").close()
    with pytest.raises(OSError, match="no readable image left"):
        b.train[0]


def test_minival_split_is_deterministic(tmp_path):
    root = make_folders(tmp_path, val=False)
    a = build(root, seed=3).minival.samples
    assert a == build(root, seed=3).minival.samples
    assert a != build(root, seed=4).minival.samples


def test_an_undecodable_eval_image_is_left_out_not_counted_twice(tmp_path):
    from effnet.train.distributed import DistInfo
    from effnet.train.evaluate import evaluate
    from effnet.train.loaders import eval_loader

    root = make_folders(tmp_path)
    good = (root / "val" / "a_dog" / "000.png").read_bytes()
    (root / "val" / "a_dog" / "trunc.png").write_bytes(good[: len(good) // 2])
    b = build(root)
    assert len(b.val) == 10  # the header of the truncated file is fine: indexed
    labels = [b.val[i][1] for i in range(len(b.val))]
    assert labels.count(-1) == 1  # no stand-in image: it would be counted twice

    class Constant(torch.nn.Module):  # always predicts class 0 (a_dog)
        num_classes = 3

        def forward(self, x):
            return torch.tensor([5.0, 0.0, 0.0]).repeat(x.shape[0], 1)

    result = evaluate(Constant(), eval_loader(b.val, batch_size=4, info=DistInfo(), workers=0))
    assert result["n"] == 9  # 3 dogs, 3 cats, 3 eels readable
    assert result["top1"] == pytest.approx(100.0 / 3)
