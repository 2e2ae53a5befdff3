import urllib.error
from pathlib import Path

import numpy as np
import pytest
import torch
import torchvision
from PIL import Image
from torchvision.models import get_weight

from effnet.weights import fetch

B0_URL = get_weight("EfficientNet_B0_Weights.IMAGENET1K_V1").url


@pytest.fixture(autouse=True)
def _seed() -> None:
    torch.manual_seed(0)


@pytest.fixture(autouse=True, scope="session")
def one_training_process():
    """CLI tests call ``main(["train", ...])`` in this process and inspect what it did, so
    ``effnet train`` trains here rather than starting two processes
    (:func:`effnet.train.launch.auto_processes`); yields the real default for the tests of
    the two-process default."""
    from effnet.train import launch

    real = launch.auto_processes
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(launch, "auto_processes", lambda device: 1)
        yield real


def randomize_batchnorm(model: torch.nn.Module, seed: int = 1) -> None:
    """Give every BN layer non-trivial statistics and affine parameters, so that parity checks
    between implementations cannot pass by accident (identity BN hides many mistakes)."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                n = m.num_features
                m.running_mean.copy_(torch.randn(n, generator=g) * 0.1)
                m.running_var.copy_(torch.rand(n, generator=g) + 0.5)
                m.weight.copy_(torch.rand(n, generator=g) + 0.5)
                m.bias.copy_(torch.randn(n, generator=g) * 0.1)


def make_image_folder(root, classes=3, train=16, val=6, size=32, seed=0):
    """root/train/<c>/*.png and root/val/<c>/*.png: bars whose orientation is the class."""
    rng = np.random.default_rng(seed)
    for split, n in (("train", train), ("val", val)):
        for c in range(classes):
            d = root / split / f"class{c}"
            d.mkdir(parents=True, exist_ok=True)
            for i in range(n):
                img = rng.integers(0, 80, (size, size, 3), dtype=np.uint8)
                k = int(rng.integers(8, size - 8))
                colour = rng.integers(150, 256, 3)
                if c == 0:
                    img[k - 2 : k + 2, :] = colour
                elif c == 1:
                    img[:, k - 2 : k + 2] = colour
                else:
                    for t in range(size):
                        img[t, max(0, t - 2) : t + 2] = colour
                Image.fromarray(img).save(d / f"{i}.png")
    return root


# ----------------------------------------------- published weights, offline (caches filled here)
@pytest.fixture
def torch_home(tmp_path, monkeypatch):
    home = tmp_path / "torch"
    monkeypatch.setenv("TORCH_HOME", str(home))
    return home


@pytest.fixture
def no_network(monkeypatch):
    """Every connection attempt fails at once, as on a machine without network."""

    def refuse(*args, **kwargs):
        raise urllib.error.URLError("Network is unreachable")

    monkeypatch.setattr(torch.hub, "urlopen", refuse)
    monkeypatch.setattr(fetch.socket, "create_connection", refuse)


@pytest.fixture(scope="module")
def tv_b0():
    torch.manual_seed(0)
    model = torchvision.models.efficientnet_b0().eval()
    randomize_batchnorm(model)
    return model


def fill_torchvision(home: Path, model: torch.nn.Module) -> Path:
    path = home / "hub" / "checkpoints" / B0_URL.rsplit("/", 1)[-1]
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(model.state_dict(), path)
    return path
