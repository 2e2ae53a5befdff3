"""CIFAR python files: fake CIFAR-10/100 in the published layout, and a malicious pickle."""

import os
import pickle
import struct

import numpy as np
import pytest

from effnet.data import build_datasets
from effnet.data.cifar import safe_load


class Py2Pickler(pickle._Pickler):
    """Writes str and bytes as Python 2 ``str`` (BINSTRING), as the published files do."""

    dispatch = pickle._Pickler.dispatch.copy()

    def save_py2_str(self, obj):
        data = obj if isinstance(obj, bytes) else obj.encode("latin1")
        if len(data) < 256:
            self.write(pickle.SHORT_BINSTRING + bytes([len(data)]) + data)
        else:
            self.write(pickle.BINSTRING + struct.pack("<i", len(data)) + data)
        self.memoize(obj)

    dispatch[bytes] = save_py2_str
    dispatch[str] = save_py2_str


PY3 = False  # set by a test to write with Python 3's own protocol-2 pickler instead


def dump(path, obj):
    with open(path, "wb") as f:
        if PY3:
            pickle.dump(obj, f, protocol=2)  # bytes via _codecs.encode(..., "latin1")
        else:
            Py2Pickler(f, protocol=2).dump(obj)


def batch(n, label_key, num_classes, seed):
    rng = np.random.default_rng(seed)
    return {
        b"batch_label": b"fake",
        b"data": rng.integers(0, 256, (n, 3072), dtype=np.uint8),
        label_key: [int(v) for v in rng.permutation(np.arange(n) % num_classes)],
        b"filenames": [b"x.png"] * n,
    }


def fake_cifar10(root, n=20):
    root.mkdir(parents=True)
    for i in range(1, 6):
        dump(root / f"data_batch_{i}", batch(n, b"labels", 10, i))
    dump(root / "test_batch", batch(n, b"labels", 10, 0))
    names = [b"airplane", b"automobile", b"bird", b"cat", b"deer"]
    names += [b"dog", b"frog", b"horse", b"ship", b"truck"]
    dump(root / "batches.meta", {b"label_names": names, b"num_vis": 3072})
    return root


def fake_cifar100(root, n=200):
    root.mkdir(parents=True)
    dump(root / "train", batch(n, b"fine_labels", 100, 1) | {b"coarse_labels": [0] * n})
    dump(root / "test", batch(n // 2, b"fine_labels", 100, 2) | {b"coarse_labels": [0] * (n // 2)})
    names = [f"class{i:02d}".encode() for i in range(100)]
    dump(root / "meta", {b"fine_label_names": names, b"coarse_label_names": [b"c"] * 20})
    return root


@pytest.mark.parametrize("nested", [False, True])
def test_cifar10(tmp_path, nested):
    fake_cifar10(tmp_path / "cifar-10-batches-py" if nested else tmp_path / "c10")
    root = tmp_path if nested else tmp_path / "c10"
    b = build_datasets(root, resolution=24, augment="none", minival_size=10)
    assert b.classes[0] == "airplane" and len(b.classes) == 10
    assert (len(b.train), len(b.minival), len(b.val)) == (90, 10, 20)
    assert sorted(b.minival.targets) == list(range(10))  # one per class: stratified
    x, y = b.train[0]
    assert x.shape == (3, 24, 24) and 0 <= y < 10


def test_cifar_written_by_python3(tmp_path, monkeypatch):
    monkeypatch.setitem(globals(), "PY3", True)
    fake_cifar10(tmp_path / "c10")
    assert b"_codecs" in (tmp_path / "c10" / "test_batch").read_bytes()
    assert len(build_datasets(tmp_path / "c10", resolution=8, minival_size=0).train) == 100


def test_cifar_pixels_in_hwc_order(tmp_path):
    root = fake_cifar10(tmp_path / "c10")
    raw = safe_load(root / "data_batch_1")["data"][0]
    b = build_datasets(root, resolution=32, augment="none", minival_size=0)
    img = b.train.images[0]
    assert img.shape == (32, 32, 3)
    assert (img[..., 0].ravel() == raw[:1024]).all() and (img[..., 2].ravel() == raw[2048:]).all()


def test_cifar100(tmp_path):
    fake_cifar100(tmp_path / "cifar-100-python")
    b = build_datasets(tmp_path, resolution=16, augment="randaugment", minival_size=0.1)
    assert len(b.classes) == 100 and b.classes[7] == "class07"
    assert (len(b.train), len(b.minival), len(b.val)) == (180, 20, 100)
    assert b.val[0][0].shape == (3, 16, 16)


def test_incomplete_cifar(tmp_path):
    root = fake_cifar10(tmp_path / "c10")
    os.remove(root / "data_batch_3")
    with pytest.raises(ValueError, match="data_batch_3"):
        build_datasets(root, resolution=16)


class Exploit:
    """Unpickles as ``func(*args)``."""

    def __init__(self, func, *args):
        self.func, self.args = func, args

    def __reduce__(self):
        return self.func, self.args


@pytest.mark.parametrize("how", ["os.system", "builtins.open", "builtins.eval"])
def test_malicious_pickle_is_refused_without_side_effect(tmp_path, how):
    marker = tmp_path / "pwned"
    exploit = {
        "os.system": Exploit(os.system, f"touch {marker}"),
        "builtins.open": Exploit(open, str(marker), "w"),
        "builtins.eval": Exploit(eval, f"open({str(marker)!r}, 'w').close()"),
    }[how]
    root = fake_cifar10(tmp_path / "c10")
    payload = batch(20, b"labels", 10, 9)
    payload[b"labels"] = exploit
    with open(root / "data_batch_2", "wb") as f:
        pickle.dump(payload, f, protocol=2)
    with pytest.raises(pickle.UnpicklingError, match="refusing"):
        build_datasets(root, resolution=16)
    with pytest.raises(pickle.UnpicklingError):
        safe_load(root / "data_batch_2")
    assert not marker.exists()
    with open(root / "data_batch_2", "rb") as f:  # the file really is live: plain pickle runs it
        pickle.load(f, encoding="bytes")
    assert marker.exists()
