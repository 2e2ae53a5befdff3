"""Indexing a folder from headers, the per-file index cache, ``--verify`` and ``effnet data``."""

import json

import numpy as np
import pytest
from PIL import Image

from effnet.cli import main
from effnet.data import folder
from effnet.data.describe import describe_data
from effnet.data.folder import decode_problems, scan_folder


def _folder(root, n=6, classes=("cat", "dog")):
    rng = np.random.default_rng(0)
    for c in classes:
        (root / c).mkdir(parents=True, exist_ok=True)
        for i in range(n):
            arr = rng.integers(0, 256, (20, 30, 3), dtype=np.uint8)
            Image.fromarray(arr).save(root / c / f"{i}.jpg", quality=90)
    return root


def _break(root):
    (root / "cat" / "zero.jpg").write_bytes(b"")
    (root / "cat" / "text.jpg").write_text("not an image")
    good = (root / "dog" / "0.jpg").read_bytes()
    (root / "dog" / "trunc.jpg").write_bytes(good[: len(good) // 2])


@pytest.fixture
def counted(monkeypatch, tmp_path):
    """Count header reads; the index cache lives in this test's folder."""
    monkeypatch.setenv("EFFNET_CACHE", str(tmp_path / "cache"))
    calls = []
    real = folder.header_problem

    def spy(path, **kw):
        calls.append(path)
        return real(path, **kw)

    monkeypatch.setattr(folder, "header_problem", spy)
    return calls


def test_second_index_reads_no_header_and_is_never_stale(tmp_path, counted):
    root = _folder(tmp_path / "data")
    samples, problems = scan_folder(root, ["cat", "dog"])
    assert len(samples) == 12 and not problems and len(counted) == 12
    counted.clear()
    assert scan_folder(root, ["cat", "dog"]) == (samples, problems)
    assert counted == []  # every file unchanged: the cache answers
    (root / "cat" / "0.jpg").write_bytes(b"")  # a file broken since
    (root / "dog" / "1.jpg").unlink()  # a file gone
    Image.new("RGB", (8, 8)).save(root / "dog" / "new.png")  # a file added
    samples, problems = scan_folder(root, ["cat", "dog"])
    assert sorted(p.rsplit("/", 1)[-1] for p in counted) == ["0.jpg", "new.png"]
    assert (
        list(problems) == [str(root / "cat" / "0.jpg")]
        and "empty" in problems[str(root / "cat" / "0.jpg")]
    )
    paths = {p for p, _ in samples}
    assert str(root / "dog" / "new.png") in paths and str(root / "dog" / "1.jpg") not in paths
    assert len(samples) == 11


def test_a_torn_cache_is_ignored(tmp_path, counted):
    root = _folder(tmp_path / "data")
    scan_folder(root, ["cat", "dog"])
    for cache in (tmp_path / "cache" / "index").glob("*.json"):
        cache.write_text('{"version": 1, "files": {')
    counted.clear()
    assert len(scan_folder(root, ["cat", "dog"])[0]) == 12 and len(counted) == 12


def test_headers_name_what_they_show_and_verify_decodes(tmp_path, counted):
    root = _folder(tmp_path / "data")
    _break(root)
    _, problems = scan_folder(root, ["cat", "dog"])
    found = {p.rsplit("/", 1)[-1]: r for p, r in problems.items()}
    assert sorted(found) == ["text.jpg", "zero.jpg"]  # the truncated JPEG's header is fine
    assert "empty file" in found["zero.jpg"] and "not an image" in found["text.jpg"]
    _, problems = scan_folder(root, ["cat", "dog"], verify=True)
    assert sorted(p.rsplit("/", 1)[-1] for p in problems) == ["text.jpg", "trunc.jpg", "zero.jpg"]


def test_decoding_runs_in_worker_processes(tmp_path):
    root = _folder(tmp_path / "data", n=40)
    _break(root)
    paths = sorted(str(p) for p in root.rglob("*.jpg"))
    assert len(paths) >= 64  # enough for the process pool
    bad = decode_problems(paths, max_pixels=None, workers=2)
    assert sorted(p.rsplit("/", 1)[-1] for p in bad) == ["text.jpg", "trunc.jpg", "zero.jpg"]


def test_effnet_data_json_and_text(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("EFFNET_CACHE", str(tmp_path / "cache"))
    root = tmp_path / "data"
    _folder(root / "train")
    _folder(root / "val", n=2)
    _break(root / "train")
    assert main(["data", str(root), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["classes"] == ["cat", "dog"]
    assert info["splits"] == {"train": 13, "val": 4}
    assert info["per_class"]["train"] == {"cat": 6, "dog": 7}
    assert [s["path"].rsplit("/", 1)[-1] for s in info["skipped"]] == ["text.jpg", "zero.jpg"]
    assert info == describe_data(str(root))  # the same index as training reads
    assert main(["data", str(root), "--verify"]) == 0
    out = capsys.readouterr().out
    assert "2 classes; 12 train images, 4 val images" in out and "skipped 3 file(s):" in out
    assert "trunc.jpg" in out


def test_effnet_data_on_a_missing_folder_is_one_line(tmp_path, capsys):
    assert main(["data", str(tmp_path / "nope")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "not a directory" in err
