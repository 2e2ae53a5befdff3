"""Models from any Hugging Face Hub repository in timm's format: ``hf-hub:ORG/NAME[@REVISION]``.

A repository holds ``config.json`` (:mod:`effnet.weights.hub_config`: timm's, or effnet's with
its own entry) and ``model.safetensors`` (timm's key layout; effnet's for networks timm's
EfficientNet cannot describe), or, in older timm repositories, only ``pytorch_model.bin``, read
with ``torch.load(weights_only=True)``, which refuses anything but tensors. Files come from the
Hugging Face cache (offline mode and revision pins as ``huggingface_hub`` has them), else are
downloaded into it (:func:`effnet.weights.fetch.hub_download`).
"""

from __future__ import annotations

import json
from pathlib import Path

from effnet.data.demo import cache_dir
from effnet.models.network import Network
from effnet.weights.convert import convert_by_layout
from effnet.weights.fetch import (
    DownloadError,
    NotInRepositoryError,
    WeightsUnavailableError,
    hub_download,
)
from effnet.weights.hub_config import network_from_hub_config
from effnet.weights.io import load_state_dict_strict, read_tensors, save_weights
from effnet.weights.key_order import in_module_order

HUB_PREFIX = "hf-hub:"
CONFIG_FILE = "config.json"
#: Weights files of a timm repository, the safe format first.
WEIGHTS_FILES = ("model.safetensors", "pytorch_model.bin")


def is_hub_name(name: object) -> bool:
    """Whether ``name`` is an ``hf-hub:ORG/NAME[@REVISION]`` model name."""
    return isinstance(name, str) and name.startswith(HUB_PREFIX)


def split_hub_name(name: str) -> tuple[str, str | None]:
    """``"hf-hub:ORG/NAME@REV"`` -> ``("ORG/NAME", "REV")`` (``None`` without ``@``)."""
    repo, _, revision = name.removeprefix(HUB_PREFIX).partition("@")
    if repo.count("/") != 1 or not all(repo.split("/")):
        raise ValueError(f"{name!r}: a Hub model is named hf-hub:ORG/NAME[@REVISION]")
    return repo, revision or None


def _fetch(name: str, filename: str) -> Path:
    from huggingface_hub import constants

    repo, revision = split_hub_name(name)
    try:
        return hub_download(repo, filename, revision=revision)
    except DownloadError as exc:
        raise WeightsUnavailableError(
            f"{filename} of {repo}{f'@{revision}' if revision else ''} is not in the Hugging "
            f"Face cache ({constants.HF_HUB_CACHE}) and could not be downloaded ({exc}): fill "
            f"the cache with `hf download {repo}{f' --revision {revision}' if revision else ''}`"
        ) from None


def _weights_file(name: str) -> Path:
    for filename in WEIGHTS_FILES:
        try:
            return _fetch(name, filename)
        except (NotInRepositoryError, WeightsUnavailableError) as exc:
            last: Exception = exc
    raise last


def read_config(name: str) -> dict:
    """The ``config.json`` of the Hub model ``name``."""
    path = _fetch(name, CONFIG_FILE)
    try:
        config = json.loads(path.read_text())
    except ValueError as exc:
        raise ValueError(f"{name}: config.json is not JSON ({exc})") from None
    if not isinstance(config, dict):
        raise ValueError(f"{name}: config.json does not hold an object")
    return config


def load_from_hub(
    name: str,
    *,
    pretrained: bool = True,
    drop_rate: float | None = None,
    drop_path_rate: float | None = None,
) -> Network:
    """The model of the Hub repository ``name`` (``hf-hub:ORG/NAME[@REVISION]``), eval mode,
    with its weights unless ``pretrained`` is false; ``model.pretrained_cfg`` is the
    repository's preprocessing and class names."""
    try:
        model, keys = network_from_hub_config(
            read_config(name), drop_rate=drop_rate, drop_path_rate=drop_path_rate
        )
    except (KeyError, TypeError) as exc:
        raise ValueError(f"{name}: config.json is not one effnet reads ({exc!r})") from None
    except ValueError as exc:
        raise ValueError(f"{name}: {exc}") from None
    model.pretrained_cfg = model.pretrained_cfg.replace(weights=name)
    if not pretrained:
        return model.eval()
    state = read_tensors(_weights_file(name))
    if keys == "effnet":
        load_state_dict_strict(model, state)
    else:  # a safetensors file keeps its keys sorted by name, not in module order
        model.load_state_dict(convert_by_layout(model, in_module_order(state, "timm")))
    return model.eval()


def hub_weights_file(name: str) -> Path:
    """The model of ``name`` as an effnet weights file (``$EFFNET_CACHE/hub/``), for the
    verbs that start training from a file; written once per repository commit."""
    repo, revision = split_hub_name(name)
    commit = _weights_file(name).parent.name  # the cache's snapshot folder is the commit
    path = cache_dir() / "hub" / repo.replace("/", "--") / f"{commit}.safetensors"
    if not path.is_file():
        path.parent.mkdir(parents=True, exist_ok=True)
        save_weights(load_from_hub(name), path)
    return path
