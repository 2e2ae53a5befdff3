"""Checkpoints: atomic writes survive crashes and kill -9; loading never runs code."""

import os
import pickle
import subprocess
import sys
import textwrap
import time

import pytest
import torch

from effnet.files import atomic_write
from effnet.train.checkpoint import load_checkpoint, save_checkpoint


def _state(value: float) -> dict:
    return {"format": 1, "w": torch.full((256, 256), value), "epoch": int(value)}


def test_roundtrip(tmp_path):
    save_checkpoint(_state(3), tmp_path / "last.ckpt")
    st = load_checkpoint(tmp_path / "last.ckpt")
    assert st["epoch"] == 3 and torch.equal(st["w"], torch.full((256, 256), 3.0))


def test_crash_mid_write_keeps_previous(tmp_path, monkeypatch):
    path = tmp_path / "last.ckpt"
    save_checkpoint(_state(1), path)
    real_save = torch.save

    def crashing_save(obj, f, *a, **k):
        real_save(obj, f, *a, **k)
        with open(f, "r+b") as fh:  # leave a torn file behind, then "crash"
            fh.truncate(100)
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(torch, "save", crashing_save)
    with pytest.raises(OSError, match="previous file"):
        save_checkpoint(_state(2), path)
    monkeypatch.undo()
    assert load_checkpoint(path)["epoch"] == 1
    assert [p.name for p in tmp_path.iterdir()] == ["last.ckpt"]  # no temp file left


@pytest.mark.slow
def test_kill_9_during_writes_leaves_loadable_checkpoint(tmp_path):
    path = tmp_path / "last.ckpt"
    save_checkpoint(_state(0), path)
    code = textwrap.dedent(f"""
        import torch
        from effnet.train.checkpoint import save_checkpoint
        i = 0
        while True:
            i += 1
            save_checkpoint({{"format": 1, "w": torch.full((1024, 1024), float(i)),
                              "epoch": i}}, {str(path)!r})
    """)
    proc = subprocess.Popen([sys.executable, "-c", code])
    time.sleep(4.0)
    proc.kill()  # SIGKILL at an arbitrary moment of a write
    proc.wait()
    st = load_checkpoint(path)
    assert torch.equal(st["w"], torch.full_like(st["w"], float(st["epoch"])))


def test_malicious_pickle_is_refused_and_not_executed(tmp_path):
    marker = tmp_path / "pwned"

    class Evil:
        def __reduce__(self):
            return (os.mkdir, (str(marker),))

    # sanity: a plain unpickle of this payload does run code
    pickle.loads(pickle.dumps(Evil()))
    assert marker.exists()
    marker.rmdir()

    path = tmp_path / "last.ckpt"
    torch.save({"format": 1, "payload": Evil()}, path)
    with pytest.raises(ValueError, match="refusing"):
        load_checkpoint(path)
    assert not marker.exists()


def test_not_a_checkpoint(tmp_path):
    (tmp_path / "x.ckpt").write_bytes(b"garbage" * 10)
    with pytest.raises(ValueError):
        load_checkpoint(tmp_path / "x.ckpt")
    with pytest.raises(FileNotFoundError):
        load_checkpoint(tmp_path / "missing.ckpt")


def test_atomic_write_text(tmp_path):
    atomic_write(tmp_path / "a.txt", lambda p: p.write_text("one"))
    atomic_write(tmp_path / "a.txt", lambda p: p.write_text("two"))
    assert (tmp_path / "a.txt").read_text() == "two"
