"""effnet's weights files: safetensors with the metadata that rebuilds the model.

Loading never executes code from a file: effnet files are safetensors; ``.pth`` / ``.pt``
files from other libraries are read with ``torch.load(weights_only=True)``.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path

import torch
from safetensors import safe_open
from safetensors.torch import save_file
from torch import nn

from effnet.files import atomic_write
from effnet.models.network import Network
from effnet.models.spec import NetworkSpec
from effnet.weights.stored_config import effnet_config

StateDict = Mapping[str, torch.Tensor]
FORMAT_VERSION = "1"


class WeightsMismatchError(ValueError):
    """A state dict does not fit the model; the message lists every mismatch."""


def save_weights(
    model: nn.Module, path: str | os.PathLike[str], *, metadata: Mapping[str, str] | None = None
) -> None:
    """Write ``model``'s weights to a safetensors file with the metadata needed to rebuild it.

    The file is written atomically (:func:`effnet.files.atomic_write`): an interrupted save
    never leaves a half-written file under ``path``. The model's data config
    (``model.pretrained_cfg``) is stored too (``data_config``, and its class names under
    ``classes`` unless ``metadata`` names classes), so the file is fed as the model was.
    """
    meta = weights_metadata(model, metadata)
    tensors = {k: v.detach().contiguous().cpu() for k, v in model.state_dict().items()}
    atomic_write(path, lambda tmp: save_file(tensors, str(tmp), metadata=meta))


def weights_metadata(model: nn.Module, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The metadata that rebuilds ``model`` (architecture, classes, padding, BN eps, data
    config), as :func:`save_weights` stores it, plus ``extra``."""
    if not isinstance(model, Network):
        raise TypeError(f"effnet weights need an effnet Network, got {type(model).__name__}")
    cfg = model.pretrained_cfg
    return {
        "data_config": cfg.to_json(),
        **({"classes": json.dumps(list(cfg.classes))} if cfg.classes else {}),
        "format": "effnet",
        "format_version": FORMAT_VERSION,
        "name": model.spec.name,
        "spec": model.spec.to_json(),
        "num_classes": str(model.num_classes),
        "in_chans": str(model.in_chans),
        "padding": model.padding,
        "bn_eps": repr(model.bn_eps),
        **(extra or {}),
    }


def read_metadata(path: str | os.PathLike[str]) -> dict[str, str]:
    """The metadata of an effnet safetensors file (raises ValueError for other files)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"weights file not found: {path}")
    try:
        with safe_open(str(path), framework="pt") as f:
            meta = f.metadata() or {}
    except Exception as exc:  # safetensors raises its own error types for corrupt headers
        raise ValueError(f"{path} is not a readable safetensors file: {exc}") from None
    if meta.get("format") != "effnet":
        raise ValueError(f"{path} is a safetensors file but not one written by effnet")
    return meta


def read_tensors(path: Path) -> dict[str, torch.Tensor]:
    """The tensors of a ``.safetensors`` file, or the state dict of a ``.pth`` / ``.pt`` file
    (also under a ``state_dict`` key), read with ``torch.load(weights_only=True)``."""
    if path.suffix == ".safetensors":
        try:
            with safe_open(str(path), framework="pt") as f:
                return {k: f.get_tensor(k) for k in f.keys()}
        except Exception as exc:
            raise ValueError(f"{path} is not a readable safetensors file: {exc}") from None
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise ValueError(
            f"refusing to load {path}: not a plain tensor file ({type(exc).__name__}: "
            f"{str(exc).splitlines()[0] if str(exc) else ''})"
        ) from None
    if isinstance(obj, dict) and "state_dict" in obj and isinstance(obj["state_dict"], dict):
        obj = obj["state_dict"]
    if not isinstance(obj, dict):
        raise ValueError(f"{path} does not hold a state dict")
    return obj


def load_weights(
    path: str | os.PathLike[str],
    *,
    name: str | NetworkSpec | None = None,
    in_chans: int = 3,
    drop_rate: float | None = None,
    drop_path_rate: float | None = None,
) -> Network:
    """Rebuild the model an effnet safetensors file describes and load its weights."""
    meta = read_metadata(path)
    spec = NetworkSpec.from_json(meta["spec"])
    wanted = name.name if isinstance(name, NetworkSpec) else name
    if wanted is not None and wanted != spec.name:
        raise WeightsMismatchError(f"{path} holds weights for {spec.name!r}, not {wanted!r}")
    if in_chans != int(meta["in_chans"]) and in_chans != 3:
        raise WeightsMismatchError(
            f"{path} was saved with in_chans={meta['in_chans']}, asked for {in_chans}"
        )
    model = network_from_metadata(meta, drop_rate=drop_rate, drop_path_rate=drop_path_rate)
    load_state_dict_strict(model, read_tensors(Path(path)))
    model.pretrained_cfg = model.pretrained_cfg.replace(weights=str(path))
    return model


def network_from_metadata(
    meta: Mapping[str, str], *, drop_rate: float | None = None, drop_path_rate: float | None = None
) -> Network:
    """The network :func:`weights_metadata` describes, with its data config (weights not
    loaded)."""
    spec = NetworkSpec.from_json(meta["spec"])
    model = Network(
        spec,
        num_classes=int(meta["num_classes"]),
        in_chans=int(meta["in_chans"]),
        drop_rate=drop_rate,
        drop_path_rate=drop_path_rate,
        padding=meta["padding"],  # type: ignore[arg-type]
        bn_eps=float(meta["bn_eps"]),
    )
    model.pretrained_cfg = effnet_config(
        spec, meta, num_classes=model.num_classes, in_chans=model.in_chans
    )
    return model


def load_state_dict_strict(model: nn.Module, state: StateDict) -> None:
    """Load ``state`` into ``model``; any missing, unexpected or misshapen key is an error."""
    own = model.state_dict()
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    shapes = [
        f"{k}: file {tuple(state[k].shape)} vs model {tuple(own[k].shape)}"
        for k in own
        if k in state and state[k].shape != own[k].shape
    ]
    if missing or unexpected or shapes:
        raise WeightsMismatchError(describe_mismatch(missing, unexpected, shapes))
    model.load_state_dict(dict(state), strict=True)


def describe_mismatch(missing: list[str], unexpected: list[str], shapes: list[str]) -> str:
    """One message listing missing and unexpected keys and shape disagreements (20 of each)."""
    parts = ["weights do not match the model"]
    for title, items in (("missing", missing), ("unexpected", unexpected), ("shape", shapes)):
        if items:
            shown = ", ".join(items[:20]) + (
                f" ... (+{len(items) - 20})" if len(items) > 20 else ""
            )
            parts.append(f"{title} ({len(items)}): {shown}")
    return "; ".join(parts)
