"""Issue 7: images of every mode and any aspect ratio go through predict, cam and eval end to
end (the CLI verbs, a tiny model saved with ``effnet.save_weights``)."""

import json
import math
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import effnet
from effnet.cli import main

RES = 32
CLASSES = ["a", "b", "c"]


def _exif_rotated(path: Path) -> None:
    img = Image.fromarray(np.random.default_rng(0).integers(0, 255, (20, 60, 3), np.uint8))
    exif = Image.Exif()
    exif[0x0112] = 6  # orientation: rotate 90° clockwise when displayed
    img.save(path, exif=exif.tobytes())


def write_odd_images(folder: Path) -> list[Path]:
    """One file per mode (1, L, LA, P with transparency, RGBA, CMYK, I;16, I, F, EXIF-rotated)
    and per extreme shape (1x1, 1x2000, 2000x1)."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(1)
    rgb = Image.fromarray(rng.integers(0, 255, (24, 40, 3), np.uint8))
    p = rgb.convert("P", palette=Image.Palette.ADAPTIVE, colors=16)
    p.info["transparency"] = 0
    files = {
        "mode_1.png": rgb.convert("1"),
        "mode_L.png": rgb.convert("L"),
        "mode_LA.png": rgb.convert("LA"),
        "mode_P_transparent.png": p,
        "mode_RGBA.png": rgb.convert("RGBA"),
        "mode_CMYK.jpg": rgb.convert("CMYK"),
        "mode_I16.png": Image.fromarray(rng.integers(0, 65535, (24, 40), np.uint16)),
        "mode_I.tif": Image.fromarray(rng.integers(0, 65535, (24, 40)).astype(np.int32)),
        "mode_F.tif": Image.fromarray(rng.random((24, 40), np.float32)),
        "size_1x1.png": Image.new("RGB", (1, 1), (200, 30, 30)),
        "size_1x2000.png": Image.fromarray(rng.integers(0, 255, (1, 2000, 3), np.uint8)),
        "size_2000x1.png": Image.fromarray(rng.integers(0, 255, (2000, 1, 3), np.uint8)),
    }
    for name, img in files.items():
        img.save(folder / name)
    _exif_rotated(folder / "exif_rotated.jpg")
    return sorted(folder.iterdir())


@pytest.fixture(scope="module")
def tiny_weights(tmp_path_factory) -> Path:
    spec = effnet.compound("efficientnet_b0", -4).replace(resolution=RES)
    model = effnet.Network(spec, num_classes=len(CLASSES))
    path = tmp_path_factory.mktemp("w") / "tiny.safetensors"
    effnet.save_weights(
        model, path, metadata={"classes": json.dumps(CLASSES), "train_resolution": str(RES)}
    )
    return path


@pytest.fixture(scope="module")
def odd_images(tmp_path_factory) -> list[Path]:
    return write_odd_images(tmp_path_factory.mktemp("odd"))


def test_the_odd_images_really_are_odd(odd_images):
    modes = {}
    for p in odd_images:
        with Image.open(p) as img:
            modes[p.name] = (img.mode, img.size)
    assert modes["mode_I16.png"][0].startswith("I;16")
    assert modes["mode_CMYK.jpg"][0] == "CMYK"
    assert modes["mode_P_transparent.png"][0] == "P"
    assert modes["mode_F.tif"][0] == "F"
    assert modes["size_1x2000.png"][1] == (2000, 1)


def test_predict_takes_every_mode_and_aspect_ratio(tiny_weights, odd_images, capsys):
    code = main(["predict", *map(str, odd_images), "--weights", str(tiny_weights), "--json"])
    assert code == 0, capsys.readouterr().err
    results = json.loads(capsys.readouterr().out)
    assert [Path(r["image"]).name for r in results] == [p.name for p in odd_images]
    for r in results:
        probs = [t["probability"] for t in r["top"]]
        assert len(probs) == 3 and all(math.isfinite(v) for v in probs)
        assert sum(probs) == pytest.approx(1.0, abs=1e-4)
        assert {t["class"] for t in r["top"]} == set(CLASSES)


def test_cam_takes_every_mode_and_aspect_ratio(tiny_weights, odd_images, tmp_path, capsys):
    out = tmp_path / "cam.png"
    args = ["cam", "--weights", str(tiny_weights), "--image", *map(str, odd_images)]
    code = main([*args, "--out", str(out)])
    assert code == 0, capsys.readouterr().err
    assert out.is_file() and out.stat().st_size > 0
    printed = capsys.readouterr().out
    for p in odd_images:
        assert p.name in printed


def test_eval_takes_every_mode_and_aspect_ratio(tiny_weights, odd_images, tmp_path, capsys):
    root = tmp_path / "data"
    for i, p in enumerate(odd_images):
        d = root / CLASSES[i % 3]
        d.mkdir(parents=True, exist_ok=True)
        (d / p.name).write_bytes(p.read_bytes())
    code = main(["eval", "--weights", str(tiny_weights), "--data", str(root), "--json"])
    assert code == 0, capsys.readouterr().err
    result = json.loads(capsys.readouterr().out)
    assert result["n"] == len(odd_images)
    assert "skipped_images" not in result
    assert 0.0 <= result["top1"] <= 100.0


def _png_header_only(side: int) -> bytes:
    """A PNG that claims side x side grey pixels: a decompression bomb's header."""
    import struct
    import zlib

    def chunk(kind: bytes, body: bytes) -> bytes:
        crc = zlib.crc32(kind + body) & 0xFFFFFFFF
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", crc)

    ihdr = struct.pack(">IIBBBBB", side, side, 8, 0, 0, 0, 0)
    idat = zlib.compress(b"\x00" * 1024)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


@pytest.mark.parametrize("side", [10_000, 60_000])  # over effnet's cap; over PIL's hard cap
@pytest.mark.parametrize("verb", ["predict", "cam"])
def test_decompression_bomb_is_refused_in_one_line(tiny_weights, tmp_path, capsys, verb, side):
    bomb = tmp_path / "bomb.png"
    bomb.write_bytes(_png_header_only(side))  # never decoded
    if verb == "predict":
        args = ["predict", str(bomb), "--weights", str(tiny_weights)]
    else:
        args = ["cam", "--weights", str(tiny_weights), "--image", str(bomb), "--out", "x.png"]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and ("exceeds max_pixels" in err or "bomb" in err)
