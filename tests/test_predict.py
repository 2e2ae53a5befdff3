"""``effnet predict`` / :func:`effnet.predict` over files, folders and globs: batched, in input
order, the same answers as one image at a time, written to CSV or JSON Lines, broken files
listed rather than fatal."""

import csv
import json
from pathlib import Path

import pytest
import torch
from conftest import make_image_folder

import effnet
from effnet.cli import main

CLASSES = ["class0", "class1", "class2"]


@pytest.fixture(scope="module")
def weights(tmp_path_factory) -> Path:
    spec = effnet.compound("efficientnet_b0", -4).replace(resolution=32)
    model = effnet.Network(spec, num_classes=len(CLASSES))
    path = tmp_path_factory.mktemp("w") / "tiny.safetensors"
    effnet.save_weights(model, path, metadata={"classes": json.dumps(CLASSES)})
    return path


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    root = make_image_folder(tmp_path_factory.mktemp("imgs"), train=3, val=2)
    (root / "val" / "class0" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")
    (root / "notes.txt").write_text("not an image, not a picture extension")
    return root


def _images(folder: Path) -> list[str]:
    return sorted(str(p) for p in folder.rglob("*.png"))


def test_folders_are_searched_recursively_in_order_and_broken_files_listed(weights, folder):
    model = effnet.create_model("efficientnet_b0", weights=weights)
    results = list(effnet.predict(model, [folder], batch_size=4, topk=2))
    assert [r["image"] for r in results] == _images(folder)
    broken = [r for r in results if "error" in r]
    assert [Path(r["image"]).name for r in broken] == ["broken.png"]
    assert "cannot read image" in broken[0]["error"]
    for r in results:
        if "error" not in r:
            assert [t["class"] for t in r["top"]][0] in CLASSES and len(r["top"]) == 2


def test_batched_answers_equal_one_image_at_a_time(weights, folder):
    model = effnet.create_model("efficientnet_b0", weights=weights)
    files = [p for p in _images(folder) if not p.endswith("broken.png")][:7]
    batched = list(effnet.predict(model, files, batch_size=4, topk=3))
    single = [next(effnet.predict(model, [f], batch_size=1, topk=3)) for f in files]
    for b, s in zip(batched, single, strict=True):
        assert [t["index"] for t in b["top"]] == [t["index"] for t in s["top"]]
        for tb, ts in zip(b["top"], s["top"]):
            assert tb["probability"] == pytest.approx(ts["probability"], abs=1e-5)


def test_globs_and_files_mix(weights, folder):
    model = effnet.create_model("efficientnet_b0", weights=weights)
    pattern = str(folder / "train" / "**" / "*.png")
    one = _images(folder)[0]
    got = [r["image"] for r in effnet.predict(model, [pattern, one])]
    assert got == [*sorted(str(p) for p in (folder / "train").rglob("*.png")), one]
    with pytest.raises(FileNotFoundError, match="no file matches"):
        list(effnet.predict(model, [str(folder / "*.jpeg")]))
    with pytest.raises(FileNotFoundError, match="image not found"):
        list(effnet.predict(model, [str(folder / "missing.png")]))


@pytest.mark.parametrize("suffix", [".csv", ".jsonl"])
def test_cli_writes_every_image_to_the_file(weights, folder, tmp_path, capsys, suffix):
    out = tmp_path / f"preds{suffix}"
    argv = ["predict", str(folder), "--weights", str(weights), "-b", "4", "--topk", "2"]
    assert main([*argv, "--out", str(out), "--workers", "0", "--amp", "none"]) == 0
    assert "(1 unreadable" in capsys.readouterr().out
    if suffix == ".csv":
        with open(out, newline="") as f:
            rows = list(csv.DictReader(f))
        assert list(rows[0]) == [
            "image",
            "error",
            "class_1",
            "probability_1",
            "class_2",
            "probability_2",
        ]
    else:
        rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["image"] for r in rows] == _images(folder)
    assert sum(bool(r.get("error")) for r in rows) == 1
    assert not list(tmp_path.glob(".*partial"))


def test_cli_refuses_an_unknown_output_format_before_any_work(weights, folder, tmp_path, capsys):
    out = tmp_path / "preds.xlsx"
    assert main(["predict", str(folder), "--weights", str(weights), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and ".csv, .jsonl" in err
    assert not out.exists()


def test_cli_prints_in_input_order_and_a_batch_size_changes_nothing(weights, folder, capsys):
    files = [p for p in _images(folder) if not p.endswith("broken.png")]
    outputs = []
    for batch in ("1", "5"):
        assert main(["predict", *files, "--weights", str(weights), "-b", batch, "--json"]) == 0
        outputs.append(json.loads(capsys.readouterr().out))
    assert [r["image"] for r in outputs[0]] == files
    for a, b in zip(*outputs, strict=True):
        assert [t["class"] for t in a["top"]] == [t["class"] for t in b["top"]]


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_predict_on_cuda_with_amp(weights, folder):
    model = effnet.create_model("efficientnet_b0", weights=weights)
    results = list(effnet.predict(model, [folder], device="cuda", amp="bf16"))
    assert len(results) == len(_images(folder))
