"""Weights for use: one loader for ``eval``, ``predict``, ``cam`` and ``finetune``.

:func:`load_for_eval` returns the model (eval mode), its class names and the eval geometry,
so every verb given the same weights classifies the same pixels: the resolution and the eval
crop a training run stored with its weights (``train_resolution`` / ``eval_crop`` metadata),
else those published with the weights (``model.pretrained_cfg``), unless the caller gives
others. The weights are a file (``weights`` with its ``source``) or a library's published
ImageNet weights (``pretrained="torchvision"`` / ``"timm"``, see :mod:`effnet.weights.fetch`).
"""

from __future__ import annotations

import os
from pathlib import Path

from effnet.constants import IMAGENET_CLASSES
from effnet.models.network import Network
from effnet.types import Source
from effnet.weights.class_names import imagenet_class_names, read_class_names
from effnet.weights.convert import load_pretrained
from effnet.weights.create import create_model
from effnet.weights.hub import is_hub_name
from effnet.weights.io import load_weights, read_metadata


def stored_eval_settings(weights: str | os.PathLike[str]) -> tuple[int | None, float | None]:
    """``(resolution, eval crop fraction)`` a training run stored with its weights
    (``train_resolution`` / ``eval_crop`` metadata); ``None`` for what is not recorded."""
    try:
        meta = read_metadata(weights)
    except (ValueError, FileNotFoundError):
        return None, None
    res, crop = meta.get("train_resolution"), meta.get("eval_crop")
    return (int(res) if res else None), (float(crop) if crop else None)


def _from_file(path: Path, model: str | None, source: Source) -> tuple[Network, list[str] | None]:
    if not path.is_file():
        raise FileNotFoundError(f"weights not found: {path}")
    if source == "effnet" and path.suffix == ".safetensors":
        net = create_model(model, weights=path) if model else load_weights(path)
    else:
        if model is None:
            raise ValueError(f"--model is required for {source} weights ({path})")
        net = load_pretrained(model, path, source=source)
    assert isinstance(net, Network)
    return net, read_class_names(path)


def load_model(
    weights: str | os.PathLike[str] | None = None,
    *,
    model: str | None = None,
    source: Source = "effnet",
    pretrained: bool | str | None = None,
) -> tuple[Network, list[str]]:
    """The model and class names for ``weights``, or for ``pretrained`` (a library's published
    ImageNet weights of ``model``, or a Hub repository ``hf-hub:ORG/NAME[@REVISION]``, also
    given as ``model``); eval mode.

    ``model`` names the architecture: required for other libraries' weights, checked against
    the metadata of effnet files. Class names: those recorded with the weights, else
    ImageNet's for 1000 classes from another library, else ``"0".."n-1"``; also in
    ``model.pretrained_cfg["classes"]``.
    """
    if weights is None and pretrained in (None, True) and is_hub_name(model):
        pretrained, model = model, None
    if not pretrained and weights is None and model and "." in model:
        pretrained = True  # a published name.tag
    if is_hub_name(pretrained):
        if weights is not None:
            raise ValueError("give --weights (a file) or --pretrained (published), not both")
        net = create_model(str(pretrained), pretrained=True)
        assert isinstance(net, Network)
        if model is not None and model != net.spec.name:
            raise ValueError(f"{pretrained} holds {net.spec.name}, not --model {model}")
        recorded = net.pretrained_cfg.get("classes")
    elif pretrained:
        if weights is not None:
            raise ValueError("give --weights (a file) or --pretrained (published), not both")
        if model is None:
            raise ValueError("--pretrained needs --model NAME (or NAME.TAG)")
        net = create_model(model, pretrained=pretrained)
        assert isinstance(net, Network)
        recorded = net.pretrained_cfg.get("classes")
    elif weights is None:
        raise ValueError(
            "give --weights FILE, or --pretrained [LIB[.TAG]] with --model NAME, or --model "
            "NAME.TAG (see effnet list --pretrained)"
        )
    else:
        path = Path(weights)
        net, recorded = _from_file(path, model, source)
        if recorded is not None and len(recorded) != net.num_classes:
            raise ValueError(
                f"{len(recorded)} class names stored with {path}, but the model has "
                f"{net.num_classes} outputs"
            )
        if recorded is None and source != "effnet" and net.num_classes == IMAGENET_CLASSES:
            recorded = imagenet_class_names()
    net.eval()
    classes = list(recorded) if recorded else [str(i) for i in range(net.num_classes)]
    net.pretrained_cfg = net.pretrained_cfg.replace(classes=classes)
    return net, classes


def load_for_eval(
    weights: str | os.PathLike[str] | None = None,
    *,
    model: str | None = None,
    source: Source = "effnet",
    resolution: int | None = None,
    crop: float | None = None,
    pretrained: bool | str | None = None,
) -> tuple[Network, list[str], int, float | None]:
    """:func:`load_model` plus the eval geometry: ``(model, classes, resolution, crop)``.

    The given ``resolution`` / ``crop`` win over those stored with the weights, which win over
    the model's data config (``model.pretrained_cfg``: the published preprocessing of other
    libraries' weights, or the variant's). ``crop`` is ``None`` where the paper's
    ``res / (res + 32)`` applies; :func:`effnet.create_transform` builds the transform.
    """
    net, classes = load_model(weights, model=model, source=source, pretrained=pretrained)
    stored_res, stored_crop = stored_eval_settings(weights) if weights else (None, None)
    cfg = net.pretrained_cfg
    res = resolution or stored_res or int(cfg["input_size"][-1])
    return net, classes, res, crop or stored_crop or cfg.fixed_crop()
