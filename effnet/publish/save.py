"""A Hub repository folder in timm's format: ``config.json``, ``model.safetensors`` (timm's
key layout where timm's EfficientNet describes the network) and ``README.md``."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from safetensors.torch import save_file
from torch import nn

from effnet.files import atomic_write, write_json, write_text
from effnet.models.network import Network
from effnet.publish.card import model_card
from effnet.weights.hub_config import hub_config
from effnet.weights.loading import load_model
from effnet.weights.timm_keys import to_timm_keys

WEIGHTS_FILE = "model.safetensors"
RUN_WEIGHTS = "best.safetensors"


def save_pretrained(
    model: nn.Module,
    directory: str | os.PathLike[str],
    *,
    repo_id: str | None = None,
    summary: Mapping[str, Any] | None = None,
    license: str = "apache-2.0",
) -> Path:
    """Write ``model`` as a Hub repository folder that ``timm.create_model("hf-hub:...")``
    loads (registered EfficientNet architectures) and ``effnet.create_model`` loads (any
    spec). ``summary`` (a run's ``summary.json``) goes into the model card. Each file is
    written atomically. Returns the folder."""
    if not isinstance(model, Network):
        raise TypeError(f"save_pretrained needs an effnet Network, got {type(model).__name__}")
    folder = Path(directory)
    folder.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().contiguous().cpu() for k, v in model.state_dict().items()}
    timm_state = to_timm_keys(state)
    config = hub_config(model, keys="effnet" if timm_state is None else "timm")
    tensors = state if timm_state is None else timm_state
    atomic_write(folder / WEIGHTS_FILE, lambda tmp: save_file(tensors, str(tmp)))
    write_json(folder / "config.json", config)
    write_text(
        folder / "README.md",
        model_card(model, config, repo_id=repo_id, summary=summary, license=license),
    )
    return folder


def load_run(path: str | os.PathLike[str]) -> tuple[Network, dict[str, Any] | None]:
    """The model of a training run's folder (its ``best.safetensors``) or of an effnet
    weights file, and the run's ``summary.json`` when there is one beside it."""
    path = Path(path)
    weights = path / RUN_WEIGHTS if path.is_dir() else path
    if not weights.is_file():
        raise FileNotFoundError(
            f"{path}: no {RUN_WEIGHTS} (a training run's folder) and not a weights file"
        )
    model, _ = load_model(weights)
    summary_file = weights.parent / "summary.json"
    summary = None
    if summary_file.is_file():
        try:
            loaded = json.loads(summary_file.read_text())
            summary = loaded if isinstance(loaded, dict) else None
        except ValueError:
            summary = None
    return model, summary
