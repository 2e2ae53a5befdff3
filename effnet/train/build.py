"""Which network a run trains: the default small model, a named variant, or pretrained weights.

Without ``--model`` a run trains EfficientNet-B0 compound-scaled *down* (paper eq. 3 with a
negative φ: depth 1.2^φ, width 1.1^φ) at the recipe's resolution: at φ = -4 that is width
0.68, depth 0.48, ~1.2M parameters, a network a 2-core CPU trains in minutes at 64 px.
"""

from __future__ import annotations

import os
from pathlib import Path

from torch import nn

from effnet.spec import NetworkSpec

DEFAULT_BASE = "efficientnet_b0"
DEFAULT_PHI = -4.0


def default_spec(resolution: int) -> NetworkSpec:
    """EfficientNet-B0 scaled down by φ = ``DEFAULT_PHI``, at ``resolution``."""
    import effnet

    spec = effnet.compound(DEFAULT_BASE, DEFAULT_PHI)
    return spec.replace(name=f"{DEFAULT_BASE}_phi{DEFAULT_PHI:g}", resolution=resolution)


def resolve_spec(model: object, resolution: int | None) -> NetworkSpec:
    """A spec for ``model`` (a registered name, a spec, or ``None`` for the default)."""
    import effnet

    if model is None:
        return default_spec(resolution or 64)
    spec = effnet.get_spec(model)  # type: ignore[arg-type]
    return spec.replace(resolution=resolution) if resolution else spec


def load_init(
    path: str | os.PathLike[str],
    *,
    source: str = "effnet",
    model_name: str | None = None,
) -> nn.Module:
    """Pretrained weights from any source :func:`effnet.load_pretrained` accepts.

    ``effnet`` safetensors files rebuild their own architecture (``model_name`` is then only
    checked); other sources need ``model_name``.
    """
    import effnet

    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"pretrained weights not found: {path}")
    if source == "effnet" and path.suffix == ".safetensors":
        return effnet.create_model(model_name, weights=path) if model_name else _from_file(path)
    if model_name is None:
        raise ValueError(f"--model is required to load {source} weights from {path}")
    return effnet.load_pretrained(model_name, path, source=source)  # type: ignore[arg-type]


def _from_file(path: Path) -> nn.Module:
    from effnet.weights import load_weights

    return load_weights(path)


def prepare_for_transfer(model: nn.Module, num_classes: int, *, freeze_backbone: bool) -> set[int]:
    """Give ``model`` a new head for ``num_classes`` (unless it already has that many) and
    optionally freeze everything else; returns the ids of the head's parameters."""
    if getattr(model, "num_classes", None) != num_classes:
        model.reset_classifier(num_classes)  # type: ignore[operator]
    head = {id(p) for p in model.classifier.parameters()}  # type: ignore[union-attr]
    if freeze_backbone:
        for p in model.parameters():
            if id(p) not in head:
                p.requires_grad_(False)
    return head


def freeze_norm_stats(model: nn.Module) -> None:
    """Put every BatchNorm in eval mode (a frozen backbone keeps its running statistics)."""
    for m in model.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            m.eval()
