"""The class names recorded with a weights file, wherever a run or a user put them, and
ImageNet's (for weights trained on it)."""

from __future__ import annotations

import json
import os
from pathlib import Path

from effnet.weights.io import read_metadata


def _as_names(value: object) -> list[str] | None:
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            value = [v.strip() for v in value.splitlines() if v.strip()]
    if isinstance(value, list) and value and all(isinstance(v, str) for v in value):
        return list(value)
    return None


def read_class_names(weights: str | os.PathLike[str]) -> list[str] | None:
    """Class names for a weights file, or ``None`` if none are recorded.

    Looked up, in order: an effnet safetensors file's metadata (``class_names`` or ``classes``,
    a JSON list), then beside the file ``classes.json`` / ``class_names.json`` (a JSON list),
    ``classes.txt`` (one name a line), and ``summary.json`` (``class_names`` or ``classes``).
    Files that hold no list of names are passed over.
    """
    path = Path(weights)
    try:
        meta = read_metadata(path) if path.suffix == ".safetensors" else {}
    except ValueError:  # a safetensors file from elsewhere: no effnet metadata
        meta = {}
    for key in ("class_names", "classes"):
        if key in meta and (names := _as_names(meta[key])):
            return names
    for sidecar in ("classes.json", "class_names.json", "classes.txt", "summary.json"):
        file = path.parent / sidecar
        if not file.is_file():
            continue
        text = file.read_text()
        if sidecar == "classes.txt":
            value: object = text
        else:
            try:
                value = json.loads(text)
            except ValueError:
                continue
            if isinstance(value, dict):
                value = value.get("class_names", value.get("classes"))
        if names := _as_names(value):
            return names
    return None


def imagenet_class_names() -> list[str]:
    """The 1000 ImageNet-1k class names in the standard label order, as torchvision ships them
    with its weights (``meta["categories"]`` of its ImageNet weights)."""
    from torchvision.models import get_weight

    return list(get_weight("EfficientNet_B0_Weights.IMAGENET1K_V1").meta["categories"])
