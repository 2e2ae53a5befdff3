"""Weights: effnet's safetensors files, and state dicts made by torchvision and timm.

Loading never executes code from a file: effnet files are safetensors; ``.pth`` / ``.pt``
files from other libraries are read with ``torch.load(weights_only=True)``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Literal

import torch
from safetensors import safe_open
from safetensors.torch import save_file
from torch import nn

from effnet.model import Network
from effnet.spec import NetworkSpec

Source = Literal["effnet", "torchvision", "timm", "timm_tf"]
StateDict = Mapping[str, torch.Tensor]
FORMAT_VERSION = "1"

#: How each source builds its EfficientNets: (BN eps, padding). torchvision uses eps 1e-3 from
#: B5 on; timm's ``tf_`` models are ports of the official TF weights (TF "SAME" padding).
_SOURCE_CONFIG: dict[str, tuple[float, str]] = {
    "timm": (1e-5, "symmetric"),
    "timm_tf": (1e-3, "same"),
}
_TORCHVISION_EPS_1E3 = {"efficientnet_b5", "efficientnet_b6", "efficientnet_b7"}


class WeightsMismatchError(ValueError):
    """A state dict does not fit the model; the message lists every mismatch."""


def save_weights(
    model: nn.Module, path: str | os.PathLike[str], *, metadata: Mapping[str, str] | None = None
) -> None:
    """Write ``model``'s weights to a safetensors file with the metadata needed to rebuild it.

    The file is written to a temporary name and renamed, so an interrupted save never leaves a
    half-written file under ``path``.
    """
    if not isinstance(model, Network):
        raise TypeError(f"save_weights needs an effnet Network, got {type(model).__name__}")
    meta = {
        "format": "effnet",
        "format_version": FORMAT_VERSION,
        "name": model.spec.name,
        "spec": model.spec.to_json(),
        "num_classes": str(model.num_classes),
        "in_chans": str(model.in_chans),
        "padding": model.padding,
        "bn_eps": repr(model.bn_eps),
        **(metadata or {}),
    }
    tensors = {k: v.detach().contiguous().cpu() for k, v in model.state_dict().items()}
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        save_file(tensors, str(tmp), metadata=meta)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


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


def _read_tensors(path: Path) -> dict[str, torch.Tensor]:
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
    model = Network(
        spec,
        num_classes=int(meta["num_classes"]),
        in_chans=int(meta["in_chans"]),
        drop_rate=drop_rate,
        drop_path_rate=drop_path_rate,
        padding=meta["padding"],  # type: ignore[arg-type]
        bn_eps=float(meta["bn_eps"]),
    )
    load_state_dict_strict(model, _read_tensors(Path(path)))
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
        raise WeightsMismatchError(_describe(missing, unexpected, shapes))
    model.load_state_dict(dict(state), strict=True)


def _describe(missing: list[str], unexpected: list[str], shapes: list[str]) -> str:
    parts = ["weights do not match the model"]
    for title, items in (("missing", missing), ("unexpected", unexpected), ("shape", shapes)):
        if items:
            shown = ", ".join(items[:20]) + (
                f" ... (+{len(items) - 20})" if len(items) > 20 else ""
            )
            parts.append(f"{title} ({len(items)}): {shown}")
    return "; ".join(parts)


def _ordered_entries(state: StateDict) -> list[tuple[str, torch.Tensor]]:
    return [(k, v) for k, v in state.items() if not k.endswith("num_batches_tracked")]


def convert_by_layout(model: nn.Module, state: StateDict) -> dict[str, torch.Tensor]:
    """Translate a torchvision or timm EfficientNet state dict to effnet's keys.

    Both libraries register the layers of a block in the paper's order (expand conv, BN,
    depthwise conv, BN, SE reduce, SE expand, project conv, BN), as effnet does, so entries
    correspond one to one in order. Each pair must agree in shape and in kind (the key's last
    part: weight, bias, running_mean, running_var); otherwise every disagreement is listed.
    """
    ours = _ordered_entries(model.state_dict())
    theirs = _ordered_entries(state)
    problems = []
    if len(ours) != len(theirs):
        problems.append(f"the model has {len(ours)} tensors, the state dict {len(theirs)}")
    out: dict[str, torch.Tensor] = {}
    for (k_ours, v_ours), (k_theirs, v_theirs) in zip(ours, theirs):
        same_kind = k_ours.rsplit(".", 1)[-1] == k_theirs.rsplit(".", 1)[-1]
        if not same_kind or v_ours.shape != v_theirs.shape:
            problems.append(f"{k_theirs} {tuple(v_theirs.shape)} -> {k_ours} {tuple(v_ours.shape)}")
        out[k_ours] = v_theirs
    if problems:
        raise WeightsMismatchError(
            "weights do not match the model: "
            + "; ".join(problems[:20])
            + (f" ... (+{len(problems) - 20})" if len(problems) > 20 else "")
        )
    for key, value in model.state_dict().items():  # counters the source may not keep
        out.setdefault(key, value)
    return out


def _num_classes(state: StateDict, source: str) -> int:
    key = {"torchvision": "classifier.1.weight"}.get(source, "classifier.weight")
    if key not in state:
        raise WeightsMismatchError(f"no classifier weight {key!r} in the {source} state dict")
    return int(state[key].shape[0])


def load_pretrained(
    name: str,
    weights: str | os.PathLike[str] | StateDict,
    *,
    source: Source = "effnet",
) -> Network:
    """Build ``name`` and load weights made by effnet, torchvision or timm; returns eval mode.

    The model is configured like the source (BN eps, padding) so that it gives the same
    logits: torchvision's ``efficientnet_bN``, timm's ``efficientnet_bN`` and timm's
    ``tf_efficientnet_bN`` (ports of the official weights: TF "SAME" padding, eps 1e-3).
    """
    from effnet.registry import get_spec

    if source not in ("effnet", "torchvision", "timm", "timm_tf"):
        raise ValueError(
            f"unknown source {source!r}; expected effnet, torchvision, timm or timm_tf"
        )
    if source == "effnet" and not isinstance(weights, Mapping):
        return load_weights(weights, name=name).eval()
    state = weights if isinstance(weights, Mapping) else _read_tensors(Path(weights))
    spec = get_spec(name)
    if source == "effnet":
        model = Network(spec, num_classes=_num_classes(state, source))
        load_state_dict_strict(model, state)
        return model.eval()
    if source == "torchvision":
        eps, padding = (1e-3 if spec.name in _TORCHVISION_EPS_1E3 else 1e-5), "symmetric"
    else:
        eps, padding = _SOURCE_CONFIG[source]
    model = Network(
        spec,
        num_classes=_num_classes(state, source),
        padding=padding,
        bn_eps=eps,  # type: ignore[arg-type]
    )
    model.load_state_dict(convert_by_layout(model, state), strict=True)
    return model.eval()
