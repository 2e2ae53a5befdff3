"""``config.json`` of a model repository on the Hugging Face Hub, in timm's format, both ways.

timm's keys (``timm/models/_hub.py``: ``save_config_for_hf`` writes them,
``load_model_config_from_hf`` reads them): ``architecture`` (a timm model name),
``num_classes``, ``num_features``, ``global_pool``, ``label_names``, ``model_args`` (keyword
arguments of the model's constructor) and ``pretrained_cfg`` (the preprocessing:
``input_size``, ``interpolation``, ``crop_pct``, ``crop_mode``, ``mean``, ``std``). effnet adds
an ``effnet`` entry, which timm does not read: the metadata of an effnet weights file
(:func:`effnet.weights.io.weights_metadata`: the network's spec, padding, BN eps, data config)
and ``keys``, the layout of ``model.safetensors`` (``timm`` or ``effnet``).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from effnet.data_config import DataConfig
from effnet.models.network import Network
from effnet.models.registry import get_spec
from effnet.types import CropOrder
from effnet.weights.io import network_from_metadata, weights_metadata
from effnet.weights.timm_keys import from_timm_architecture, timm_architecture

#: The ``architecture`` of a network timm cannot build: this prefix and effnet's spec name (timm
#: refuses it as an unknown model rather than building another network of the same name).
EFFNET_SPEC = "effnet-spec:"
#: effnet metadata entries held as JSON text in a weights file, as JSON values in config.json.
_JSON_ENTRIES = ("spec", "data_config", "classes")
#: timm's ``crop_mode`` for effnet's crop orders (timm has no crop-then-resize: its centre crop
#: is the nearest).
_CROP_MODE: dict[CropOrder, str] = {"resize_then_crop": "center", "crop_then_resize": "center"}


def hub_config(
    model: Network, *, keys: str, metadata: Mapping[str, str] | None = None
) -> dict[str, Any]:
    """timm's ``config.json`` for ``model`` (saved with ``keys`` layout) and effnet's entry;
    ``metadata`` adds to effnet's entry (a training run's resolution and eval crop)."""
    cfg = model.pretrained_cfg
    architecture = timm_architecture(model)
    out: dict[str, Any] = {
        "architecture": architecture[0] if architecture else f"{EFFNET_SPEC}{model.spec.name}",
        "num_classes": model.num_classes,
        "num_features": model.num_features,
        "global_pool": "avg",
    }
    if cfg.classes:
        out["label_names"] = list(cfg.classes)
    if architecture and architecture[1]:
        out["model_args"] = architecture[1]
    out["pretrained_cfg"] = {
        "input_size": list(cfg.input_size),
        "interpolation": cfg.interpolation,
        "crop_pct": cfg.crop_pct,
        "crop_mode": _CROP_MODE[cfg.crop_order],
        "mean": list(cfg.mean),
        "std": list(cfg.std),
        "num_classes": model.num_classes,
        "first_conv": "conv_stem",
        "classifier": "classifier",
        "fixed_input_size": False,
        "custom_load": False,
    }
    meta: dict[str, Any] = dict(weights_metadata(model, metadata))
    for key in _JSON_ENTRIES:
        if key in meta:
            meta[key] = json.loads(meta[key])
    out["effnet"] = {**meta, "keys": keys, "timm_builds": architecture is not None}
    return out


def network_from_hub_config(
    config: Mapping[str, Any],
    *,
    drop_rate: float | None = None,
    drop_path_rate: float | None = None,
) -> tuple[Network, str]:
    """The network a ``config.json`` describes, with its data config and class names (weights
    not loaded), and the key layout of its weights (``timm`` or ``effnet``). Raises ValueError
    for a config that names no architecture effnet builds."""
    drops = {"drop_rate": drop_rate, "drop_path_rate": drop_path_rate}
    own = config.get("effnet")
    if isinstance(own, Mapping) and own.get("format") == "effnet":
        meta = {
            k: json.dumps(v) if k in _JSON_ENTRIES else str(v)
            for k, v in own.items()
            if k not in ("keys", "timm_builds")
        }
        return network_from_metadata(meta, **drops), str(own.get("keys", "timm"))
    if "architecture" not in config:
        raise ValueError("config.json names no architecture (not a timm or effnet repository)")
    model_args = config.get("model_args") or {}
    name, padding, eps = from_timm_architecture(str(config["architecture"]), model_args)
    pretrained = config.get("pretrained_cfg") or {}
    num_classes = int(config.get("num_classes", pretrained.get("num_classes", 1000)))
    model = Network(
        get_spec(name),
        num_classes=num_classes,
        in_chans=int(model_args.get("in_chans", 3)),
        padding=padding,  # type: ignore[arg-type]
        bn_eps=eps,  # type: ignore[arg-type]
        **drops,
    )
    model.pretrained_cfg = _timm_data_config(pretrained, config, model)
    return model, "timm"


def _timm_data_config(
    pretrained: Mapping[str, Any], config: Mapping[str, Any], model: Network
) -> DataConfig:
    """timm's eval transform of a ``pretrained_cfg``: shorter side to ``size / crop_pct``,
    centre crop, its interpolation, mean and std; class names from ``label_names``."""
    default = model.pretrained_cfg
    size = pretrained.get("input_size") or default.input_size
    crop_pct = pretrained.get("crop_pct") or default.crop_pct
    interpolation = pretrained.get("interpolation", "bicubic")
    return DataConfig.square(
        int(size[-1]),
        in_chans=model.in_chans,
        crop_pct=float(crop_pct),
        crop_order="resize_then_crop",
        interpolation=interpolation if interpolation in ("bilinear", "bicubic") else "bicubic",
        mean=pretrained.get("mean", default.mean),
        std=pretrained.get("std", default.std),
        num_classes=model.num_classes,
        classes=_label_names(config, model.num_classes),
        source="timm",
    )


def _label_names(config: Mapping[str, Any], num_classes: int) -> list[str] | None:
    names = config.get("label_names") or (config.get("pretrained_cfg") or {}).get("label_names")
    if isinstance(names, Mapping):  # timm: {index: name} where ids have gaps
        names = [names.get(str(i), names.get(i)) for i in range(num_classes)]  # type: ignore[call-overload]
    if isinstance(names, list) and len(names) == num_classes and all(names):
        return [str(n) for n in names]
    return None
